"""An .xlsx file is a zip of XML parts: look at what the zip says it holds before openpyxl
unpacks it, so a small hostile file (a zip bomb) cannot take the host's memory and minutes.

A 1 MB workbook whose one sheet unpacks to 700 MB took 739 MB and 21 s to open. The sizes the
zip's directory declares are what Python's zipfile will ever hand openpyxl (it stops a part at
its declared size, and fails its checksum when the part holds more), so checking them before
opening is enough; nothing is decompressed to check.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

MB = 1_000_000
# A plan of 25,000 rows and 26 columns unpacks to 30 MB at 10 to 1; the daily-totals sheet to
# far less. Deflate can reach 1,000 to 1, which only a part of one repeated byte ever does.
MAX_UNPACKED = 100 * MB
MAX_RATIO = 100
_SMALL_PART = 1 * MB  # a part this small does no harm at any ratio (styles.xml often is 20:1)


def size_refusal(path: Path) -> str | None:
    """Why `path` must not be opened as a workbook (one line naming the numbers), or None.
    A file that is not a zip is left to the caller's reader to refuse in its own words."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (OSError, zipfile.BadZipFile, ValueError):
        return None
    unpacked = sum(p.file_size for p in parts)
    if unpacked > MAX_UNPACKED:
        return (
            f"{path.name}: its parts would unpack to {unpacked / MB:,.0f} MB, more than the "
            f"{MAX_UNPACKED // MB} MB a workbook may take here; not opened"
        )
    for part in parts:
        if part.file_size <= _SMALL_PART:
            continue
        ratio = part.file_size / max(part.compress_size, 1)
        if ratio > MAX_RATIO:
            return (
                f"{path.name}: its part {part.filename[:60]!r} is compressed {ratio:,.0f} to 1 "
                f"(a zip bomb's mark; workbooks stay under {MAX_RATIO} to 1); not opened"
            )
    return None
