"""Reads the WhatsApp bridge's SQLite file: read-only, in rowid order, in short transactions."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import cast
from urllib.parse import quote

from wa_monitor.adapters.sqlfiles import named_queries
from wa_monitor.core.isolation import user_part
from wa_monitor.core.message_time import DEFAULT_MAX_AHEAD, sent_time
from wa_monitor.core.records import (
    BridgeBatch,
    BridgeMessage,
    BridgePosition,
    Flaw,
    Media,
    PhotoRows,
    PhotoSender,
)
from wa_monitor.errors import Rescan, TransientError

REQUIRED: dict[str, tuple[str, ...]] = {
    "messages": ("id", "chat_jid", "sender", "content", "timestamp", "is_from_me"),
    "chats": ("jid", "name"),
}
LID_MAP_REQUIRED: dict[str, tuple[str, ...]] = {"whatsmeow_lid_map": ("lid", "pn")}

# How long a read waits for the bridge to finish a write before it gives up and retries later.
# Short: the bridge, not the monitor, must win any contest for the file.
BUSY_TIMEOUT_SECONDS = 0.5
# Rowids per read transaction (a batch may span several): a few ms of SQLite work, so the lock
# the bridge waits for is held briefly even on a busy host.
READ_SPAN = 2500

# A read transaction that has held the file this long is cut short and done again over fewer
# rowids (a progress handler interrupts it), down to one row: the bridge waits for no read much
# longer than the 50 ms target, whatever the rows hold.
READ_TIME_LIMIT = 0.020
# The progress handler is a Python call: every 1,000 SQLite steps (some 50 ordinary rows, well
# under a millisecond) while reads are ordinary; every 4 (each row) once the window has shrunk
# below CAREFUL_WINDOW rowids or the file's rows are big. A window shrunk by a busy host (the
# read preempted, not costly) stays ordinary: checking every row then cost a drain its speed.
PROGRESS_STEPS, PROGRESS_STEPS_SLOW = 1000, 4
CAREFUL_WINDOW = 40
# A bridge's rows average a few hundred bytes; a file holding far more a row holds huge ones.
BIG_ROW_BYTES = 64 * 1024
# Characters of content per read transaction and per batch: past them the read stops at the
# row it reached, so that memory stays flat whatever the messages' size.
READ_CHARS = 1 << 21
BATCH_CHARS = 1 << 23
# WhatsApp caps a text message at 65,536 characters (at most 4 bytes each): no more of a row's
# content is looked at. A longer one (a fork's, or a hostile one) would cost the lock and
# memory its whole length.
MAX_MESSAGE_BYTES = 4 * 65_536

# Only rows that can hold a drop leave SQLite: "dr" in any case, then (GLOB, case-sensitive)
# D/d, R/r, an optional space and six ASCII digits, which every drop the parser accepts has.
# The cheap LIKE turns most rows away before the GLOBs run. LIKE and GLOB stop at a NUL byte
# and never match a BLOB, so such rows go to the parser as well. The GLOBs and the parser see
# the first MAX_MESSAGE_BYTES of a row (bridge.sql writes it out: 262144): a GLOB over 10 MB
# holds the lock for 200 ms.
# Messages of the bridge's own account (is_from_me: its replies, feedback sent from the
# dashboard) come out flagged, when they can hold a drop: the core skips them unless the config
# says that account posts drops, and counts them, so that a skipped agent is never silent.
# The id comes as its type and exact bytes: one that is not plain text must still be told
# apart from every other and found again (see exact_key).
# In bytes, through a BLOB: substr() of text stops at a NUL, which must reach the parser.
_SQL = named_queries(__package__, "bridge.sql")
_READ = _SQL["read"]
# The same rows, for when rows are costly (huge content): each row's content is loaded once,
# as its head, in a subquery that LIMIT keeps SQLite from merging into the outer one (which
# would load it again for every test). A little slower for ordinary rows, so used only then.
_READ_HEADS = _SQL["read_heads"]
# The plain photo rows of a read, as one JSON text (bridge.sql says which are plain): the
# daemon never makes an object per photo; PostgreSQL unpacks them (photos.record_photos).
_PHOTO_ROWS, _BY_ROWID = _SQL["photo_rows"], _SQL["by_rowid"]
_MAX_ROWID, _NEXT_ROWID = _SQL["max_rowid"], _SQL["next_rowid"]
_TAKE_LOCK = _SQL["take_lock"]  # any read takes the shared lock
# The row a read stands on, as exact keys and the parts of its fingerprint.
_ANCHOR_AT = _SQL["anchor_at"]
# That row again, by its exact key, whatever its type or bytes (the primary key's index serves
# `IS` with a constant): a BLOB is compared as a BLOB, text bytes as text, NULL as NULL.
_FIND, _AT_ROWID = _SQL["find"], _SQL["at_rowid"]
# Rows as _READ gives them (Bridge._resolve reads them), found by (chat JID, message id).
_BY_KEY = _SQL["by_key"]
_NAMES, _LIDS = _SQL["names"], _SQL["lids"]
_COUNT_PENDING, _NEWEST_TIME = _SQL["count_pending"], _SQL["newest_time"]
_KNOWN_GROUPS = _SQL["known_groups"]


class BridgeError(TransientError):
    """The bridge file cannot be read right now; the message says why in one line."""


class BridgeMissing(BridgeError):
    pass


class BridgeBusy(BridgeError):
    pass


class BridgeCorrupt(BridgeError):
    pass


class BridgeSchemaError(BridgeError):
    pass


_TIME_TEXT = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?(?:\s+[A-Za-z][A-Za-z0-9_/+-]*)?(?:\s+m=[+-][0-9.]+)?\s*$"
)

# Unix seconds or milliseconds, ASCII digits only: str.isdigit() also accepts '²' and friends,
# which float() refuses.
_EPOCH = re.compile(r"-?[0-9]+(?:\.[0-9]*)?")


# A time is readable only well inside the calendar's ends: a moment of year 1 or 9999 cannot be
# shown in every zone (astimezone raises OverflowError), nor stored and read back.
_CALENDAR_FROM = datetime(2, 1, 1, tzinfo=UTC)
_CALENDAR_UNTIL = datetime(9998, 12, 31, tzinfo=UTC)


def parse_timestamp(value: object, tz: tzinfo) -> datetime | None:
    """The bridge's time text as an aware datetime, or None if it cannot be read.

    Accepts `2025-11-11 12:25:30+02:00`, a 'T' separator, fractions of any length, `Z`, `+0200`,
    Go's `2025-11-11 12:25:30.5 +0200 SAST`, and Unix seconds or milliseconds. Without an
    offset the time is taken in `tz`. A time near either end of the calendar is None too.
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_epoch(float(value))
    if not isinstance(value, str):
        return None
    if _bridge_shape(value):
        # What the bridge writes (`2025-11-11 12:25:30+02:00`): the C parser, ~30x cheaper than
        # the regex below. A value it refuses (hour 25, offset +24:00) goes the long way.
        try:
            return _in_calendar(datetime.fromisoformat(value))
        except ValueError:
            pass
    return _parse_text(value, tz)


def _in_calendar(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    # A year well inside the ends is inside them in every zone, without the comparisons below:
    # a moment in another zone than theirs is compared through its offset (~0.5 us each).
    if 2 < moment.year < 9998 or _CALENDAR_FROM <= moment <= _CALENDAR_UNTIL:
        return moment
    return None


def exact_key(kind: str, raw: bytes | None) -> str:
    """A SQLite value (its typeof() and bytes) as text that PostgreSQL stores and that finds
    the same value again: plain text as itself, anything else (bytes that are not UTF-8, a NUL
    or other control character, a BLOB, NULL) as its type and hex, e.g. "text:41ff"."""
    if kind == "text" and raw is not None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if text.isprintable() and not _KEYED.match(text):
                return text
    return f"{kind}:{(raw or b'').hex()}"


_KEYED = re.compile(r"^(?:text|blob|null|integer|real):[0-9a-f]*$")


def _key_param(key: str) -> tuple[bytes, str]:
    """exact_key's text back as the bytes and type to look the value up with (_FIND)."""
    if _KEYED.match(key):
        kind, _, digits = key.partition(":")
        return bytes.fromhex(digits), kind
    return key.encode("utf-8"), "text"


def _fingerprint(timestamp: object, sender: object) -> str:
    digest = hashlib.blake2b(digest_size=8)
    for part in (timestamp, sender):
        digest.update(b"\x00" if part is None else b"\x01" + bytes(cast(bytes, part)) + b"\x00")
    return digest.hexdigest()


def _bridge_shape(value: str) -> bool:
    """`YYYY-MM-DD HH:MM:SS+HH:MM` (or with a 'T'), in ASCII; the digits are checked later."""
    return (
        len(value) == 25
        and value.isascii()
        and value[10] in " T"
        and value[19] in "+-"
        and value[22] == ":"
        and value[23] in "012345"  # fromisoformat takes an offset of +00:90; we do not
        and value[4] == value[7] == "-"
        and value[13] == value[16] == ":"
    )


def _parse_text(value: str, tz: tzinfo) -> datetime | None:
    """The slow, general path of parse_timestamp for text."""
    return _in_calendar(_read_text(value, tz))


def _read_text(value: str, tz: tzinfo) -> datetime | None:  # noqa: PLR0911
    if _EPOCH.fullmatch(value.strip()):
        return _from_epoch(float(value.strip()))
    m = _TIME_TEXT.match(value)
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = m.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        naive = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro
        )
    except ValueError:
        return None
    if offset is None:
        return naive.replace(tzinfo=tz)
    if offset == "Z":
        return naive.replace(tzinfo=UTC)
    digits = offset[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return naive.replace(tzinfo=timezone(delta if offset[0] == "+" else -delta))


def _from_epoch(seconds: float) -> datetime | None:
    if abs(seconds) > 1e11:  # milliseconds
        seconds /= 1000
    try:
        return _in_calendar(datetime.fromtimestamp(seconds, UTC))
    except (OverflowError, OSError, ValueError):
        return None


def ro_connect(path: Path, *, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> sqlite3.Connection:
    """Open a SQLite file read-only; a missing file is an error, never a new empty database."""
    if not path.exists():
        raise BridgeMissing(f"bridge file {path} does not exist")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(
            uri, uri=True, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA query_only = 1")
    except sqlite3.Error as exc:
        raise from_sqlite_error(exc, path) from None
    # The bridge can store bytes that are not UTF-8 in a TEXT column. Failing to decode one row
    # would fail every read of its batch, for ever: read it with replacement characters
    # (Bridge._timed reads with the faster strict decoder first, and falls back to this).
    conn.text_factory = _lenient_text
    return conn


_NOT_UTF8 = "Could not decode to UTF-8"  # the sqlite3 module's error for such a cell


def _lenient_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _storable(text: str) -> str:
    """Text PostgreSQL will take: a NUL (which it refuses, failing the batch for ever) as U+FFFD."""
    return text.replace("\x00", "\ufffd")


def from_sqlite_error(exc: sqlite3.Error, path: Path) -> BridgeError:
    """SQLite's error as ours, with the file named and a hint at what to do."""
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return BridgeBusy(f"bridge file {path} is locked by a writer ({text}); retrying")
    if getattr(exc, "sqlite_errorname", "") == "SQLITE_READONLY_ROLLBACK":
        # The bridge stopped in the middle of a write and left a hot journal. Only a writer may
        # roll it back; a read-only reader must wait for the bridge to open the file again.
        return BridgeBusy(
            f"bridge file {path} has an unfinished write (the bridge stopped mid-write and left "
            "a hot journal); waiting for the bridge to open it and roll back"
        )
    if "unable to open" in text:
        return BridgeMissing(f"cannot open bridge file {path}: {text} (check path and permissions)")
    if isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text
    ):
        return BridgeCorrupt(f"bridge file {path} is not a readable SQLite database: {text}")
    return BridgeError(f"bridge file {path}: {text}")


def check_columns(
    conn: sqlite3.Connection, path: Path, required: dict[str, tuple[str, ...]]
) -> None:
    """Raise BridgeSchemaError naming every table or column the file lacks."""
    missing: list[str] = []
    for table, columns in required.items():
        have = {row[0] for row in conn.execute(_SQL["table_columns"], (table,))}
        if not have:
            missing.append(f"table {table}")
            continue
        missing.extend(f"column {table}.{c}" for c in columns if c not in have)
    if missing:
        raise BridgeSchemaError(
            f"{path} is not a WhatsApp bridge file in the expected schema: missing "
            + ", ".join(missing)
        )


def open_checked(path: Path, required: dict[str, tuple[str, ...]]) -> sqlite3.Connection:
    """Open read-only and make sure the tables and columns we read are there."""
    conn = ro_connect(path)
    try:
        check_columns(conn, path, required)
    except sqlite3.Error as exc:
        conn.close()
        raise from_sqlite_error(exc, path) from None
    except BridgeError:
        conn.close()
        raise
    return conn


def file_id(path: Path) -> str:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise BridgeMissing(f"bridge file {path} does not exist") from None
    except OSError as exc:
        raise BridgeMissing(f"cannot stat bridge file {path}: {exc.strerror}") from None
    return f"{st.st_dev}:{st.st_ino}"


# photo_rows' answer for the plain photo rows of a read: their JSON rows, their JSON (chat,
# sender, count)s, their first and last Unix second, and how many.
_Plain = tuple[str, str, int, int, int]


def _read_photos(
    conn: sqlite3.Connection,
    params: dict[str, object],
    hi: int,
    rows: list[tuple[object, ...]],
    chars: int,
) -> tuple[int, int, _Plain]:
    """A read's photo rows, in its transaction: the plain ones as one piece, the others added
    to `rows` (in rowid order) as read gives them. Returns the read's end, cut short (as read
    cuts it) when the others' content reaches READ_CHARS, the characters read, and the piece."""
    taken = json.dumps([row[0] for row in rows])
    plain, odd_rowids = _plain_and_odd(conn, params | {"hi": hi, "taken": taken})
    if odd_rowids == "[]":
        return hi, chars, plain
    odd: list[tuple[object, ...]] = []
    for row in conn.execute(_BY_ROWID, (odd_rowids,)):
        odd.append(row)
        chars += len(row[5] or "")
        if chars >= READ_CHARS and row[0] < hi:
            hi = cast(int, row[0])  # the rest in the next transaction
            rows[:] = [r for r in rows if cast(int, r[0]) <= hi]
            plain, _ = _plain_and_odd(conn, params | {"hi": hi, "taken": taken})
            break
    rows.extend(odd)
    rows.sort(key=lambda r: cast(int, r[0]))
    return hi, chars, plain


def _plain_and_odd(conn: sqlite3.Connection, params: dict[str, object]) -> tuple[_Plain, str]:
    *plain, odd = conn.execute(_PHOTO_ROWS, params).fetchone()
    return cast(_Plain, tuple(plain)), str(odd)


@dataclass(frozen=True, slots=True)
class _Chunk:
    """The rows of one read transaction, as SQLite gave them, and where the next one starts."""

    rows: list[tuple[object, ...]]
    position: BridgePosition
    caught_up: bool
    chars: int  # of content in `rows`
    photos: _Plain | None = None  # its plain photo rows; None when off or none


class Bridge:
    """The bridge's messages.db (and optionally its whatsapp.db LID map), read-only."""

    def __init__(
        self,
        path: Path,
        *,
        groups: Sequence[str],
        tz: tzinfo,
        span: int,
        lid_map: Path | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_ahead: timedelta = DEFAULT_MAX_AHEAD,
        photos: bool = False,
    ) -> None:
        self.path = path
        self._photos = int(photos)  # image and video rows come out too
        self.lid_map_path = lid_map
        self._group_set = frozenset(groups)
        self._groups = json.dumps(sorted(groups))
        self._tz = tz
        self._span = span
        self._clock = clock
        self._max_ahead = max_ahead
        self._conn: sqlite3.Connection | None = None
        self._conn_file: str = ""
        self._lid_conn: sqlite3.Connection | None = None
        self._phone_of_lid: dict[str, str] = {}
        self.longest_read_seconds = 0.0
        self.read_transactions = 0
        self._window = READ_SPAN  # rowids per read transaction: fewer while rows are costly
        self._careful = False  # this read: the query and checks for costly rows
        self._newest = 0  # the newest rowid the last read saw
        self._held_since: float | None = None  # when the read in progress took the lock

    # -- connections -------------------------------------------------------------------------

    def _connection(self) -> tuple[sqlite3.Connection, str]:
        current = file_id(self.path)
        if self._conn is not None and current != self._conn_file:
            self.close()  # the file was replaced: the old handle still reads the old inode
        if self._conn is None:
            self._conn, self._conn_file = open_checked(self.path, REQUIRED), current
        return self._conn, self._conn_file

    def _lid_connection(self) -> sqlite3.Connection | None:
        if self.lid_map_path is None:
            return None
        if self._lid_conn is None:
            self._lid_conn = open_checked(self.lid_map_path, LID_MAP_REQUIRED)
        return self._lid_conn

    def close(self) -> None:
        for conn in (self._conn, self._lid_conn):
            if conn is not None:
                conn.close()
        self._conn = self._lid_conn = None
        self._conn_file = ""

    def __enter__(self) -> Bridge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _timed(self, conn: sqlite3.Connection, work: Callable[[], object]) -> None:
        """Run `work` in one read transaction, and keep the longest time its lock was held.

        Text is decoded by the sqlite3 module's own (C) UTF-8 path, which a drain's 100,000
        rows need; only a read that meets bytes that are not UTF-8 is done again with the
        lenient decoder (replacement characters), as every other read here is. So `work` may
        run twice, and must start from nothing each time.
        """
        conn.text_factory = str
        try:
            self._transaction(conn, work)
        except sqlite3.OperationalError as exc:
            if _NOT_UTF8 not in str(exc):
                raise
            conn.text_factory = _lenient_text
            self._transaction(conn, work)
        finally:
            conn.text_factory = _lenient_text

    def _transaction(self, conn: sqlite3.Connection, work: Callable[[], object]) -> None:
        """The clock starts once the shared lock is taken: waiting for a writer holds nothing."""
        conn.execute("BEGIN")
        self.read_transactions += 1
        started = None
        try:
            conn.execute(_TAKE_LOCK).fetchone()
            started = self._held_since = time.perf_counter()
            work()
        finally:
            self._held_since = None
            if conn.in_transaction:
                conn.execute("COMMIT")
            if started is not None:
                held = time.perf_counter() - started
                self.longest_read_seconds = max(self.longest_read_seconds, held)

    # -- reading -----------------------------------------------------------------------------

    def read(self, position: BridgePosition) -> BridgeBatch:
        """The next rows after `position` (at most `span` rowids), senders resolved.

        Raises Rescan when rowids were renumbered or the file replaced, BridgeError when the
        file cannot be read now.
        """
        try:
            return self._read_batch(position)
        except sqlite3.Error as exc:
            if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
                self.close()
            raise from_sqlite_error(exc, self.path) from None

    def _read_batch(self, position: BridgePosition) -> BridgeBatch:
        """`span` rowids in several short read transactions, each checking that the row it
        starts after is still where it was: the bridge waits for no read longer than one
        chunk takes, whatever the batch size. Senders are resolved once, for the batch."""
        start, end = position, position.rowid + self._span
        rows: list[tuple[object, ...]] = []
        plain: list[_Plain] = []
        chars = 0
        while True:
            chunk = self._read(position, end)
            rows.extend(chunk.rows)
            if chunk.photos is not None:
                plain.append(chunk.photos)
            chars += chunk.chars
            progressed = chunk.position.rowid > position.rowid
            position = chunk.position
            if chunk.caught_up or position.rowid >= end or not progressed or chars >= BATCH_CHARS:
                break
        counts: dict[tuple[str, str], int] = {}
        for _, senders, *_ in plain:
            for chat, sender, n in json.loads(senders):
                counts[(chat, sender)] = counts.get((chat, sender), 0) + n
        messages, phones = self._resolve(rows, {s for _, s in counts})
        return BridgeBatch(
            messages=tuple(messages),
            position=position,
            rows_scanned=position.rowid - start.rowid,
            caught_up=chunk.caught_up,
            photo_rows=_photo_rows(plain, counts, phones) if plain else None,
        )

    def _read(self, position: BridgePosition, end: int) -> _Chunk:
        """One read transaction: at most READ_SPAN rowids after `position`, and none past `end`."""
        conn, current_file = self._connection()
        if position.file_id and position.file_id != current_file:
            raise Rescan(f"bridge file {self.path} was replaced (file identity changed)")
        rows: list[tuple[object, ...]] = []
        found: dict[str, object] = {}
        # The newest time a plain photo row may have (bridge.sql): the newest a row may have
        # and not be flawed (_resolve), less a second, so that no row near it is judged there.
        late = (self._clock() + self._max_ahead - timedelta(seconds=1)).astimezone(UTC)
        photo_params: dict[str, object] = {
            "groups": self._groups,
            "late": late.strftime("%Y-%m-%d %H:%M:%S"),
            "early": (late - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S"),
        }

        def snapshot() -> None:
            rows.clear()  # _timed may run it twice (bytes that are not UTF-8): start afresh
            found.clear()
            newest = conn.execute(_MAX_ROWID).fetchone()[0] or 0
            found["newest"] = self._newest = newest
            if position.rowid > newest:
                return
            if position.anchor is not None and (problem := self._anchor_problem(conn, position)):
                found["moved"] = problem
                return
            # Past a gap of deleted rows wider than the chunk, up to the next row that exists,
            # so that every read moves on (an anchor needs a row to stand on).
            following = conn.execute(_NEXT_ROWID, (position.rowid,)).fetchone()[0] or newest
            hi = max(min(position.rowid + self._window, end, newest), following)
            chars = 0
            query = _READ_HEADS if self._careful else _READ
            for row in conn.execute(query, (position.rowid, hi, self._groups)):
                rows.append(row)
                chars += len(row[5] or "")  # NULL only in a photo's row
                if chars >= READ_CHARS and row[0] < hi:
                    hi = cast(int, row[0])  # the rest in the next transaction
                    break
            if self._photos:
                params = photo_params | {"lo": position.rowid}
                hi, chars, found["photos"] = _read_photos(conn, params, hi, rows, chars)
            found["chars"] = chars
            found["anchor"] = conn.execute(_ANCHOR_AT, (hi,)).fetchone()

        self._bounded(conn, snapshot)
        newest = int(found["newest"])  # type: ignore[call-overload]
        if position.rowid > newest:
            raise Rescan(
                f"bridge file {self.path} ends at rowid {newest}, before the saved position "
                f"{position.rowid} (file replaced or vacuumed)"
            )
        if found.get("moved"):
            raise Rescan(f"the last message read from {self.path} {found['moved']}")
        anchor_row = found.get("anchor")
        if anchor_row is None:
            next_position = BridgePosition(
                rowid=0, anchor=None, file_id=current_file, groups=self._group_set
            )
        else:
            a_rowid, chat_kind, chat, id_kind, mid, ts, sender = cast(
                tuple[int, str, bytes, str, bytes, object, object], anchor_row
            )
            next_position = BridgePosition(
                rowid=int(a_rowid),
                anchor=(exact_key(chat_kind, chat), exact_key(id_kind, mid)),
                file_id=current_file,
                groups=self._group_set,
                fingerprint=_fingerprint(ts, sender),
            )
        plain = cast(_Plain | None, found.get("photos"))
        return _Chunk(
            rows=rows,
            position=next_position,
            caught_up=next_position.rowid >= newest,
            chars=int(found.get("chars", 0)),  # type: ignore[call-overload]
            photos=plain if plain is not None and plain[4] else None,
        )

    def _bounded(self, conn: sqlite3.Connection, work: Callable[[], object]) -> None:
        """_timed(work), cut short past READ_TIME_LIMIT and done again over fewer rowids; the
        window grows back while reads are quick."""
        while True:
            held_before = self.longest_read_seconds
            self.longest_read_seconds = 0.0  # this transaction's time, below
            self._careful = self._window < CAREFUL_WINDOW or self._rows_are_big(conn)
            every = PROGRESS_STEPS_SLOW if self._careful else PROGRESS_STEPS
            conn.set_progress_handler(self._too_long, every)
            try:
                self._timed(conn, work)
            except sqlite3.OperationalError as exc:
                if "interrupted" not in str(exc) or self._window == 1:
                    raise
                self._window = max(1, self._window // 8)
                continue
            finally:
                conn.set_progress_handler(None, 0)
                held, self.longest_read_seconds = (
                    self.longest_read_seconds,
                    max(held_before, self.longest_read_seconds),
                )
            if held < READ_TIME_LIMIT / 4:
                self._window = min(READ_SPAN, self._window * 2)
            return

    def _rows_are_big(self, conn: sqlite3.Connection) -> bool:
        """Whether the file holds more than BIG_ROW_BYTES a row on average: then even the first
        read is careful, before a slow one has shown it (a stat; the first time, max(rowid))."""
        try:
            size = self.path.stat().st_size
        except OSError:
            return False
        if self._newest == 0 and size > BIG_ROW_BYTES:
            self._newest = conn.execute(_MAX_ROWID).fetchone()[0] or 0
        return size > BIG_ROW_BYTES * max(self._newest, 1)

    def _too_long(self) -> int:
        """The progress handler: non-zero interrupts the read (see _bounded)."""
        since = self._held_since
        return int(
            self._window > 1 and since is not None and time.perf_counter() - since > READ_TIME_LIMIT
        )

    @staticmethod
    def _anchor_problem(conn: sqlite3.Connection, position: BridgePosition) -> str | None:
        """Why the row `position` stands on no longer proves the same history, if it does not.

        Found lower down or not at all: rowids were renumbered (VACUUM) or the file replaced.
        Found at its rowid with another time or sender: the file was rewritten in place. Found
        higher up (the bridge re-inserted it, as it does on a re-delivery), while another row
        holds its old rowid, which SQLite never hands out again: rewritten as well.
        """
        assert position.anchor is not None  # noqa: S101 - the caller checked
        chat, chat_kind = _key_param(position.anchor[0])
        mid, id_kind = _key_param(position.anchor[1])
        at = conn.execute(_FIND, (mid, id_kind, chat, chat_kind)).fetchone()
        if at is None or at[0] < position.rowid:
            return "moved or vanished (rowids renumbered by VACUUM, or a new file)"
        if at[0] == position.rowid:
            if position.fingerprint and _fingerprint(at[1], at[2]) != position.fingerprint:
                return "holds other content at the same rowid (the file was rewritten in place)"
            return None
        if conn.execute(_AT_ROWID, (position.rowid,)).fetchone() is not None:
            return "moved up while another row took its rowid (the file was rewritten in place)"
        return None

    def _resolve(
        self, rows: Iterable[tuple[object, ...]], also: set[str] | None = None
    ) -> tuple[list[BridgeMessage], dict[str, str]]:
        """The rows as messages, and the phone numbers of their senders' LIDs and of the LIDs
        in `also` (the senders of the batch's plain photos), looked up together."""
        users: dict[object, str] = {}  # a batch has a few hundred senders, in many rows

        def user(sender: object) -> str:
            found = users.get(sender)
            if found is None:
                found = users[sender] = _storable(user_part(str(sender or "")))
            return found

        photos = self._photos
        raw = [
            (
                int(rowid),  # type: ignore[call-overload]
                str(chat),
                exact_key(kind, mid),  # type: ignore[arg-type]
                user(sender),
                content,
                ts,
                bool(me),
                _media(*media) if photos else None,
            )
            for rowid, chat, kind, mid, sender, content, ts, me, *media in rows
        ]
        phones = self._phones({r[3] for r in raw if r[3]} | (also or set()))
        if not raw:
            return [], phones
        names = self._names({phones.get(r[3], r[3]) for r in raw if r[3]})
        now = self._clock()
        out = []
        for rowid, chat, mid, sender_id, content, ts, from_me, media in raw:
            moment = parse_timestamp(ts, self._tz)
            # The same moment in UTC, as `now` is: every later comparison (the flaws' bounds,
            # the plan's sort and folds) and the driver's dump of it are then several times
            # cheaper than between two zones. Shown in the environment's zone everywhere.
            sent_at, flaw = sent_time(
                moment if moment is None else moment.astimezone(UTC),
                now=now,
                max_ahead=self._max_ahead,
            )
            if flaw is None and ":" in mid and _KEYED.match(mid):
                flaw = Flaw.RAW_ID
            phone = phones.get(sender_id, sender_id) or "unknown"
            out.append(
                BridgeMessage(
                    rowid=rowid,
                    chat_jid=chat,
                    message_id=mid,
                    sender_id=sender_id or "unknown",
                    phone=phone,
                    sender_name=names.get(phone),
                    content=_text(content),
                    sent_at=sent_at,
                    timestamp_text=None if ts is None else _storable(str(ts)[:80]),
                    timestamp_ok=flaw is None or not flaw.of_time,
                    flaw=flaw,
                    from_me=from_me,
                    media=media,
                )
            )
        return out, phones

    def _phones(self, senders: set[str]) -> dict[str, str]:
        """LID → phone number for the senders that have one; bare digits can be LIDs too."""
        lid_conn = self._lid_connection()
        if lid_conn is None:
            return {}
        unknown = [s for s in senders if s not in self._phone_of_lid]
        if unknown:
            try:
                self._timed(
                    lid_conn,
                    lambda: self._phone_of_lid.update(
                        (str(lid), _storable(user_part(str(pn))))
                        for lid, pn in lid_conn.execute(_LIDS, (json.dumps(unknown),))
                    ),
                )
            except sqlite3.Error as exc:
                raise from_sqlite_error(exc, self.lid_map_path or self.path) from None
        return {s: self._phone_of_lid[s] for s in senders if s in self._phone_of_lid}

    def _names(self, phones: set[str]) -> dict[str, str]:
        conn, _ = self._connection()
        jids = [f"{p}@s.whatsapp.net" for p in phones]
        names: dict[str, str] = {}
        self._timed(
            conn,
            lambda: names.update(
                (str(jid).split("@", 1)[0], _storable(str(name)))
                for jid, name in conn.execute(_NAMES, (json.dumps(jids),))
                if name and str(name).strip()
            ),
        )
        return names

    # -- for status, doctor and the dashboard ------------------------------------------------

    def messages(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], BridgeMessage]:
        """The messages with these (chat JID, message id) keys that the bridge still holds,
        senders resolved as the monitor resolves them (a drop's history on the dashboard)."""
        if not keys:
            return {}
        conn, _ = self._connection()
        rows: list[tuple[object, ...]] = []
        try:
            self._timed(conn, lambda: rows.extend(conn.execute(_BY_KEY, (json.dumps(keys),))))
        except sqlite3.Error as exc:
            raise from_sqlite_error(exc, self.path) from None
        return {(m.chat_jid, m.message_id): m for m in self._resolve(rows)[0]}

    def known_groups(self) -> frozenset[str]:
        """The watched groups that the bridge's chats table knows."""
        conn, _ = self._connection()
        try:
            return frozenset(str(r[0]) for r in conn.execute(_KNOWN_GROUPS, (self._groups,)))
        except sqlite3.Error as exc:
            raise from_sqlite_error(exc, self.path) from None

    def pending(self, after_rowid: int) -> int:
        """Messages in the watched groups stored after `after_rowid`."""
        conn, _ = self._connection()
        try:
            return int(conn.execute(_COUNT_PENDING, (after_rowid, self._groups)).fetchone()[0])
        except sqlite3.Error as exc:
            raise from_sqlite_error(exc, self.path) from None

    def newest_message_time(self) -> datetime | None:
        conn, _ = self._connection()
        try:
            row = conn.execute(_NEWEST_TIME).fetchone()
        except sqlite3.Error as exc:
            raise from_sqlite_error(exc, self.path) from None
        return None if row is None else parse_timestamp(row[0], self._tz)


def messages_by_key(
    path: Path, keys: Sequence[tuple[str, str]], *, tz: tzinfo, lid_map: Path | None = None
) -> dict[tuple[str, str], BridgeMessage]:
    """The messages with these (chat JID, message id) keys that the bridge still holds, read in
    one visit to the file; nothing when it cannot be read (a dashboard page still shows the
    ledger's times). For callers that keep no Bridge open, such as the dashboard."""
    if not keys:
        return {}
    try:
        with Bridge(path, groups=(), tz=tz, span=1, lid_map=lid_map) as bridge:
            return bridge.messages(keys)
    except BridgeError:
        return {}


def _photo_rows(
    plain: Sequence[_Plain],
    counts: dict[tuple[str, str], int],
    phones: dict[str, str],
) -> PhotoRows:
    """The plain photo rows of a batch's reads as one record: their JSON arrays joined into one
    (text, never parsed here), their senders with LIDs resolved, their first and last time."""
    parts = [rows[1:-1] for rows, *_ in plain]
    return PhotoRows(
        payload="[" + ",".join(parts) + "]",
        count=sum(p[4] for p in plain),
        senders=tuple(
            PhotoSender(chat_jid=chat, sender_id=sender, phone=phones.get(sender, sender), rows=n)
            for (chat, sender), n in counts.items()
        ),
        first=datetime.fromtimestamp(min(p[2] for p in plain), UTC),
        last=datetime.fromtimestamp(max(p[3] for p in plain), UTC),
    )


def _media(media_type: object, filename: object, sha: object, length: object) -> Media | None:
    """A photo's or video's media columns as a record; None for any other row."""
    if media_type not in ("image", "video"):
        return None
    return Media(
        media_type=str(media_type),
        filename=_storable(str(filename or ""))[:255],
        file_sha256=sha if isinstance(sha, bytes) and len(sha) == 32 else None,
        file_length=length if isinstance(length, int) and length >= 0 else None,
    )


def _text(content: object) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, bytes):
        return content.decode("utf-8", "replace")
    return str(content)


# -- one-off looks, for doctor ---------------------------------------------------------------


def known_groups(path: Path, jids: Iterable[str]) -> set[str]:
    """Which of `jids` the bridge file has a chat for; BridgeError when it cannot be read."""
    conn = ro_connect(path)
    try:
        rows = conn.execute(_SQL["known_groups"], (json.dumps(sorted(jids)),)).fetchall()
    except sqlite3.Error as exc:
        raise from_sqlite_error(exc, path) from None
    finally:
        conn.close()
    return {str(r[0]) for r in rows}


def lid_count(path: Path) -> int:
    """How many LIDs the bridge's session file maps; BridgeError (BridgeSchemaError when it is
    not that file) when it cannot be read."""
    conn = open_checked(path, LID_MAP_REQUIRED)
    try:
        row = conn.execute(_SQL["lid_count"]).fetchone()
    except sqlite3.Error as exc:
        raise from_sqlite_error(exc, path) from None
    finally:
        conn.close()
    return int(row[0])
