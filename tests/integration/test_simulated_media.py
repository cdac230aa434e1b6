"""The bridge's stand-in for media: real JPEGs stored as the bridge stores media rows, and
`POST /api/download` answered as the bridge answers it (its shortcut and error shapes included)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import sqlite3
import struct
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image

from wa_monitor.adapters.media import video_type
from wa_monitor.devtools.bridge_api import SimulatedBridgeApi
from wa_monitor.devtools.photos import LAWLEY, Subject, clip, draw
from wa_monitor.devtools.simulator import BridgeWriter, Post, bridge_timestamp, media_post

LAWLEY_JID = "120363418298130331@g.us"
AGENT = "27821234567"
AT = datetime(2025, 11, 11, 12, 25, 30, tzinfo=ZoneInfo("Africa/Johannesburg"))


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[SimulatedBridgeApi]:
    store = tmp_path / "store"
    store.mkdir()
    with SimulatedBridgeApi(bridge_db=store / "messages.db") as api:
        yield api


def download(bridge: SimulatedBridgeApi, **body: object) -> httpx.Response:
    return httpx.post(f"{bridge.url}/api/download", json=body, timeout=5)


def test_a_photo_is_a_real_jpeg_with_exif_time_and_gps() -> None:
    data = draw(Subject.ONT_LABEL, taken=AT, place=LAWLEY, label="HWTC1234ABCD")

    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        exif = image.getexif()
        assert exif[0x0132] == "2025:11:11 12:25:30"
        gps = exif.get_ifd(0x8825)
        assert (gps[1], gps[3]) == ("S", "E")
        assert float(gps[2][0]) == 26.0
    assert draw(Subject.ONT_LABEL, label="A1") != draw(Subject.ONT_LABEL, label="B2")


def test_media_rows_are_stored_as_the_bridge_stores_them(
    bridge: SimulatedBridgeApi, tmp_path: Path
) -> None:
    data = draw(Subject.HOUSE, taken=AT, place=LAWLEY)
    bridge.post_media(
        media_post(id="AA11", chat_jid=LAWLEY_JID, sender=AGENT, moment=AT, data=data)
    )

    with contextlib.closing(sqlite3.connect(tmp_path / "store" / "messages.db")) as conn:
        row = conn.execute(
            "SELECT media_type, content, filename, url, length(media_key), file_sha256,"
            " length(file_enc_sha256), file_length, timestamp FROM messages WHERE id = 'AA11'"
        ).fetchone()
    assert row[0:3] == ("image", "", "image_20251111_122530.jpg")
    assert row[3].startswith("https://mmg.whatsapp.net/")
    assert (row[4], row[6]) == (32, 32)
    assert row[5] == hashlib.sha256(data).digest()
    assert row[7] == len(data)
    assert row[8] == bridge_timestamp(AT)


def test_download_writes_the_file_under_store_and_answers_as_the_bridge(
    bridge: SimulatedBridgeApi,
) -> None:
    data = draw(Subject.POLE, taken=AT)
    jid = "27821234567:12@s.whatsapp.net"  # ':' becomes '_' in the folder name
    bridge.post_media(media_post(id="BB22", chat_jid=jid, sender=AGENT, moment=AT, data=data))

    answer = download(bridge, message_id="BB22", chat_jid=jid)

    assert answer.status_code == 200
    expected = bridge.store / "27821234567_12@s.whatsapp.net" / "image_20251111_122530.jpg"
    assert answer.json() == {
        "success": True,
        "message": "Successfully downloaded image media",
        "filename": "image_20251111_122530.jpg",
        "path": str(expected.absolute()),
    }
    assert expected.read_bytes() == data


def boxes(data: bytes, at: int = 0, end: int | None = None) -> dict[bytes, tuple[int, int]]:
    """An MP4's boxes at one level: type -> (where its body starts, where it ends)."""
    found, end = {}, len(data) if end is None else end
    while at < end:
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        found[kind] = (at + 8, at + size)
        at += size
    assert at == end, "the boxes fill their parent exactly"
    return found


def test_a_video_is_a_real_mp4_with_an_h264_stream() -> None:
    """What a browser needs to play it (test_photo_pages plays it in chromium): ftyp, one video
    track whose sample table points at the frames in mdat, each frame one H.264 IDR picture
    whose bytes never look like a start code."""
    data = clip("DR1752028")

    top = boxes(data)
    assert list(top) == [b"ftyp", b"moov", b"mdat"]
    assert video_type(data) == "video/mp4"  # what the fetcher accepts and serves it as
    path = [b"trak", b"mdia", b"minf", b"stbl"]
    level = boxes(data, *top[b"moov"])
    for kind in path:
        level = boxes(data, *level[kind])
    stsz = data[level[b"stsz"][0] : level[b"stsz"][1]]
    count = struct.unpack(">I", stsz[8:12])[0]
    sizes = struct.unpack(f">{count}I", stsz[12:])
    offset = struct.unpack(">I", data[level[b"stco"][0] + 8 : level[b"stco"][0] + 12])[0]
    assert offset == top[b"mdat"][0]
    assert sum(sizes) == top[b"mdat"][1] - top[b"mdat"][0]
    avc1 = data[level[b"stsd"][0] + 8 :]
    assert avc1[4:8] == b"avc1"
    assert struct.unpack(">HH", avc1[32:36]) == (128, 96)
    at = offset
    for size in sizes:
        (length,) = struct.unpack(">I", data[at : at + 4])
        nal = data[at + 4 : at + 4 + length]
        assert length == size - 4
        assert nal[0] & 0x1F == 5  # an IDR picture
        assert not any(nal[i : i + 3] in (b"\0\0\0", b"\0\0\1", b"\0\0\2") for i in range(len(nal)))
        at += size
    assert clip("DR1752028") != clip("DR1752031")


def test_a_video_is_stored_and_downloaded_as_the_bridge_does(bridge: SimulatedBridgeApi) -> None:
    data = clip("walk")
    bridge.post_media(
        media_post(
            id="VV1", chat_jid=LAWLEY_JID, sender=AGENT, moment=AT, data=data, media_type="video"
        )
    )

    answer = download(bridge, message_id="VV1", chat_jid=LAWLEY_JID)

    assert answer.status_code == 200
    assert answer.json()["message"] == "Successfully downloaded video media"
    assert answer.json()["filename"] == "video_20251111_122530.mp4"
    assert Path(answer.json()["path"]).read_bytes() == data


def test_two_photos_in_one_second_come_back_as_the_first_ones_file(
    bridge: SimulatedBridgeApi,
) -> None:
    first, second = draw(Subject.HOUSE, label="1"), draw(Subject.METER, label="2")
    bridge.post_media(
        media_post(id="C1", chat_jid=LAWLEY_JID, sender=AGENT, moment=AT, data=first),
        media_post(id="C2", chat_jid=LAWLEY_JID, sender=AGENT, moment=AT, data=second),
    )

    one = download(bridge, message_id="C1", chat_jid=LAWLEY_JID).json()
    two = download(bridge, message_id="C2", chat_jid=LAWLEY_JID).json()

    assert one["path"] == two["path"]  # the "file exists, return it" shortcut
    assert Path(two["path"]).read_bytes() == first  # not C2's photo: only its SHA-256 tells


def test_expired_media_not_a_media_message_and_unknown_ids_answer_500(
    bridge: SimulatedBridgeApi,
) -> None:
    gone = media_post(id="D1", chat_jid=LAWLEY_JID, sender=AGENT, moment=AT, data=b"\xff\xd8x")
    bridge.post_media(gone)
    bridge.expire(gone)
    assert bridge.bridge_db is not None
    with BridgeWriter(bridge.bridge_db) as writer:
        writer.post(Post("D2", LAWLEY_JID, AGENT, "DR1234567", bridge_timestamp(AT)))

    expired = download(bridge, message_id="D1", chat_jid=LAWLEY_JID)
    text = download(bridge, message_id="D2", chat_jid=LAWLEY_JID)
    unknown = download(bridge, message_id="NOPE", chat_jid=LAWLEY_JID)

    assert expired.status_code == 500
    assert expired.json() == {
        "success": False,
        "message": "Failed to download media: failed to download media: "
        "download failed with status code 410",
    }
    assert text.json() == {
        "success": False,
        "message": "Failed to download media: not a media message",
    }
    assert unknown.status_code == 500
    assert unknown.json()["message"].startswith("Failed to download media: failed to find")


def test_wrong_method_and_missing_fields_answer_plain_text(bridge: SimulatedBridgeApi) -> None:
    wrong = httpx.get(f"{bridge.url}/api/download", timeout=5)
    missing = download(bridge, message_id="X")
    garbage = httpx.post(f"{bridge.url}/api/download", content=b"{nope", timeout=5)

    assert (wrong.status_code, wrong.text) == (405, "Method not allowed\n")
    assert wrong.headers["content-type"].startswith("text/plain")
    assert (missing.status_code, missing.text) == (400, "Message ID and Chat JID are required\n")
    assert (garbage.status_code, garbage.text) == (400, "Invalid request format\n")
