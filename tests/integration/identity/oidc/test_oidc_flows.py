"""SSO across portals, step-up with TOTP, legal-person context, consent, refresh rotation and
reuse detection, introspection, revocation, client credentials, the citizen ID scope, CSRF and
flow binding, guessing backoff, client registration and cleanup - over real HTTP."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from typing import Any

import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select

from identity import service as identity_service
from identity.model import Person, SecurityEvent
from identity.oidc_model import OidcGrant, OidcSsoSession
from identity.oidc_service_clients import RegisteredClient
from identity.oidc_service_context import OidcContext
from identity.oidc_service_resources import cleanup
from identity.oidc_service_sessions import end_sessions
from identity.oidc_settings import load_oidc_settings
from identity.records import PersonRecord
from identity.sim_data import SimRegistryData
from identity.totp import totp
from tests.factories.principals import make_staff
from tests.integration.identity._factories import PASSWORD, make_organisation, make_person
from tests.integration.identity.oidc import _rp
from tests.integration.identity.oidc.conftest import Live
from trust.principals.roles import Role
from trust.tlog.model import TlogEntry


def _auth(rp: RegisteredClient) -> tuple[str, str]:
    return rp.client.client_id, rp.client_secret or ""


def _code_tokens(live: Live, rp: RegisteredClient, final: str, s: _rp.Started) -> dict[str, Any]:
    response = _rp.exchange(live.url, rp, _rp.query(final)["code"], s.verifier)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _login(
    live: Live, rp: RegisteredClient, agent: Any = None, **extra: Any
) -> tuple[dict[str, Any], Any]:
    agent = agent or live.agent()
    s = _rp.start(live.url, rp, **extra)
    final, _ = agent.run(
        s.url, stop_at=rp.client.redirect_uris[0], login="zhangsan", password=PASSWORD
    )
    return _code_tokens(live, rp, final, s), agent


def test_sso_second_portal_without_prompt(live: Live, person: PersonRecord) -> None:
    a = live.client("portal-a", redirect_uris=["http://127.0.0.1:9/a/cb"])
    b = live.client("portal-b", redirect_uris=["http://127.0.0.1:9/b/cb"])
    agent = live.agent()
    sa = _rp.start(live.url, a, scope="openid profile")
    final, pages = agent.run(
        sa.url, stop_at="http://127.0.0.1:9/a/cb", login="zhangsan", password=PASSWORD
    )
    assert pages.stages == ["login", "consent"]
    id_a, _ = _rp.id_token_claims(live.url, _code_tokens(live, a, final, sa)["id_token"])
    sb = _rp.start(live.url, b)
    final_b, pages_b = agent.run(sb.url, stop_at="http://127.0.0.1:9/b/cb")
    assert pages_b.stages == []  # no login, no consent: openid alone needs none
    id_b, _ = _rp.id_token_claims(live.url, _code_tokens(live, b, final_b, sb)["id_token"])
    assert id_b["sid"] == id_a["sid"]
    assert id_b["auth_time"] == id_a["auth_time"]
    assert id_b["sub"] == id_a["sub"]  # pairwise per sector: both portals are on 127.0.0.1
    # Consent is remembered per client: portal A again shows nothing.
    sa2 = _rp.start(live.url, a, scope="openid profile")
    _final, pages_a2 = agent.run(sa2.url, stop_at="http://127.0.0.1:9/a/cb")
    assert pages_a2.stages == []
    # A different browser has no session.
    s_other = _rp.start(live.url, b, prompt="none")
    q = _rp.query(requests.get(s_other.url, allow_redirects=False).headers["location"])
    assert q["error"] == "login_required"


def test_pairwise_same_sector_same_sub(live: Live, person: PersonRecord) -> None:
    a = live.client("a", redirect_uris=["http://127.0.0.1:9/a"], sector_identifier="gov.example")
    b = live.client("b", redirect_uris=["http://127.0.0.1:9/b"], sector_identifier="gov.example")
    c = live.client("c", redirect_uris=["http://127.0.0.1:9/c"], sector_identifier="bank.example")
    subs = []
    agent = None
    for rp in (a, b, c):
        tokens, agent = _login(live, rp, agent)
        subs.append(_rp.id_token_claims(live.url, tokens["id_token"])[0]["sub"])
    assert subs[0] == subs[1] != subs[2]


def test_step_up_with_totp(live: Live, person: PersonRecord) -> None:
    rp = live.client("high", redirect_uris=["http://127.0.0.1:9/high"])
    tokens, agent = _login(live, rp)
    first, _ = _rp.id_token_claims(live.url, tokens["id_token"])
    assert first["acr"] == "urn:ywtb:loa:1"
    with live.db() as s, s.begin():
        enrolment = identity_service.enrol_totp(
            session=s, clock=live.clock, keys=live.keys, person_id=person.id
        )
        secret = base64.b32decode(
            enrolment.secret_base32 + "=" * (-len(enrolment.secret_base32) % 8)
        )
        assert identity_service.confirm_totp(
            session=s,
            clock=live.clock,
            keys=live.keys,
            person_id=person.id,
            code=totp(secret, live.clock.now()),
        )
        s.get(Person, person.id).proofing_level = 3  # type: ignore[union-attr]
    live.clock.advance(timedelta(seconds=31))
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:ywtb:loa:3"]}}})
    s2 = _rp.start(live.url, rp, claims=claims)
    final, pages = agent.run(
        s2.url,
        stop_at="http://127.0.0.1:9/high",
        login="zhangsan",
        password=PASSWORD,
        code=lambda: totp(secret, live.clock.now()),
    )
    assert pages.stages == ["login", "second-factor"]
    stepped, _ = _rp.id_token_claims(live.url, _code_tokens(live, rp, final, s2)["id_token"])
    assert stepped["acr"] == "urn:ywtb:loa:3"
    assert set(stepped["amr"]) >= {"pwd", "otp"}
    assert stepped["sid"] == first["sid"]
    with live.db() as s:
        kinds = set(s.scalars(select(SecurityEvent.kind)))
    assert {"login.step_up", "second_factor.succeeded", "login.succeeded"} <= kinds
    # Within the elevated window the same requirement is met by SSO, without a page ...
    live.clock.advance(timedelta(minutes=10))
    s3 = _rp.start(live.url, rp, claims=claims)
    final, pages = agent.run(s3.url, stop_at="http://127.0.0.1:9/high")
    assert pages.stages == []
    # ... after it (30 min) the elevated level no longer counts: step up again.
    live.clock.advance(timedelta(minutes=21))
    s4 = _rp.start(live.url, rp, claims=claims)
    final, pages = agent.run(
        s4.url,
        stop_at="http://127.0.0.1:9/high",
        login="zhangsan",
        password=PASSWORD,
        code=lambda: totp(secret, live.clock.now()),
    )
    assert pages.stages == ["login", "second-factor"]
    again, _ = _rp.id_token_claims(live.url, _code_tokens(live, rp, final, s4)["id_token"])
    assert again["acr"] == "urn:ywtb:loa:3"
    assert again["auth_time"] > stepped["auth_time"]
    # A request without a hard minimum is unaffected by the decay.
    plain = _rp.start(live.url, rp, max_age="100000")
    _final, pages = agent.run(plain.url, stop_at="http://127.0.0.1:9/high")
    assert pages.stages == []


def test_legal_person_context(live: Live, person: PersonRecord, sim: SimRegistryData) -> None:
    rp = live.client("enterprise", redirect_uris=["http://127.0.0.1:9/ent"])
    with live.db() as s, s.begin():
        org = make_organisation(s, live.clock, sim.enterprises[0], person)
        agent_person = make_person(s, live.clock, live.keys, sim.citizens[1], username="lisi")
        auth = identity_service.grant_agent(
            session=s,
            clock=live.clock,
            legal_person_id=org.id,
            granted_by=person.id,
            agent_id=agent_person.id,
            scopes=["matter:apply"],
            not_after=live.clock.now() + timedelta(days=30),
        )
    s1 = _rp.start(live.url, rp, scope="openid legal_person")
    final, pages = live.agent().run(
        s1.url, stop_at="http://127.0.0.1:9/ent", login="zhangsan", password=PASSWORD, org=org.id
    )
    assert pages.stages == ["login", "organisation", "consent"]
    tokens = _code_tokens(live, rp, final, s1)
    claims, _ = _rp.id_token_claims(live.url, tokens["id_token"])
    assert claims["legal_person"]["uscc"] == org.uscc
    assert claims["legal_person"]["role"] == "legal_rep"
    info = _rp.userinfo(live.url, tokens["access_token"]).json()
    assert info["legal_person"]["name"] == org.name
    # The agent acts under the authorisation; the token names it.
    s2 = _rp.start(live.url, rp, scope="openid legal_person")
    final, pages = live.agent().run(
        s2.url, stop_at="http://127.0.0.1:9/ent", login="lisi", password=PASSWORD, org=org.id
    )
    agent_claims, _ = _rp.id_token_claims(live.url, _code_tokens(live, rp, final, s2)["id_token"])
    assert agent_claims["legal_person"]["role"] == "agent"
    assert agent_claims["legal_person"]["authorisation_id"] == auth.id
    # Acting as oneself leaves the claim out.
    s3 = _rp.start(live.url, rp, scope="openid legal_person")
    final, _ = live.agent().run(
        s3.url, stop_at="http://127.0.0.1:9/ent", login="zhangsan", password=PASSWORD, org=""
    )
    self_claims, _ = _rp.id_token_claims(live.url, _code_tokens(live, rp, final, s3)["id_token"])
    assert "legal_person" not in self_claims


def _refresh(live: Live, rp: RegisteredClient, token: str) -> requests.Response:
    return requests.post(
        f"{live.url}/oidc/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=_auth(rp),
    )


def test_refresh_rotation_grace_and_reuse(live: Live, person: PersonRecord) -> None:
    rp = live.client("refresh", redirect_uris=["http://127.0.0.1:9/r"])
    tokens, _ = _login(live, rp)
    r0 = tokens["refresh_token"]
    first = _refresh(live, rp, r0)
    assert first.status_code == 200
    r1 = first.json()["refresh_token"]
    assert r1 != r0
    # A racing refresh within the grace period gets the same successor.
    live.clock.advance(timedelta(seconds=5))
    racing = _refresh(live, rp, r0)
    assert racing.status_code == 200
    assert racing.json()["refresh_token"] == r1
    # Reuse after the grace period revokes the whole family.
    live.clock.advance(timedelta(seconds=10))
    reuse = _refresh(live, rp, r0)
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    assert _refresh(live, rp, r1).json()["error"] == "invalid_grant"
    assert _rp.userinfo(live.url, first.json()["access_token"]).status_code == 401


def test_introspection_and_revocation(live: Live, person: PersonRecord) -> None:
    rp = live.client("intro", redirect_uris=["http://127.0.0.1:9/in"])
    other = live.client("other", redirect_uris=["http://127.0.0.1:9/ot"])
    tokens, _ = _login(live, rp)
    url = f"{live.url}/oidc/introspect"
    own = requests.post(url, data={"token": tokens["access_token"]}, auth=_auth(rp)).json()
    assert own["active"] is True
    assert own["client_id"] == rp.client.client_id
    assert own["acr"] == "urn:ywtb:loa:1"
    foreign = requests.post(url, data={"token": tokens["access_token"]}, auth=_auth(other))
    assert foreign.json() == {"active": False}
    refresh = requests.post(url, data={"token": tokens["refresh_token"]}, auth=_auth(rp)).json()
    assert refresh["active"] is True
    assert refresh["token_type"] == "refresh_token"
    unauth = requests.post(url, data={"token": tokens["access_token"]})
    assert unauth.status_code == 401
    assert unauth.json()["error"] == "invalid_client"
    revoked = requests.post(
        f"{live.url}/oidc/revoke", data={"token": tokens["refresh_token"]}, auth=_auth(rp)
    )
    assert revoked.status_code == 200
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert requests.post(url, data={"token": token}, auth=_auth(rp)).json() == {"active": False}
    assert (
        requests.post(
            f"{live.url}/oidc/revoke", data={"token": "unknown"}, auth=_auth(rp)
        ).status_code
        == 200
    )


def test_client_credentials_rfc9068(live: Live) -> None:
    rp = live.client(
        "service",
        redirect_uris=[],
        grant_types=["client_credentials"],
        scopes=["profile"],
    )
    response = requests.post(
        f"{live.url}/oidc/token",
        data={"grant_type": "client_credentials", "scope": "profile"},
        auth=_auth(rp),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "refresh_token" not in body
    assert "id_token" not in body
    jwks = requests.get(f"{live.url}/oidc/jwks").json()
    token = jwt.decode(body["access_token"], KeySet.import_key_set(jwks), algorithms=["ES256"])
    assert token.header["typ"] == "at+jwt"
    for claim in ("iss", "exp", "aud", "sub", "client_id", "iat", "jti"):
        assert claim in token.claims
    assert token.claims["sub"] == rp.client.client_id
    url = f"{live.url}/oidc/introspect"
    assert requests.post(url, data={"token": body["access_token"]}, auth=_auth(rp)).json()["active"]
    requests.post(f"{live.url}/oidc/revoke", data={"token": body["access_token"]}, auth=_auth(rp))
    assert requests.post(url, data={"token": body["access_token"]}, auth=_auth(rp)).json() == {
        "active": False
    }
    # A client without the grant type is refused.
    portal = live.client("portal", redirect_uris=["http://127.0.0.1:9/p"])
    refused = requests.post(
        f"{live.url}/oidc/token", data={"grant_type": "client_credentials"}, auth=_auth(portal)
    )
    assert refused.json()["error"] == "unauthorized_client"


def test_citizen_id_only_with_scope_and_consent(
    live: Live, person: PersonRecord, sim: SimRegistryData
) -> None:
    plain = live.client("plain", redirect_uris=["http://127.0.0.1:9/pl"])
    s = _rp.start(live.url, plain, scope="openid realname_id profile")
    agent = live.agent()
    final, _ = agent.run(
        s.url, stop_at="http://127.0.0.1:9/pl", login="zhangsan", password=PASSWORD
    )
    tokens = _code_tokens(live, plain, final, s)
    assert tokens["scope"] == "openid profile"  # not allowed for this client: dropped
    info = _rp.userinfo(live.url, tokens["access_token"]).json()
    assert sim.citizens[0].id_number not in json.dumps(info)
    allowed = live.client(
        "tax", redirect_uris=["http://127.0.0.1:9/tax"], scopes=["openid", "realname_id"]
    )
    s2 = _rp.start(live.url, allowed, scope="openid realname_id")
    final, pages = agent.run(s2.url, stop_at="http://127.0.0.1:9/tax")
    assert pages.stages == ["consent"]
    tokens2 = _code_tokens(live, allowed, final, s2)
    info2 = _rp.userinfo(live.url, tokens2["access_token"]).json()
    assert info2["cn_citizen_id"] == sim.citizens[0].id_number
    assert info2["sub"] != sim.citizens[0].id_number
    with live.db() as db:
        entries = db.scalars(select(TlogEntry).where(TlogEntry.kind == "identity.consent_granted"))
        assert len(list(entries)) >= 2


def test_consent_refused(live: Live, person: PersonRecord) -> None:
    rp = live.client("deny", redirect_uris=["http://127.0.0.1:9/d"])
    s = _rp.start(live.url, rp, scope="openid phone")
    final, _ = live.agent().run(
        s.url, stop_at="http://127.0.0.1:9/d", login="zhangsan", password=PASSWORD, consent="deny"
    )
    assert _rp.query(final)["error"] == "access_denied"


def test_csrf_and_flow_binding(live: Live, person: PersonRecord) -> None:
    rp = live.client("csrf", redirect_uris=["http://127.0.0.1:9/c"])
    s = _rp.start(live.url, rp)
    victim = live.agent()
    first = victim.http.get(s.url, allow_redirects=False)
    page_url = live.url + first.headers["location"]
    page = victim.http.get(page_url)
    assert 'name="csrf"' in page.text
    ix = first.headers["location"].rsplit("/", 1)[1]
    forged = victim.http.post(
        f"{live.url}/oidc/interaction/{ix}/login",
        data={"csrf": "0" * 64, "login": "zhangsan", "password": PASSWORD},
        allow_redirects=False,
    )
    assert forged.status_code == 400
    attacker = requests.Session()  # another browser: no flow cookie
    stolen = attacker.get(page_url, allow_redirects=False)
    assert stolen.status_code == 400
    cookie = victim.http.cookies.get("ywtb_oidc_flow")
    assert cookie is not None
    set_cookie = first.headers["set-cookie"].lower()
    assert "httponly" in set_cookie
    assert "samesite=lax" in set_cookie


def test_password_backoff(live: Live, person: PersonRecord) -> None:
    """identity's per-account backoff applies to the login page: after five wrong passwords
    the account is locked, even for the right password."""
    rp = live.client("guess", redirect_uris=["http://127.0.0.1:9/g"])
    s = _rp.start(live.url, rp)
    agent = live.agent()
    location = agent.http.get(s.url, allow_redirects=False).headers["location"]
    page = agent.http.get(live.url + location).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    ix = location.rsplit("/", 1)[1]
    alerts = []
    for password in ["wrong"] * 5 + [PASSWORD]:
        response = agent.http.post(
            f"{live.url}/oidc/interaction/{ix}/login",
            data={"csrf": csrf.group(1), "login": "zhangsan", "password": password},
        )
        alert = re.search(r'role="alert">([^<]+)<', response.text)
        alerts.append(alert.group(1) if alert else "")
    assert alerts[0] == "账号或密码错误"
    assert "尝试次数过多" in alerts[-1]
    with live.db() as db:
        kinds = list(db.scalars(select(SecurityEvent.kind)))
    assert kinds.count("login.failed") == 5
    assert "login.locked_out" in kinds
    assert "login.refused_locked" in kinds


def test_client_registration_api(live: Live) -> None:
    with live.db() as s, s.begin():
        admin = make_staff(s, live.clock, login="root", role=Role.SYSTEM_ADMIN)
        clerk = make_staff(s, live.clock, login="clerk")
    body = {
        "name": "某市政务服务网",
        "redirect_uris": ["https://portal.example/cb"],
        "backchannel_logout_uri": "https://portal.example/bcl",
    }
    created = requests.post(f"{live.url}/oidc/clients", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    data = created.json()
    assert data["client_secret"]
    assert data["client_id"].startswith("rp_")
    assert data["sector_identifier"] == "portal.example"
    denied = requests.post(f"{live.url}/oidc/clients", json=body, headers=clerk.headers)
    assert denied.status_code == 403
    bad = requests.post(
        f"{live.url}/oidc/clients",
        json=body | {"redirect_uris": ["http://portal.example/cb"]},
        headers=admin.headers,
    )
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"
    listed = requests.get(f"{live.url}/oidc/clients", headers=admin.headers).json()
    assert [c["client_id"] for c in listed] == [data["client_id"]]
    assert "client_secret" not in listed[0]


def test_cleanup_deletes_expired(live: Live, person: PersonRecord) -> None:
    rp = live.client("clean", redirect_uris=["http://127.0.0.1:9/cl"])
    _login(live, rp)
    s = _rp.start(live.url, rp)
    requests.get(s.url, allow_redirects=False)  # an interaction never finished
    live.clock.advance(timedelta(days=8))
    ctx = OidcContext(load_oidc_settings(live.settings), live.keys)
    with live.db() as db, db.begin():
        report = cleanup(session=db, clock=live.clock, ctx=ctx)
    assert report.grants == 1
    # The expired session is ended first (back-channel logouts, grants revoked) ...
    assert (report.sessions_expired, report.sessions) == (1, 0)
    assert report.interactions >= 1
    # ... and deleted once its access tokens have expired everywhere.
    live.clock.advance(timedelta(minutes=11, seconds=1))
    with live.db() as db, db.begin():
        later = cleanup(session=db, clock=live.clock, ctx=ctx)
    assert (later.sessions_expired, later.sessions) == (0, 1)
    with live.db() as db:
        assert db.scalar(select(func.count()).select_from(OidcGrant)) == 0
        assert db.scalar(select(func.count()).select_from(OidcSsoSession)) == 0


def test_code_expires(live: Live, person: PersonRecord) -> None:
    rp = live.client("slow", redirect_uris=["http://127.0.0.1:9/s"])
    s = _rp.start(live.url, rp)
    final, _ = live.agent().run(
        s.url, stop_at="http://127.0.0.1:9/s", login="zhangsan", password=PASSWORD
    )
    live.clock.advance(timedelta(seconds=61))
    late = _rp.exchange(live.url, rp, _rp.query(final)["code"], s.verifier)
    assert late.json()["error"] == "invalid_grant"


def test_session_idle_and_absolute_lifetimes(live: Live, person: PersonRecord) -> None:
    rp = live.client("life", redirect_uris=["http://127.0.0.1:9/l"])
    _tokens, agent = _login(live, rp)
    # Used every 100 minutes the session stays (idle 2 h) ...
    for _ in range(3):
        live.clock.advance(timedelta(minutes=100))
        s = _rp.start(live.url, rp, prompt="none")
        final, _ = agent.run(s.url, stop_at="http://127.0.0.1:9/l")
        assert "code" in _rp.query(final)
    # ... until the absolute limit (12 h after login).
    live.clock.advance(timedelta(hours=7))
    s = _rp.start(live.url, rp, prompt="none")
    final, _ = agent.run(s.url, stop_at="http://127.0.0.1:9/l")
    assert _rp.query(final)["error"] == "login_required"
    # Idle: a fresh login, then 2 h 1 min without use.
    _login(live, rp, agent)
    live.clock.advance(timedelta(hours=2, minutes=1))
    s = _rp.start(live.url, rp, prompt="none")
    final, _ = agent.run(s.url, stop_at="http://127.0.0.1:9/l")
    assert _rp.query(final)["error"] == "login_required"


def test_end_sessions_revokes_tokens_of_the_session(live: Live, person: PersonRecord) -> None:
    """The logout hook: ending the SSO session revokes its grants (neither portal has a
    back-channel URI here: nothing is queued, nothing is sent)."""
    a = live.client("end-a", redirect_uris=["http://127.0.0.1:9/ea"])
    b = live.client("end-b", redirect_uris=["http://127.0.0.1:9/eb"])
    tokens_a, agent = _login(live, a)
    tokens_b, _ = _login(live, b, agent)
    sid = _rp.id_token_claims(live.url, tokens_a["id_token"])[0]["sid"]
    with live.db() as s, s.begin():
        ended = end_sessions(
            session=s,
            clock=live.clock,
            ctx=OidcContext(load_oidc_settings(live.settings), live.keys),
            person_id=person.id,
            reason="logout",
            actor="test",
        )
    assert [(e.sid, e.client_ids, e.backchannel_client_ids) for e in ended] == [
        (sid, tuple(sorted([a.client.client_id, b.client.client_id])), ())
    ]
    for rp, tokens in ((a, tokens_a), (b, tokens_b)):
        assert _rp.userinfo(live.url, tokens["access_token"]).status_code == 401
        assert _refresh(live, rp, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    s2 = _rp.start(live.url, a, prompt="none")
    final, _ = agent.run(s2.url, stop_at="http://127.0.0.1:9/ea")
    assert _rp.query(final)["error"] == "login_required"
