"""The records that cross module boundaries: frozen, typed, no dicts."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar, dataclass_transform
from uuid import UUID

R = TypeVar("R")


@dataclass_transform(frozen_default=True)
def record(cls: type[R]) -> type[R]:
    """A frozen dataclass for mypy, which refuses any assignment to its fields; at run time
    a plain slotted one, for the records made once per message of a drain.

    A frozen dataclass sets each field through object.__setattr__: for the four records
    built per message (BridgeMessage, Sighting, Decision, NewReview) that was 7% of a
    1M-message drain. mypy --strict (CI) keeps them as immutable as the others.
    """
    return dataclass(slots=True)(cls)


class Flaw(enum.Enum):
    """Why a bridge row was processed with something put in place of what it holds: each
    one is recorded (wa_monitor_flawed_rows) and logged once, never a reason to stop."""

    UNREADABLE_TIME = "unreadable_time"  # its time cannot be read: the read time stands in
    FUTURE_TIME = "future_time"  # dated ahead of the read time by more than the allowed skew
    ANCIENT_TIME = "ancient_time"  # dated before WhatsApp existed (e.g. Go's zero time)
    RAW_ID = "raw_id"  # its id is not plain text (bytes, NUL, a BLOB): kept as typed hex
    REFUSED = "refused"  # the database refused what it writes: skipped, the rest applied

    @property
    def of_time(self) -> bool:
        return self in {Flaw.UNREADABLE_TIME, Flaw.FUTURE_TIME, Flaw.ANCIENT_TIME}


@record
class BridgeMessage:
    """One bridge row of an enabled group, with its sender resolved and its time parsed."""

    rowid: int
    chat_jid: str
    message_id: str
    sender_id: str  # the sender's user part as the bridge stored it (a phone number or a LID)
    phone: str  # the phone number: sender_id, or the number the LID map gives for it
    sender_name: str | None  # the contact's name in the bridge's chats table, if it has one
    content: str | None
    sent_at: datetime  # aware; the read time when the bridge's text could not be parsed
    timestamp_text: str | None  # what the bridge stored, kept for log lines
    timestamp_ok: bool
    flaw: Flaw | None = None  # what was put in place of the row's own time or id, if anything
    from_me: bool = False  # posted by the bridge's own account (is_from_me)
    media: Media | None = None  # an image or video row (read only when photos are on)


@dataclass(frozen=True, slots=True)
class Media:
    """What the bridge stored about a photo or video: the file is fetched later, by request."""

    media_type: str  # 'image' or 'video'
    filename: str  # the bridge's name for it (by the second: two photos can share one)
    file_sha256: bytes | None  # SHA-256 of the decrypted file: the only proof a file is this one
    file_length: int | None


class SkipReason(enum.Enum):
    """Why a message that names a drop is not a sighting."""

    BOT_SENDER = "a bot number (bot_senders lists it)"
    OWN_ACCOUNT = "the bridge's own account (is_from_me; own_account_posts_drops is false)"


@dataclass(frozen=True, slots=True)
class Skip:
    """A message that names a drop and was skipped, and why."""

    chat_jid: str
    message_id: str
    phone: str
    reason: SkipReason
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class BridgePosition:
    """Where reading resumes: every row at or below `rowid` has been read."""

    rowid: int
    # (chat_jid, message id) of the row at `rowid`: if it moves down or vanishes, rowids were
    # renumbered (VACUUM, or a new file) and the bridge must be read again from the start.
    # Each is the text itself when it is plain text, else its exact bytes as typed hex
    # ("text:41ff", "blob:00", "null:"), so that the row is found again whatever it holds.
    anchor: tuple[str, str] | None
    file_id: str  # device:inode of the file, to notice that it was replaced
    groups: frozenset[str] = frozenset()  # the group JIDs read up to `rowid`
    # A digest of the anchor row's time and sender: the same (chat, id) at the same rowid with
    # other content means the file was rewritten in place, and is read again from the start.
    fingerprint: str = ""
    # The newest message time read from this bridge so far (status: is it behind the others?).
    newest_at: datetime | None = None


START = BridgePosition(rowid=0, anchor=None, file_id="")


@dataclass(frozen=True, slots=True)
class PhotoSender:
    """Who sent some of a batch's plain photo rows, and how many."""

    chat_jid: str
    sender_id: str  # as the bridge stored it (a phone number or a LID)
    phone: str  # sender_id, or the number the LID map gives for it
    rows: int


@dataclass(frozen=True, slots=True)
class PhotoRows:
    """A batch's plain photo and video rows (every one whose id, sender, time and file name
    are plain text and which names no drop), handed over by the bridge as one piece: `payload`
    is the bridge adapter's own text, which only the store reads (the database unpacks it), so
    that a drain makes no object per photo. The core sees who sent them, and when."""

    payload: str
    count: int
    senders: tuple[PhotoSender, ...]
    first: datetime  # the earliest and the latest time of the rows
    last: datetime
    # (chat JID, sender id) whose rows are not recorded: a bot's, or of a group not watched.
    skipped: frozenset[tuple[str, str]] = frozenset()

    @property
    def recorded(self) -> tuple[PhotoSender, ...]:
        return tuple(s for s in self.senders if (s.chat_jid, s.sender_id) not in self.skipped)


@dataclass(frozen=True, slots=True)
class BridgeBatch:
    messages: tuple[BridgeMessage, ...]
    position: BridgePosition  # where the next read starts
    rows_scanned: int  # rowid span covered, in any chat, to tell when the backlog is drained
    caught_up: bool
    # Photo rows read apart from `messages` (photos on); their odd ones are in `messages`.
    photo_rows: PhotoRows | None = None


@record
class Sighting:
    """One message naming one drop number: the unit the review rules work on."""

    chat_jid: str
    message_id: str
    rowid: int
    drop_number: str
    project: str
    phone: str
    user_name: str
    sent_at: datetime
    review_date: date
    says_resubmitted: bool
    flaw: Flaw | None = None  # the message's, recorded with its ledger entry
    bridge_time: str | None = None  # with a flaw: the time text the bridge stored


@dataclass(frozen=True, slots=True)
class ReviewState:
    """What the rules need to know of a review that already exists."""

    id: UUID
    drop_number: str
    last_submitted_at: datetime
    feedback_sent: datetime | None
    resubmitted: bool = False
    # The drop's messages already applied (the ledger's), in any order: loaded only when a
    # message of the batch is older than the last submission (late history, or a message one
    # bridge delivered before another delivered an older one); None when not loaded or not
    # complete (ledger rows written before the ledger kept senders).
    history: tuple[Sighting, ...] | None = None


@record
class NewReview:
    drop_number: str
    review_date: date
    project: str
    user_name: str
    submitted_by: str
    whatsapp_message_date: datetime
    last_submitted_at: datetime
    resubmitted: bool


@dataclass(frozen=True, slots=True)
class Resubmission:
    review_id: UUID
    drop_number: str
    user_name: str
    submitted_by: str
    last_submitted_at: datetime


@record
class Refold:
    """A review worked out again from all its drop's messages in their own time order, because
    a message older than its last submission arrived: what one bridge holding everything, in
    time order, would have written. `who` is None when the messages alone no longer explain a
    resubmission the review has (one that came after feedback): it is kept as it is."""

    review_id: UUID
    drop_number: str
    project: str  # the first message's group's project
    review_date: date  # the first message's local day
    whatsapp_message_date: datetime  # the first message's time
    resubmitted: bool
    who: tuple[str, str, datetime] | None  # (user_name, phone, time) of the last submission
    reopen: bool  # a message newer than the review's last submission resubmitted it


class Outcome(enum.Enum):
    """What one sighting did."""

    CREATED = "created"
    RESUBMITTED = "resubmitted"
    REPEAT = "repeat"  # same day, no resubmission word, no feedback since: nothing to do
    STALE = "stale"  # older than the review's last submission (late history): nothing to do
    TAKEN = "taken"  # someone else inserted the same (drop, date) first
    REJECTED = "rejected"  # not in its project's plan, and the environment rejects such drops


@record
class Decision:
    sighting: Sighting
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class PlanLists:
    """What the store found of the projects' plan lists for one batch's sightings."""

    listed: frozenset[tuple[str, str]]  # (project, drop) pairs of the batch that are in a plan
    with_list: frozenset[str]  # validating projects whose list holds at least one drop


NO_LISTS = PlanLists(listed=frozenset(), with_list=frozenset())


class ReplyKind(enum.StrEnum):
    """What a reply in the group answers."""

    INVALID_DROP = "invalid_drop"
    RECEIVED = "received"  # an acknowledgement of a new drop
    RESUBMISSION = "resubmission"  # an acknowledgement of a resubmission


@dataclass(frozen=True, slots=True)
class InvalidSubmission:
    """A drop posted in a validating project's group that is not in the project's plan."""

    sighting: Sighting
    reason: str
    action: str  # "reject" or "flag", as configured when it was seen


@dataclass(frozen=True, slots=True)
class Reply:
    """A message to post in the group a sighting came from: an outbox row to write."""

    kind: ReplyKind
    sighting: Sighting
    text: str


@dataclass(frozen=True, slots=True)
class Plan:
    """The writes one batch needs, and what each sighting did."""

    new_reviews: tuple[NewReview, ...]
    resubmissions: tuple[Resubmission, ...]
    decisions: tuple[Decision, ...]
    invalid: tuple[InvalidSubmission, ...] = ()
    corrections: tuple[Refold, ...] = ()
    flagged: frozenset[tuple[str, str]] = frozenset()  # (project, drop) of new reviews to flag
    replies: tuple[Reply, ...] = ()
    unlisted: frozenset[str] = frozenset()  # validating projects with an empty list: unchecked


class Delivery(enum.StrEnum):
    """What one attempt to post a message came to: a reply, a reviewer's feedback or an alert,
    through the bridge's HTTP API or an SMTP relay. The one outcome type of every post."""

    SENT = "sent"  # taken: WhatsApp (or the relay) has the message
    REFUSED = "refused"  # answered, not posted: safe to try again
    # Nothing was sent: the bridge (or relay) was not reached, or answered that it cannot send
    # at all now (503, "not connected to WhatsApp"): safe to try again, soon.
    DOWN = "down"
    UNKNOWN = "unknown"  # may have been posted: never sent again without a person deciding

    @property
    def retry_is_safe(self) -> bool:
        """True when the message was certainly not posted, so sending again cannot double it."""
        return self in {Delivery.REFUSED, Delivery.DOWN}


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one attempt to post came to (a `Poster`'s answer): the bridge's HTTP API and the
    SMTP relay answer alike."""

    outcome: Delivery
    detail: str  # the bridge's (or relay's) own words, or what went wrong; no secret in it
    status: int | None = None  # the HTTP status, when an answer came back
    elapsed_s: float = 0.0


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A reply claimed for sending (state 'sending', committed before the post)."""

    id: UUID
    chat_jid: str
    drop_number: str
    text: str
    message_at: datetime
    claimed_at: datetime
    attempts: int  # this one included
    # The bridge it was (last) posted through, recorded before the post: None before then, and
    # on claims made before version 27 (their claimer's own bridge).
    bridge: str | None = None

    @property
    def recipient(self) -> str:
        return self.chat_jid


@dataclass(frozen=True, slots=True)
class BatchResult:
    scanned: int
    messages: int  # rows of enabled groups that came back from the bridge
    duplicates: int  # sightings already in the ledger (re-delivered or replayed messages)
    decisions: tuple[Decision, ...]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for d in self.decisions if d.outcome is outcome)


@dataclass(frozen=True, slots=True)
class DailyCount:
    """Distinct drops a project received on one local day (of whatsapp_message_date)."""

    day: date
    project: str
    drops: int
