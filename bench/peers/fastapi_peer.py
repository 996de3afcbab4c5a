"""The bare FastAPI peer: the smallest FastAPI app returning a small JSON, served exactly as our
app is (``python -m uvicorn bench.peers.fastapi_peer:app --factory``, one worker, no access log).

``GET /small`` answers a small JSON object; ``POST /small`` reads the whole body first (a form or
JSON body of the size our endpoint receives) and answers the same object, so that a POST
comparison includes the body read on both sides. ``GET /healthz`` is the readiness probe.
"""

from __future__ import annotations

from fastapi import FastAPI, Request

SMALL = {"result": "valid", "status": "active", "code": "ok", "checked_at": "2026-11-22T08:00:00Z"}


def app() -> FastAPI:
    peer = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @peer.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @peer.get("/small")
    def small_get() -> dict[str, str]:
        return SMALL

    @peer.post("/small")
    async def small_post(request: Request) -> dict[str, str]:
        await request.body()
        return SMALL

    return peer
