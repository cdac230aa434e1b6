"""Where an environment may post: the rule that keeps dev out of production's groups.

Production posts in its own groups. Dev posts only to a recipient that production's config
names nowhere — not as a project (enabled or not), not as an alert recipient — and, while
production's config is unknown, nowhere at all. Replies, reviewers' feedback and alerts all ask
this one rule before anything is claimed or sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def user_part(jid_or_number: str) -> str:
    """`27640412391:12@s.whatsapp.net` → `27640412391`; `+27 64 041` → `2764041`: the part that
    says who a recipient is, whatever form (JID, device JID, phone number) it was written in."""
    user = jid_or_number.strip().split("@", 1)[0].split(":", 1)[0].split(".", 1)[0]
    return user.lstrip("+").replace(" ", "")


@dataclass(frozen=True, slots=True)
class Production:
    """What production's config names as a place to post, as the other environment knows it.

    `names` is None when production's config could not be read: then nothing is known to be
    safe. `source` says which file was read, or why none could be."""

    names: frozenset[str] | None
    source: str

    @classmethod
    def unknown(cls, why: str) -> Production:
        return cls(names=None, source=why)

    @property
    def known(self) -> bool:
        return self.names is not None


def may_post(recipient: str, *, is_production: bool, production: Production | None) -> bool:
    """Whether an environment may post to `recipient` (a group JID or a phone number).

    Production may (its own config is the authority on its groups); any other environment only
    when production's config is known and names `recipient` nowhere."""
    if is_production:
        return True
    if production is None or production.names is None:
        return False
    who = user_part(recipient)
    return bool(who) and who not in {user_part(name) for name in production.names}


def reply_groups(
    own: Iterable[str], *, replying: bool, is_production: bool, production: Production | None
) -> frozenset[str]:
    """The groups of `own` (the enabled projects' groups) an environment may post replies in:
    none when replies are off, else those `may_post` allows."""
    if not replying:
        return frozenset()
    return frozenset(
        group
        for group in own
        if may_post(group, is_production=is_production, production=production)
    )
