"""A TCP proxy in front of PgBouncer that counts round trips, for the benchmark's worker.

A round trip is a turn of the conversation: the client sends (one or more protocol
messages, pipelined or not) and the server answers. The proxy counts each time the
server's bytes arrive after the client's last send: the connect's own exchanges
(startup, the SCRAM messages) count like any query's. It also counts the client's
protocol messages (the startup and SSL requests, then each typed message).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass
class Counts:
    connections: int = 0
    round_trips: int = 0
    messages: int = 0

    def snapshot(self) -> Counts:
        return Counts(self.connections, self.round_trips, self.messages)

    def since(self, before: Counts) -> dict[str, int]:
        return {
            "connections": self.connections - before.connections,
            "round_trips": self.round_trips - before.round_trips,
            "messages": self.messages - before.messages,
        }


class MessageCounter:
    """Counts the client's protocol messages in a byte stream cut anywhere."""

    def __init__(self) -> None:
        self.buffer = b""
        self.started = False  # the first messages (SSL request, startup) carry no type byte

    def feed(self, data: bytes) -> int:
        self.buffer += data
        count = 0
        while True:
            header = 4 if not self.started else 5
            if len(self.buffer) < header:
                return count
            length = int.from_bytes(self.buffer[header - 4 : header], "big")
            if len(self.buffer) < header - 4 + length:
                return count
            if not self.started and int.from_bytes(self.buffer[4:8], "big") == 196608:  # protocol 3.0
                self.started = True
            self.buffer = self.buffer[header - 4 + length :]
            count += 1


class CountingProxy:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.counts = Counts()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(*self.target)
        self.counts.connections += 1
        awaiting = False  # the client has sent since the server last spoke
        messages = MessageCounter()

        async def upstream() -> None:
            nonlocal awaiting
            while data := await client_reader.read(65536):
                awaiting = True
                self.counts.messages += messages.feed(data)
                server_writer.write(data)
                await server_writer.drain()
            server_writer.close()

        async def downstream() -> None:
            nonlocal awaiting
            while data := await server_reader.read(65536):
                if awaiting:
                    self.counts.round_trips += 1
                    awaiting = False
                client_writer.write(data)
                await client_writer.drain()
            client_writer.close()

        await asyncio.gather(upstream(), downstream(), return_exceptions=True)
