"""A real HTTP server that stands in for whatever triaged talks to.

``PageReceiver`` listens on 127.0.0.1 in a daemon thread (stdlib
``ThreadingHTTPServer``), so sync tests, async tests and subprocesses
(``triaged run``) can all reach it. It records every request and answers
according to per-path behaviour that a test may change at any moment:

    with PageReceiver() as pages:
        pages.respond_sequence("/page", [503, 503, 202])   # retried twice
        pages.hang("/slow", 3.0)                           # answers after 3 s
        pages.respond("/health", status=200, body=b'{"status":"ok"}')  # a probe target
        ...
        first = pages.wait_for_count(1, path="/page", timeout=10)[0]
        first.json["incident_id"], first.headers["idempotency-key"]
        pages.close()                                      # now: connection refused
        pages.start()                                      # same port, listening again

The default answer is ``202`` with ``{"ok": true}``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

DEFAULT_BODY = b'{"ok": true}'


class Headers(Mapping[str, str]):
    """Request headers with case-insensitive lookup; repeated headers joined by ``, ``."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in items:
            key = name.lower()
            if key in self._items:
                value = f"{self._items[key][1]}, {value}"
            self._items[key] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __repr__(self) -> str:
        return f"Headers({dict(self._items.values())!r})"


@dataclass(frozen=True)
class Recorded:
    """One request as the receiver saw it.

    Attributes:
        path: the URL path, without the query string.
        method: ``GET``, ``POST``, ...
        headers: case-insensitive mapping.
        body: the raw body bytes.
        json: the body decoded as JSON, or None when it is not JSON.
        at: ``time.monotonic()`` when the request had been read.
        query: the query string (without ``?``), "" when none.
        status: the status the receiver answered (or was about to answer).
    """

    path: str
    method: str
    headers: Headers
    body: bytes
    json: Any
    at: float
    query: str = ""
    status: int = 0


@dataclass(frozen=True)
class Reply:
    """One answer: status, body, extra headers, and a delay before answering."""

    status: int = 202
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def payload(self) -> bytes:
        if self.body is not None:
            return self.body
        return DEFAULT_BODY if 200 <= self.status < 300 else b'{"ok": false}'


def _as_body(body: bytes | str | Mapping[str, Any] | list[Any] | None) -> bytes | None:
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


class PageReceiver:
    """HTTP server on 127.0.0.1 recording requests; see the module docstring.

    Args:
        port: the port to listen on; 0 (default) lets the kernel choose.
    """

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._lock = threading.Condition()
        self._records: list[Recorded] = []
        self._steady: dict[str, Reply] = {}
        self._queued: dict[str, deque[Reply]] = {}
        self._delays: dict[str, float] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> PageReceiver:
        """Listen (again, on the same port after ``close()``). Idempotent."""
        if self._server is not None:
            return self
        self._closing.clear()
        server = ThreadingHTTPServer(("127.0.0.1", self._port), _make_handler(self))
        server.daemon_threads = True
        self._port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"PageReceiver:{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop listening: new connections are refused; hanging requests are dropped."""
        server, self._server = self._server, None
        if server is None:
            return
        self._closing.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> PageReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        return self._port

    @property
    def listening(self) -> bool:
        return self._server is not None

    def url(self, path: str = "/page") -> str:
        """The full URL of ``path`` on this receiver."""
        if not path.startswith("/"):
            path = "/" + path
        return f"http://127.0.0.1:{self._port}{path}"

    # -- behaviour -----------------------------------------------------------

    def respond(
        self,
        path: str,
        status: int = 202,
        body: bytes | str | Mapping[str, Any] | list[Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer every request to ``path`` so from now on (after any queued sequence)."""
        with self._lock:
            self._steady[path] = Reply(status, _as_body(body), dict(headers or {}))

    def respond_sequence(self, path: str, statuses: Iterable[int | Reply]) -> None:
        """Answer the next requests to ``path`` with these, one each, then as before."""
        replies = [s if isinstance(s, Reply) else Reply(status=s) for s in statuses]
        with self._lock:
            self._queued.setdefault(path, deque()).extend(replies)

    def hang(self, path: str, seconds: float) -> None:
        """Delay every answer to ``path`` by ``seconds`` (0 to stop hanging)."""
        with self._lock:
            self._delays[path] = seconds

    def reset(self) -> None:
        """Forget recorded requests and all configured behaviour."""
        with self._lock:
            self._records.clear()
            self._steady.clear()
            self._queued.clear()
            self._delays.clear()

    def _next_reply(self, path: str) -> tuple[Reply, float]:
        with self._lock:
            queue = self._queued.get(path)
            reply = queue.popleft() if queue else self._steady.get(path, Reply())
            return reply, reply.delay + self._delays.get(path, 0.0)

    # -- records -------------------------------------------------------------

    def _record(self, record: Recorded) -> None:
        with self._lock:
            self._records.append(record)
            self._lock.notify_all()

    def requests(self, path: str | None = None) -> list[Recorded]:
        """Requests received so far, oldest first, optionally only those to ``path``."""
        with self._lock:
            return [r for r in self._records if path is None or r.path == path]

    def wait_for_count(
        self, n: int, path: str | None = None, timeout: float = 10.0
    ) -> list[Recorded]:
        """Block until at least ``n`` requests (to ``path``) arrived; return them all.

        Raises:
            AssertionError: at the deadline, listing what did arrive.
        """
        start = time.monotonic()
        deadline = start + timeout
        with self._lock:
            while True:
                got = [r for r in self._records if path is None or r.path == path]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(r.method, r.path, r.status) for r in self._records]
                    raise AssertionError(
                        f"PageReceiver {self.url('')}: expected {n} request(s) to "
                        f"{path or 'any path'} within {timeout}s, got {len(got)} after "
                        f"{time.monotonic() - start:.2f}s; all requests: {seen}"
                    )
                self._lock.wait(timeout=min(left, 0.5))

    async def await_count(
        self, n: int, path: str | None = None, timeout: float = 10.0
    ) -> list[Recorded]:
        """``wait_for_count`` for async tests: polls without blocking the event loop."""
        start = time.monotonic()
        while True:
            got = self.requests(path)
            if len(got) >= n:
                return got
            if time.monotonic() - start >= timeout:
                return self.wait_for_count(n, path, timeout=0)
            await asyncio.sleep(0.02)


def _make_handler(owner: PageReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "PageReceiver/1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep test output quiet

        def _read_body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _handle(self) -> None:
            body = self._read_body()
            if self.server is not owner._server:
                # a kept-alive connection to a closed (or restarted) server: drop it
                self.close_connection = True
                return
            parts = urlsplit(self.path)
            try:
                decoded: Any = json.loads(body) if body else None
            except ValueError:
                decoded = None
            reply, delay = owner._next_reply(parts.path)
            owner._record(
                Recorded(
                    path=parts.path,
                    method=self.command,
                    headers=Headers(self.headers.items()),
                    body=body,
                    json=decoded,
                    at=time.monotonic(),
                    query=parts.query,
                    status=reply.status,
                )
            )
            if delay > 0 and owner._closing.wait(delay):
                self.close_connection = True
                return  # closed while hanging: drop the connection unanswered
            payload = reply.payload()
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle  # noqa: N815

    return Handler
