"""RP-Initiated Logout 1.0 and Back-Channel Logout 1.0 against the live app over real HTTP:
two portals, one login; logout at portal A ends the SSO session and a logout token reaches
portal B's receiver (by the bounded wait before the redirect, or by the periodic delivery
job), which verifies it against the published JWKS with joserfc. Also the port of the OIDF
RP-Initiated Logout negative checks (bad post_logout_redirect_uri, modified id_token_hint),
the sessions page and the administrator's "log out everywhere"."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import select

from identity.channels_service_logout import (
    DeliveryReport,
    deliver_backchannel_logouts,
    list_outbox,
    outbox_rows,
)
from identity.logout import check_logout_token_claims
from identity.model import SecurityEvent
from identity.oidc_model import OidcGrant, OidcSsoSession
from identity.oidc_service_clients import RegisteredClient
from identity.records import PersonRecord
from identity.sim_data import SimRegistryData
from keys.software import SoftwareKeyStore
from tests.factories.principals import make_staff
from tests.integration.identity._factories import PASSWORD, make_person
from tests.integration.identity.channels._receiver import Receiver, run_receiver
from tests.integration.identity.oidc import _rp
from tests.integration.identity.oidc._agent import UserAgent
from tests.integration.identity.oidc.conftest import Live
from trust.principals.roles import Role

BYE = "http://127.0.0.1:9/portal-a/bye"


@dataclass
class TwoPortals:
    a: RegisteredClient
    b: RegisteredClient
    agent: UserAgent
    id_token_a: str
    sid: str
    receiver: Receiver


def _login(live: Live, agent: UserAgent, rp: RegisteredClient, **kw: Any) -> tuple[str, list[str]]:
    started = _rp.start(live.url, rp)
    final, pages = agent.run(started.url, stop_at=rp.client.redirect_uris[0], **kw)
    token = _rp.exchange(live.url, rp, _rp.query(final)["code"], started.verifier)
    assert token.status_code == 200, token.text
    return str(token.json()["id_token"]), pages.stages


@contextmanager
def two_portals(live: Live, post_logout: tuple[str, ...] = (BYE,)) -> Iterator[TwoPortals]:
    with run_receiver(lambda: requests.get(f"{live.url}/oidc/jwks").json()) as receiver:
        a = live.client(
            "门户甲",
            redirect_uris=["http://127.0.0.1:9/portal-a/cb"],
            post_logout_redirect_uris=list(post_logout),
        )
        b = live.client(
            "门户乙",
            redirect_uris=["http://127.0.0.1:9/portal-b/cb"],
            backchannel_logout_uri=receiver.url,
        )
        agent = live.agent()
        id_token_a, stages_a = _login(live, agent, a, login="zhangsan", password=PASSWORD)
        assert stages_a[0] == "login"
        _id_token_b, stages_b = _login(live, agent, b)
        assert "login" not in stages_b  # SSO: portal B without a login prompt
        claims, _ = _rp.id_token_claims(live.url, id_token_a)
        yield TwoPortals(a, b, agent, id_token_a, str(claims["sid"]), receiver)


def _hidden(body: str) -> dict[str, str]:
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body)
    return {k: html.unescape(v) for k, v in fields}


def test_logout_at_a_reaches_b_by_backchannel(live: Live, person: PersonRecord) -> None:
    """No periodic job runs here: portal B is notified by the bounded wait before the
    post-logout redirect (no race between the redirect and the back-channel)."""
    with two_portals(live) as world:
        confirm = world.agent.http.get(
            f"{live.url}/oidc/logout",
            params={
                "id_token_hint": world.id_token_a,
                "post_logout_redirect_uri": BYE,
                "state": "st-1",
            },
        )
        assert confirm.status_code == 200
        assert "门户甲" in confirm.text
        done = world.agent.http.post(
            f"{live.url}/oidc/logout",
            data=_hidden(confirm.text) | {"decision": "logout"},
            allow_redirects=False,
        )
        assert done.status_code == 303
        location = done.headers["location"]
        assert location.split("?")[0] == BYE
        assert parse_qs(urlsplit(location).query) == {"state": ["st-1"]}

        # Already delivered when the redirect arrived.
        assert world.receiver.rejected == []
        assert len(world.receiver.received) == 1
        got = world.receiver.received[0]
        assert got.header["typ"] == "logout+jwt"
        assert got.claims["sid"] == world.sid
        check = check_logout_token_claims(
            got.claims,
            issuer=live.url,
            client_id=world.b.client.client_id,
            now=int(live.clock.now().timestamp()),
            leeway=0,
        )
        assert check.valid, check.reason

        with live.db() as s:
            assert [e.status for e in list_outbox(session=s)] == ["delivered"]
        # The SSO session is over: portal A's next login prompts again.
        _token, stages = _login(live, world.agent, world.a, login="zhangsan", password=PASSWORD)
        assert stages[0] == "login"


def test_rp_initiated_logout_negative_cases(live: Live, person: PersonRecord) -> None:
    with two_portals(live) as world:
        base = f"{live.url}/oidc/logout"
        bad_uri = world.agent.http.get(
            base, params={"id_token_hint": world.id_token_a, "post_logout_redirect_uri": BYE + "x"}
        )
        assert bad_uri.status_code == 400
        assert "未登记" in bad_uri.text
        header, payload, signature = world.id_token_a.split(".")
        tampered = f"{header}.{payload[:-2]}AA.{signature}"
        modified = world.agent.http.get(base, params={"id_token_hint": tampered})
        assert modified.status_code == 400
        no_client = world.agent.http.get(base, params={"post_logout_redirect_uri": BYE})
        assert no_client.status_code == 400
        wrong_client = world.agent.http.get(
            base,
            params={"id_token_hint": world.id_token_a, "client_id": world.b.client.client_id},
        )
        assert wrong_client.status_code == 400
        forged = world.agent.http.post(base, data={"csrf": "0" * 64, "decision": "logout"})
        assert forged.status_code == 403
        # None of this ended the session: portal B still gets tokens without a prompt.
        _token, stages = _login(live, world.agent, world.b)
        assert "login" not in stages

        # No parameters at all: confirmation, then our own "logged out" page.
        plain = world.agent.http.get(base)
        assert plain.status_code == 200
        out = world.agent.http.post(base, data=_hidden(plain.text) | {"decision": "logout"})
        assert out.status_code == 200
        assert "您已退出登录" in out.text
        # Without a session there is nothing to confirm: straight to the registered URI.
        again = world.agent.http.get(
            base,
            params={"client_id": world.a.client.client_id, "post_logout_redirect_uri": BYE},
            allow_redirects=False,
        )
        assert again.status_code == 303
        assert again.headers["location"] == BYE


BYE_Q = "http://127.0.0.1:9/portal-a/bye?from=op"


def test_post_logout_redirect_uri_query_must_match_exactly(
    live: Live, person: PersonRecord
) -> None:
    """OIDF RP-Initiated Logout "query string added to the post_logout_redirect_uri": the URI,
    query included, must be one of the registered ones character for character; ``state`` is
    then appended, the registered query kept."""
    with two_portals(live, post_logout=(BYE, BYE_Q)) as world:
        base = f"{live.url}/oidc/logout"
        for unregistered in (
            BYE + "?from=op&extra=1",
            BYE + "?extra=1",
            "http://127.0.0.1:9/portal-a/bye?from=other",
            "http://127.0.0.1:9/portal-a/bye?FROM=op",
            BYE + "?",
        ):
            refused = world.agent.http.get(
                base,
                params={
                    "id_token_hint": world.id_token_a,
                    "post_logout_redirect_uri": unregistered,
                },
                allow_redirects=False,
            )
            assert refused.status_code == 400, unregistered
            assert "location" not in refused.headers
        # Nothing ended: portal B still signs in without a prompt.
        _token, stages = _login(live, world.agent, world.b)
        assert "login" not in stages

        confirm = world.agent.http.get(
            base,
            params={
                "id_token_hint": world.id_token_a,
                "post_logout_redirect_uri": BYE_Q,
                "state": "st-q",
            },
        )
        assert confirm.status_code == 200
        done = world.agent.http.post(
            base, data=_hidden(confirm.text) | {"decision": "logout"}, allow_redirects=False
        )
        assert done.status_code == 303
        location = done.headers["location"]
        assert location.split("?")[0] == BYE.split("?")[0]
        assert parse_qs(urlsplit(location).query) == {"from": ["op"], "state": ["st-q"]}


def test_logout_request_with_only_state(live: Live, person: PersonRecord) -> None:
    """OIDF RP-Initiated Logout "only state": no hint, no client, no redirect URI. The person
    confirms and lands on our own page; ``state`` sends nobody anywhere."""
    with two_portals(live) as world:
        base = f"{live.url}/oidc/logout"
        confirm = world.agent.http.get(base, params={"state": "only-state-1"})
        assert confirm.status_code == 200
        done = world.agent.http.post(
            base, data=_hidden(confirm.text) | {"decision": "logout"}, allow_redirects=False
        )
        assert done.status_code == 200
        assert "location" not in done.headers
        assert "您已退出登录" in done.text
        assert "only-state-1" not in done.text
        # The session ended, and portal B heard of it by back-channel.
        assert [r.claims["sid"] for r in world.receiver.received] == [world.sid]
        _token, stages = _login(live, world.agent, world.b, login="zhangsan", password=PASSWORD)
        assert stages[0] == "login"


def test_sessions_page_and_admin_logout_everywhere(live: Live, person: PersonRecord) -> None:
    with two_portals(live) as world:
        page = world.agent.http.get(f"{live.url}/account/sessions")
        assert page.status_code == 200
        assert world.sid in page.text
        assert "门户乙、门户甲" in page.text  # sorted by code point

        # A second browser of the same person, then the administrator logs them out everywhere.
        other = live.agent()
        _login(live, other, world.a, login="zhangsan", password=PASSWORD)
        with live.db() as s, s.begin():
            admin = make_staff(s, live.clock, login="root", role=Role.SYSTEM_ADMIN)
        response = requests.post(
            f"{live.url}/oidc/admin/persons/{person.id}/logout", headers=admin.headers
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"person_id": person.id, "sessions_ended": 2}
        assert requests.post(f"{live.url}/oidc/admin/persons/{person.id}/logout").status_code == 401

        gone = world.agent.http.get(f"{live.url}/account/sessions")
        assert gone.status_code == 401
        with live.db() as s:
            rows = outbox_rows(session=s, person_id=person.id)
        # Portal B (the only one with a back-channel URI) had tokens in the first session only.
        assert [(r.client_id, r.sid, r.reason) for r in rows] == [
            (world.b.client.client_id, world.sid, "admin")
        ]
        status = requests.get(
            f"{live.url}/oidc/admin/backchannel-logouts",
            params={"person_id": person.id, "status": "pending"},
            headers=admin.headers,
        )
        assert status.status_code == 200, status.text
        (entry,) = status.json()
        assert (entry["sid"], entry["status"], entry["attempts"]) == (world.sid, "pending", 0)
        assert "logout_token" not in entry
        refused = requests.get(
            f"{live.url}/oidc/admin/backchannel-logouts",
            params={"status": "x"},
            headers=admin.headers,
        )
        assert refused.status_code == 422


def test_sessions_page_ends_one_session(live: Live, person: PersonRecord) -> None:
    with two_portals(live) as world:
        other = live.agent()
        _login(live, other, world.a, login="zhangsan", password=PASSWORD)
        page = world.agent.http.get(f"{live.url}/account/sessions")
        sids = re.findall(r'<tr data-sid="([^"]+)"', page.text)
        assert len(sids) == 2
        target = next(s for s in sids if s != world.sid)
        csrf = _hidden(page.text)["csrf"]
        ended = world.agent.http.post(
            f"{live.url}/account/sessions", data={"csrf": csrf, "sid": target}
        )
        assert ended.status_code == 200
        assert re.findall(r'<tr data-sid="([^"]+)"', ended.text) == [world.sid]
        assert other.http.get(f"{live.url}/account/sessions").status_code == 401
        # Someone else's session id is refused.
        refused = world.agent.http.post(
            f"{live.url}/account/sessions", data={"csrf": csrf, "sid": "sid_NOTMINE"}
        )
        assert refused.status_code == 404


def test_periodic_delivery_job_delivers_admin_logout(live: Live, person: PersonRecord) -> None:
    """No inline delivery for an administrator's "log out everywhere": the periodic job
    (``deliver_backchannel_logouts``, run here by hand as ``trust.jobs`` would) delivers it."""
    with two_portals(live) as world:
        with live.db() as s, s.begin():
            admin = make_staff(s, live.clock, login="root2", role=Role.SYSTEM_ADMIN)
        response = requests.post(
            f"{live.url}/oidc/admin/persons/{person.id}/logout", headers=admin.headers
        )
        assert response.status_code == 200
        assert world.receiver.received == []  # nothing was sent by the request itself
        report = _run_delivery_job(live)
        assert (report.claimed, report.delivered) == (1, 1)
        assert [r.claims["sid"] for r in world.receiver.received] == [world.sid]
        assert world.receiver.rejected == []
        assert _run_delivery_job(live).claimed == 0


def _run_delivery_job(live: Live) -> DeliveryReport:
    return deliver_backchannel_logouts(
        session_factory=live.db,
        clock=live.clock,
        keystore=SoftwareKeyStore.from_settings(live.settings),
        issuer=live.url,
    )


def test_another_person_logging_in_on_the_browser_logs_the_first_out_everywhere(
    live: Live, person: PersonRecord, sim: SimRegistryData
) -> None:
    """A replaced SSO session (a different person logs in on the same browser) ends exactly
    like a logout: the first person's grants are revoked and portal B gets its back-channel
    logout token."""
    with live.db() as s, s.begin():
        make_person(s, live.clock, live.keys, sim.citizens[1], username="lisi")
    with two_portals(live) as world:
        started = _rp.start(live.url, world.a, prompt="login")
        final, pages = world.agent.run(
            started.url, stop_at=world.a.client.redirect_uris[0], login="lisi", password=PASSWORD
        )
        assert pages.stages[0] == "login"
        token = _rp.exchange(live.url, world.a, _rp.query(final)["code"], started.verifier)
        claims, _ = _rp.id_token_claims(live.url, token.json()["id_token"])
        assert claims["sid"] != world.sid
        with live.db() as s:
            rows = outbox_rows(session=s, person_id=person.id)
            assert [(r.client_id, r.sid, r.reason) for r in rows] == [
                (world.b.client.client_id, world.sid, "replaced")
            ]
            ended = s.get(OidcSsoSession, world.sid)
            assert ended is not None
            assert ended.end_reason == "replaced"
            kinds = s.scalars(
                select(SecurityEvent.kind).where(SecurityEvent.person_id == person.id)
            ).all()
            assert "logout" in kinds
            grants = s.scalars(select(OidcGrant).where(OidcGrant.sid == world.sid)).all()
            assert len(grants) == 2
            assert all(g.revoke_reason == "logout" for g in grants)
        assert _run_delivery_job(live).delivered == 1
        assert [r.claims["sid"] for r in world.receiver.received] == [world.sid]
        assert world.receiver.rejected == []
