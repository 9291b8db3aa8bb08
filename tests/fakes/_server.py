"""A loopback HTTP server with routes, a request log and injectable faults."""

from __future__ import annotations

import collections
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["FakeServer", "Fault", "Page", "Request", "Response"]


@dataclass
class Response:
    """A finished answer."""

    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, obj: Any, status: int = 200) -> Response:
        return cls(json.dumps(obj).encode(), status, {"Content-Type": "application/json"})


@dataclass
class Page:
    """Rows in the order the exchange sends them, and how to wrap them into JSON."""

    rows: list
    render: Callable[[list], Any]


@dataclass(frozen=True)
class Fault:
    """What goes wrong with one request.

    kinds: ``status`` (answer ``code``, with ``Retry-After`` when given), ``timeout`` (wait
    ``delay`` seconds before answering), ``truncate`` (send the full Content-Length but
    only part of the body, then close), ``short`` (keep the first ``keep`` share of the
    page's rows), ``duplicate`` (send some rows twice), ``shuffle`` (rows out of order),
    ``garble`` (a body cut to ``keep`` of its length, sent as if whole: broken JSON),
    ``drop`` (archive files: close after ``keep`` of the bytes, announced whole). Wrong
    answers, sent with status 200: ``empty`` (no rows), ``shift`` (every row's timestamp
    moved by ``offset`` ms: rows from outside the window), ``offgrid`` (the middle row's
    timestamp moved by ``offset`` ms, off the bar grid), ``invalid`` (every number of the
    middle row but its timestamp set to -1).
    """

    kind: str
    code: int = 0
    retry_after: str | None = None
    delay: float = 0.0
    keep: float = 0.5
    offset: int = 0

    @classmethod
    def status(cls, code: int, retry_after: float | str | None = None) -> Fault:
        return cls("status", code=code,
                   retry_after=None if retry_after is None else str(retry_after))

    @classmethod
    def timeout(cls, delay: float = 1.0) -> Fault:
        return cls("timeout", delay=delay)

    @classmethod
    def truncate(cls, keep: float = 0.5) -> Fault:
        return cls("truncate", keep=keep)

    @classmethod
    def garble(cls, keep: float = 0.5) -> Fault:
        return cls("garble", keep=keep)

    @classmethod
    def short(cls, keep: float = 0.5) -> Fault:
        return cls("short", keep=keep)

    @classmethod
    def duplicate(cls) -> Fault:
        return cls("duplicate")

    @classmethod
    def shuffle(cls) -> Fault:
        return cls("shuffle")

    @classmethod
    def empty(cls) -> Fault:
        return cls("empty")

    @classmethod
    def shift(cls, offset: int = 30 * 86_400_000) -> Fault:
        return cls("shift", offset=offset)

    @classmethod
    def offgrid(cls, offset: int = 1_000) -> Fault:
        return cls("offgrid", offset=offset)

    @classmethod
    def invalid(cls) -> Fault:
        return cls("invalid")


@dataclass(frozen=True)
class Request:
    """One request as the server saw it."""

    path: str
    params: dict[str, str]
    headers: dict[str, str]


_REASONS = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Gateway Timeout", 404: "Not Found"}


class FakeServer:
    """Routes ``path -> handler(params, headers) -> Response | Page`` on 127.0.0.1."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[dict, dict], Response | Page]] = {}
        self.requests: list[Request] = []
        self._faults: dict[str, collections.deque[Fault]] = collections.defaultdict(
            collections.deque)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> FakeServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True,
                         kwargs={"poll_interval": 0.05}).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "start the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- faults and the log -----------------------------------------------------------
    def fail(self, path: str, *faults: Fault) -> None:
        """Apply ``faults`` to the next requests to ``path``, one each, in order."""
        with self._lock:
            self._faults[path].extend(faults)

    def pending_faults(self, path: str) -> int:
        with self._lock:
            return len(self._faults[path])

    def calls(self, path: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def count(self, path: str | None = None) -> int:
        return len(self.calls(path))

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- serving ----------------------------------------------------------------------
    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get(path)
            return queue.popleft() if queue else None

    def answer(self, path: str, params: dict, headers: dict) -> tuple[Response, Fault | None]:
        with self._lock:
            self.requests.append(Request(path, params, headers))
        fault = self._next_fault(path)
        if fault is not None and fault.kind == "status":
            return self.error_response(fault), None
        if fault is not None and fault.kind == "timeout":
            self._stop.wait(fault.delay)
        route = self.routes.get(path)
        if route is None:
            return Response.json({"error": f"no route {path}"}, 404), None
        result = route(params, headers)
        if isinstance(result, Page):
            rows = _mangle(result.rows, fault)
            result = Response.json(result.render(rows))
        return result, fault

    def error_response(self, fault: Fault) -> Response:
        """The body of an injected error status; exchanges override for their JSON."""
        headers = {"Content-Type": "text/html"}
        if fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
        reason = _REASONS.get(fault.code, "Error")
        return Response(f"<html><body>{fault.code} {reason}</body></html>".encode(),
                        fault.code, headers)


def _mangle(rows: list, fault: Fault | None) -> list:
    if fault is None or not rows:
        return rows
    if fault.kind == "short":
        return rows[: max(1, int(len(rows) * fault.keep))]
    if fault.kind == "duplicate":
        return rows + rows[: max(1, len(rows) // 3)]
    if fault.kind == "shuffle":
        half = len(rows) // 2
        return rows[half:] + rows[:half][::-1]
    return _wrong(rows, fault)


def _wrong(rows: list, fault: Fault) -> list:
    """The wrong answers: well-formed pages whose rows are not what was asked for."""
    mid = len(rows) // 2
    if fault.kind == "empty":
        return []
    if fault.kind == "shift":
        return [_moved(row, fault.offset) for row in rows]
    if fault.kind == "offgrid":
        return [*rows[:mid], _moved(rows[mid], fault.offset), *rows[mid + 1:]]
    if fault.kind == "invalid":
        return [*rows[:mid], _negated(rows[mid]), *rows[mid + 1:]]
    return rows


def _moved(row: list | dict, offset: int) -> list | dict:
    """``row`` with its timestamp (first item, or ``"timestamp"``) moved by ``offset`` ms,
    in the type the exchange sends it."""
    def move(value: Any) -> Any:
        return str(int(value) + offset) if isinstance(value, str) else int(value) + offset

    if isinstance(row, dict):
        return {**row, "timestamp": move(row["timestamp"])}
    return [move(row[0]), *row[1:]]


def _negated(row: list | dict) -> list | dict:
    """``row`` with every number but the timestamp set to -1 (as a string, as sent)."""
    def numeric(value: Any) -> bool:
        try:
            float(value)
        except (TypeError, ValueError):
            return False
        return not isinstance(value, bool)

    if isinstance(row, dict):
        return {k: "-1" if k != "timestamp" and numeric(v) else v for k, v in row.items()}
    return [row[0], *("-1" if numeric(v) else v for v in row[1:])]


def _handler_for(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()  # no Nagle: headers and body go out at once, no 40 ms stalls
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                response, fault = server.answer(parts.path, params, headers)
                self._send(response, fault)
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                self.close_connection = True

        def _send(self, response: Response, fault: Fault | None) -> None:
            body = response.body
            if fault is not None and fault.kind == "garble":
                body = body[: int(len(body) * fault.keep)]
            self.send_response(response.status, _REASONS.get(response.status))
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            if fault is not None and fault.kind in ("truncate", "drop"):
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body[: int(len(body) * fault.keep)])
                self.wfile.flush()
                self.close_connection = True
                return
            self.end_headers()
            self.wfile.write(body)

    return Handler
