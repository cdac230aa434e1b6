"""The sender: posts the outbox's replies after their batch committed, each at most once.

How a reply goes out, and why it cannot go out twice:
- The batch that decides a reply writes it to the outbox in its own transaction; nothing is
  posted from inside a transaction.
- The sender claims one reply (state 'sending', committed) before the HTTP call, then records
  the outcome. SENT → 'sent'. REFUSED or DOWN (certainly not posted) → waiting again, retried
  with backoff. UNKNOWN (the request went out, no clear answer) → the bridge's messages.db is
  checked for the bot's own message with that text in that group (one no other reply with the
  same text accounts for); found → 'sent', not found →
  'unknown': never posted again by code, shown by `wa-monitor status`, settled by a person with
  `wa-monitor replies resolve` (the bridge does not always store its API sends, so not finding
  the message proves nothing).
- A reply left 'sending' by a sender that was killed around its post is settled the same way
  when the next sender starts.
- A reply to a message older than the window is marked expired, never posted: catching up after
  an outage does not flood a group. A group gets at most one reply per interval.
- Only groups in `allowed` are ever posted to (dev: its own groups, never production's).
"""

from __future__ import annotations

import threading
from datetime import timedelta

from wa_monitor.core.ports import Echoes, Log, Outbox, Poster
from wa_monitor.core.records import Delivery, OutboxMessage
from wa_monitor.errors import TransientError

RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0
# How far before its claim a reply found in messages.db may be stamped (clock skew, rounding).
ECHO_SLACK = timedelta(seconds=5)


def retry_in(attempts: int) -> float:
    """Seconds before a reply the bridge did not take is tried again: doubling, bounded."""
    return float(min(RETRY_FIRST_S * 2 ** max(attempts - 1, 0), RETRY_MAX_S))


class Sender:
    """Posts waiting replies until `stop` is set; `wake` says a batch has just written some."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        poster: Poster,
        echoes: Echoes,
        allowed: frozenset[str],
        window_s: float,
        interval_s: float,
        poll_s: float,
        stop: threading.Event,
        log: Log,
    ) -> None:
        self.outbox, self.poster, self.echoes = outbox, poster, echoes
        self.allowed = allowed
        self.window_s, self.interval_s, self.poll_s = window_s, interval_s, poll_s
        self.stop = stop
        self.wake = threading.Event()
        self.log = log
        self._recovered = False

    def run(self) -> None:
        """The thread's body: never raises; a database that is away is waited for."""
        while not self.stop.is_set():
            try:
                busy = self.step()
            except Exception as exc:  # noqa: BLE001 - the thread must outlive a bad row
                if isinstance(exc, TransientError):
                    self.log.warning("⏳ reply sender waiting for the database", error=str(exc))
                else:
                    self.log.error("❌ reply sender failed; trying again", error=str(exc))
                # A post whose outcome could not be recorded is left 'sending': settle it (by
                # messages.db, else as unknown) before anything else is claimed.
                self._recovered = False
                self.stop.wait(max(self.poll_s, 1.0))
                continue
            if not busy:
                # Replies waiting for their group's turn or a retry: look again soon.
                pause = min(self.poll_s, max(self.interval_s, 0.05))
                self.wake.wait(pause if self.outbox.waiting() else self.poll_s)
                self.wake.clear()

    def step(self) -> bool:
        """Post one reply if one is due; True when one was handled."""
        if not self._recovered:
            for stranded in self.outbox.stranded():
                self._settle_unknown(stranded, "the sender stopped around this post")
            self._recovered = True
        if expired := self.outbox.expire(self.window_s):
            self.log.info(
                "⌛ replies expired: their messages are older than the reply window",
                count=expired,
                window_s=self.window_s,
            )
        message = self.outbox.claim(self.interval_s, self.window_s)
        if message is None:
            return False
        if message.chat_jid not in self.allowed:
            self.outbox.block(message, "not a group this environment may reply in")
            self.log.warning(
                "🚫 reply not sent: not a group this environment may reply in",
                chat=message.chat_jid,
                drop=message.drop_number,
            )
            return True
        delivery, detail = self.poster.post(message.chat_jid, message.text)
        if delivery is Delivery.UNKNOWN:
            self._settle_unknown(message, detail)
            return True
        self.outbox.finish(message, delivery, detail, retry_in(message.attempts))
        if delivery is Delivery.SENT:
            self.log.info(
                f"💬 Replied in the group about {message.drop_number}", chat=message.chat_jid
            )
        else:
            self.log.warning(
                "⏳ reply not taken by the bridge; will retry",
                drop=message.drop_number,
                outcome=delivery.value,
                detail=detail,
                retry_in_s=retry_in(message.attempts),
            )
        return True

    def _settle_unknown(self, message: OutboxMessage, detail: str) -> None:
        """A post that may have happened: proof from messages.db, else a person decides.

        The proof is a bot message with the reply's text in its group since the claim that no
        other reply accounts for: the same wrong drop posted twice gets two identical answers,
        and the first one's post must not pass for the second's."""
        since = message.claimed_at - ECHO_SLACK
        echoes = self.echoes.posts(message.chat_jid, message.text, since)
        if echoes > self.outbox.sent_alike(message, since):
            self.outbox.finish(message, Delivery.SENT, f"{detail}; found in messages.db", 0.0)
            self.log.info(
                f"💬 Replied in the group about {message.drop_number} (found in messages.db)",
                chat=message.chat_jid,
            )
            return
        self.outbox.finish(message, Delivery.UNKNOWN, detail, 0.0)
        self.log.error(
            "❓ reply may or may not have been posted: not sent again; "
            "see `wa-monitor replies list --unknown`",
            drop=message.drop_number,
            chat=message.chat_jid,
            reply=str(message.id),
            detail=detail,
        )
