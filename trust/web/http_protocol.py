"""uvicorn's HTTP/1.1 protocol (httptools) with a response's header block and body sent in one
socket write. ``trustctl serve`` and the benches run uvicorn with ``--http
trust.web.http_protocol:HttpProtocol`` (``HTTP_PROTOCOL``).

Why. An ASGI response is two messages, ``http.response.start`` and ``http.response.body``, and
uvicorn writes each to the socket as it comes: two ``send`` system calls and two TCP segments
for every small JSON answer, and the client is woken twice. Under load on this machine each of
those writes cost the event loop about 29 µs of CPU (the token endpoint's code exchange,
PostgreSQL, 2026-12-07): some 15 % of the loop's time per request went to the two writes.

How. A connection's writes go through ``_JoinedWrites``: a write is held until the next one,
which goes out joined with it, or until the next pass of the event loop (``call_soon``),
whichever comes first. A response's body follows its header block in the same pass, so the
pair is one write, sent as soon as the body is there; a streamed response's header block, or a
``100 Continue``, is written one pass later at most. All writes of a connection go through the
same queue, so their order is kept; closing writes what is held first. Everything else -
parsing, keep-alive, flow control, limits, upgrades - is uvicorn's own.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["HTTP_PROTOCOL", "HttpProtocol"]

#: uvicorn's ``--http`` value (``uvicorn.run(http=...)``) for this protocol.
HTTP_PROTOCOL: Final = "trust.web.http_protocol:HttpProtocol"


class _JoinedWrites:
    """A connection's transport whose writes are joined in pairs (module docstring); every
    other call is the transport's own."""

    __slots__ = ("_held", "_loop", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            if data:
                self._held = data
                self._loop.call_soon(self.flush)
        else:
            self._held = None
            self.transport.write(held + data)

    def flush(self) -> None:
        """Write what is held, if anything (and the connection is still open)."""
        held = self._held
        if held is not None:
            self._held = None
            if not self.transport.is_closing():
                self.transport.write(held)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class HttpProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` writing through ``_JoinedWrites``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = _JoinedWrites(transport, self.loop)  # type: ignore[assignment]

    def handle_websocket_upgrade(self) -> None:
        # The WebSocket protocol gets the socket's own transport, with nothing held.
        joined = self.transport
        if isinstance(joined, _JoinedWrites):
            joined.flush()
            self.transport = joined.transport
        super().handle_websocket_upgrade()
