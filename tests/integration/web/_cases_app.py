"""A small ASGI app whose responses exercise ``trust.web.http_protocol``: served by
``python -m uvicorn tests.integration.web._cases_app:app`` in the protocol's tests."""

from __future__ import annotations

import asyncio
from typing import Any

Scope = dict[str, Any]


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] != "http":  # served with --lifespan off
        return
    path = scope["path"]
    if path == "/small":
        await send(_start(b"5"))
        await send({"type": "http.response.body", "body": b"hello"})
    elif path == "/echo":  # the request body back (Expect: 100-continue is answered by reading)
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        await send(_start(str(len(body)).encode()))
        await send({"type": "http.response.body", "body": body})
    elif path == "/slow-body":  # the header block, then the body only after a pause
        await send(_start(b"4"))
        await asyncio.sleep(0.5)
        await send({"type": "http.response.body", "body": b"late"})
    elif path == "/stream":  # chunked: a first chunk, a pause, a last one
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await asyncio.sleep(0.5)
        await send({"type": "http.response.body", "body": b"last"})
    else:
        await send({"type": "http.response.start", "status": 404, "headers": [_LENGTH0]})
        await send({"type": "http.response.body", "body": b""})


_LENGTH0 = (b"content-length", b"0")


def _start(length: bytes) -> dict[str, Any]:
    headers = [(b"content-type", b"text/plain"), (b"content-length", length)]
    return {"type": "http.response.start", "status": 200, "headers": headers}
