"""An independent reading of the drop-number rule, to check the parser against."""

from __future__ import annotations

from hypothesis import strategies as st

# Text made mostly of what a drop number is made of, so near-misses are generated often.
DROP_LIKE = st.text(alphabet="DRdr 0123456789_xé٣\n.,-", max_size=60)


def reference_drops(text: str) -> tuple[str, ...]:
    """An independent reading of the rule: DR, one optional space, 6-8 ASCII digits, whole word."""

    def word(c: str) -> bool:
        return c.isalnum() or c == "_"

    found: list[str] = []
    for i in range(len(text) - 1):
        if text[i] not in "Dd" or text[i + 1] not in "Rr":
            continue
        if i > 0 and word(text[i - 1]):
            continue
        j = i + 2
        if j < len(text) and text[j] == " ":
            j += 1
        k = j
        while k < len(text) and text[k] in "0123456789":
            k += 1
        if not 6 <= k - j <= 8 or (k < len(text) and word(text[k])):
            continue
        drop = "DR" + text[j:k]
        if drop not in found:
            found.append(drop)
    return tuple(found)
