"""The lifetime model (``identity.oidc_settings``) over real HTTP: refresh tokens bound to the
SSO session die with it - idle, absolute, ended - and a refresh is a use of the session that
never extends its absolute lifetime; ``offline_access`` grants follow the refresh limits only
and survive the session; the periodic cleanup ends expired sessions through the one
end-sessions path, so each portal's back-channel logout is queued exactly once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from identity.account_service import change_password_and_end_other_sessions
from identity.channels_model import BackchannelLogout
from identity.channels_service_logout import log_out_everywhere
from identity.jobs import JOBS
from identity.model import SecurityEvent
from identity.oidc_model import OidcGrant, OidcSsoSession
from identity.oidc_service_clients import RegisteredClient
from identity.oidc_service_context import OidcContext
from identity.oidc_service_resources import CleanupReport, cleanup
from identity.oidc_service_sessions import end_sessions, session_by_sid
from identity.oidc_settings import load_oidc_settings
from identity.records import PersonRecord
from identity.throttle import Lockout
from keys.software import SoftwareKeyStore
from tests.integration.identity._factories import PASSWORD
from tests.integration.identity.oidc import _rp
from tests.integration.identity.oidc._agent import UserAgent
from tests.integration.identity.oidc.conftest import Live
from trust.jobs.schedule import JobContext
from trust.tlog.model import TlogEntry

_BCL = "http://127.0.0.1:9/bcl"


def _login(
    live: Live, rp: RegisteredClient, agent: UserAgent | None = None, scope: str = "openid"
) -> tuple[dict[str, Any], UserAgent]:
    agent = agent or live.agent()
    started = _rp.start(live.url, rp, scope=scope)
    final, _ = agent.run(
        started.url, stop_at=rp.client.redirect_uris[0], login="zhangsan", password=PASSWORD
    )
    response = _rp.exchange(live.url, rp, _rp.query(final)["code"], started.verifier)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body, agent


def _refresh(live: Live, rp: RegisteredClient, token: str) -> requests.Response:
    return requests.post(
        f"{live.url}/oidc/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        auth=(rp.client.client_id, rp.client_secret or ""),
    )


def _introspect(live: Live, rp: RegisteredClient, token: str) -> dict[str, Any]:
    body: dict[str, Any] = requests.post(
        f"{live.url}/oidc/introspect",
        data={"token": token},
        auth=(rp.client.client_id, rp.client_secret or ""),
    ).json()
    return body


def _ctx(live: Live) -> OidcContext:
    return OidcContext(load_oidc_settings(live.settings), live.keys)


def _cleanup(live: Live) -> CleanupReport:
    with live.db() as db, db.begin():
        return cleanup(session=db, clock=live.clock, ctx=_ctx(live))


def _sid(live: Live, tokens: dict[str, Any]) -> str:
    return str(_rp.id_token_claims(live.url, tokens["id_token"])[0]["sid"])


def _silent(live: Live, rp: RegisteredClient, agent: UserAgent) -> dict[str, str]:
    """``prompt=none`` at the authorisation endpoint: is the browser's SSO session live?"""
    started = _rp.start(live.url, rp, prompt="none")
    final, _ = agent.run(started.url, stop_at=rp.client.redirect_uris[0])
    return _rp.query(final)


def test_refresh_after_session_idle_expiry_is_refused(live: Live, person: PersonRecord) -> None:
    rp = live.client("idle-bound", redirect_uris=["http://127.0.0.1:9/ib"])
    tokens, agent = _login(live, rp)
    # Session-bound: the session's idle limit (2 h) comes first, and the response says so.
    assert tokens["refresh_expires_in"] == 7200
    # A refresh is a use of the session: refreshing every 100 minutes keeps it (and the
    # browser's SSO, without any page visit) alive past the 2 h idle limit.
    token = tokens["refresh_token"]
    for _ in range(2):
        live.clock.advance(timedelta(minutes=100))
        refreshed = _refresh(live, rp, token)
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.json()["refresh_expires_in"] == 7200
        token = refreshed.json()["refresh_token"]
    assert "code" in _silent(live, rp, agent)  # 200 minutes after the login
    # Then 2 h 1 s with no use at all: the session ran out, and so did the refresh token -
    # refused before any cleanup has run, and inactive at introspection.
    live.clock.advance(timedelta(hours=2, seconds=1))
    assert _introspect(live, rp, token) == {"active": False}
    refused = _refresh(live, rp, token)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert _silent(live, rp, agent)["error"] == "login_required"
    # The refusal changed nothing: the token is not marked used, the session not touched.
    with live.db() as s:
        row = s.get(OidcSsoSession, _sid(live, tokens))
        assert row is not None
        assert row.ended_at is None
        assert row.last_seen_at < live.clock.now() - timedelta(hours=2)


def test_refresh_after_session_absolute_expiry_is_refused(live: Live, person: PersonRecord) -> None:
    """Refreshing every 100 minutes keeps the session from idling out, but never past its
    absolute limit (12 h after the login); ``refresh_expires_in`` counts down to it."""
    rp = live.client("absolute-bound", redirect_uris=["http://127.0.0.1:9/ab"])
    tokens, _ = _login(live, rp)
    with live.db() as s:
        before = s.get(OidcSsoSession, _sid(live, tokens))
        assert before is not None
        absolute = before.absolute_expires_at
    assert absolute == live.clock.now() + timedelta(hours=12)
    token = tokens["refresh_token"]
    for _ in range(7):  # up to 11 h 40 min after the login
        live.clock.advance(timedelta(minutes=100))
        refreshed = _refresh(live, rp, token)
        assert refreshed.status_code == 200, refreshed.text
        token = refreshed.json()["refresh_token"]
    left = int((absolute - live.clock.now()).total_seconds())
    assert left == 20 * 60
    assert refreshed.json()["refresh_expires_in"] == left
    assert _introspect(live, rp, token)["exp"] == int(absolute.timestamp())
    with live.db() as s:
        after = s.get(OidcSsoSession, _sid(live, tokens))
        assert after is not None
        assert after.absolute_expires_at == absolute  # refreshing never extends it
        assert after.idle_expires_at == absolute
    live.clock.advance(timedelta(minutes=20))
    refused = _refresh(live, rp, token)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


def test_offline_access_refresh_survives_the_session(live: Live, person: PersonRecord) -> None:
    """Two portals in one SSO session, one with ``offline_access`` (consented on the consent
    page). The session runs out and the cleanup ends it: both portals are told by
    back-channel, the session-bound refresh token is dead, the offline one keeps working
    (refresh idle/absolute only). Ending the session on purpose (log out everywhere) revokes
    offline grants too."""
    bound = live.client(
        "bound", redirect_uris=["http://127.0.0.1:9/bd"], backchannel_logout_uri=_BCL
    )
    offline = live.client(
        "offline", redirect_uris=["http://127.0.0.1:9/of"], backchannel_logout_uri=_BCL
    )
    bound_tokens, agent = _login(live, bound)
    offline_tokens, _ = _login(live, offline, agent, scope="openid offline_access")
    sid = _sid(live, bound_tokens)
    assert _sid(live, offline_tokens) == sid
    # Not bound to the session: the refresh idle limit (12 h), not the session's 2 h.
    assert offline_tokens["refresh_expires_in"] == 43200
    live.clock.advance(timedelta(hours=2, seconds=1))
    report = _cleanup(live)
    assert report.sessions_expired == 1
    with live.db() as s:
        session_row = s.get(OidcSsoSession, sid)
        assert session_row is not None
        assert session_row.end_reason == "expired"
        queued = s.scalars(select(BackchannelLogout).where(BackchannelLogout.sid == sid)).all()
        assert sorted(r.client_id for r in queued) == sorted(
            [bound.client.client_id, offline.client.client_id]
        )
        grants = {g.client_id: g for g in s.scalars(select(OidcGrant)).all()}
        assert grants[bound.client.client_id].revoked_at is not None
        assert grants[offline.client.client_id].revoked_at is None
    assert _refresh(live, bound, bound_tokens["refresh_token"]).json()["error"] == "invalid_grant"
    survived = _refresh(live, offline, offline_tokens["refresh_token"])
    assert survived.status_code == 200, survived.text
    assert survived.json()["refresh_expires_in"] == 43200
    fresh_access = survived.json()["access_token"]
    assert _rp.userinfo(live.url, fresh_access).status_code == 200
    # A deliberate end - here the person's "log out everywhere" after a new login - revokes
    # offline grants too.
    _login(live, offline, agent, scope="openid offline_access")
    with live.db() as s, s.begin():
        ended = end_sessions(
            session=s,
            clock=live.clock,
            ctx=_ctx(live),
            person_id=person.id,
            reason="self_all",
            actor=f"person:{person.id}",
        )
    assert len(ended) == 1
    with live.db() as s:
        offline_grants = s.scalars(
            select(OidcGrant).where(OidcGrant.client_id == offline.client.client_id)
        ).all()
        new = [g for g in offline_grants if g.sid == ended[0].sid]
        assert [g.revoked_at is not None for g in new] == [True]
        # "Everywhere" also means the offline grant left from the expired session.
        old = [g for g in offline_grants if g.sid == sid]
        assert [g.revoke_reason for g in old] == ["self_all"]


@pytest.mark.parametrize(
    ("reason", "survives"),
    [
        ("rp_logout", True),
        ("expired", True),
        ("replaced", True),
        ("self", False),
        ("self_all", False),
        ("admin", False),
        ("password_changed", False),
    ],
)
def test_which_session_ends_offline_access_survives(
    live: Live, person: PersonRecord, reason: str, survives: bool
) -> None:
    rp = live.client("offline-end", redirect_uris=["http://127.0.0.1:9/oe"])
    tokens, _ = _login(live, rp, scope="openid offline_access")
    with live.db() as s, s.begin():
        end_sessions(
            session=s,
            clock=live.clock,
            ctx=_ctx(live),
            sids=[_sid(live, tokens)],
            reason=reason,
            actor="test",
        )
    refreshed = _refresh(live, rp, tokens["refresh_token"])
    assert (refreshed.status_code == 200) is survives, refreshed.text
    assert (_rp.userinfo(live.url, tokens["access_token"]).status_code == 200) is survives


def test_everywhere_also_ends_offline_access_of_sessions_ended_before(
    live: Live, person: PersonRecord
) -> None:
    """Offline access outlives an RP-initiated logout. A password change (in another browser)
    then revokes it - though its session had already ended - and keeps that browser's own;
    an administrator's "log out everywhere" revokes the rest."""
    rp = live.client("offline-all", redirect_uris=["http://127.0.0.1:9/oa"])
    first, _ = _login(live, rp, scope="openid offline_access")
    with live.db() as s, s.begin():
        end_sessions(
            session=s,
            clock=live.clock,
            ctx=_ctx(live),
            sids=[_sid(live, first)],
            reason="rp_logout",
            actor="test",
        )
    survived = _refresh(live, rp, first["refresh_token"])
    assert survived.status_code == 200, survived.text
    second, _ = _login(live, rp, live.agent(), scope="openid offline_access")
    with live.db() as s, s.begin():
        sso = session_by_sid(session=s, clock=live.clock, sid=_sid(live, second))
        assert sso is not None
        done = change_password_and_end_other_sessions(
            session=s,
            clock=live.clock,
            ctx=_ctx(live),
            sso=sso,
            current_password=PASSWORD,
            new_password="another correct horse 2026",
            lockout=Lockout(threshold=5, base_seconds=30, max_seconds=300),
            client_ip=None,
        )
        assert done.ok
    refused = _refresh(live, rp, survived.json()["refresh_token"])
    assert refused.json()["error"] == "invalid_grant"
    kept = _refresh(live, rp, second["refresh_token"])
    assert kept.status_code == 200, kept.text
    with live.db() as s, s.begin():
        log_out_everywhere(
            session=s,
            clock=live.clock,
            ctx=_ctx(live),
            person_id=person.id,
            reason="admin",
            actor="staff:root",
        )
    assert _refresh(live, rp, kept.json()["refresh_token"]).json()["error"] == "invalid_grant"
    with live.db() as s:
        reasons = sorted(str(g.revoke_reason) for g in s.scalars(select(OidcGrant)).all())
        assert reasons == ["logout", "password_changed"]


def test_offline_refresh_follows_refresh_idle(live: Live, person: PersonRecord) -> None:
    rp = live.client("offline-idle", redirect_uris=["http://127.0.0.1:9/oi"])
    tokens, _ = _login(live, rp, scope="openid offline_access")
    assert tokens["refresh_expires_in"] == 43200
    live.clock.advance(timedelta(hours=12, seconds=1))
    assert _refresh(live, rp, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_offline_access_needs_the_client_to_be_allowed_it(live: Live, person: PersonRecord) -> None:
    """A client not allowed ``offline_access`` asking for it gets a session-bound grant (the
    scope is dropped, RFC 6749 §3.3)."""
    rp = live.client(
        "no-offline", redirect_uris=["http://127.0.0.1:9/no"], scopes=["openid", "profile"]
    )
    tokens, _ = _login(live, rp, scope="openid offline_access")
    assert tokens["scope"] == "openid"
    assert tokens["refresh_expires_in"] == 7200


def test_cleanup_queues_logouts_for_expired_sessions_exactly_once(
    live: Live, person: PersonRecord
) -> None:
    a = live.client("exp-a", redirect_uris=["http://127.0.0.1:9/xa"], backchannel_logout_uri=_BCL)
    b = live.client("exp-b", redirect_uris=["http://127.0.0.1:9/xb"], backchannel_logout_uri=_BCL)
    tokens, agent = _login(live, a)
    _login(live, b, agent)
    sid = _sid(live, tokens)
    # Before the session runs out, cleanup ends nothing.
    assert _cleanup(live).sessions_expired == 0
    live.clock.advance(timedelta(hours=2, seconds=1))
    first = _cleanup(live)
    assert (first.sessions_expired, first.sessions) == (1, 0)  # ended now, deleted later
    second = _cleanup(live)
    assert (second.sessions_expired, second.sessions) == (0, 0)
    with live.db() as s:
        rows = s.scalars(select(BackchannelLogout).where(BackchannelLogout.sid == sid)).all()
        assert sorted((r.client_id, r.reason, r.status) for r in rows) == sorted(
            [
                (a.client.client_id, "expired", "pending"),
                (b.client.client_id, "expired", "pending"),
            ]
        )
        assert all(g.revoke_reason == "logout" for g in s.scalars(select(OidcGrant)).all())
        events = s.scalars(
            select(SecurityEvent).where(
                SecurityEvent.kind == "logout", SecurityEvent.person_id == person.id
            )
        ).all()
        assert [e.detail["reason"] for e in events] == ["expired"]
        logged = s.scalar(
            select(func.count())
            .select_from(TlogEntry)
            .where(TlogEntry.kind == "identity.sessions_ended")
        )
        assert logged == 1
    # Once the session's access tokens have expired everywhere, a later run deletes it
    # (its outbox rows stay until they are delivered or given up).
    live.clock.advance(timedelta(minutes=11, seconds=1))
    third = _cleanup(live)
    assert (third.sessions_expired, third.sessions) == (0, 1)
    with live.db() as s:
        assert s.get(OidcSsoSession, sid) is None
        assert s.scalar(select(func.count()).select_from(BackchannelLogout)) == 2


def test_the_expire_sessions_job_tells_portals_within_its_interval(
    live: Live, person: PersonRecord
) -> None:
    """The declared job ``identity.expire-sessions`` (every 30 s, not the cleanup's 10 min) ends
    a session once it runs out and queues its portal's back-channel logout, once."""
    job = next(j for j in JOBS if j.name == "identity.expire-sessions")
    assert job.every == timedelta(seconds=30)
    keystore = SoftwareKeyStore.from_settings(live.settings)
    ctx = JobContext(live.settings, live.db, live.clock, keystore)
    rp = live.client("exp-j", redirect_uris=["http://127.0.0.1:9/xj"], backchannel_logout_uri=_BCL)
    tokens, _ = _login(live, rp)
    sid = _sid(live, tokens)
    assert job.run(ctx) == "sessions_expired=0 backchannel_logouts=0"
    live.clock.advance(timedelta(hours=2, seconds=1))  # the session's idle limit passes
    assert job.run(ctx) == "sessions_expired=1 backchannel_logouts=1"
    assert job.run(ctx) == "sessions_expired=0 backchannel_logouts=0"
    with live.db() as s:
        rows = s.scalars(select(BackchannelLogout).where(BackchannelLogout.sid == sid)).all()
        assert [(r.client_id, r.reason, r.status) for r in rows] == [
            (rp.client.client_id, "expired", "pending")
        ]
        assert s.get(OidcSsoSession, sid) is not None  # ended, deleted by the cleanup later
