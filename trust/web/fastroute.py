"""Fast routes: the common case of a few latency-critical endpoints, served ahead of FastAPI.

Why. FastAPI 0.165 matches a request against included routers one route at a time, and each
candidate costs about 5 µs (scope bookkeeping, a walk of the routers' version counters, the
regex), twice per included router: with about a hundred routes, ``POST /licences/verify/code``
(behind sixty others) spent some 0.4 ms of CPU on routing alone. Dependency injection, body
validation and response validation add another 0.2 ms, while a bare FastAPI endpoint serves a
whole request in about 0.1 ms (measured in-process; ``bench/licences_bench.py``).

How. The endpoint stays an ordinary FastAPI route (documented in OpenAPI, and serving every
request when no fast route is registered). Its capability also registers, from its router's
lifespan, a *fast endpoint* for the same method and exact path::

    async def check_fast(request: Request) -> Response | None: ...
    register_fast_route(app, "POST", "/things/check", check_fast)

``BodySizeLimitMiddleware`` (``trust.web.middleware``, the innermost of our middlewares) hands
such a request to ``serve_fast_route`` instead of the main router, so our middleware (request id,
security headers, access log, body-size limit) applies unchanged, and ``request.app`` is still
the app. ``TrustAPI`` (``trust.web.app``) hands such a request straight to our outermost
middleware, below FastAPI's own outer layers (its docstring says why and when not).

The fast endpoint handles the common case, with the same service calls as the FastAPI route, and
returns its response; for anything unusual (another content type, a body that does not validate …)
it returns ``None``, and the request goes on to the main router with its body replayed, so the
FastAPI route answers it exactly as it would have. Exceptions it raises are mapped by the app's own
exception handlers (problem+json), as for any route. Dependency overrides do not apply to fast
endpoints.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Final

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["FastEndpoint", "has_fast_route", "register_fast_route", "serve_fast_route"]

#: ``async def endpoint(request) -> Response | None`` (``None``: let the main router answer).
FastEndpoint = Callable[[Request], Awaitable[Response | None]]

_STATE_KEY: Final = "fast_routes"


class _FastRoutes:
    """``app.state.fast_routes``: the registered endpoints, and the app's exception handlers
    applied to what they raise (as Starlette's ``ExceptionMiddleware`` applies them to routes,
    without its per-request wrapper around ``send``: a fast endpoint raises before it returns
    its response, never while the response is being sent)."""

    def __init__(self, app: FastAPI) -> None:
        self.endpoints: dict[tuple[str, str], FastEndpoint] = {}
        # As FastAPI's own stack: 500 and Exception go to the outermost layer (the 500 problem).
        self.handlers: dict[type[BaseException], Any] = {
            key: value
            for key, value in app.exception_handlers.items()
            if isinstance(key, type) and key is not Exception
        }
        self.status_handlers: dict[int, Any] = {
            key: value
            for key, value in app.exception_handlers.items()
            if isinstance(key, int) and key != 500
        }

    async def serve(self, scope: Scope, receive: Receive, send: Send, fallback: ASGIApp) -> None:
        endpoint = self.endpoints[(scope["method"], scope["path"])]
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except Exception as exc:
            response = await self._handled(request, exc)
        if response is None:
            await fallback(scope, _replay(request, receive), send)
            return
        await response(scope, receive, send)

    async def _handled(self, request: Request, exc: Exception) -> Response:
        handler = None
        if isinstance(exc, HTTPException):
            handler = self.status_handlers.get(exc.status_code)
        if handler is None:
            handler = next(
                (self.handlers[cls] for cls in type(exc).__mro__ if cls in self.handlers), None
            )
        if handler is None:
            raise exc
        # Like Starlette: a coroutine function is awaited, anything else runs in the thread pool
        # (and may still hand back an awaitable, e.g. a callable object with an async __call__).
        if inspect.iscoroutinefunction(handler):
            response: Response = await handler(request, exc)
        else:
            response = await run_in_threadpool(handler, request, exc)
            if inspect.isawaitable(response):
                response = await response
        exc.__traceback__ = None  # as Starlette: reused exceptions would accumulate tracebacks
        return response


def _replay(request: Request, receive: Receive) -> Receive:
    """The body the fast endpoint already read, then the client's further messages."""
    body: bytes | None = getattr(request, "_body", None)
    if body is None:
        return receive
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def register_fast_route(app: FastAPI, method: str, path: str, endpoint: FastEndpoint) -> None:
    """Serve ``method path`` (an exact path) with ``endpoint`` ahead of the main router."""
    if "{" in path or not path.startswith("/"):
        raise ValueError(f"fast routes have exact paths, not {path!r}")
    routes: _FastRoutes | None = getattr(app.state, _STATE_KEY, None)
    if routes is None:
        routes = _FastRoutes(app)
        setattr(app.state, _STATE_KEY, routes)
    routes.endpoints[(method.upper(), path)] = endpoint


def _routes_for(app: Any, scope: Scope) -> _FastRoutes | None:
    """``app``'s fast routes when one is registered for this request, else None."""
    routes: _FastRoutes | None = getattr(getattr(app, "state", None), _STATE_KEY, None)
    if (
        routes is None
        or scope.get("root_path")
        or (scope["method"], scope["path"]) not in routes.endpoints
    ):
        return None
    return routes


def has_fast_route(app: FastAPI, scope: Scope) -> bool:
    """Whether ``app`` has a fast endpoint for this request (``TrustAPI`` routes it early)."""
    return _routes_for(app, scope) is not None


async def serve_fast_route(scope: Scope, receive: Receive, send: Send, fallback: ASGIApp) -> bool:
    """Serve this request by its fast endpoint, if one is registered (True); else False and
    nothing was done. ``fallback`` (the main router's stack) answers what the endpoint declines.
    """
    routes = _routes_for(scope.get("app"), scope)
    if routes is None:
        return False
    await routes.serve(scope, receive, send, fallback)
    return True
