"""A local stand-in for Microsoft Graph's workbook API and the Entra ID token endpoint.

It answers, over HTTPS with a certificate made for the test (trustme), the requests the sync
makes, with the documented shapes: the tenant's OpenID configuration (which MSAL reads first),
the client-credentials token response, a worksheet, its usedRange(valuesOnly=true) and
range(address=...) read and written, and Graph's error body {"error": {"code", "message"}}.
Each worksheet is a 2-D list in memory; a written ISO date becomes an Excel serial number and
numeric text a number, as Excel stores what is typed. It can be told to answer the next N
requests with 429 + Retry-After, 503, or 401 InvalidAuthenticationToken, and it records every
request so a test asserts what it received.
"""

from __future__ import annotations

import enum
import json
import re
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import trustme

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "66666666-7777-8888-9999-000000000000"
SECRET = "s3cr3t~Graph.Client_Secret-0123456789"
DRIVE = "b!drive-0001"
ITEM = "01ITEMID0001"
WORKSHEET = "Daily Drops"
EXCEL_EPOCH = date(1899, 12, 30)

_WORKBOOK = re.compile(
    r"/v1\.0/drives/(?P<drive>[^/]+)/items/(?P<item>[^/]+)/workbook/worksheets/(?P<sheet>[^/]+)"
    r"(?:/(?P<what>usedRange\(valuesOnly=true\)|range\(address='(?P<address>[A-Z0-9:]+)'\)))?"
)
_CELL = re.compile(r"([A-Z]+)(\d+)")


class Fault(enum.Enum):
    THROTTLED = 429
    UNAVAILABLE = 503
    EXPIRED_TOKEN = 401


@dataclass(frozen=True)
class Received:
    method: str
    path: str  # percent-decoded, without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: str
    at: float  # time.monotonic() on arrival

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body).items()}


@dataclass
class _Pending:
    fault: Fault
    times: int
    retry_after: int | None
    method: str | None
    after: int  # let this many matching requests through first


@dataclass
class GraphStandIn:
    base_url: str
    ca_file: Path
    worksheets: dict[str, list[list[Any]]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    client_secret: str = SECRET
    tokens: set[str] = field(default_factory=set)
    _faults: list[_Pending] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def authority_host(self) -> str:
        return self.base_url

    @property
    def graph_root(self) -> str:
        return f"{self.base_url}/v1.0"

    def fail_next(
        self,
        fault: Fault,
        times: int = 1,
        *,
        retry_after: int | None = None,
        method: str | None = None,
        after: int = 0,
    ) -> None:
        """Answer the next `times` Graph requests (of `method`, if given, after letting `after`
        of them through) with the fault instead of doing them."""
        with self._lock:
            self._faults.append(_Pending(fault, times, retry_after, method, after))

    def expire_tokens(self) -> None:
        """Every token handed out so far is now expired, as after an hour."""
        with self._lock:
            self.tokens.clear()

    def graph_requests(self, method: str | None = None) -> list[Received]:
        return [
            r
            for r in self.received
            if r.path.startswith("/v1.0/") and (method is None or r.method == method)
        ]

    def token_requests(self) -> list[Received]:
        return [r for r in self.received if r.path.endswith("/oauth2/v2.0/token")]

    def cells(self, sheet: str) -> list[list[Any]]:
        """The worksheet's rows, trailing blanks trimmed, for asserting on."""
        rows = [list(r) for r in self.worksheets[sheet]]
        while rows and all(v in (None, "") for v in rows[-1]):
            rows.pop()
        return rows

    # -- the server side -------------------------------------------------------------------

    def _take_fault(self, method: str) -> _Pending | None:
        with self._lock:
            for pending in self._faults:
                if pending.method is not None and pending.method != method:
                    continue
                if pending.after > 0:
                    pending.after -= 1
                    return None
                pending.times -= 1
                if pending.times <= 0:
                    self._faults.remove(pending)
                return pending
        return None

    def handle(self, req: Received) -> tuple[int, dict[str, str], Any]:
        self.received.append(req)
        path = req.path
        if path.endswith("/v2.0/.well-known/openid-configuration"):
            tenant = path.split("/")[1]
            return 200, {}, self._openid(tenant)
        if path.endswith("/oauth2/v2.0/token") and req.method == "POST":
            return self._token(req)
        if path.startswith("/v1.0/"):
            if pending := self._take_fault(req.method):
                return _fault_answer(pending)
            auth = req.headers.get("authorization", "")
            if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.tokens:
                return _error(
                    401,
                    "InvalidAuthenticationToken",
                    "Access token has expired or is not yet valid.",
                )
            return self._workbook(req)
        return _error(404, "itemNotFound", "The requested resource doesn't exist.")

    def _openid(self, tenant: str) -> dict[str, Any]:
        base = f"{self.base_url}/{tenant}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "issuer": f"{base}/v2.0",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "tenant_region_scope": "EU",
        }

    def _token(self, req: Received) -> tuple[int, dict[str, str], Any]:
        form = req.form()
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != self.client_secret:
            return (
                401,
                {},
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided. "
                    "Ensure the secret being sent in the request is the client secret value, "
                    "not the client secret ID.",
                    "error_codes": [7000215],
                },
            )
        if form.get("grant_type") != "client_credentials":
            return 400, {}, {"error": "unsupported_grant_type", "error_description": "AADSTS"}
        token = f"eyJ0eXAiOiJKV1Qi.{uuid.uuid4().hex}"
        with self._lock:
            self.tokens.add(token)
        return (
            200,
            {},
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": token,
            },
        )

    def _workbook(self, req: Received) -> tuple[int, dict[str, str], Any]:  # noqa: PLR0911
        m = _WORKBOOK.fullmatch(req.path)
        if not m or m["drive"] != DRIVE or m["item"] != ITEM:
            return _error(404, "itemNotFound", "The resource could not be found.")
        name = m["sheet"]
        if name not in self.worksheets:
            return _error(404, "ItemNotFound", "The requested resource doesn't exist.")
        grid = self.worksheets[name]
        if m["what"] is None and req.method == "GET":
            return 200, {}, {"id": "{00000000-0001-0000-0000-000000000000}", "name": name,
                             "position": 0, "visibility": "Visible"}  # fmt: skip
        if m["what"] and m["what"].startswith("usedRange") and req.method == "GET":
            return 200, {}, _used_range(name, grid)
        if m["address"] and req.method == "PATCH":
            return self._write(name, grid, m["address"], req)
        if m["address"] and req.method == "GET":
            top, left, bottom, right = _bounds(m["address"])
            values = [[_at(grid, r, c) for c in range(left, right + 1)]
                      for r in range(top, bottom + 1)]  # fmt: skip
            return 200, {}, _range(name, m["address"], top, left, values)
        return _error(405, "MethodNotAllowed", "The method is not allowed.")

    def _write(
        self, name: str, grid: list[list[Any]], address: str, req: Received
    ) -> tuple[int, dict[str, str], Any]:
        top, left, bottom, right = _bounds(address)
        values = req.json().get("values")
        if (
            not isinstance(values, list)
            or len(values) != bottom - top + 1
            or any(len(row) != right - left + 1 for row in values)
        ):
            return _error(
                400,
                "InvalidArgument",
                "The number of rows or columns in the input array doesn't match the size or "
                "dimensions of the range.",
            )
        with self._lock:
            for i, row in enumerate(values):
                for j, value in enumerate(row):
                    _put(grid, top + i, left + j, _as_excel_stores(value))
        return 200, {}, _range(name, address, top, left, values)


def _fault_answer(pending: _Pending) -> tuple[int, dict[str, str], Any]:
    if pending.fault is Fault.THROTTLED:
        status, _, body = _error(
            429, "TooManyRequests", "Please retry again later.", code_inner="throttledRequest"
        )
        headers = {} if pending.retry_after is None else {"Retry-After": str(pending.retry_after)}
        return status, headers, body
    if pending.fault is Fault.UNAVAILABLE:
        return _error(503, "serviceNotAvailable", "The service is temporarily unavailable.")
    return _error(
        401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid."
    )


def _error(
    status: int, code: str, message: str, *, code_inner: str | None = None
) -> tuple[int, dict[str, str], Any]:
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "innerError": {"date": "2025-11-11T18:00:00", "request-id": str(uuid.uuid4())},
    }
    if code_inner:
        error["innerError"]["code"] = code_inner
    return status, {}, {"error": error}


def _as_excel_stores(value: Any) -> Any:
    if isinstance(value, str):
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return (date.fromisoformat(value) - EXCEL_EPOCH).days
        if re.fullmatch(r"-?\d+", value):
            return int(value)
    return value


def _column_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - ord("A") + 1
    return n


def _column_letters(n: int) -> str:
    letters = ""
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters


def _bounds(address: str) -> tuple[int, int, int, int]:
    """'A5:C5' → (top, left, bottom, right), 1-based."""
    first, _, last = address.partition(":")
    a, b = _CELL.fullmatch(first), _CELL.fullmatch(last or first)
    assert a, address
    assert b, address
    return int(a[2]), _column_number(a[1]), int(b[2]), _column_number(b[1])


def _at(grid: list[list[Any]], row: int, column: int) -> Any:
    if row - 1 < len(grid) and column - 1 < len(grid[row - 1]):
        value = grid[row - 1][column - 1]
        return "" if value is None else value
    return ""


def _put(grid: list[list[Any]], row: int, column: int, value: Any) -> None:
    while len(grid) < row:
        grid.append([])
    line = grid[row - 1]
    while len(line) < column:
        line.append(None)
    line[column - 1] = value


def _used_range(name: str, grid: list[list[Any]]) -> dict[str, Any]:
    used = [
        (r + 1, c + 1)
        for r, line in enumerate(grid)
        for c, v in enumerate(line)
        if v not in (None, "")
    ]
    if not used:  # Graph's answer for an empty sheet: A1 alone, holding ""
        return _range(name, "A1", 1, 1, [[""]])
    top, bottom = min(r for r, _ in used), max(r for r, _ in used)
    left, right = min(c for _, c in used), max(c for _, c in used)
    values = [[_at(grid, r, c) for c in range(left, right + 1)] for r in range(top, bottom + 1)]
    address = f"{_column_letters(left)}{top}:{_column_letters(right)}{bottom}"
    return _range(name, address, top, left, values)


def _range(name: str, address: str, top: int, left: int, values: list[list[Any]]) -> dict[str, Any]:
    quoted = f"'{name}'" if " " in name else name
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#workbookRange",
        "address": f"{quoted}!{address}",
        "addressLocal": f"{quoted}!{address}",
        "cellCount": len(values) * len(values[0]),
        "columnCount": len(values[0]),
        "columnIndex": left - 1,
        "rowCount": len(values),
        "rowIndex": top - 1,
        "values": values,
        "valueTypes": [
            ["String" if isinstance(v, str) else "Double" for v in row] for row in values
        ],
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        parts = urlsplit(self.path)
        req = Received(
            method=self.command,
            path=unquote(parts.path),
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            at=time.monotonic(),
        )
        status, headers, payload = self.server.stand_in.handle(req)
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = _serve  # noqa: N815 - the names http.server looks up

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stand_in: GraphStandIn


@contextmanager
def graph_stand_in(folder: Path) -> Iterator[GraphStandIn]:
    """The stand-in, serving HTTPS on 127.0.0.1 with a CA written to folder/ca.pem."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = folder / "graph-test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = _Server(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    stand_in = GraphStandIn(base_url=f"https://127.0.0.1:{port}", ca_file=ca_file)
    server.stand_in = stand_in
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
