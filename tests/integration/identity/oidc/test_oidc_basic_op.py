"""The OpenID Foundation Basic OP plan (``OIDCCBasicTestPlan``) and Config plan, ported to
pytest (``specs/identity.md`` §5.1, §5.2). Each test names the legacy test id(s) it ports.
Response type ``code``, ``client_secret_basic`` unless stated; real HTTP on loopback."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import requests

from identity.oidc_service_clients import RegisteredClient
from identity.records import PersonRecord
from tests.integration.identity._factories import PASSWORD
from tests.integration.identity.oidc import _rp
from tests.integration.identity.oidc._agent import UserAgent
from tests.integration.identity.oidc.conftest import Live

ALL_SCOPES = ["openid", "profile", "email", "address", "phone"]


@pytest.fixture
def rp(live: Live) -> RegisteredClient:
    return live.client("basic-op", scopes=[*ALL_SCOPES, "offline_access"])


def _login(
    live: Live, rp: RegisteredClient, agent: UserAgent | None = None, **extra: Any
) -> tuple[dict[str, str], _rp.Started, UserAgent]:
    agent = agent or live.agent()
    started = _rp.start(live.url, rp, **extra)
    final, _ = agent.run(
        started.url, stop_at=rp.client.redirect_uris[0], login="zhangsan", password=PASSWORD
    )
    return _rp.query(final), started, agent


def _tokens(live: Live, rp: RegisteredClient, q: dict[str, str], s: _rp.Started) -> dict[str, Any]:
    response = _rp.exchange(live.url, rp, q["code"], s.verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def test_response_code_happy_path(live: Live, rp: RegisteredClient, person: PersonRecord) -> None:
    """OP-Response-code, OP-IDToken-Signature, OP-IDToken-kid."""
    q, s, _ = _login(live, rp)
    assert q["state"] == s.state
    assert q["iss"] == live.url
    tokens = _tokens(live, rp, q, s)
    claims, header = _rp.id_token_claims(live.url, tokens["id_token"])
    jwks = requests.get(f"{live.url}/oidc/jwks").json()
    assert header["alg"] == "ES256"
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}
    assert claims["iss"] == live.url
    assert claims["aud"] == rp.client.client_id
    assert claims["nonce"] == s.nonce
    assert claims["exp"] > claims["iat"]
    assert abs(claims["iat"] - int(live.clock.now().timestamp())) <= 1
    assert claims["sid"].startswith("sid_")
    assert "at_hash" in claims
    info = _rp.userinfo(live.url, tokens["access_token"])
    assert info.json()["sub"] == claims["sub"]


def test_response_type_missing(live: Live, rp: RegisteredClient, person: PersonRecord) -> None:
    """OP-Response-Missing: error to the redirect URI, state kept."""
    s = _rp.start(live.url, rp, response_type=None)
    response = requests.get(s.url, allow_redirects=False)
    assert response.status_code == 303
    q = _rp.query(response.headers["location"])
    assert response.headers["location"].startswith(rp.client.redirect_uris[0])
    assert q["error"] == "invalid_request"
    assert q["state"] == s.state


def test_unsigned_id_token_not_offered(live: Live) -> None:
    """OP-IDToken-none: refused - only ES256 is advertised and produced."""
    doc = requests.get(f"{live.url}/.well-known/openid-configuration").json()
    assert doc["id_token_signing_alg_values_supported"] == ["ES256"]


def test_userinfo_get_post_header_post_body(
    live: Live, rp: RegisteredClient, person: PersonRecord
) -> None:
    """OP-UserInfo-Endpoint, OP-UserInfo-Header, OP-UserInfo-Body."""
    q, s, _ = _login(live, rp, scope="openid profile")
    access = _tokens(live, rp, q, s)["access_token"]
    url = f"{live.url}/oidc/userinfo"
    auth = {"Authorization": f"Bearer {access}"}
    get = requests.get(url, headers=auth)
    post = requests.post(url, headers=auth)
    body = requests.post(url, data={"access_token": access})
    assert get.status_code == post.status_code == body.status_code == 200
    assert get.json() == post.json() == body.json()
    assert get.json()["name"] == person.name
    bad = requests.get(url, headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]


def test_nonce_not_required_for_code(
    live: Live, rp: RegisteredClient, person: PersonRecord
) -> None:
    """OP-nonce-NoReq-code."""
    q, s, _ = _login(live, rp, nonce=False)
    claims, _h = _rp.id_token_claims(live.url, _tokens(live, rp, q, s)["id_token"])
    assert "nonce" not in claims


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("openid profile", {"name"}),
        ("openid email", set()),
        ("openid address", set()),
        ("openid phone", {"phone_number", "phone_number_verified"}),
        ("openid profile email address phone", {"name", "phone_number"}),
    ],
)
def test_scopes(
    live: Live, rp: RegisteredClient, person: PersonRecord, scope: str, expected: set[str]
) -> None:
    """OP-scope-profile, -email, -address, -phone, -All (we hold no e-mail or address: those
    scopes are accepted and release nothing)."""
    q, s, _ = _login(live, rp, scope=scope)
    tokens = _tokens(live, rp, q, s)
    assert tokens["scope"] == scope
    info = _rp.userinfo(live.url, tokens["access_token"]).json()
    assert expected <= set(info)
    assert "cn_citizen_id" not in info


@pytest.mark.parametrize(
    "extra",
    [
        {"display": "page"},
        {"display": "popup"},
        {"unknown_parameter": "ignored"},
        {"login_hint": "zhangsan"},
        {"ui_locales": "zh-CN"},
        {"claims_locales": "zh-CN"},
        {"acr_values": "urn:ywtb:loa:1"},
        {"id_token_hint": "eyJhbGciOiJFUzI1NiJ9.e30.sig"},
    ],
)
def test_accepted_parameters(
    live: Live, rp: RegisteredClient, person: PersonRecord, extra: dict[str, str]
) -> None:
    """OP-display-page, -popup, OP-Req-NotUnderstood, -login_hint, -ui_locales,
    -claims_locales, -acr_values, -id_token_hint."""
    q, s, _ = _login(live, rp, **extra)
    claims, _h = _rp.id_token_claims(live.url, _tokens(live, rp, q, s)["id_token"])
    assert claims["acr"] == "urn:ywtb:loa:1"


def test_prompt_login_and_alternate_flow(
    live: Live, rp: RegisteredClient, person: PersonRecord
) -> None:
    """OP-prompt-login (and the "alternate happy flow"): a second login is forced and
    auth_time advances."""
    q, s, agent = _login(live, rp)
    first, _h = _rp.id_token_claims(live.url, _tokens(live, rp, q, s)["id_token"])
    live.clock.advance(timedelta(seconds=5))
    started = _rp.start(live.url, rp, prompt="login", scope="openid profile")
    final, pages = agent.run(
        started.url, stop_at=rp.client.redirect_uris[0], login="zhangsan", password=PASSWORD
    )
    assert pages.stages[0] == "login"
    second, _h = _rp.id_token_claims(
        live.url, _tokens(live, rp, _rp.query(final), started)["id_token"]
    )
    assert second["auth_time"] >= first["auth_time"] + 5
    assert second["sid"] == first["sid"]  # same browser session, re-authenticated


def test_prompt_none_not_logged_in(live: Live, rp: RegisteredClient) -> None:
    """OP-prompt-none-NotLoggedIn."""
    s = _rp.start(live.url, rp, prompt="none")
    response = requests.get(s.url, allow_redirects=False)
    q = _rp.query(response.headers["location"])
    assert q["error"] == "login_required"
    assert q["state"] == s.state


def test_prompt_none_logged_in(live: Live, rp: RegisteredClient, person: PersonRecord) -> None:
    """OP-prompt-none-LoggedIn: code without any page."""
    _q, _s, agent = _login(live, rp)
    s = _rp.start(live.url, rp, prompt="none")
    final, pages = agent.run(s.url, stop_at=rp.client.redirect_uris[0])
    assert pages.stages == []
    assert "code" in _rp.query(final)


def test_max_age(live: Live, rp: RegisteredClient, person: PersonRecord) -> None:
    """OP-Req-max_age=1 and OP-Req-max_age=10000."""
    q, s, agent = _login(live, rp)
    first, _h = _rp.id_token_claims(live.url, _tokens(live, rp, q, s)["id_token"])
    live.clock.advance(timedelta(seconds=2))
    keep = _rp.start(live.url, rp, max_age="10000")
    final, pages = agent.run(keep.url, stop_at=rp.client.redirect_uris[0])
    assert pages.stages == []
    kept, _h = _rp.id_token_claims(live.url, _tokens(live, rp, _rp.query(final), keep)["id_token"])
    assert kept["auth_time"] == first["auth_time"]
    fresh = _rp.start(live.url, rp, max_age="1")
    final, pages = agent.run(
        fresh.url, stop_at=rp.client.redirect_uris[0], login="zhangsan", password=PASSWORD
    )
    assert pages.stages == ["login"]
    again, _h = _rp.id_token_claims(
        live.url, _tokens(live, rp, _rp.query(final), fresh)["id_token"]
    )
    assert again["auth_time"] >= first["auth_time"] + 2


def test_code_reuse_refused_and_revokes(
    live: Live, rp: RegisteredClient, person: PersonRecord
) -> None:
    """OP-OAuth-2nd, OP-OAuth-2nd-30s, OP-OAuth-2nd-Revokes."""
    q, s, _ = _login(live, rp)
    tokens = _tokens(live, rp, q, s)
    assert _rp.userinfo(live.url, tokens["access_token"]).status_code == 200
    live.clock.advance(timedelta(seconds=30))
    second = _rp.exchange(live.url, rp, q["code"], s.verifier)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert _rp.userinfo(live.url, tokens["access_token"]).status_code == 401
    refresh = requests.post(
        f"{live.url}/oidc/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(rp.client.client_id, rp.client_secret or ""),
    )
    assert refresh.json()["error"] == "invalid_grant"


def test_unregistered_redirect_uri_not_followed(live: Live, rp: RegisteredClient) -> None:
    """OP-redirect_uri-NotReg: an error page, no redirect."""
    s = _rp.start(live.url, rp, redirect_uri="http://127.0.0.1:9/evil")
    response = requests.get(s.url, allow_redirects=False)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "redirect_uri" in response.text


def test_post_to_authorization_endpoint(
    live: Live, rp: RegisteredClient, person: PersonRecord
) -> None:
    """POST to the authorisation endpoint works."""
    s = _rp.start(live.url, rp)
    base, _, query = s.url.partition("?")
    agent = live.agent()
    response = agent.http.post(
        base,
        data=query,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    )
    assert response.status_code == 303
    final, _ = agent.run(
        response.headers["location"]
        if response.headers["location"].startswith("http")
        else live.url + response.headers["location"],
        stop_at=rp.client.redirect_uris[0],
        login="zhangsan",
        password=PASSWORD,
    )
    assert _tokens(live, rp, _rp.query(final), s)["token_type"] == "Bearer"


def test_client_secret_post(live: Live, rp: RegisteredClient, person: PersonRecord) -> None:
    """OP-ClientAuth-SecretPost-Static."""
    q, s, _ = _login(live, rp)
    response = _rp.exchange(live.url, rp, q["code"], s.verifier, post=True)
    assert response.status_code == 200, response.text
    wrong = requests.post(
        f"{live.url}/oidc/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "x",
            "client_id": rp.client.client_id,
            "client_secret": "wrong",
        },
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("param", "error"),
    [("request_uri", "request_uri_not_supported"), ("request", "request_not_supported")],
)
def test_request_objects_rejected(live: Live, rp: RegisteredClient, param: str, error: str) -> None:
    """OP-request_uri-Unsigned, OP-request-Unsigned (and the request-object redirect_uri
    check): rejected as unsupported, to the registered redirect URI."""
    s = _rp.start(live.url, rp, **{param: "eyJhbGciOiJub25lIn0.e30."})
    q = _rp.query(requests.get(s.url, allow_redirects=False).headers["location"])
    assert q["error"] == error


def test_claims_essential_acr(live: Live, rp: RegisteredClient, person: PersonRecord) -> None:
    """OP-claims-essential: an essential acr the account can reach is returned; one it cannot
    reach (proofing level 1, password only) ends with unmet_authentication_requirements."""
    ok = json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:ywtb:loa:1"]}}})
    q, s, agent = _login(live, rp, claims=ok)
    claims, _h = _rp.id_token_claims(live.url, _tokens(live, rp, q, s)["id_token"])
    assert claims["acr"] == "urn:ywtb:loa:1"
    hard = json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:ywtb:loa:3"]}}})
    s2 = _rp.start(live.url, rp, claims=hard)
    final, pages = agent.run(
        s2.url, stop_at=rp.client.redirect_uris[0], login="zhangsan", password=PASSWORD
    )
    assert pages.stages == ["login"]  # step-up attempt first
    assert _rp.query(final)["error"] == "unmet_authentication_requirements"


def test_refresh_and_pkce(live: Live, rp: RegisteredClient, person: PersonRecord) -> None:
    """Refresh-token grant works; valid PKCE succeeds, a wrong verifier fails."""
    q, s, _ = _login(live, rp)
    wrong = _rp.exchange(live.url, rp, q["code"], "x" * 43)
    assert wrong.json()["error"] == "invalid_grant"
    q, s, _ = _login(live, rp)
    tokens = _tokens(live, rp, q, s)
    refreshed = requests.post(
        f"{live.url}/oidc/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(rp.client.client_id, rp.client_secret or ""),
    )
    assert refreshed.status_code == 200, refreshed.text
    assert _rp.userinfo(live.url, refreshed.json()["access_token"]).status_code == 200


def test_plain_pkce_refused(live: Live, rp: RegisteredClient) -> None:
    s = _rp.start(live.url, rp, code_challenge_method="plain")
    q = _rp.query(requests.get(s.url, allow_redirects=False).headers["location"])
    assert q["error"] == "invalid_request"
    s = _rp.start(live.url, rp, code_challenge=None, code_challenge_method=None)
    q = _rp.query(requests.get(s.url, allow_redirects=False).headers["location"])
    assert q["error"] == "invalid_request"


def test_discovery_config(live: Live) -> None:
    """OP-Discovery-Config: issuer matches, required fields, JWKS consistent (ES256 only,
    the next key already published)."""
    doc = requests.get(f"{live.url}/.well-known/openid-configuration").json()
    assert doc["issuer"] == live.url
    for name in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ):
        assert name in doc
    assert doc["end_session_endpoint"] == f"{live.url}/oidc/logout"
    assert doc["backchannel_logout_supported"] is True
    assert doc["code_challenge_methods_supported"] == ["S256"]
    jwks = requests.get(doc["jwks_uri"]).json()
    assert len(jwks["keys"]) >= 2  # ACTIVE and the PENDING next key
    assert {k["alg"] for k in jwks["keys"]} == {"ES256"}
    assert {k["crv"] for k in jwks["keys"]} == {"P-256"}
    assert all("d" not in k for k in jwks["keys"])
