"""Logging, configured once by the CLI: the same lines to the environment's file and to stderr."""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from collections.abc import MutableMapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import structlog

_SECRETS: set[str] = set()
REDACTED = "***"
LOGGER_NAME = "wa_monitor"


def register_secret(*values: str | None) -> None:
    """Never let these strings reach a log line or an error message."""
    _SECRETS.update(v for v in values if v and len(v) >= 3)


def redact(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def secrets_of_url(url: str) -> list[str]:
    """The URL itself and its password, in the forms a library may echo them."""
    from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415 - only where a URL exists

    found = [url]
    passwords = _passwords_as_written(url)
    try:
        password = conninfo_to_dict(url).get("password")
    except Exception:  # noqa: BLE001 - an unparsable URL is reported elsewhere
        password = None
    if password:
        passwords.append(str(password))
    for secret in passwords:
        found += [secret, unquote(secret), quote(unquote(secret), safe="")]
    return found


_KEYWORD_PASSWORD = re.compile(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'?|\S+)")


def _passwords_as_written(url: str) -> list[str]:
    """The password as it stands in the text, even when libpq cannot parse the rest: libpq
    echoes the offending piece of a bad URL (e.g. 'invalid percent-encoded token: "pw%zz"')."""
    if "://" in url:
        authority = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
        userinfo = authority.rpartition("@")[0]
        return [userinfo.split(":", 1)[1]] if ":" in userinfo else []
    return [m.strip("'") for m in _KEYWORD_PASSWORD.findall(url)]


def _render(prefix: str) -> structlog.typing.Processor:
    def render(_: Any, method: str, event: MutableMapping[str, Any]) -> str:
        message = str(event.pop("event", ""))
        stamp = datetime.now().astimezone().isoformat(timespec="milliseconds")
        context = " ".join(f"{k}={_value(v)}" for k, v in event.items())
        head = f"{prefix} " if prefix else ""
        line = f"{head}{stamp} {method.upper():<7} {message}"
        return redact(f"{line} {context}" if context else line)

    return render


def _value(value: Any) -> str:
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class _Reopening(logging.handlers.WatchedFileHandler):
    """A file handler that logrotate cannot starve: it reopens when the file is moved away."""


def configure(*, prefix: str, log_file: Path | None, level: str = "INFO") -> None:
    """Send every line, prefixed, to stderr and (if given) to the environment's log file."""
    root = logging.getLogger(LOGGER_NAME)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level.upper())
    root.propagate = False
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(_Reopening(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.processors.format_exc_info,
            _render(prefix),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def reopen() -> None:
    """Reopen the log file now (SIGHUP), for rotations that keep the same inode."""
    for handler in logging.getLogger(LOGGER_NAME).handlers:
        if isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                handler.close()
                handler.stream = handler._open()
            finally:
                handler.release()


def get(name: str = LOGGER_NAME) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
