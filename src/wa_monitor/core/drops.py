"""Pure parser: message text in, drop numbers out. No I/O here."""

import re

# DR, at most one space, 6-8 ASCII digits, as a whole word: no word character (letter, digit,
# underscore, in any script) may touch either end, so XDR1234567, DR123456789 and DR1234 are not.
_DROP = re.compile(r"(?<!\w)[Dd][Rr] ?([0-9]{6,8})(?!\w)")

# Words agents add when they post a drop again after fixing its photos.
_RESUBMISSION = re.compile(
    r"(?<!\w)(?:done|fixed|updated|completed|uploaded|finish|finished)(?!\w)",
    re.IGNORECASE,
)


def find_drops(text: str | None) -> tuple[str, ...]:
    """Every distinct drop number in `text`, normalised to ``DR1234567``, in order of appearance."""
    if not text:
        return ()
    return tuple(dict.fromkeys(["DR" + digits for digits in _DROP.findall(text)]))


def says_resubmitted(text: str | None) -> bool:
    """Whether the text carries a word agents use when they resubmit a drop."""
    return bool(text) and _RESUBMISSION.search(text or "") is not None
