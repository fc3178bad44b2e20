"""A local TCP listener that accepts connections and never answers (a hung server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class Silent:
    """Listening on 127.0.0.1:``port``; ``connections`` accepted so far."""

    port: int = 0
    connections: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)


@asynccontextmanager
async def silent_listener() -> AsyncIterator[Silent]:
    """Accept, read what the client sends, never write; hang up on exit."""
    found = Silent()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        found.connections += 1
        found.writers.append(writer)
        try:
            while await reader.read(4096):  # until the client hangs up
                pass
        except ConnectionError:
            pass

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    try:
        yield found
    finally:
        server.close()
        for writer in found.writers:
            writer.close()
        await server.wait_closed()
