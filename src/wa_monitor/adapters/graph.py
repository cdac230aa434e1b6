"""Microsoft Graph's workbook API: one worksheet of an Excel workbook on SharePoint.

Client credentials through MSAL (Microsoft's own library: it caches the token, speaks the
tenant's OpenID configuration and knows Entra's error shapes), requests through httpx.
Reads `usedRange(valuesOnly=true)`, writes one row at a time with `PATCH range(address=...)`,
so a run that stops half-way knows exactly which rows reached the sheet. Throttling (429, with
its Retry-After) and 5xx answers are retried by the one policy below; an expired token (401)
is replaced once. The client secret never appears in a log line or an error message.
"""

from __future__ import annotations

import email.utils
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import tenacity

from wa_monitor import __version__
from wa_monitor.core.sheet import HEADER, Sheet, SheetPlan, TargetKind, Write, cells, read_sheet
from wa_monitor.errors import EXIT_CONFIG, FatalError, TransientError
from wa_monitor.settings import SharePoint

if TYPE_CHECKING:  # imported on the first token asked for: most runs of the doctor ask none
    import msal

AUTHORITY_HOST = "https://login.microsoftonline.com"
GRAPH_ROOT = "https://graph.microsoft.com/v1.0"
SCOPE = "https://graph.microsoft.com/.default"
_FIRST_CELL = re.compile(r"\$?([A-Z]{1,3})\$?(\d+)")


class GraphUnavailable(TransientError):
    """Graph or the token endpoint is throttling us, failing (5xx) or out of reach: try again."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class GraphRefused(FatalError):
    """Graph answered no (no permission, no such workbook or worksheet, bad request)."""


class GraphAuthFailed(FatalError):
    """No token: the tenant, the client id or the secret is wrong, or the app lacks consent."""

    exit_code = EXIT_CONFIG


@dataclass(frozen=True, slots=True)
class WorkbookLocation:
    """Which app signs in, and which worksheet of which workbook it writes."""

    tenant_id: str
    client_id: str
    drive_id: str
    item_id: str
    worksheet: str
    authority_host: str = AUTHORITY_HOST
    graph_root: str = GRAPH_ROOT

    @classmethod
    def of(cls, config: SharePoint) -> WorkbookLocation:
        """The location the config's [sharepoint] table names."""
        return cls(
            tenant_id=config.tenant_id,
            client_id=config.client_id,
            drive_id=config.drive_id,
            item_id=config.item_id,
            worksheet=config.worksheet,
            authority_host=config.authority_host,
            graph_root=config.graph_root,
        )

    def describe(self) -> str:
        return f"drive {self.drive_id} item {self.item_id} worksheet {self.worksheet!r}"


@dataclass(frozen=True, slots=True)
class RetryLimits:
    attempts: int = 6
    give_up_after: float = 300.0  # seconds, across the attempts of one request
    backoff: float = 2.0  # the first wait without a Retry-After; doubled each time
    max_wait: float = 120.0  # no single wait is longer, whatever Retry-After says


def retry_policy(limits: RetryLimits, log: Any) -> tenacity.Retrying:
    """The one retry policy of Graph requests: transient failures only, Retry-After when Graph
    gives one, else exponential backoff with jitter; bounded in attempts and in time."""
    backoff = tenacity.wait_exponential_jitter(
        multiplier=limits.backoff, max=limits.max_wait, jitter=limits.backoff
    )

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, GraphUnavailable) and exc.retry_after is not None:
            return min(exc.retry_after, limits.max_wait)
        return float(backoff(state))

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "⏳ Graph unavailable, waiting to retry",
            error=str(exc),
            attempt=state.attempt_number,
            wait_s=round(state.next_action.sleep if state.next_action else 0.0, 1),
        )

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(GraphUnavailable),
        wait=wait,
        stop=tenacity.stop_any(
            tenacity.stop_after_attempt(limits.attempts),
            tenacity.stop_after_delay(limits.give_up_after),
        ),
        before_sleep=before_sleep,
        reraise=True,
    )


class GraphWorkbook:
    """One worksheet of a workbook, as a sheet target of the daily totals."""

    kind = TargetKind.SHAREPOINT

    def __init__(
        self,
        location: WorkbookLocation,
        *,
        client_secret: str,
        log: Any,
        ca_file: Path | None = None,
        timeout: float = 30.0,
        limits: RetryLimits | None = None,
    ) -> None:
        self.location = location
        self._secret = client_secret
        self._log = log
        self._limits = limits or RetryLimits()
        # One HTTP client for MSAL's requests and ours: one TLS setting, one connection pool.
        # The system's trust store, or only the CA of ca_file (a test's stand-in, a TLS proxy).
        verify = ssl.create_default_context(cafile=ca_file) if ca_file else True
        self._http = httpx.Client(
            verify=verify, timeout=timeout, headers={"User-Agent": f"wa-monitor/{__version__}"}
        )
        self._app: msal.ConfidentialClientApplication | None = None

    @property
    def where(self) -> str:
        return self.location.describe()

    def __enter__(self) -> GraphWorkbook:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- the sheet target -------------------------------------------------------------------

    def read(self) -> Sheet:
        """The worksheet's rows, from its used range (values only)."""
        found = self._call("GET", f"{self._sheet_path()}/usedRange(valuesOnly=true)")
        values, address = found.get("values"), str(found.get("address", ""))
        m = _FIRST_CELL.match(address.rpartition("!")[2])
        if not isinstance(values, list) or m is None:
            raise GraphRefused(f"Graph's used range of {self.where} has no values or address")
        return read_sheet(values, first_row=int(m[2]), first_column=_column_number(m[1]))

    def apply(self, plan: SheetPlan) -> Iterator[Write]:
        """Write the plan one row at a time, yielding each write once Graph accepted it."""
        if plan.header_row is not None:
            self._write_row(plan.header_row, HEADER)
        for write in plan.writes:
            self._write_row(write.row, cells(write.total))
            yield write

    def check(self) -> str:
        """A token can be had and the worksheet reached: its name as Graph spells it."""
        found = self._call("GET", self._sheet_path())
        return str(found.get("name", self.location.worksheet))

    # -- requests -------------------------------------------------------------------------

    def _sheet_path(self) -> str:
        loc = self.location
        return (
            f"/drives/{quote(loc.drive_id, safe='!')}/items/{quote(loc.item_id, safe='!')}"
            f"/workbook/worksheets/{quote(loc.worksheet, safe='')}"
        )

    def _write_row(self, row: int, cells: tuple[object, ...]) -> None:
        address = f"A{row}:C{row}"  # Date | Project | Total Drops
        self._call(
            "PATCH", f"{self._sheet_path()}/range(address='{address}')", {"values": [list(cells)]}
        )

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        policy = retry_policy(self._limits, self._log)
        return policy(self._once, method, path, body)

    def _once(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        response = self._send(method, path, body)
        if response.status_code == 401 and _error_of(response)[0] == "InvalidAuthenticationToken":
            # The cached token expired (or was revoked) before MSAL thought it would: once.
            self._log.info("Graph token refused, getting a new one", what=_what(method, path))
            self._forget_token()
            response = self._send(method, path, body)
        return self._result(method, path, response)

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._token()}"}
        try:
            return self._http.request(
                method, f"{self.location.graph_root}{path}", json=body, headers=headers
            )
        except httpx.HTTPError as exc:
            raise GraphUnavailable(
                f"{_what(method, path)}: {type(exc).__name__}: {self._scrub(str(exc))}"
            ) from None

    def _result(self, method: str, path: str, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        if 200 <= status < 300:
            try:
                found = response.json()
            except ValueError:
                found = {}
            return found if isinstance(found, dict) else {}
        code, message = _error_of(response)
        said = f"{_what(method, path)}: Graph answered {status} {code}: {self._scrub(message)}"
        if status == 429 or status >= 500:
            raise GraphUnavailable(said, retry_after=_retry_after(response))
        raise GraphRefused(said)

    # -- the token --------------------------------------------------------------------------

    def _token(self) -> str:
        app = self._application()
        try:
            result = app.acquire_token_for_client(scopes=[SCOPE])
        except httpx.HTTPError as exc:
            raise GraphUnavailable(
                f"token endpoint of tenant {self.location.tenant_id}: {type(exc).__name__}: "
                f"{self._scrub(str(exc))}"
            ) from None
        token = result.get("access_token") if isinstance(result, dict) else None
        if isinstance(token, str) and token:
            return token
        error = str(result.get("error", "no access_token")) if isinstance(result, dict) else "?"
        detail = str(result.get("error_description", "")) if isinstance(result, dict) else ""
        first_line = detail.splitlines()[0] if detail else ""
        said = (
            f"no token for client {self.location.client_id} in tenant "
            f"{self.location.tenant_id}: {error}: {self._scrub(first_line)}"
        )
        if error in {"temporarily_unavailable", "server_error"}:
            raise GraphUnavailable(said)
        raise GraphAuthFailed(said)

    def _application(self) -> msal.ConfidentialClientApplication:
        if self._app is not None:
            return self._app
        import msal  # noqa: PLC0415 - 0.07 s of imports (requests...), only once a token is asked

        host = self.location.authority_host.rstrip("/")
        authority = f"{host}/{self.location.tenant_id}"
        microsoft = host == AUTHORITY_HOST
        try:
            # Construction reads the tenant's OpenID configuration: the first request.
            self._app = msal.ConfidentialClientApplication(
                self.location.client_id,
                client_credential=self._secret,
                authority=authority,
                http_client=self._http,
                # Another host (a sovereign cloud, the test suite's stand-in) is trusted as
                # configured, not checked against Microsoft's list of instances.
                instance_discovery=None if microsoft else False,
                validate_authority=microsoft,
            )
        except httpx.HTTPError as exc:
            raise GraphUnavailable(
                f"authority {authority}: {type(exc).__name__}: {self._scrub(str(exc))}"
            ) from None
        except ValueError as exc:
            raise GraphAuthFailed(
                f"authority {authority}: {self._scrub(str(exc)).splitlines()[0]}"
            ) from None
        return self._app

    def _forget_token(self) -> None:
        cache = self._application().token_cache
        for entry in list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
            cache.remove_at(entry)

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text


def _what(method: str, path: str) -> str:
    return f"{method} {path.split('/workbook/', 1)[-1]}"


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """Graph's documented error body {"error": {"code": ..., "message": ...}}."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ("", response.reason_phrase)
    if isinstance(error, dict):
        return (str(error.get("code", "")), str(error.get("message", "")))
    return ("", response.reason_phrase)


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds, or as an HTTP date; None when absent or unreadable."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _column_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - ord("A") + 1
    return n
