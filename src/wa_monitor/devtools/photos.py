"""Real JPEG photos for the bridge's stand-in: what an agent photographs at a drop.

Drawn with Pillow (no files shipped): a house, a pole with its cable, the ONT's label with a
barcode, a power meter. Each carries EXIF like a photo sent as a document: the time it was
taken and a GPS position, so the fetcher's EXIF stripping and the page's "time and place" have
something real to work on.
"""

from __future__ import annotations

import enum
import hashlib
import io
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from PIL import Image, ImageDraw

from wa_monitor.devtools.video import mp4

# EXIF tags (TIFF/EXIF 2.3): IFD0 DateTime, the Exif IFD's DateTimeOriginal, the GPS IFD.
_DATETIME = 0x0132
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_GPS_IFD = 0x8825
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4

SIZE = (640, 480)


class Subject(enum.StrEnum):
    HOUSE = "house"
    POLE = "pole"
    ONT_LABEL = "ont_label"
    METER = "meter"


# The order an agent walks a drop in: the 12 steps' subjects, roughly.
WALK = (
    Subject.HOUSE,
    Subject.POLE,
    Subject.HOUSE,
    Subject.POLE,
    Subject.HOUSE,
    Subject.ONT_LABEL,
    Subject.METER,
    Subject.ONT_LABEL,
    Subject.ONT_LABEL,
    Subject.HOUSE,
    Subject.ONT_LABEL,
    Subject.METER,
)


@dataclass(frozen=True, slots=True)
class Place:
    """A GPS position in decimal degrees (south and west negative)."""

    latitude: float
    longitude: float


LAWLEY = Place(-26.3935, 27.8072)


def draw(
    subject: Subject,
    *,
    taken: datetime | None = None,
    place: Place | None = None,
    label: str = "",
    size: tuple[int, int] = SIZE,
) -> bytes:
    """A JPEG of `subject`; `label` varies it (a serial, a reading) so two photos differ."""
    image = Image.new("RGB", size, (186, 214, 235))
    pen = ImageDraw.Draw(image)
    _PAINTERS[subject](pen, size, label or subject.value)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=_exif(taken, place))
    return out.getvalue()


def _exif(taken: datetime | None, place: Place | None) -> bytes:
    exif = Image.Exif()
    if taken is not None:
        stamp = taken.strftime("%Y:%m:%d %H:%M:%S")
        exif[_DATETIME] = stamp
        exif.get_ifd(_EXIF_IFD)[_DATETIME_ORIGINAL] = stamp
    if place is not None:
        gps = exif.get_ifd(_GPS_IFD)
        gps[_GPS_LAT_REF] = "S" if place.latitude < 0 else "N"
        gps[_GPS_LAT] = _dms(place.latitude)
        gps[_GPS_LON_REF] = "W" if place.longitude < 0 else "E"
        gps[_GPS_LON] = _dms(place.longitude)
    return exif.tobytes()


def _dms(degrees: float) -> tuple[Fraction, Fraction, Fraction]:
    value = abs(degrees)
    whole = int(value)
    minutes_f = (value - whole) * 60
    minutes = int(minutes_f)
    seconds = Fraction(round((minutes_f - minutes) * 60 * 100), 100)
    return Fraction(whole), Fraction(minutes), seconds


def _house(pen: ImageDraw.ImageDraw, size: tuple[int, int], label: str) -> None:
    w, h = size
    pen.rectangle((0, int(h * 0.7), w, h), fill=(96, 140, 70))  # lawn
    pen.rectangle((int(w * 0.25), int(h * 0.4), int(w * 0.75), int(h * 0.8)), fill=(225, 205, 170))
    pen.polygon(
        [(int(w * 0.2), int(h * 0.4)), (int(w * 0.5), int(h * 0.15)), (int(w * 0.8), int(h * 0.4))],
        fill=(150, 60, 45),
    )
    pen.rectangle((int(w * 0.46), int(h * 0.58), int(w * 0.54), int(h * 0.8)), fill=(90, 60, 40))
    for x in (0.3, 0.6):
        pen.rectangle(
            (int(w * x), int(h * 0.48), int(w * (x + 0.1)), int(h * 0.58)), fill=(120, 170, 210)
        )
    pen.text((10, 10), f"house {label}", fill=(20, 20, 20))


def _pole(pen: ImageDraw.ImageDraw, size: tuple[int, int], label: str) -> None:
    w, h = size
    pen.rectangle((0, int(h * 0.8), w, h), fill=(120, 110, 90))
    pen.rectangle((int(w * 0.47), int(h * 0.1), int(w * 0.53), int(h * 0.85)), fill=(110, 80, 50))
    pen.rectangle((int(w * 0.35), int(h * 0.18), int(w * 0.65), int(h * 0.21)), fill=(80, 60, 40))
    pen.line((int(w * 0.5), int(h * 0.2), w, int(h * 0.45)), fill=(20, 20, 20), width=3)
    pen.rectangle((int(w * 0.44), int(h * 0.35), int(w * 0.56), int(h * 0.45)), fill=(40, 40, 40))
    pen.text((10, 10), f"pole {label}", fill=(20, 20, 20))


def _ont_label(pen: ImageDraw.ImageDraw, size: tuple[int, int], label: str) -> None:
    w, h = size
    pen.rectangle((0, 0, w, h), fill=(235, 235, 230))  # the ONT's white case
    pen.rectangle((int(w * 0.1), int(h * 0.2), int(w * 0.9), int(h * 0.8)), fill=(255, 255, 255))
    pen.text((int(w * 0.13), int(h * 0.24)), f"ONT  SN: {label}", fill=(0, 0, 0))
    # A barcode of the serial: bar widths from its digest, so each serial draws its own.
    bars = hashlib.sha256(label.encode()).digest()
    x, top, bottom = int(w * 0.13), int(h * 0.4), int(h * 0.7)
    for i, byte in enumerate(bars):
        width = 1 + byte % 4
        if i % 2 == 0:
            pen.rectangle((x, top, x + width, bottom), fill=(0, 0, 0))
        x += width + 1 + (byte >> 6)
        if x > w * 0.87:
            break


def _meter(pen: ImageDraw.ImageDraw, size: tuple[int, int], label: str) -> None:
    w, h = size
    pen.rectangle((0, 0, w, h), fill=(160, 160, 150))
    pen.rectangle((int(w * 0.2), int(h * 0.15), int(w * 0.8), int(h * 0.85)), fill=(60, 60, 70))
    pen.rectangle((int(w * 0.3), int(h * 0.35), int(w * 0.7), int(h * 0.5)), fill=(170, 200, 150))
    reading = "".join(c for c in label if c.isdigit())[:6].rjust(6, "0")
    pen.text((int(w * 0.33), int(h * 0.4)), f"kWh {reading}", fill=(0, 0, 0))
    pen.text((10, 10), "meter", fill=(20, 20, 20))


_PAINTERS = {
    Subject.HOUSE: _house,
    Subject.POLE: _pole,
    Subject.ONT_LABEL: _ont_label,
    Subject.METER: _meter,
}


def clip(label: str = "", *, frames: int = 6) -> bytes:
    """A video message's file as WhatsApp sends it: an MP4 with an H.264 stream a browser plays
    (devtools/video.py writes it without an encoder). A short pan along a house, `label` written
    on it so two clips differ; 128x96 at 3 frames a second."""
    size = (128, 96)
    shots = []
    for n in range(frames):
        image = Image.new("RGB", size, (186, 214, 235))
        pen = ImageDraw.Draw(image)
        _house(pen, size, label)
        x = 8 + n * (size[0] - 24) // max(frames - 1, 1)
        pen.rectangle((x, size[1] - 14, x + 8, size[1] - 6), fill=(200, 30, 30))  # it moves
        shots.append(image)
    return mp4(shots, fps=3)


def slow_jpeg(side: int = 4000, scans: int = 20_000) -> bytes:
    """A hostile photo for the tests: a progressive JPEG that keeps libjpeg busy: a flat grey
    `side`-square image saved progressive by Pillow, then one of its AC scans repeated `scans`
    times (31 bytes each: all end-of-block runs). libjpeg warns of the bogus progression and
    walks every block of the image once per scan (about 3 ms a scan at 16 megapixels, well
    under MAX_PIXELS): ~700 kB that Pillow decodes for 40 s on a loaded test machine; more
    scans, for as long as one likes."""
    out = io.BytesIO()
    Image.new("L", (side, side), 128).save(out, "JPEG", progressive=True, quality=90)
    data = out.getvalue()
    ac_scan = b""
    at = 2
    while data[at + 1] != 0xD9:  # walk the markers to the end of the image
        end = at + 2 + int.from_bytes(data[at + 2 : at + 4], "big")
        if data[at + 1] == 0xDA:  # a scan: its entropy-coded data runs to the next marker
            while data[end] != 0xFF or data[end + 1] == 0 or 0xD0 <= data[end + 1] <= 0xD7:
                end += 1
            components = data[at + 4]
            if data[at + 5 + 2 * components] > 0 and not ac_scan:  # Ss > 0: an AC scan
                ac_scan = data[at:end]
        at = end
    return data[:at] + ac_scan * scans + b"\xff\xd9"
