"""A tiny relying-party back-channel logout endpoint on loopback (a real HTTP server in a
thread). It checks every logout token independently: signature with joserfc against the OP's
JWKS (ES256 only, ``typ`` ``logout+jwt``), then OpenID Connect Back-Channel Logout §2.6 claims.
It can be told to fail the first N deliveries (HTTP 503). ``GET`` answers a plain page, so the
same server can stand in for a portal's redirect and post-logout pages in browser tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from joserfc import jwt
from joserfc.jwk import KeySet

from identity.logout import BACKCHANNEL_EVENT


@dataclass
class Received:
    header: dict[str, Any]
    claims: dict[str, Any]
    content_type: str


@dataclass
class Receiver:
    url: str
    jwks: Callable[[], dict[str, Any]]
    fail_first: int = 0
    received: list[Received] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, body: bytes, content_type: str) -> int:
        with self.lock:
            self.attempts += 1
            if self.attempts <= self.fail_first:
                return 503
        form = parse_qs(body.decode("ascii"))
        tokens = form.get("logout_token", [])
        if len(tokens) != 1:
            self.rejected.append("no logout_token")
            return 400
        try:
            keyset = KeySet.import_key_set(self.jwks())  # type: ignore[arg-type]
            token = jwt.decode(tokens[0], keyset, algorithms=["ES256"])
        except Exception as exc:
            self.rejected.append(f"signature: {exc!r}")
            return 400
        claims = dict(token.claims)
        if "nonce" in claims or BACKCHANNEL_EVENT not in claims.get("events", {}):
            self.rejected.append("claims")
            return 400
        with self.lock:
            self.received.append(Received(dict(token.header), claims, content_type))
        return 200


@contextmanager
def run_receiver(jwks: Callable[[], dict[str, Any]], *, fail_first: int = 0) -> Iterator[Receiver]:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            status = holder["r"].handle(body, self.headers.get("Content-Type", ""))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()

        def do_GET(self) -> None:
            # The portal's own pages (redirect targets in browser tests): a plain page.
            body = "<!DOCTYPE html><title>门户</title><h1 id=portal>门户页面</h1>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    holder["r"] = Receiver(
        url=f"http://127.0.0.1:{port}/backchannel", jwks=jwks, fail_first=fail_first
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder["r"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
