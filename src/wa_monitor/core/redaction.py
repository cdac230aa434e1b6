"""How a secret is kept out of what is printed: the mark put in its place, and a URL fit to
print. Pure text rules, shared by the settings (which refuse and name URLs) and the logs."""

from __future__ import annotations

REDACTED = "***"


def redacted_url(url: str) -> str:
    """`url` fit to print: any user:password@ replaced by ***@ (all up to the last @ before the
    query, so a password with a / in it is covered too), every query value by ***."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return REDACTED if "@" in url else url
    rest = rest.partition("#")[0]
    before_query, query_mark, query = rest.partition("?")
    if "@" in before_query:
        before_query = REDACTED + "@" + before_query.rpartition("@")[2]
    if query_mark:
        keys = [pair.partition("=")[0] for pair in query.split("&")]
        query = "&".join(f"{key}={REDACTED}" for key in keys)
    return f"{scheme}://{before_query}{query_mark}{query}"
