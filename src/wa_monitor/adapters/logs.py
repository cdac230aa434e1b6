"""Logging, configured once by the CLI: the same lines to the environment's file and to stderr."""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

from wa_monitor.core.ports import Log
from wa_monitor.core.redaction import REDACTED

if TYPE_CHECKING:
    import structlog

# structlog is imported where a logger is configured or handed out, not with this module: the
# redaction here is wanted by every command, and structlog's import (asyncio, ssl, rich and
# pygments with it) was a third of a short command's start-up (`alerts check`, 30 times an hour).

_SECRETS: list[str] = []  # longest first: a longer secret may contain a shorter one
LOGGER_NAME = "wa_monitor"


def register_secret(*values: str | None) -> None:
    """Never let these strings reach a log line or an error message."""
    known = set(_SECRETS).union(v for v in values if v and len(v) >= 3)
    _SECRETS[:] = sorted(known, key=len, reverse=True)


def redact(text: str) -> str:
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


# Every parameter through which libpq takes a secret, or the path of a file holding one.
SECRET_PARAMETERS = ("password", "sslpassword", "passfile")
# Where libpq takes them from the environment instead.
SECRET_VARIABLES = ("PGPASSWORD", "PGPASSFILE", "PGSSLPASSWORD")


def secrets_of_url(url: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """The URL itself and every secret in it (userinfo, ?password=, ?sslpassword=, ?passfile=,
    or key=value pairs of a conninfo string), and those of libpq's variables, each in the forms
    a library may echo them: as written, decoded and encoded. Parsed by hand, so that a URL that
    libpq cannot parse is covered too: libpq echoes the piece it chokes on."""
    from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415 - only where a URL exists

    found = [url]
    secrets = _secrets_as_written(url)
    try:
        parsed = conninfo_to_dict(url)
    except Exception:  # noqa: BLE001 - an unparsable URL is reported elsewhere
        parsed = {}
    secrets += [str(parsed[k]) for k in SECRET_PARAMETERS if parsed.get(k)]
    environ = os.environ if environ is None else environ
    secrets += [environ[v] for v in SECRET_VARIABLES if environ.get(v)]
    for secret in secrets:
        found += [secret, unquote(secret), quote(unquote(secret), safe="")]
    return found


_KEYWORD_SECRET = re.compile(
    r"(?:^|\s)(?:" + "|".join(SECRET_PARAMETERS) + r")\s*=\s*('(?:[^'\\]|\\.)*'?|\S+)"
)


def _secrets_as_written(url: str) -> list[str]:
    """The secrets as they stand in the text, even when libpq cannot parse the rest: libpq
    echoes the offending piece of a bad URL (e.g. 'invalid percent-encoded token: "pw%zz"')."""
    if "://" not in url:
        return [m.strip("'") for m in _KEYWORD_SECRET.findall(url)]
    rest = url.split("://", 1)[1]
    authority = rest.split("/", 1)[0].split("?", 1)[0]
    userinfo = authority.rpartition("@")[0]
    found = [userinfo.split(":", 1)[1]] if ":" in userinfo else []
    query = rest.partition("?")[2].partition("#")[0]
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if unquote(key).strip().lower() in SECRET_PARAMETERS and value:
            found.append(value)
    return found


def _render(prefix: str, tz: tzinfo | None = None) -> structlog.typing.Processor:
    head = f"{prefix} " if prefix else ""
    levels: dict[str, str] = {}
    stamp = _Stamp(tz)

    def render(_: Any, method: str, event: MutableMapping[str, Any]) -> str:
        message = str(event.pop("event", ""))
        if not message.isprintable():  # text from a message must not start a line of its own
            message = _escaped(message)
        level = levels.get(method) or levels.setdefault(method, f"{method.upper():<7}")
        line = f"{head}{stamp.now()} {level} {message}"
        if event:
            line += " " + " ".join([f"{k}={_value(v, tz)}" for k, v in event.items()])
        return line  # redacted where it is written (_Lines), for held lines once a block

    return render


class _Stamp:
    """The time to the millisecond in the environment's zone (`tz`; the host's when none is
    given) with its offset, as each line starts with it: a host kept on UTC still writes the
    times people read everywhere else (pages, `sent_at=`), not another zone's.

    A drain logs thousands of lines a second: the text is made again only when the millisecond
    changes (and the zone's offset is asked for once a second), not once per line.
    """

    def __init__(self, tz: tzinfo | None = None) -> None:
        self._tz = tz
        self._ms = -1
        self._second = -1
        self._text = ""
        self._date_time = ""
        self._offset = ""

    def now(self) -> str:
        now = time.time()
        ms = int(now * 1000)
        if ms == self._ms:
            return self._text
        second = ms // 1000
        if second != self._second:
            moment = (
                datetime.fromtimestamp(second, self._tz)
                if self._tz
                else datetime.fromtimestamp(second).astimezone()
            )
            whole = moment.isoformat(timespec="seconds")
            self._date_time, self._offset = whole[:19], whole[19:]
            self._second = second
        text = self._text = f"{self._date_time}.{ms % 1000:03d}{self._offset}"
        self._ms = ms
        return text


_NEEDS_QUOTES = re.compile(r'[\s"=]')
# Printable ASCII but a space, '"' and '=': written as it is, with one look (most values: a
# phone, a chat, a message id), where the checks below take three.
_BARE = re.compile(r"[!#-<>-~]+")


def _value(value: Any, tz: tzinfo | None = None) -> str:
    if type(value) is str:
        text = value
    elif isinstance(value, datetime):
        # A moment in the lines' zone, whatever zone its source gave it (PostgreSQL's UTC);
        # isoformat() writes nothing that needs quotes or escapes.
        return (value.astimezone(tz) if tz and value.tzinfo else value).isoformat()
    else:
        text = str(value)
    if _BARE.fullmatch(text):
        return text
    if not text.isprintable():
        # A control character (\r, \n, ESC, a bidi override …) from a message id or a sender
        # could fake a line, or rewrite one on a terminal: every one of them is escaped.
        return '"' + _escaped(text) + '"'
    if not text.isalnum() and (not text or _NEEDS_QUOTES.search(text)):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(text: str) -> str:
    """`text` with a backslash, a quote and every character that is not printable escaped."""
    return "".join(
        _ESCAPES.get(c) or (c if c.isprintable() else c.encode("unicode_escape").decode("ascii"))
        for c in text
    )


class _Reopening(logging.handlers.WatchedFileHandler):
    """A file handler that logrotate cannot starve: it reopens when the file is moved away
    (checked before every line), and before the next line after reopen() (SIGHUP).

    reopen() only raises a flag: a signal handler runs between two bytecodes of the main
    thread, possibly in the middle of this handler's write, so closing the stream there could
    lose that line. The flag is acted on under the handler's lock, before the next line.
    """

    reopen_requested = False

    def reopenIfNeeded(self) -> None:  # noqa: N802 - the stdlib's name
        if not self.reopen_requested:
            super().reopenIfNeeded()
            return
        self.reopen_requested = False
        if self.stream is not None:
            self.stream.flush()
            self.stream.close()
        self.stream = self._open()
        self._statstream()


class Prefixed(logging.Formatter):
    """A stdlib formatter that puts the environment's prefix first on EVERY line of a record,
    a traceback's lines included (`grep "\\[DEV\\]"` finds the whole of a dev error), and
    redacts registered secrets."""

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        prefix: str = "",
        tz: str | tzinfo | None = None,
    ) -> None:
        super().__init__(fmt, datefmt)
        self.head = f"{prefix} " if prefix else ""
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz

    def format(self, record: logging.LogRecord) -> str:
        return prefixed(self.head, redact(super().format(record)))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - the stdlib's name
        """%(asctime)s as the monitor's own lines start: the environment's zone, its offset."""
        if self.tz is None:
            return super().formatTime(record, datefmt)
        return datetime.fromtimestamp(record.created, self.tz).isoformat(timespec="milliseconds")


def prefixed(head: str, text: str) -> str:
    """`text` with `head` first on each of its lines."""
    if not head:
        return text
    return "\n".join(head + line for line in text.split("\n"))


def _install_excepthooks(head: str) -> None:
    """An exception nobody caught (main thread or another) is written like a log line: each
    line of its traceback prefixed, secrets redacted, to the same handlers."""

    def write(kind: type[BaseException], value: BaseException, tb: Any, where: str) -> None:
        text = "".join(traceback.format_exception(kind, value, tb)).rstrip("\n")
        _write(logging.getLogger(LOGGER_NAME), prefixed(head, redact(f"{where}\n{text}")))

    def main_hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        write(kind, value, tb, "uncaught exception")

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        name = args.thread.name if args.thread is not None else "?"
        write(args.exc_type, args.exc_value, args.exc_traceback, f"uncaught in thread {name}")

    sys.excepthook = main_hook
    threading.excepthook = thread_hook


def configure(
    *, prefix: str, log_file: Path | None, level: str = "INFO", tz: tzinfo | None = None
) -> None:
    """Send every line, prefixed, to stderr and (if given) to the environment's log file, its
    times in `tz` (the environment's zone) with the offset."""
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
        handler.setFormatter(Prefixed("%(message)s", prefix=prefix))
        root.addHandler(handler)
    _install_excepthooks(f"{prefix} " if prefix else "")
    import structlog  # noqa: PLC0415 - see the note at the top

    structlog.configure(
        processors=[structlog.processors.format_exc_info, _render(prefix, tz)],
        logger_factory=_Lines,
        wrapper_class=structlog.make_filtering_bound_logger(root.level),
        cache_logger_on_first_use=True,
    )


def emitter(log: Any, level: str) -> Callable[..., None]:
    """`log.<level>` for a loop that logs a line per review: the same processors, level and
    sink as configure() set up, without structlog's dispatch for each call (2 of the 6 us a
    line costs). Where configure() did not run, it is `log.<level>` itself."""
    import structlog  # noqa: PLC0415 - see the note at the top

    config = structlog.get_config()
    if config["logger_factory"] is not _Lines:
        emit: Callable[..., None] = getattr(log, level)
        return emit
    processors = config["processors"]
    if logging.getLevelName(level.upper()) < logging.getLogger(LOGGER_NAME).level:
        return _drop
    sink = _Lines()
    *before, render = processors
    # format_exc_info changes nothing in a line without exc_info: such a line goes straight to
    # the renderer (a review's line never has one).
    exc_only = all(p is structlog.processors.format_exc_info for p in before)

    def emit_line(event: str, **context: Any) -> None:
        if exc_only and "exc_info" not in context:
            context["event"] = event
            sink.msg(render(None, level, context))
            return
        event_dict: Any = {**context, "event": event}
        for processor in processors:
            event_dict = processor(None, level, event_dict)
        sink.msg(event_dict)

    return emit_line


def _drop(event: str, **context: Any) -> None:
    return None


class _Lines:
    """structlog's last step: each rendered line straight to the handlers configured above.

    A backlog drain logs one line per review (ops count them with grep); going through a
    LogRecord and the stdlib's dispatch for each cost more than rendering the line itself.
    The handlers stay stdlib objects, so reopening the file (SIGHUP, logrotate) works as before.
    """

    def __init__(self, *_: Any) -> None:
        self._logger = logging.getLogger(LOGGER_NAME)

    def msg(self, line: str) -> None:
        held = _HELD.lines
        if held is not None:
            held.append(line)  # redacted with its block, in batched()
        else:
            _write(self._logger, redact(line))

    debug = info = warning = warn = error = critical = exception = fatal = msg


def _write(logger: logging.Logger, text: str) -> None:
    for handler in logger.handlers:
        if not isinstance(handler, logging.StreamHandler):
            continue
        handler.acquire()
        try:
            if isinstance(handler, _Reopening):
                handler.reopenIfNeeded()
            stream = handler.stream
            stream.write(text + "\n")
            stream.flush()
        except (OSError, ValueError):
            pass  # like the stdlib's handleError: a full disk must not stop the work
        finally:
            handler.release()


class _Held:
    lines: list[str] | None = None


_HELD = _Held()


@contextmanager
def batched() -> Iterator[None]:
    """Hold the lines logged inside, then write them with one write and flush per sink.

    A drain logs a line per review; a write and a flush per line and sink cost a sixth of its
    time. The lines are the same, in the same order, and are out when the block ends.
    """
    if _HELD.lines is not None:  # already inside one
        yield
        return
    _HELD.lines = []
    try:
        yield
    finally:
        lines, _HELD.lines = _HELD.lines, None
        if lines:  # redacted here, once for the block (a secret has no line break)
            _write(logging.getLogger(LOGGER_NAME), redact("\n".join(lines)))


def reopen() -> None:
    """Reopen the log file before the next line (SIGHUP, as logrotate's postrotate sends)."""
    for handler in logging.getLogger(LOGGER_NAME).handlers:
        if isinstance(handler, _Reopening):
            handler.reopen_requested = True


def get(name: str = LOGGER_NAME) -> structlog.typing.FilteringBoundLogger:
    """The logger, bound now: the lazy proxy structlog hands out costs an attribute lookup
    and a bind on every call, a few microseconds a line when a drain logs 100,000 of them."""
    import structlog  # noqa: PLC0415 - see the note at the top

    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name).bind()
    return logger


class Lines:
    """The loop's LogLines port on what configure() set up: emitter() and batched() above."""

    def emitter(self, log: Log, level: str) -> Callable[..., None]:
        return emitter(log, level)

    def batched(self) -> AbstractContextManager[None]:
        return batched()
