"""``trust.web.fastroute``: a fast endpoint serves the common case ahead of the main router,
inside our middleware; what it declines reaches the FastAPI route with its body intact."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.api._support import TestClient, assert_problem
from trust.errors import Conflict
from trust.web.fastroute import register_fast_route


class Echo(BaseModel):
    word: str


@pytest.fixture
def fast_app(make_app: Callable[..., FastAPI]) -> FastAPI:
    app = make_app(max_request_bytes=1024)
    served: list[str] = []
    app.state.served = served

    @app.post("/echo")
    def echo(body: Echo) -> dict[str, str]:
        served.append("route")
        return {"word": body.word, "by": "route"}

    async def echo_fast(request: Request) -> Response | None:
        data = await request.json() if request.headers.get("content-type") else None
        if not isinstance(data, dict) or data.get("word") == "decline":
            return None  # the route answers
        if data.get("word") == "conflict":
            raise Conflict("already there", code="test.conflict")
        if data.get("word") == "gone":
            raise HTTPException(status_code=404)
        if data.get("word") == "boom":
            raise RuntimeError("a bug")
        served.append("fast")
        return JSONResponse({"word": data.get("word"), "by": "fast"})

    register_fast_route(app, "POST", "/echo", echo_fast)
    return app


@pytest.fixture
def fast_client(fast_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(fast_app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_the_fast_endpoint_serves_inside_our_middleware(
    fast_app: FastAPI, fast_client: TestClient
) -> None:
    response = fast_client.post("/echo", json={"word": "hi"})
    assert response.json() == {"word": "hi", "by": "fast"}
    assert response.headers["x-request-id"].startswith("req_")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert fast_app.state.served == ["fast"]


def test_a_declined_request_reaches_the_route_with_its_body(
    fast_app: FastAPI, fast_client: TestClient
) -> None:
    response = fast_client.post("/echo", json={"word": "decline"})
    assert response.json() == {"word": "decline", "by": "route"}
    invalid = fast_client.post("/echo", content=b"[1]", headers={"content-type": "x/y"})
    assert_problem(invalid, 422, "request.invalid")  # the route's own validation answer
    assert fast_app.state.served == ["route"]


def test_errors_of_the_fast_endpoint_are_problems(fast_client: TestClient) -> None:
    """Mapped by the app's own handlers (by exception class, and an HTTPException by its
    status), and an unexpected error is the outer layer's 500 problem with the request id."""
    assert_problem(fast_client.post("/echo", json={"word": "conflict"}), 409, "test.conflict")
    assert_problem(fast_client.post("/echo", json={"word": "gone"}), 404, "not_found")
    boom = fast_client.post("/echo", json={"word": "boom"})
    body = assert_problem(boom, 500, "internal_error")
    assert boom.headers["x-request-id"] in body["detail"]
    assert "a bug" not in boom.text


def test_the_body_size_limit_applies(fast_app: FastAPI, fast_client: TestClient) -> None:
    response = fast_client.post("/echo", json={"word": "x" * 2000})
    assert_problem(response, 413, "payload_too_large")
    assert fast_app.state.served == []


def test_other_methods_and_paths_go_to_the_main_router(fast_client: TestClient) -> None:
    assert_problem(fast_client.get("/echo"), 405, "method_not_allowed")
    assert_problem(fast_client.post("/echo/more", json={"word": "hi"}), 404, "not_found")


def test_only_exact_paths(fast_app: FastAPI) -> None:
    async def endpoint(_request: Request) -> Response | None:
        return None

    with pytest.raises(ValueError, match="exact paths"):
        register_fast_route(fast_app, "GET", "/things/{id}", endpoint)


class _CountingStack:
    """Stands in for the app's built middleware stack (FastAPI's outer layers first)."""

    def __init__(self, app: FastAPI) -> None:
        assert app.middleware_stack is not None  # built when the client started the app
        self.inner = app.middleware_stack
        self.calls = 0
        app.middleware_stack = self

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await self.inner(scope, receive, send)


def test_fast_routes_enter_below_fastapis_outer_layers(
    fast_app: FastAPI, fast_client: TestClient
) -> None:
    """``TrustAPI``: a fast route's request (served or declined) goes straight to our outermost
    middleware; every other request takes the whole stack."""
    outer = _CountingStack(fast_app)
    served = fast_client.post("/echo", json={"word": "hi"})
    declined = fast_client.post("/echo", json={"word": "decline"})
    assert (served.json()["by"], declined.json()["by"]) == ("fast", "route")
    assert served.headers["x-request-id"].startswith("req_")
    assert outer.calls == 0
    assert_problem(fast_client.get("/echo"), 405, "method_not_allowed")
    assert outer.calls == 1


def test_with_fastapi_telemetry_on_every_request_takes_the_whole_stack(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(opentelemetry=True)

    async def fast(_request: Request) -> Response | None:
        return JSONResponse({"by": "fast"})

    register_fast_route(app, "GET", "/quick", fast)
    with TestClient(app, raise_server_exceptions=False) as client:
        outer = _CountingStack(app)
        assert client.get("/quick").json() == {"by": "fast"}
    assert outer.calls == 1
