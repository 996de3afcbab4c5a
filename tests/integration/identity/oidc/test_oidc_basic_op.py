"""The OpenID Foundation Basic OP plan (``OIDCCBasicTestPlan``) and Config plan, ported to
pytest (``specs/identity.md`` §5.1, §5.2). Each test names the legacy test id(s) it ports.
Response type ``code``, ``client_secret_basic`` unless stated; real HTTP on loopback."""

from __future__ import annotations

import base64
import html
import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

from identity.oidc_service_clients import RegisteredClient
from identity.records import PersonRecord
from identity.sim_data import SimRegistryData
from tests.integration.identity._factories import PASSWORD, make_person
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


def _unsigned(claims: dict[str, Any]) -> str:
    """A JWT with ``alg: none`` (empty signature)."""

    def part(value: dict[str, Any]) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_unsigned_id_token_refused(live: Live, rp: RegisteredClient, person: PersonRecord) -> None:
    """OP-IDToken-none: refused. Only ES256 is advertised and produced, and an unsigned ID
    token - the real claims of a real ID token, re-encoded with ``alg: none`` - is refused
    as an ``id_token_hint`` at the authorisation endpoint (``invalid_request`` to the RP) and
    at the end-session endpoint, as is an unsigned request object."""
    doc = requests.get(f"{live.url}/.well-known/openid-configuration").json()
    assert doc["id_token_signing_alg_values_supported"] == ["ES256"]
    q, s, agent = _login(live, rp)
    claims, _h = _rp.id_token_claims(live.url, _tokens(live, rp, q, s)["id_token"])
    unsigned = _unsigned(claims)
    hinted = _rp.start(live.url, rp, id_token_hint=unsigned, prompt="none")
    response = agent.http.get(hinted.url, allow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith(rp.client.redirect_uris[0])
    refused = _rp.query(response.headers["location"])
    assert (refused["error"], refused["state"]) == ("invalid_request", hinted.state)
    assert "code" not in refused
    logout = agent.http.get(f"{live.url}/oidc/logout", params={"id_token_hint": unsigned})
    assert logout.status_code == 400
    request_object = _rp.start(live.url, rp, request=_unsigned({"client_id": "x"}))
    location = requests.get(request_object.url, allow_redirects=False).headers["location"]
    assert _rp.query(location)["error"] == "request_not_supported"


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
    ],
)
def test_accepted_parameters(
    live: Live, rp: RegisteredClient, person: PersonRecord, extra: dict[str, str]
) -> None:
    """OP-display-page, -popup, OP-Req-NotUnderstood, -login_hint, -ui_locales,
    -claims_locales, -acr_values (-id_token_hint: ``test_id_token_hint``)."""
    q, s, _ = _login(live, rp, **extra)
    claims, _h = _rp.id_token_claims(live.url, _tokens(live, rp, q, s)["id_token"])
    assert claims["acr"] == "urn:ywtb:loa:1"


def test_id_token_hint(
    live: Live, rp: RegisteredClient, person: PersonRecord, sim: SimRegistryData
) -> None:
    """OP-Req-id_token_hint with real ID tokens: the hint of this client and the hint of
    another client (another pairwise sector, so another ``sub``) both name the logged-in
    person - a code without any page. A hint naming someone else: ``prompt=none`` gives
    ``login_required``; otherwise that person must log in, and a login as anyone else ends
    with ``login_required``. A hint with a modified signature is ``invalid_request``."""
    other_rp = live.client("other-sector", redirect_uris=["http://localhost:9/other/cb"])
    q, s, agent = _login(live, rp)
    own_hint = _tokens(live, rp, q, s)["id_token"]
    started = _rp.start(live.url, other_rp)
    final, _ = agent.run(started.url, stop_at=other_rp.client.redirect_uris[0])
    foreign_hint = _tokens(live, other_rp, _rp.query(final), started)["id_token"]
    own_sub = _rp.id_token_claims(live.url, own_hint)[0]["sub"]
    assert _rp.id_token_claims(live.url, foreign_hint)[0]["sub"] != own_sub

    for hint in (own_hint, foreign_hint):
        hinted = _rp.start(live.url, rp, id_token_hint=hint, prompt="none")
        final, pages = agent.run(hinted.url, stop_at=rp.client.redirect_uris[0])
        assert pages.stages == []
        claims, _h = _rp.id_token_claims(
            live.url, _tokens(live, rp, _rp.query(final), hinted)["id_token"]
        )
        assert claims["sub"] == own_sub

    with live.db() as db, db.begin():
        make_person(db, live.clock, live.keys, sim.citizens[1], username="lisi")
    lisi_start = _rp.start(live.url, rp)
    lisi_final, _ = live.agent().run(
        lisi_start.url, stop_at=rp.client.redirect_uris[0], login="lisi", password=PASSWORD
    )
    lisi_hint = _tokens(live, rp, _rp.query(lisi_final), lisi_start)["id_token"]
    lisi_sub = _rp.id_token_claims(live.url, lisi_hint)[0]["sub"]

    # zhangsan's browser, lisi's hint.
    silent = _rp.start(live.url, rp, id_token_hint=lisi_hint, prompt="none")
    final, pages = agent.run(silent.url, stop_at=rp.client.redirect_uris[0])
    assert _rp.query(final)["error"] == "login_required"
    wrong = _rp.start(live.url, rp, id_token_hint=lisi_hint)
    final, pages = agent.run(
        wrong.url, stop_at=rp.client.redirect_uris[0], login="zhangsan", password=PASSWORD
    )
    assert pages.stages == ["login"]  # zhangsan's session did not count ...
    assert _rp.query(final)["error"] == "login_required"  # ... nor his fresh login
    right = _rp.start(live.url, rp, id_token_hint=lisi_hint)
    final, pages = agent.run(
        right.url, stop_at=rp.client.redirect_uris[0], login="lisi", password=PASSWORD
    )
    assert pages.stages[0] == "login"
    claims, _h = _rp.id_token_claims(
        live.url, _tokens(live, rp, _rp.query(final), right)["id_token"]
    )
    assert claims["sub"] == lisi_sub

    header, payload, signature = own_hint.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    bad = _rp.start(live.url, rp, id_token_hint=forged)
    response = agent.http.get(bad.url, allow_redirects=False)
    assert _rp.query(response.headers["location"])["error"] == "invalid_request"


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


def test_max_age_zero_is_met_by_the_login_it_asks_for(
    live: Live, rp: RegisteredClient, person: PersonRecord
) -> None:
    """``max_age=0`` ("equivalent to prompt=login", OIDC Core §3.1.2.1): the login in the
    interaction satisfies it even though time passes before the interaction continues (it
    always does on a real clock) - no second login page."""
    agent = live.agent()
    s = _rp.start(live.url, rp, max_age="0")
    first = agent.http.get(s.url, allow_redirects=False)
    page_url = urljoin(live.url, first.headers["location"])
    page = agent.http.get(page_url)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert action is not None
    assert csrf is not None
    posted = agent.http.post(
        urljoin(live.url, html.unescape(action.group(1))),
        data={"csrf": html.unescape(csrf.group(1)), "login": "zhangsan", "password": PASSWORD},
        allow_redirects=False,
    )
    assert posted.status_code == 303
    live.clock.advance(timedelta(seconds=1))
    final, pages = agent.run(
        urljoin(live.url, posted.headers["location"]), stop_at=rp.client.redirect_uris[0]
    )
    assert pages.stages == []
    claims, _h = _rp.id_token_claims(live.url, _tokens(live, rp, _rp.query(final), s)["id_token"])
    assert claims["auth_time"] == int(live.clock.now().timestamp()) - 1


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
