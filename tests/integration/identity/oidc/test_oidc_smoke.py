"""Smoke: a full code + PKCE flow by hand against the live app."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from identity.records import PersonRecord
from tests.integration.identity._factories import PASSWORD
from tests.integration.identity.oidc.conftest import Live


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    return verifier, challenge.decode()


def test_code_flow_by_hand(live: Live, person: PersonRecord) -> None:
    rp = live.client("portal-a", scopes=["openid", "profile", "phone"])
    redirect = rp.client.redirect_uris[0]
    verifier, challenge = _pkce()
    params = {
        "response_type": "code",
        "client_id": rp.client.client_id,
        "redirect_uri": redirect,
        "scope": "openid profile",
        "state": "s1",
        "nonce": "n1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    agent = live.agent()
    final, pages = agent.run(
        f"{live.url}/oidc/authorize?{urlencode(params)}",
        stop_at=redirect,
        login="zhangsan",
        password=PASSWORD,
    )
    assert pages.stages == ["login", "consent"], pages
    query = parse_qs(urlsplit(final).query)
    assert query["state"] == ["s1"]
    token = requests.post(
        f"{live.url}/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": redirect,
            "code_verifier": verifier,
        },
        auth=(rp.client.client_id, rp.client_secret or ""),
    )
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["token_type"] == "Bearer"
    info = requests.get(
        f"{live.url}/oidc/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert info.status_code == 200, info.text
    assert info.json()["name"] == person.name
