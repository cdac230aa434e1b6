"""Bad input, property-tested: batches of generated messages (arbitrary unicode, NULL and empty
content, 1 MB content, control characters and NUL bytes, SQL-looking text, drop-like near
misses, timestamps with any offset or none or garbage) are written into a real bridge file and
run through `run --once`. It never fails, and the drops found equal an independent reference."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.support.env import LAWLEY, MOHADIN, OTHER, write_config
from tests.support.reference import DROP_LIKE, reference_drops
from wa_monitor.adapters.bridge import MAX_MESSAGE_BYTES
from wa_monitor.cli import main
from wa_monitor.core.drops import find_drops
from wa_monitor.devtools.simulator import BridgeWriter, Post

pytestmark = [pytest.mark.slow, pytest.mark.migrated("prod")]

WATCHED = {LAWLEY: "Lawley", MOHADIN: "Mohadin"}
BOT = "27000000001"
EXAMPLES = int(os.environ.get("WA_MONITOR_FUZZ_EXAMPLES", "100"))
# Hypothesis bounds how much one example may draw: many examples of ~100 messages each.
PER_EXAMPLE = (100, 110)
MEGABYTE = 1 << 20


# The independent reference reading of the rule (no regex) lives with the parser's own tests.


def reference(text: str | None) -> list[str]:
    return list(reference_drops(text)) if text else []


def is_bot(sender: str | None) -> bool:
    return sender is not None and sender.split("@")[0].split(":")[0] == BOT


# -- generated messages -------------------------------------------------------------------------

NEAR_MISSES = [
    "DR12345",  # too short
    "DR123456789",  # too long
    "XDR1234567",
    "DR1234567X",
    "DR1234567_",
    "_DR1234567",
    "DR_1234567",
    "D R1234567",
    "DR  1234567",  # two spaces
    "DR\t1234567",
    "DR\n1234567",
    "DR\u00a01234567",  # no-break space
    "DR١٢٣٤٥٦٧",  # Arabic-Indic digits
    "ＤＲ1234567",  # fullwidth letters
    "DR1234567٣",
    "éDR1234567",
    "DR1234567é",
    "DR-1234567",
    "DR１２３４５６７",  # fullwidth digits
]
REAL = ["DR1234567", "dr7654321", "Dr 123456", "DR 12345678", "dR0000001", "DR00000000"]
NOISE = [
    "'; DROP TABLE qa_photo_reviews; --",
    "Robert'); DELETE FROM wa_monitor_ledger;--",
    "%dr%",
    "\x00",
    "\x1b[31m",
    "\r\n",
    "\u202e",  # right-to-left override
    "\ufeff",
    "done",
    "FIXED",
    "updated ✅",
    "📷",
    "(DR1234567)",
    "DR1234567,DR7654321",
    "#DR2345678!",
]
SEPARATORS = ["", " ", "  ", "\n", ",", "\x00", "é", "_", "x", "1", "\t", "-", "/"]

pieces = st.one_of(
    st.sampled_from(REAL + NEAR_MISSES + NOISE),
    st.from_regex(r"[dD][rR] ?[0-9]{4,10}", fullmatch=True),
    st.text(max_size=12),
    st.characters(max_codepoint=0x1F),  # control characters
)
drop_like = st.lists(st.tuples(pieces, st.sampled_from(SEPARATORS)), min_size=1, max_size=6).map(
    lambda parts: "".join(p + sep for p, sep in parts)
)
contents = st.one_of(st.none(), st.just(""), st.text(max_size=60), drop_like, drop_like)

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.none()
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timedelta(minutes=m))
timestamps = st.one_of(
    st.builds(
        lambda m, off, sep, spec: m.replace(tzinfo=timezone(off)).isoformat(sep=sep, timespec=spec),
        moments,
        offsets,
        st.sampled_from([" ", "T"]),
        st.sampled_from(["seconds", "milliseconds", "microseconds"]),
    ),
    st.builds(lambda m: m.isoformat(sep=" ", timespec="seconds"), moments),  # no offset
    st.builds(lambda m: m.isoformat() + "Z", moments),
    st.builds(lambda m: m.strftime("%Y-%m-%d %H:%M:%S.%f +0200 SAST"), moments),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),  # garbage
    st.sampled_from(["", "2025-02-30 10:00:00+02:00", "2025-11-11 25:00:00", "²", "\x1c0"]),
    st.none(),
)
senders = st.sampled_from(
    [
        "27600000001",
        "27600000002@s.whatsapp.net",
        "123456789012345@lid",
        BOT,
        f"{BOT}@s.whatsapp.net",
        f"{BOT}:12@s.whatsapp.net",
        "",
        None,
    ]
)
chats = st.sampled_from([LAWLEY, MOHADIN, OTHER, "27600000001@s.whatsapp.net"])
messages = st.lists(
    st.tuples(chats, senders, contents, timestamps),
    min_size=PER_EXAMPLE[0],
    max_size=PER_EXAMPLE[1],
)


def megabyte_message() -> str:
    """1 MB of text with drops at the start, in the middle, at the end, and near misses."""
    filler = "photo ok é 📷 DR12345 XDR7777777 \x00 "
    body = (filler * (MEGABYTE // len(filler) + 1))[: MEGABYTE // 2]
    return f"DR5550001 {body} dr 5550002 {body} DR5550003"


BIG = megabyte_message()
# WhatsApp caps a message at 65,536 characters, and the monitor reads no more than 4 bytes of
# each (a longer row would hold the bridge's lock for its whole length): drops past that are
# not seen.
BIG_DROPS = reference(BIG.encode()[:MAX_MESSAGE_BYTES].decode("utf-8", "replace"))
assert BIG_DROPS == ["DR5550001"]


class Fuzz:
    """One database and one config, reset before each generated batch."""

    def __init__(self, tmp_path: Path, url: str) -> None:
        self.path = tmp_path / "messages.db"
        self.url = url
        self.config = write_config(
            tmp_path, "prod", bridge_db=self.path, groups=WATCHED, bots=(BOT,)
        )
        self.messages = self.runs = 0

    def check(self, batch: list[tuple[str, str | None, str | None, Any]]) -> None:
        self.path.unlink(missing_ok=True)
        posts = [
            Post(id=f"F{i}", chat_jid=chat, sender=sender, content=content, timestamp=ts)  # type: ignore[arg-type]
            for i, (chat, sender, content, ts) in enumerate(batch)
        ]
        if self.runs % 10 == 0:  # one batch in ten also carries a 1 MB message
            posts.append(
                Post(id="BIG", chat_jid=LAWLEY, sender="27600000001", content=BIG, timestamp=None)
            )
        self.runs += 1
        with BridgeWriter(self.path) as writer:
            writer.execute("PRAGMA synchronous = OFF")  # a scratch file: no need to fsync
            writer.post_many(posts)
        self.messages += len(posts)
        expected = {}
        for p in posts:
            if p.chat_jid in WATCHED and not is_bot(p.sender):
                drops = BIG_DROPS if p.id == "BIG" else reference(p.content)
                if drops:
                    expected[p.chat_jid, p.id] = drops
        with psycopg.connect(self.url, autocommit=True) as conn:
            # CASCADE: the review workflow's trail references the reviews.
            conn.execute("TRUNCATE qa_photo_reviews, wa_monitor_ledger, wa_monitor_cursor CASCADE")
        assert main(["run", "--config", str(self.config), "--once", "--give-up-after", "5"]) == 0
        with psycopg.connect(self.url) as conn:
            ledger = {
                (c, m): d.split()
                for c, m, d in conn.execute(
                    "SELECT chat_jid, message_id, drops FROM wa_monitor_ledger"
                )
            }
            reviewed = {r[0] for r in conn.execute("SELECT drop_number FROM qa_photo_reviews")}
        assert ledger == expected
        assert reviewed == {d for drops in expected.values() for d in drops}


def test_generated_messages_never_break_the_run_and_drops_match_the_reference(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", database_url)
    fuzz = Fuzz(tmp_path, database_url)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(messages)
    def run_batch(batch: list[tuple[str, str | None, str | None, Any]]) -> None:
        fuzz.check(batch)

    started = time.perf_counter()
    run_batch()
    took = time.perf_counter() - started
    print(f"fuzz: {fuzz.messages} generated messages in {EXAMPLES} runs, {took:.1f}s")
    assert fuzz.messages >= 10_000


@pytest.mark.parametrize(
    ("text", "drops"),
    [
        ("DR1234567 and dr 7654321, DR1234567 again", ["DR1234567", "DR7654321"]),
        ("XDR1234567 DR123456789 DR12345 DR 12345678", ["DR12345678"]),
        ("DR1234567\x00DR7654321", ["DR1234567", "DR7654321"]),
        ("ＤＲ1234567 DR١٢٣٤٥٦٧ DR1234567é", []),
        (None, []),
    ],
)
def test_the_reference_itself(text: str | None, drops: list[str]) -> None:
    assert reference(text) == drops


@settings(max_examples=3000)
@given(st.one_of(DROP_LIKE, st.text(max_size=200)))
@example("DR123456DR654321")
@example("éDR1234567")
@example("DR1234567٣")
def test_the_parser_agrees_with_the_reference_at_length(text: str) -> None:
    """The parser against an independent reference (tests/unit/test_drops.py keeps the cases
    this found, as a table)."""
    assert find_drops(text) == reference_drops(text)


@given(
    st.lists(st.integers(min_value=100_000, max_value=99_999_999), min_size=1, max_size=5),
    st.sampled_from(["DR", "dr", "Dr", "DR ", "dr "]),
)
def test_posted_drops_are_all_found(numbers: list[int], spelling: str) -> None:
    text = " and ".join(f"{spelling}{n}" for n in numbers)
    assert find_drops(text) == tuple(dict.fromkeys(f"DR{n}" for n in numbers))


def test_invalid_utf8_in_any_column_is_read_not_retried_for_ever(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bridge (Go) can store bytes that are not UTF-8 in a TEXT column. Such a row must be
    read with replacement characters: an error there would block every later message."""
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", database_url)
    fuzz = Fuzz(tmp_path, database_url)
    with BridgeWriter(fuzz.path) as writer:
        writer.execute(
            "INSERT INTO chats (jid, name) VALUES ('27600000001@s.whatsapp.net', "
            "CAST(X'4167656E74FF' AS TEXT))"
        )
        for i, (content, sender, stamp) in enumerate(
            [
                ("X'445231303030303031FF'", "'27600000001'", "'2025-11-11 10:00:00+02:00'"),
                ("'DR1000002'", "CAST(X'3237363030303030303031FE' AS TEXT)", "'2025-11-11'"),
                ("'DR1000003 done'", "'27600000001'", "X'32303235FF'"),
                ("X'C3'", "'27600000001'", "'2025-11-11 10:00:00+02:00'"),
            ]
        ):
            writer.execute(
                "INSERT INTO messages (id, chat_jid, sender, content, timestamp) VALUES "
                f"('U{i}', '{LAWLEY}', {sender}, CAST({content} AS TEXT), CAST({stamp} AS TEXT))"
            )
        writer.post(Post("V1", LAWLEY, "27600000001", "DR1000004", "2025-11-11 11:00:00+02:00"))
    assert main(["run", "--config", str(fuzz.config), "--once", "--give-up-after", "1"]) == 0
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT drop_number FROM qa_photo_reviews ORDER BY 1").fetchall()
    assert [r[0] for r in rows] == ["DR1000001", "DR1000002", "DR1000003", "DR1000004"]


def test_nul_bytes_in_names_senders_and_ids_do_not_stop_the_daemon(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL text cannot hold NUL. A contact name, sender or message id carrying one was a
    fatal database error: the daemon stopped, restarted and met the same row again."""
    monkeypatch.setenv("WA_MONITOR_DATABASE_URL", database_url)
    fuzz = Fuzz(tmp_path, database_url)
    at = "2025-11-11 10:00:00+02:00"
    with BridgeWriter(fuzz.path) as writer:
        writer.chat("27600000001@s.whatsapp.net", "Sipho\x00Agent")
        writer.post(Post("A1", LAWLEY, "27600000001", "DR1000001", at))
        writer.post(Post("A\x002", LAWLEY, "27600000002", "DR1000002", at))
        writer.post(Post("A3", LAWLEY, "2760000\x00003", "DR1000003", at))
    assert main(["run", "--config", str(fuzz.config), "--once", "--give-up-after", "1"]) == 0
    assert main(["run", "--config", str(fuzz.config), "--once", "--give-up-after", "1"]) == 0
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT drop_number, user_name FROM qa_photo_reviews ORDER BY 1")
        assert [r[0] for r in rows] == ["DR1000001", "DR1000002", "DR1000003"]
        assert conn.execute("SELECT count(*) FROM wa_monitor_ledger").fetchone() == (3,)
