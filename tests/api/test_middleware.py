"""Request ids, security headers, caching and the request-size limit."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from tests.api._support import TestClient, assert_problem
from tests.asyncio_support import run_async
from tests.factories.principals import Staff


def test_request_id_is_generated_and_echoed(client: TestClient) -> None:
    one, two = client.get("/healthz"), client.get("/healthz")
    assert one.headers["x-request-id"].startswith("req_")
    assert one.headers["x-request-id"] != two.headers["x-request-id"]


def test_a_sane_incoming_request_id_is_kept(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "gw-2026.11.22:abc-1"})
    assert response.headers["x-request-id"] == "gw-2026.11.22:abc-1"


@pytest.mark.parametrize("bad", ["", "a b", "x" * 200, "<script>", "id\u00e9"])
def test_an_insane_incoming_request_id_is_replaced(client: TestClient, bad: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": bad.encode("utf-8")})
    assert response.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize("path", ["/healthz", "/", "/no/such", "/static/site.css"])
def test_security_headers_on_every_response(client: TestClient, path: str) -> None:
    headers = client.get(path).headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in headers  # plain http


def test_hsts_over_https(client: TestClient) -> None:
    response = client.get("https://testserver/healthz")
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_hsts_when_the_public_url_is_https(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(public_base_url="https://ywtb.example.gov.cn")
    with TestClient(app) as test_client:
        assert "strict-transport-security" in test_client.get("/healthz").headers


def test_api_responses_are_not_cached_static_files_are(client: TestClient) -> None:
    assert client.get("/healthz").headers["cache-control"] == "no-store"
    assert client.get("/no/such").headers["cache-control"] == "no-store"
    assert client.get("/static/site.css").headers["cache-control"].startswith("public")


def _asgi_call(
    app: FastAPI, headers: list[tuple[bytes, bytes]], path: str = "/admin/clients"
) -> tuple[list[Any], int]:
    """Run one request straight through the ASGI app with an endless body of 10-byte chunks;
    count how many chunks the app pulled."""
    reads = 0
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        if reads > 10_000:
            raise AssertionError("the body was never cut off")
        return {"type": "http.request", "body": b"x" * 10, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    run_async(app(scope, receive, send))  # a fresh thread: the browser tests' loop may run
    return sent, reads


def test_declared_length_over_the_limit_is_refused_before_reading(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(max_request_bytes=1000)
    sent, reads = _asgi_call(
        app, [(b"content-length", b"1001"), (b"content-type", b"application/json")]
    )
    assert reads == 0
    assert sent[0]["status"] == 413
    body = json.loads(sent[1]["body"])
    assert body["code"] == "payload_too_large"
    assert body["max_bytes"] == 1000


def test_malformed_content_length_is_a_400(make_app: Callable[..., FastAPI]) -> None:
    sent, reads = _asgi_call(make_app(), [(b"content-length", b"12abc")])
    assert reads == 0
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"])["code"] == "request.bad_content_length"


def test_streamed_body_is_cut_off_as_soon_as_it_passes_the_limit(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(max_request_bytes=1000)
    headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    sent, reads = _asgi_call(app, headers, path="/admin/organisations")
    assert reads == 101  # 1,010 bytes: the first chunk past the limit, and not one more
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["code"] == "payload_too_large"


def test_chunked_upload_over_the_limit_is_a_413_problem(
    make_app: Callable[..., FastAPI], root: Staff
) -> None:
    def body() -> Iterator[bytes]:
        for _ in range(1000):
            yield b" " * 100

    app = make_app(max_request_bytes=1000)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.post(
            "/admin/organisations",
            content=body(),  # no Content-Length: chunked
            headers={**root.headers, "Content-Type": "application/json"},
        )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload_too_large")


def test_a_body_within_the_limit_passes(make_app: Callable[..., FastAPI], root: Staff) -> None:
    app = make_app(max_request_bytes=1000)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.post(
            "/admin/organisations",
            content=iter([b'{"name": "x"', b"}"]),
            headers={**root.headers, "Content-Type": "application/json"},
        )
    assert_problem(response, 422, "request.invalid")  # read in full, then validated
