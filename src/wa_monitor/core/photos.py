"""Which drop a photo belongs to: the association rule, pure.

An agent posts a drop's photos (image or video rows, usually without a caption) and the drop
number as text, in either order, in the project's group. A photo belongs to the drop message of
the same sender in the same group that is nearest to it in time, among:

- the sender's last drop message before it, if the photo came at most `after` later, and
- the sender's next drop message after it, if that came at most `before` later;

the later one on a tie. That is the issue's window — from after the sender's previous drop
message (at most `before` earlier) until `after` after it or the sender's next drop message —
with "nearest wins" where two windows overlap. A photo whose caption names a drop is tied to
that drop directly (it is a drop message itself). A message naming several drops is one drop
message for all of them, as near to its photos for each: its photos are tied here to the first
of them, and the pages show them for every drop it named (the ledger keeps which; photos.sql).

The drain runs this rule in the database (adapters/postgres/sql/photos.sql, `record_photos`),
where the rows are: each new photo is tied as it comes (and recorded if a drop message claims
it; if none does yet, it waits for a later batch's), and the recorded photos near a batch's
drop messages are tied again; `associate` is its reference, and a test holds the two to the
same answers, whichever batch brings a photo and which its drop messages.

Each drop message opens a round: a resubmission is a new drop message, so the photos nearest
to it form a round of their own, and the page shows rounds apart (by `Tie.message_id`).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from wa_monitor.core.drops import find_drops
from wa_monitor.core.records import BridgeMessage, Media, PhotoRows

DEFAULT_BEFORE = timedelta(hours=3)
DEFAULT_AFTER = timedelta(minutes=30)
MEDIA_TYPES = frozenset({"image", "video"})


@dataclass(frozen=True, slots=True)
class PhotoWindow:
    """How far before and after a drop message its photos may come (settings)."""

    before: timedelta = DEFAULT_BEFORE
    after: timedelta = DEFAULT_AFTER
    # How long a photo no drop message claims yet waits for one, from when it was parked.
    waiting: timedelta = timedelta(days=14)

    @property
    def stride(self) -> timedelta:
        """The width of the time bins the waiting photos are parked and looked for in
        (photos.sql, record_photos; queries.sql, count_known): a window's length, an hour at
        least, so that a drop message's window spans two or three bins."""
        return max(self.before + self.after, timedelta(hours=1))


@dataclass(frozen=True, slots=True)
class DropPost:
    """A message that named a drop (the first, when it named several)."""

    chat_jid: str
    sender: str
    message_id: str
    sent_at: datetime
    drop_number: str


@dataclass(frozen=True, slots=True)
class PhotoPost:
    """A photo or video message; `caption_drop`: the first drop its caption names, if any."""

    chat_jid: str
    sender: str
    message_id: str
    sent_at: datetime
    caption_drop: str | None = None


@dataclass(frozen=True, slots=True)
class Tie:
    """The drop a photo belongs to, and the drop message (its round) that claimed it."""

    drop_number: str
    message_id: str
    round_at: datetime


def associate(
    photos: Iterable[PhotoPost],
    posts: Iterable[DropPost],
    *,
    before: timedelta = DEFAULT_BEFORE,
    after: timedelta = DEFAULT_AFTER,
) -> dict[tuple[str, str], Tie | None]:
    """Each photo's tie, keyed by (chat JID, message id); None when no drop claims it."""
    by_author: dict[tuple[str, str], list[DropPost]] = defaultdict(list)
    for post in posts:
        by_author[(post.chat_jid, post.sender)].append(post)
    timelines = {
        author: _Timeline(sorted(found, key=lambda p: (p.sent_at, p.message_id)))
        for author, found in by_author.items()
    }
    out: dict[tuple[str, str], Tie | None] = {}
    for photo in photos:
        key = (photo.chat_jid, photo.message_id)
        if photo.caption_drop is not None:
            out[key] = Tie(photo.caption_drop, photo.message_id, photo.sent_at)
            continue
        timeline = timelines.get((photo.chat_jid, photo.sender))
        out[key] = None if timeline is None else timeline.tie(photo.sent_at, before, after)
    return out


class _Timeline:
    """One sender's drop messages in one group, in time order."""

    def __init__(self, posts: Sequence[DropPost]) -> None:
        self._posts = posts
        self._times = [p.sent_at for p in posts]

    def tie(self, at: datetime, before: timedelta, after: timedelta) -> Tie | None:
        # The last post at or before `at`, and the first one after it.
        i = bisect.bisect_right(self._times, at)
        previous = self._posts[i - 1] if i > 0 else None
        following = self._posts[i] if i < len(self._posts) else None
        if previous is not None and at - previous.sent_at > after:
            previous = None
        if following is not None and following.sent_at - at > before:
            following = None
        if previous is None and following is None:
            return None
        if previous is None or (
            following is not None and following.sent_at - at <= at - previous.sent_at
        ):
            chosen = following
        else:
            chosen = previous
        assert chosen is not None  # noqa: S101 - one of the two is set
        return Tie(chosen.drop_number, chosen.message_id, chosen.sent_at)


@dataclass(frozen=True, slots=True)
class Photo:
    """A photo or video message of a watched group, as the drain records it."""

    chat_jid: str
    message_id: str
    rowid: int
    sender: str  # the phone number (a LID resolved), as for sightings
    sent_at: datetime
    media: Media
    caption_drop: str | None


def photos_of(
    messages: Iterable[BridgeMessage],
    *,
    projects: Mapping[str, str],
    bot_senders: frozenset[str],
    own_account_posts_drops: bool = False,
) -> list[Photo]:
    """The photos and videos of watched groups, bots and (unless it posts drops) the bridge's
    own account left out, as sightings leave them out."""
    found: list[Photo] = []
    for m in messages:
        media = m.media
        if media is None or media.media_type not in MEDIA_TYPES or m.chat_jid not in projects:
            continue
        if m.sender_id in bot_senders or m.phone in bot_senders:
            continue
        if m.from_me and not own_account_posts_drops:
            continue
        drops = find_drops(m.content)
        found.append(
            Photo(
                chat_jid=m.chat_jid,
                message_id=m.message_id,
                rowid=m.rowid,
                sender=m.phone,
                sent_at=m.sent_at,
                media=media,
                caption_drop=drops[0] if drops else None,
            )
        )
    return found


def plain_rows(
    rows: PhotoRows | None, *, projects: Mapping[str, str], bot_senders: frozenset[str]
) -> PhotoRows | None:
    """A batch's plain photo rows (PhotoRows: never the bridge's own account's, never with a
    caption naming a drop) with the senders that photos_of leaves out marked as skipped: a bot,
    by its number or its LID, or a group that is not watched. None when none is left."""
    if rows is None:
        return None
    skipped = frozenset(
        (s.chat_jid, s.sender_id)
        for s in rows.senders
        if s.chat_jid not in projects or s.sender_id in bot_senders or s.phone in bot_senders
    )
    if len(skipped) == len(rows.senders):
        return None
    return replace(rows, skipped=skipped) if skipped else rows
