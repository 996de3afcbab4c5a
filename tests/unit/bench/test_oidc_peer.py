"""The node ``oidc-provider`` peer of ``bench/oidc_bench.py`` does what ours is compared on:
ES256 JWT access tokens (RFC 9068 ``at+jwt``) for client credentials, and a one-time, PKCE-bound
code exchange answering an ES256 ID token. Tokens are checked with joserfc against the peer's
published JWKS. Skips when node or the peer's npm packages are missing (``npm ci`` installs them;
the bench does that on first use)."""

from __future__ import annotations

import base64
import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from bench.oidc_bench import NODE_DIR, REDIRECT_URI, VERIFIER, Target, serve_node_peer
from tests.conftest import skip_or_fail


@pytest.fixture(scope="module")
def peer() -> Iterator[Target]:
    if shutil.which("node") is None:
        skip_or_fail("node is not installed")
    if not (NODE_DIR / "node_modules" / "oidc-provider").is_dir():
        skip_or_fail(f"peer not installed: run npm ci in {NODE_DIR}")
    with serve_node_peer() as target:
        yield target


def _token(peer: Target, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    basic = base64.b64encode(f"{peer.client_id}:{peer.client_secret}".encode()).decode()
    request = urllib.request.Request(
        peer.base_url + peer.token_path,
        data="&".join(f"{k}={v}" for k, v in form.items()).encode(),
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def _keys(peer: Target) -> KeySet:
    with urllib.request.urlopen(peer.base_url + "/.well-known/openid-configuration") as r:
        jwks_uri = json.load(r)["jwks_uri"]
    with urllib.request.urlopen(jwks_uri) as r:
        return KeySet.import_key_set(json.load(r))


def test_client_credentials_gives_an_es256_jwt_access_token(peer: Target) -> None:
    status, body = _token(peer, {"grant_type": "client_credentials", "scope": peer.cc_scope})
    assert status == 200, body
    token = jwt.decode(body["access_token"], _keys(peer), algorithms=["ES256"])
    assert token.header["alg"] == "ES256"
    assert token.header["typ"] == "at+jwt"
    assert token.claims["client_id"] == peer.client_id
    assert token.claims["aud"] == "urn:bench:api"


def test_code_exchange_is_pkce_bound_and_one_time(peer: Target) -> None:
    first, second = peer.make_codes(2)
    form = {
        "grant_type": "authorization_code",
        "code": first,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": VERIFIER,
    }
    status, body = _token(peer, form)
    assert status == 200, body
    keys = _keys(peer)
    id_token = jwt.decode(body["id_token"], keys, algorithms=["ES256"])
    assert id_token.claims["aud"] == peer.client_id
    access = jwt.decode(body["access_token"], keys, algorithms=["ES256"])
    assert access.header["typ"] == "at+jwt"
    assert "refresh_token" not in body  # as ours: the bench client may not refresh
    assert _token(peer, form)[1]["error"] == "invalid_grant"  # a code works once
    wrong = {**form, "code": second, "code_verifier": "x" * 60}
    assert _token(peer, wrong)[1]["error"] == "invalid_grant"  # PKCE is checked
