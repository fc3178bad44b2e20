"""Local TCP targets for probe tests, on 127.0.0.1 only.

``CountingListener`` accepts and counts connections (a forbidden target must see
none); ``unanswered_port`` is a port whose connect never completes (a timeout).
"""

from __future__ import annotations

import asyncio
import select
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType


class CountingListener:
    """``async with CountingListener() as door``: counts who connects to ``door.port``
    and closes each connection at once."""

    def __init__(self) -> None:
        self.port = 0
        self.connections = 0
        self._seen = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def _count(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._seen.set()
        writer.close()

    async def connected(self, timeout: float = 2.0) -> int:
        """The connection count, once there is at least one (or ``timeout`` passed)."""
        try:
            await asyncio.wait_for(self._seen.wait(), timeout)
        except TimeoutError:
            pass
        return self.connections

    async def __aenter__(self) -> CountingListener:
        self._server = await asyncio.start_server(self._count, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@contextmanager
def unanswered_port(fillers: int = 16) -> Iterator[int]:
    """A port on 127.0.0.1 whose connect never completes: a listener that never
    accepts, its accept queue filled, so the kernel drops further SYNs."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held: list[socket.socket] = []
    try:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = int(server.getsockname()[1])
        for _ in range(fillers):
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            client.setblocking(False)
            held.append(client)
            client.connect_ex(("127.0.0.1", port))
            _, writable, _ = select.select([], [client], [], 0.2)
            if not writable:  # this one hangs: the queue is full
                break
        else:
            raise AssertionError(f"the accept queue of port {port} never filled up")
        yield port
    finally:
        for client in held:
            client.close()
        server.close()
