"""The drops' photos on their way in: the bridge's `/api/download`, the file it names (checked
before one byte is trusted), Pillow's decoding, and the cache of what the dashboard serves.

Nothing the bridge says is taken on trust. The file is read only when its real path lies under
the configured media folder (no `..`, no symlink out), only up to a size limit, and only when
its SHA-256 equals the row's `file_sha256` (the bridge names files by the second, so two photos
of one second come back as the same file). It is decoded with a decompression-bomb guard, in a child
process with a time limit (a JPEG of thousands of scans decodes for minutes at a few hundred
kB: the child is killed, the fetcher goes on), and what is served is re-encoded from the
pixels: the original's EXIF (and anything hidden after the image) never leaves; its time and
GPS position are kept as text.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import io
import json
import os
import select
import stat
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import httpx

if TYPE_CHECKING:
    from PIL import Image

DOWNLOAD_PATH = "/api/download"
# Pillow refuses images over twice this many pixels and warns over it: the warning is an error
# here. 40 megapixels is above any phone camera's photo.
MAX_PIXELS = 40_000_000
THUMB_SIZE = (320, 320)
MAX_ANSWER_BYTES = 64 << 10  # the bridge's JSON answer: a path and a sentence
SCREEN_SIZE = (1600, 1600)
IMAGE_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
# The parts of WhatsApp's answers that mean "gone from its servers for good".
_EXPIRED_MARKS = ("status code 410", "status code 404", "media not found", "expired")
_FINAL_MARKS = ("not a media message", "failed to find message", "incomplete media information")


class Answer(enum.Enum):
    OK = "ok"
    EXPIRED = "expired"  # WhatsApp's servers no longer serve it: final
    REFUSED = "refused"  # the bridge cannot download this message at all: final
    FAILED = "failed"  # the bridge failed this time: try again later
    UNREACHABLE = "unreachable"  # no answer from the bridge: try again later


@dataclass(frozen=True, slots=True)
class Download:
    answer: Answer
    path: str | None = None
    detail: str = ""  # for the record, never shown on a page


class BridgeMedia:
    """The bridge's `POST /api/download`, with short timeouts (a hanging bridge costs seconds)."""

    def __init__(self, base_url: str, *, connect_s: float = 2.0, total_s: float = 30.0) -> None:
        self._total_s = total_s
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(total_s, connect=connect_s),
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> BridgeMedia:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def probe(self) -> str | None:
        """None when the bridge's /api/download answers as the bridge does (400 to a request
        without a message: nothing is downloaded), else what went wrong, in a few words."""
        try:
            response = self._client.post(DOWNLOAD_PATH, json={})
        except httpx.HTTPError as exc:
            return f"no answer ({type(exc).__name__})"
        if response.status_code == httpx.codes.BAD_REQUEST:
            return None
        return f"unexpected answer HTTP {response.status_code}"

    def download(self, message_id: str, chat_jid: str) -> Download:
        try:
            status, raw = self._answer({"message_id": message_id, "chat_jid": chat_jid})
        except _Cut as cut:
            return cut.download
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        text = raw.decode("utf-8", "replace")
        message = str(body.get("message", "")) if isinstance(body, dict) else text
        message = " ".join(message.split())[:300]
        if status == httpx.codes.OK and isinstance(body, dict) and body.get("success"):
            path = body.get("path")
            if isinstance(path, str) and path:
                return Download(Answer.OK, path=path, detail=message)
            return Download(Answer.FAILED, detail="the bridge named no file")
        lowered = message.lower()
        if any(mark in lowered for mark in _EXPIRED_MARKS):
            return Download(Answer.EXPIRED, detail=message)
        if any(mark in lowered for mark in _FINAL_MARKS):
            return Download(Answer.REFUSED, detail=message)
        return Download(Answer.FAILED, detail=f"HTTP {status}: {message}")

    def _answer(self, request: dict[str, str]) -> tuple[int, bytes]:
        """The status and body of the bridge's answer, read as it comes against one deadline
        and a size cap: httpx's timeouts are per read, so a bridge trickling a byte at a time
        would otherwise hold the fetcher for ever, and one sending without end fill its memory."""
        deadline = time.monotonic() + self._total_s
        raw = bytearray()
        try:
            with self._client.stream("POST", DOWNLOAD_PATH, json=request) as response:
                for chunk in response.iter_bytes():
                    raw += chunk
                    if len(raw) > MAX_ANSWER_BYTES:
                        raise _Cut(Answer.FAILED, "the bridge's answer is too long")
                    if time.monotonic() > deadline:
                        raise _Cut(Answer.UNREACHABLE, "the answer took too long")
        except httpx.HTTPError as exc:
            raise _Cut(Answer.UNREACHABLE, type(exc).__name__) from None
        return response.status_code, bytes(raw)


class _Cut(Exception):
    """No answer to use: what download() says instead."""

    def __init__(self, answer: Answer, detail: str) -> None:
        super().__init__(detail)
        self.download = Download(answer, detail=detail)


class FileRefused(Exception):
    """The file the bridge named may not or cannot be read; the message says why."""


class WrongFile(Exception):
    """The file's SHA-256 is not the photo's: another photo's file (same second), or damage."""


def read_checked(named: str, media_dir: Path, *, max_bytes: int, sha256: bytes | None) -> bytes:
    """The file the bridge named, if its real path lies under `media_dir`, it is a regular file
    of at most `max_bytes`, and its SHA-256 is `sha256`."""
    root = Path(os.path.realpath(media_dir))
    try:
        real = Path(os.path.realpath(named))
    except ValueError:  # a NUL in the name: no file has it, and one bad answer stops no pass
        raise FileRefused("not a file name") from None
    if not real.is_relative_to(root) or real == root:
        raise FileRefused("the file lies outside the media folder")
    # O_NONBLOCK: a named pipe (or a device) put where a photo should be would block the open
    # until something writes to it, and the fetcher with it; a regular file ignores the flag.
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(real, flags)
    except OSError as exc:
        raise FileRefused(f"cannot open the file ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused("not a regular file")
        if info.st_size > max_bytes:
            raise FileRefused(f"the file is larger than {max_bytes} bytes")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileRefused(f"the file is larger than {max_bytes} bytes")
    if sha256 is None:
        raise WrongFile("the bridge stored no SHA-256 for this photo")
    if hashlib.sha256(data).digest() != sha256:
        raise WrongFile("the file's SHA-256 is not the photo's")
    return data


class NotAnImage(Exception):
    """Bytes Pillow will not decode safely (not an image, a decompression bomb, damage)."""


@dataclass(frozen=True, slots=True)
class Rendered:
    thumb: bytes  # JPEG, no metadata
    screen: bytes  # JPEG, no metadata
    width: int
    height: int
    taken: str | None  # EXIF DateTimeOriginal (or DateTime), as the camera wrote it
    place: str | None  # EXIF GPS as "26.39350° S, 27.80720° E"


def render(data: bytes) -> Rendered:
    """Decode `data` (guarded) and make the served copies, re-encoded from the pixels alone."""
    # Imported here: only the decoder's child renders (Decoder), so the daemon never loads
    # Pillow (~4 MB of its resident memory).
    from PIL import Image, ImageOps, UnidentifiedImageError  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in IMAGE_FORMATS:
                    raise NotAnImage(f"not a photo format ({image.format})")
                if image.width * image.height > MAX_PIXELS:
                    raise NotAnImage("too many pixels (a decompression bomb?)")
                exif = image.getexif()
                taken, place = _taken(exif), _place(exif)
                upright = ImageOps.exif_transpose(image).convert("RGB")
        except (
            UnidentifiedImageError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
            OSError,
            ValueError,
            SyntaxError,
        ) as exc:
            raise NotAnImage(f"not a readable image ({type(exc).__name__})") from None
    width, height = upright.size
    return Rendered(
        thumb=_jpeg(upright, THUMB_SIZE),
        screen=_jpeg(upright, SCREEN_SIZE),
        width=width,
        height=height,
        taken=taken,
        place=place,
    )


DECODE_SECONDS = 30.0  # a phone's photo decodes and renders in a fraction of a second
_DECODER_MAIN = "from wa_monitor.adapters.media import decode_loop; decode_loop()"


class DecodeFailed(Exception):
    """The decoder took longer than its limit, or failed in a way it does not know (its
    child died, or raised an error other than NotAnImage); the message says which."""


class Decoder:
    """render() in a child process of its own, with a time limit per file: a hostile file that
    keeps Pillow busy (or hangs it) costs `seconds`, then the child is killed and the next file
    gets a new one. The child only ever sends plain bytes and numbers back (no pickle: it
    handles the bridge's files, the parent trusts none of its answer beyond their shape)."""

    def __init__(self, seconds: float = DECODE_SECONDS) -> None:
        self.seconds = seconds
        self._child: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the child now (else at the first file): its imports take a moment."""
        if self._child is None or self._child.poll() is not None:
            self._child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-c", _DECODER_MAIN],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )

    def __call__(self, data: bytes) -> Rendered:
        self.start()
        child = self._child
        if child is None or child.stdin is None or child.stdout is None:
            raise DecodeFailed("the decoder did not start")
        deadline = time.monotonic() + self.seconds
        try:
            child.stdin.write(len(data).to_bytes(8, "big") + data)
            child.stdin.flush()
            return _answer(child.stdout.fileno(), deadline)
        except TimeoutError:
            self.close()
            raise DecodeFailed(f"decoding took longer than {self.seconds:g} s") from None
        except (EOFError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            self.close()  # the child died or answered nonsense: a new one for the next file
            raise DecodeFailed(f"the decoder stopped ({type(exc).__name__})") from None

    def close(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        child.kill()
        child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def __enter__(self) -> Decoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_MAX_HEAD = 4096  # the answer's JSON head: sizes and two short texts
_MAX_COPY = 32 << 20  # a served copy (a 1600 px JPEG is a few hundred kB)


def _answer(fd: int, deadline: float) -> Rendered:
    """The decoder child's answer to one file (decode_loop's), read from `fd` by `deadline`."""
    size = int.from_bytes(_read(fd, 4, deadline), "big")
    if size > _MAX_HEAD:
        raise ValueError(size)
    head = json.loads(_read(fd, size, deadline))
    if head.get("refused"):
        raise NotAnImage(str(head["refused"])[:200])
    if head.get("failed"):
        raise DecodeFailed(f"the decoder failed ({str(head['failed'])[:60]})")
    sizes = int(head["thumb"]), int(head["screen"])
    if not all(0 < n <= _MAX_COPY for n in sizes):
        raise ValueError(sizes)
    thumb, screen = (_read(fd, n, deadline) for n in sizes)
    return Rendered(
        thumb=thumb,
        screen=screen,
        width=int(head["width"]),
        height=int(head["height"]),
        taken=_short_text(head.get("taken")),
        place=_short_text(head.get("place")),
    )


def _read(fd: int, length: int, deadline: float) -> bytes:
    """`length` bytes from `fd` by `deadline`: TimeoutError after it, EOFError when the child
    is gone."""
    out = bytearray()
    while len(out) < length:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError
        chunk = os.read(fd, min(length - len(out), 1 << 20))
        if not chunk:
            raise EOFError
        out += chunk
    return bytes(out)


def decode_loop() -> None:
    """The decoder child's loop (Decoder): a file in (8-byte length, bytes), its rendering out
    (4-byte length, a JSON head, then the thumbnail's and the screen copy's bytes)."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while size := source.read(8):
        data = source.read(int.from_bytes(size, "big"))
        blobs: tuple[bytes, ...] = ()
        try:
            rendered = render(data)
        except NotAnImage as exc:
            head: dict[str, object] = {"refused": str(exc)}
        except Exception as exc:  # noqa: BLE001 - said to the parent by its type, which goes on
            head = {"failed": type(exc).__name__}
        else:
            blobs = (rendered.thumb, rendered.screen)
            head = {
                "thumb": len(rendered.thumb),
                "screen": len(rendered.screen),
                "width": rendered.width,
                "height": rendered.height,
                "taken": rendered.taken,
                "place": rendered.place,
            }
        said = json.dumps(head).encode()
        sink.write(len(said).to_bytes(4, "big") + said + b"".join(blobs))
        sink.flush()


def _jpeg(image: Image.Image, box: tuple[int, int]) -> bytes:
    copy = image.copy()
    copy.thumbnail(box)
    out = io.BytesIO()
    copy.save(out, "JPEG", quality=82, optimize=True)  # no exif= : nothing of the original
    return out.getvalue()


def _taken(exif: Image.Exif) -> str | None:
    value = exif.get_ifd(0x8769).get(0x9003) or exif.get(0x0132)
    return _short_text(value)


def _place(exif: Image.Exif) -> str | None:
    gps = exif.get_ifd(0x8825)
    try:
        lat = _degrees(gps[2], str(gps[1]))
        lon = _degrees(gps[4], str(gps[3]))
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    return f"{abs(lat):.5f}° {'S' if lat < 0 else 'N'}, {abs(lon):.5f}° {'W' if lon < 0 else 'E'}"


def _degrees(dms: object, ref: str) -> float:
    d, m, s = (float(Fraction(str(part))) for part in dms)  # type: ignore[attr-defined]
    value = d + m / 60 + s / 3600
    if not -180 <= value <= 180:
        raise ValueError(value)
    return -value if ref.strip().upper() in ("S", "W") else value


def _short_text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = "".join(c for c in value if c.isprintable())[:40].strip()
    return text or None


class NotAVideo(Exception):
    """Bytes that are not an MP4/3GP video (what WhatsApp sends)."""


def video_type(data: bytes) -> str:
    """The content type of an MP4 or 3GP video (its `ftyp` box), served as it is; anything
    else is refused (a "video" row whose file is something else is not served as a video)."""
    if len(data) < 12 or data[4:8] != b"ftyp":
        raise NotAVideo("not an MP4 or 3GP video")
    return "video/3gpp" if data[8:11] == b"3gp" else "video/mp4"


class PhotoCache:
    """Served copies by content (the file's SHA-256), with a size cap: one environment's. A
    photo's are a thumbnail and a screen-size JPEG; a video's, the file as it came."""

    SUFFIXES: ClassVar[dict[str, str]] = {"thumb": "jpg", "screen": "jpg", "video": "video"}
    KINDS = tuple(SUFFIXES)

    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def path(self, key: str, kind: str) -> Path:
        if (
            kind not in self.SUFFIXES
            or len(key) != 64
            or not all(c in "0123456789abcdef" for c in key)
        ):
            raise ValueError("not a cache key")
        return self.root / key[:2] / f"{key}.{kind}.{self.SUFFIXES[kind]}"

    def put(self, key: str, rendered: Rendered) -> None:
        self._write(key, "thumb", rendered.thumb)
        self._write(key, "screen", rendered.screen)

    def put_video(self, key: str, data: bytes) -> None:
        self._write(key, "video", data)

    def _write(self, key: str, kind: str, data: bytes) -> None:
        target = self.path(key, kind)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        partial = target.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(data)
        partial.replace(target)

    def has(self, key: str) -> bool:
        """Whether a photo's copies (or a video's file) are cached."""
        if self.path(key, "video").is_file():
            return True
        return all(self.path(key, kind).is_file() for kind in ("thumb", "screen"))

    def files(self) -> Iterator[tuple[Path, os.stat_result]]:
        if not self.root.is_dir():
            return
        for entry in self.root.glob("??/*.*"):
            if entry.suffix not in (".jpg", ".video"):
                continue  # a copy being written (.part)
            try:
                yield entry, entry.stat()
            except FileNotFoundError:
                continue

    def size(self) -> tuple[int, int]:
        """(files, bytes) in the cache."""
        count = total = 0
        for _, info in self.files():
            count += 1
            total += info.st_size
        return count, total

    def prune(self, max_bytes: int | None = None) -> tuple[int, int]:
        """Remove the least recently used copies until the cache is within its cap (or
        `max_bytes`); returns (files, bytes) removed."""
        cap = self.max_bytes if max_bytes is None else max_bytes
        found = sorted(self.files(), key=lambda f: max(f[1].st_atime, f[1].st_mtime))
        total = sum(info.st_size for _, info in found)
        removed = freed = 0
        for entry, info in found:
            if total <= cap:
                break
            entry.unlink(missing_ok=True)
            total -= info.st_size
            removed += 1
            freed += info.st_size
        return removed, freed

    def touch(self, key: str, kind: str) -> None:
        """Note a use (prune keeps the recently used)."""
        now = time.time()
        with contextlib.suppress(OSError):
            os.utime(self.path(key, kind), (now, now))
