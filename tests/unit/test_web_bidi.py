"""A person's text inside <bdi>: every bidi control it leaves open is closed at its end, so the
<bdi>'s own isolation holds (web/context.py closed_bidi)."""

from __future__ import annotations

import pytest
from markupsafe import Markup

from wa_monitor.web.context import closed_bidi

LRE, RLE, PDF, LRO, RLO = "\u202a", "\u202b", "\u202c", "\u202d", "\u202e"
LRI, RLI, FSI, PDI = "\u2066", "\u2067", "\u2068", "\u2069"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Thandi Mokoena", "Thandi Mokoena"),
        ("عبدالله", "عبدالله"),
        (f"{RLO}Thandi", f"{RLO}Thandi{PDF}"),
        (f"{RLI}عبدالله", f"{RLI}عبدالله{PDI}"),
        (f"{RLO}a{RLE}b{RLI}c{LRO}d", f"{RLO}a{RLE}b{RLI}c{LRO}d{PDF}{PDI}{PDF}{PDF}"),
        (f"{RLO}closed{PDF} and {FSI}closed{PDI}", f"{RLO}closed{PDF} and {FSI}closed{PDI}"),
        # A PDI closes its isolate and the embeddings opened inside it.
        (f"{LRI}a{RLE}b{PDI}c", f"{LRI}a{RLE}b{PDI}c"),
        # A PDF never closes across an isolate; a stray closer needs nothing.
        (f"{RLE}a{LRI}b{PDF}", f"{RLE}a{LRI}b{PDF}{PDI}{PDF}"),
        (f"{PDI}{PDF}stray", f"{PDI}{PDF}stray"),
        (f"{LRE}", f"{LRE}{PDF}"),
    ],
)
def test_what_a_text_opens_is_closed_at_its_end(text: str, shown: str) -> None:
    assert closed_bidi(text) == shown


def test_other_values_pass_as_they_are() -> None:
    markup = Markup("<b>\u202e</b>")
    assert closed_bidi(markup) is markup
    assert closed_bidi(None) is None
    assert closed_bidi(3) == 3
