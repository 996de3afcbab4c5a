"""A minimal hand-written relying party for protocol checks (the library RPs are in
``test_oidc_rp_*``): builds authorisation URLs with PKCE, exchanges codes, verifies ID tokens
with joserfc against the published JWKS."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from identity.oidc_service_clients import RegisteredClient


@dataclass
class Started:
    url: str
    verifier: str
    state: str
    nonce: str | None


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def start(base: str, rp: RegisteredClient, *, nonce: bool = True, **extra: Any) -> Started:
    verifier, challenge = pkce()
    state = secrets.token_urlsafe(8)
    n = secrets.token_urlsafe(8) if nonce else None
    params: dict[str, Any] = {
        "response_type": "code",
        "client_id": rp.client.client_id,
        "redirect_uri": rp.client.redirect_uris[0],
        "scope": "openid",
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if n:
        params["nonce"] = n
    params.update({k: v for k, v in extra.items() if v is not None})
    for k in [k for k, v in extra.items() if v is None]:
        params.pop(k, None)
    return Started(f"{base}/oidc/authorize?{urlencode(params)}", verifier, state, n)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def exchange(
    base: str, rp: RegisteredClient, code: str, verifier: str, *, post: bool = False
) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": rp.client.redirect_uris[0],
        "code_verifier": verifier,
    }
    if post:
        data |= {"client_id": rp.client.client_id, "client_secret": rp.client_secret or ""}
        return requests.post(f"{base}/oidc/token", data=data)
    return requests.post(
        f"{base}/oidc/token", data=data, auth=(rp.client.client_id, rp.client_secret or "")
    )


def id_token_claims(base: str, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    jwks = requests.get(f"{base}/oidc/jwks").json()
    decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256"])
    return dict(decoded.claims), dict(decoded.header)


def userinfo(base: str, access_token: str) -> requests.Response:
    return requests.get(
        f"{base}/oidc/userinfo", headers={"Authorization": f"Bearer {access_token}"}
    )
