"""Federation against REAL second OpenID providers on loopback: a second instance of our own
app (its own database, keys and issuer) plays the national platform; so does panva's node
``oidc-provider`` from npm (the copy installed for the bench, run in a node subprocess).
A citizen registered and verified only there logs in to a portal of this instance through
the broker: code + PKCE at the upstream, ID token checked against the upstream JWKS, verified
name + citizen ID number (released with consent) mapped to a new local account, the upstream
proofing level recorded as evidence ("一地注册、各地互认"); a second login reuses the link."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

import pytest
import requests
import uvicorn
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from identity import _shared as sh
from identity.channels_model import FederatedIdentity
from identity.evidence import EvidenceKind
from identity.federation import federation_login_link
from identity.keying import IdentityKeys
from identity.model import Evidence, Person, SecurityEvent
from identity.oidc_model import OidcInteraction, OidcSsoSession
from identity.oidc_service_clients import RegisteredClient, register_client
from identity.sim_data import SimCitizen, SimRegistryData
from tests.conftest import skip_or_fail
from tests.integration.identity._factories import PASSWORD, make_person
from tests.integration.identity.oidc import _rp
from tests.integration.identity.oidc._agent import UserAgent
from tests.integration.identity.oidc.conftest import Live, _free_port
from trust.clock import FixedClock
from trust.config import Settings, load_settings
from trust.db import make_engine, session_factory
from trust.migrations.registry import load_all_models
from trust.web.app import create_app


class _TwoSiteAgent(UserAgent):
    """The core's scripted agent posts forms to its base URL; here the login form is the
    upstream's, so forms go to the origin of the page they came from."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self._origin = base_url
        self.http.hooks["response"].append(self._remember)

    def _remember(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        parts = urlsplit(response.url)
        self._origin = f"{parts.scheme}://{parts.netloc}"

    @property  # type: ignore[override]
    def base(self) -> str:
        return self._origin

    @base.setter
    def base(self, value: str) -> None:
        self._origin = value


@dataclass
class Upstream:
    url: str
    db: sessionmaker[Session]
    broker: RegisteredClient
    person_id: str
    clock: FixedClock


@pytest.fixture
def upstream(
    tmp_path: Path, settings: Settings, live: Live, sim: SimRegistryData
) -> Iterator[Upstream]:
    port = _free_port()
    # "localhost", not 127.0.0.1: cookies ignore ports, and two OPs on one host name would
    # overwrite each other's SSO cookie (in production they are different hosts).
    url = f"http://localhost:{port}"
    up_settings = load_settings(
        environ={},
        overrides=settings.model_dump()
        | {
            "public_base_url": url,
            "data_dir": tmp_path / "upstream",
            "database_url": f"sqlite:///{tmp_path / 'upstream.db'}",
            "master_key": "ffeeddccbbaa99887766554433221100" * 2,
        },
    )
    up_settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(up_settings.resolved_database_url)
    load_all_models().create_all(engine)
    factory = session_factory(engine)
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    keys = IdentityKeys.from_settings(up_settings)
    citizen = sim.citizens[1]
    with factory() as s, s.begin():
        person = make_person(s, clock, keys, citizen, username="wangwu")
        # Verified at P3 on the national platform (网证 without face: network_id level 2).
        s.add(
            Evidence(
                id="evd_upstream1",
                subject_kind="person",
                subject_id=person.id,
                kind=EvidenceKind.NETWORK_ID.value,
                outcome="match",
                reason="network_id.match",
                source="upstream-test",
                request_ref="ref",
                response_digest=b"\x00" * 32,
                verified_at=clock.now(),
                details={"level": 2},
            )
        )
        s.flush()
        sh.recompute_proofing(s, "person", person.id)
        broker = register_client(
            session=s,
            clock=clock,
            name="省级统一身份认证",
            redirect_uris=[f"{live.url}/oidc/federation/callback"],
            scopes=["openid", "profile", "phone", "realname", "realname_id"],
            actor="test",
        )
    app = create_app(up_settings, clock=clock)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("upstream did not start")
        time.sleep(0.02)
    try:
        yield Upstream(url, factory, broker, person.id, clock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


@pytest.fixture
def configured(upstream: Upstream, monkeypatch: pytest.MonkeyPatch) -> Upstream:
    monkeypatch.setenv("TRUST_FEDERATION_ISSUER", upstream.url)
    monkeypatch.setenv("TRUST_FEDERATION_CLIENT_ID", upstream.broker.client.client_id)
    monkeypatch.setenv("TRUST_FEDERATION_CLIENT_SECRET", upstream.broker.client_secret or "")
    return upstream


def _broker_login(live: Live, portal: RegisteredClient) -> tuple[dict[str, object], list[str]]:
    started = _rp.start(live.url, portal)
    parts = urlsplit(started.url)
    start = f"{live.url}/oidc/federation/start?return_to=" + quote(f"{parts.path}?{parts.query}")
    agent = _TwoSiteAgent(live.url)
    final, pages = agent.run(
        start, stop_at=portal.client.redirect_uris[0], login="wangwu", password=PASSWORD
    )
    token = _rp.exchange(live.url, portal, _rp.query(final)["code"], started.verifier)
    assert token.status_code == 200, token.text
    claims, _ = _rp.id_token_claims(live.url, token.json()["id_token"])
    return claims, pages.stages


def test_login_through_the_upstream_creates_and_reuses_the_local_account(
    live: Live, configured: Upstream, sim: SimRegistryData
) -> None:
    portal = live.client("门户丙", redirect_uris=["http://127.0.0.1:9/portal-c/cb"])
    claims, stages = _broker_login(live, portal)
    assert stages[0] == "login"  # the upstream's login page, not ours
    assert claims["iss"] == live.url
    with live.db() as s:
        (link,) = s.scalars(select(FederatedIdentity)).all()
        assert link.issuer == configured.url
        person = s.get(Person, link.person_id)
        assert person is not None
        assert person.name == sim.citizens[1].name
        assert person.proofing_level == 3  # recorded from the upstream's P3
        (evidence,) = s.scalars(select(Evidence).where(Evidence.subject_id == person.id)).all()
        # Its own evidence kind, naming the upstream issuer, subject and level.
        assert (evidence.kind, evidence.reason, evidence.source) == (
            "federation",
            "federation.upstream_level",
            configured.url,
        )
        assert evidence.details["level"] == 3
        assert evidence.details["upstream_issuer"] == configured.url
        assert evidence.details["upstream_sub"] == link.upstream_sub
        # The same security event as a password login.
        events = s.scalars(select(SecurityEvent).where(SecurityEvent.person_id == person.id)).all()
        logins = [e for e in events if e.kind.startswith("login.")]
        assert [(e.kind, e.detail["method"]) for e in logins] == [("login.succeeded", "federation")]
    # Second login: the link names the same local account; no new person.
    again, _ = _broker_login(live, portal)
    assert again["sub"] == claims["sub"]
    with live.db() as s:
        assert s.scalar(select(func.count()).select_from(Person)) == 1
        assert s.scalar(select(func.count()).select_from(FederatedIdentity)) == 1


def test_unconfigured_and_replayed_state(live: Live, configured: Upstream) -> None:
    agent = live.agent()
    replay = agent.http.get(
        f"{live.url}/oidc/federation/callback", params={"state": "x" * 20, "code": "c"}
    )
    assert replay.status_code == 400
    assert "登录请求已失效" in replay.text
    start = agent.http.get(
        f"{live.url}/oidc/federation/start",
        params={"return_to": "https://evil.example/"},
        allow_redirects=False,
    )
    assert start.status_code == 303
    assert start.headers["location"].startswith(configured.url + "/oidc/authorize?")


# --------------------------------------------------------------------------- node oidc-provider

_PROVIDER = Path(__file__).resolve().parents[4] / "bench/peers/node/node_modules/oidc-provider"
_SCRIPT = Path(__file__).resolve().parent / "node" / "upstream_op.mjs"


@dataclass
class NodeUpstream:
    live: Live
    citizen: SimCitizen
    monkeypatch: pytest.MonkeyPatch
    procs: list[subprocess.Popen[bytes]]

    def start(self, level: str = "P4", verified: str = "name,cn_citizen_id") -> str:
        """Start panva's oidc-provider asserting ``level`` and marking ``verified`` claims as
        verified; configure the broker for it. Returns its issuer."""
        index = _PROVIDER / "lib" / "index.js"
        if shutil.which("node") is None or not index.exists():
            skip_or_fail("node or the npm oidc-provider package (bench/peers/node) is missing")
        port = _free_port()
        c = self.citizen
        proc = subprocess.Popen(
            ["node", str(_SCRIPT), str(index), str(port),
             f"{self.live.url}/oidc/federation/callback",
             c.name, c.id_number, c.phone, level, verified],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.procs.append(proc)
        url = f"http://localhost:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/.well-known/openid-configuration", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise RuntimeError(f"oidc-provider did not start: {out[-2000:]}")
            time.sleep(0.1)
        self.monkeypatch.setenv("TRUST_FEDERATION_ISSUER", url)
        self.monkeypatch.setenv("TRUST_FEDERATION_CLIENT_ID", "broker")
        self.monkeypatch.setenv("TRUST_FEDERATION_CLIENT_SECRET", "broker-secret-for-tests-only")
        return url


@pytest.fixture
def node(
    live: Live, sim: SimRegistryData, monkeypatch: pytest.MonkeyPatch
) -> Iterator[NodeUpstream]:
    """panva's oidc-provider (installed from npm for the bench) as the upstream, in a node
    subprocess on loopback, for the synthetic citizen no. 3."""
    upstream = NodeUpstream(live, sim.citizens[2], monkeypatch, [])
    try:
        yield upstream
    finally:
        for proc in upstream.procs:
            proc.terminate()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()


def _through_node_pages(http: requests.Session, url: str, downstream: str) -> str:
    """Drive oidc-provider's development login and consent pages until the redirect comes
    back to our callback; returns that URL."""
    response = http.get(url, allow_redirects=False)
    for _ in range(20):
        if response.status_code in (302, 303):
            target = urljoin(response.url, response.headers["location"])
            if target.startswith(downstream):
                return target
            response = http.get(target, allow_redirects=False)
            continue
        assert response.status_code == 200, response.text[:500]
        action = re.search(r'<form[^>]*action="([^"]+)"', response.text)
        assert action is not None, response.text[:500]
        hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', response.text)
        data = {k: html.unescape(v) for k, v in hidden}
        if 'name="login"' in response.text:
            data |= {"login": "citizen-1", "password": "any"}
        response = http.post(
            urljoin(response.url, html.unescape(action.group(1))), data=data, allow_redirects=False
        )
    raise AssertionError("too many steps at the upstream")


def _node_login(live: Live, portal: RegisteredClient) -> requests.Response:
    """A broker login through the node upstream; the response of our callback."""
    started = _rp.start(live.url, portal)
    parts = urlsplit(started.url)
    agent = _TwoSiteAgent(live.url)
    start = f"{live.url}/oidc/federation/start?return_to=" + quote(f"{parts.path}?{parts.query}")
    callback = _through_node_pages(agent.http, start, live.url)
    return agent.http.get(callback, allow_redirects=False)


def test_login_through_node_oidc_provider(
    live: Live, node: NodeUpstream, sim: SimRegistryData
) -> None:
    node_upstream = node.start()
    portal = live.client("门户丁", redirect_uris=["http://127.0.0.1:9/portal-d/cb"])
    started = _rp.start(live.url, portal)
    parts = urlsplit(started.url)
    agent = _TwoSiteAgent(live.url)
    start = f"{live.url}/oidc/federation/start?return_to=" + quote(f"{parts.path}?{parts.query}")
    callback = _through_node_pages(agent.http, start, live.url)
    final, _pages = agent.run(callback, stop_at=portal.client.redirect_uris[0])
    token = _rp.exchange(live.url, portal, _rp.query(final)["code"], started.verifier)
    assert token.status_code == 200, token.text
    with live.db() as s:
        (link,) = s.scalars(select(FederatedIdentity)).all()
        assert (link.issuer, link.upstream_sub) == (node_upstream, "citizen-1")
        person = s.get(Person, link.person_id)
        assert person is not None
        assert person.name == sim.citizens[2].name
        assert person.proofing_level == 4  # the upstream's verified_claims P4


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("level", "verified", "min_level", "code", "message"),
    [
        ("P1", "name,cn_citizen_id", None, "identity.federation_level_too_low", "低于"),
        ("P3", "name,cn_citizen_id", "4", "identity.federation_level_too_low", "（P4）"),
        ("P4", "name", None, "identity.federation_id_unverified", "身份证号"),
        ("P4", "cn_citizen_id", None, "identity.federation_name_unverified", "姓名"),
        ("P4", "", None, "identity.federation_name_unverified", "姓名"),
    ],
)
def test_linking_to_an_existing_account_is_refused_unless_verified_at_the_minimum(
    live: Live,
    node: NodeUpstream,
    monkeypatch: pytest.MonkeyPatch,
    level: str,
    verified: str,
    min_level: str | None,
    code: str,
    message: str,
) -> None:
    """The citizen already has a local account (registered here with a password). An upstream
    login naming the same ID number is linked to it only if the upstream marks the name and
    the ID number as verified and asserts at least the configured level; otherwise nothing is
    linked, no session starts, and the account's owner sees a ``login.failed`` event."""
    with live.db() as s, s.begin():
        local = make_person(s, live.clock, live.keys, node.citizen, username="local")
    node.start(level, verified)
    if min_level is not None:
        monkeypatch.setenv("TRUST_FEDERATION_MIN_LINK_LEVEL", min_level)
    portal = live.client("门户戊", redirect_uris=["http://127.0.0.1:9/portal-e/cb"])
    refused = _node_login(live, portal)
    assert refused.status_code == 400
    assert message in html.unescape(refused.text)
    assert "ywtb_sso" not in refused.cookies
    with live.db() as s:
        assert s.scalar(select(func.count()).select_from(FederatedIdentity)) == 0
        assert s.scalar(select(func.count()).select_from(Person)) == 1
        assert s.scalar(select(func.count()).select_from(OidcSsoSession)) == 0
        evidence = s.scalars(select(Evidence).where(Evidence.subject_id == local.id)).all()
        assert evidence == []
        (event,) = s.scalars(
            select(SecurityEvent).where(SecurityEvent.kind.startswith("login."))
        ).all()
        assert (event.kind, event.person_id) == ("login.failed", local.id)
        assert event.detail == {"method": "federation", "reason": code}


def test_no_account_is_opened_from_unverified_identity_data(live: Live, node: NodeUpstream) -> None:
    node.start("P4", "name")
    portal = live.client("门户己", redirect_uris=["http://127.0.0.1:9/portal-f/cb"])
    refused = _node_login(live, portal)
    assert refused.status_code == 400
    with live.db() as s:
        assert s.scalar(select(func.count()).select_from(Person)) == 0
        (event,) = s.scalars(select(SecurityEvent)).all()
        assert (event.kind, event.person_id) == ("login.failed", None)


def test_linking_at_the_minimum_records_federation_evidence(live: Live, node: NodeUpstream) -> None:
    """Verified at P2 (the default minimum): linked to the existing account, which earns P2
    from evidence of kind ``federation``."""
    with live.db() as s, s.begin():
        local = make_person(s, live.clock, live.keys, node.citizen, username="local")
    issuer = node.start("P2")
    portal = live.client("门户庚", redirect_uris=["http://127.0.0.1:9/portal-g/cb"])
    done = _node_login(live, portal)
    assert done.status_code == 303, done.text
    with live.db() as s:
        (link,) = s.scalars(select(FederatedIdentity)).all()
        assert link.person_id == local.id
        person = s.get(Person, local.id)
        assert person is not None
        assert person.proofing_level == 2
        (evidence,) = s.scalars(select(Evidence).where(Evidence.subject_id == local.id)).all()
        assert evidence.kind == "federation"
        assert evidence.details == {
            "level": 2,
            "upstream_issuer": issuer,
            "upstream_sub": "citizen-1",
            "upstream_acr": evidence.details["upstream_acr"],
        }


def test_login_page_link_continues_the_interaction(live: Live, configured: Upstream) -> None:
    """The login page's link (``federation_login_link``, a template variable): the broker
    login returns to the interaction, which then ends at the portal with a code."""
    portal = live.client("门户辛", redirect_uris=["http://127.0.0.1:9/portal-h/cb"])
    started = _rp.start(live.url, portal)
    agent = _TwoSiteAgent(live.url)
    first = agent.http.get(started.url, allow_redirects=False)
    interaction = urlsplit(first.headers["location"]).path.rsplit("/", 1)[-1]
    link = federation_login_link(os.environ, interaction_id=interaction)
    assert link is not None
    assert link.label == "使用国家政务服务平台账号登录"
    final, pages = agent.run(
        live.url + link.url,
        stop_at=portal.client.redirect_uris[0],
        login="wangwu",
        password=PASSWORD,
    )
    assert pages.stages[0] == "login"  # the upstream's
    query = _rp.query(final)
    assert query["state"] == started.state
    token = _rp.exchange(live.url, portal, query["code"], started.verifier)
    assert token.status_code == 200, token.text
    monkey_env = dict(os.environ)
    monkey_env.pop("TRUST_FEDERATION_ISSUER")
    assert federation_login_link(monkey_env, interaction_id=interaction) is None


# --------------------------------------------------------------------------- prompt=login


def _advance(live: Live, upstream: Upstream, delta: timedelta) -> None:
    """Time passes at both providers (each has its own fixed clock)."""
    live.clock.advance(delta)
    upstream.clock.advance(delta)


def _upstream_auth_time(live: Live, upstream: Upstream) -> int:
    """The ``auth_time`` of a login at the upstream now, as we record it: the upstream's
    clock (its fixture started a moment after ours), never later than our own."""
    return int(min(upstream.clock.now(), live.clock.now()).timestamp())


def _upstream_prompts(upstream: Upstream) -> list[tuple[str, ...]]:
    """The ``prompt`` of every authorisation request the upstream received, oldest first."""
    with upstream.db() as s:
        rows = s.scalars(select(OidcInteraction).order_by(OidcInteraction.created_at)).all()
        return [tuple(r.request["prompt"]) for r in rows]


def _interaction_of(agent: _TwoSiteAgent, url: str) -> str:
    first = agent.http.get(url, allow_redirects=False)
    assert first.status_code == 303, first.text
    location = first.headers["location"]
    assert "/oidc/interaction/" in location, location
    return urlsplit(location).path.rsplit("/", 1)[-1]


def test_prompt_login_through_the_federation_link_completes_the_interaction(
    live: Live, configured: Upstream
) -> None:
    """Logged in here (through the upstream) and at the upstream, the person opens a portal
    asking ``prompt=login`` and picks the upstream on our login page. The broker asks the
    upstream to authenticate again; that login is the fresh authentication the portal asked
    for: the interaction completes without our login page coming back, and the ID token
    carries the new ``auth_time`` and the ``acr`` of the brokered login."""
    portal = live.client("门户壬", redirect_uris=["http://127.0.0.1:9/portal-i/cb"])
    agent = _TwoSiteAgent(live.url)
    first = _rp.start(live.url, portal)
    link = federation_login_link(os.environ, interaction_id=_interaction_of(agent, first.url))
    assert link is not None
    final, _ = agent.run(
        live.url + link.url,
        stop_at=portal.client.redirect_uris[0],
        login="wangwu",
        password=PASSWORD,
    )
    token = _rp.exchange(live.url, portal, _rp.query(final)["code"], first.verifier)
    before, _ = _rp.id_token_claims(live.url, token.json()["id_token"])
    _advance(live, configured, timedelta(minutes=5))
    again = _rp.start(live.url, portal, prompt="login")
    interaction = _interaction_of(agent, again.url)
    page = agent.http.get(f"{live.url}/oidc/interaction/{interaction}")
    assert 'action="/oidc/interaction/' in page.text  # our login page: prompt=login
    link = federation_login_link(os.environ, interaction_id=interaction)
    assert link is not None
    final, pages = agent.run(
        live.url + link.url,
        stop_at=portal.client.redirect_uris[0],
        login="wangwu",
        password=PASSWORD,
    )
    # One login page: the upstream's (it had a session, so it re-authenticated only because
    # the broker asked). Ours did not come back (the federated account has no password here:
    # the agent could not have passed it).
    assert pages.stages == ["login"]
    assert _upstream_prompts(configured) == [(), ("login",)]
    query = _rp.query(final)
    assert query["state"] == again.state
    token = _rp.exchange(live.url, portal, query["code"], again.verifier)
    assert token.status_code == 200, token.text
    after, _ = _rp.id_token_claims(live.url, token.json()["id_token"])
    assert after["auth_time"] == before["auth_time"] + 300
    assert after["auth_time"] == _upstream_auth_time(live, configured)
    assert (after["acr"], after["amr"]) == (before["acr"], before["amr"])
    assert after["sid"] == before["sid"]  # the same SSO session, authenticated again
    with live.db() as s:
        logins = s.scalars(
            select(SecurityEvent)
            .where(SecurityEvent.kind == "oidc.login")
            .order_by(SecurityEvent.at)
        ).all()
        # Both brokered logins were fresh, each the login of its interaction.
        assert [(e.detail["method"], e.detail["client_id"]) for e in logins] == [
            ("federation", portal.client.client_id)
        ] * 2


def test_prompt_login_with_the_authorisation_url_as_return_to(
    live: Live, configured: Upstream
) -> None:
    """``/oidc/federation/start?return_to=/oidc/authorize?…prompt=login`` (a portal linking to
    the upstream login directly): the callback starts the interaction itself and the fresh
    upstream login completes it."""
    portal = live.client("门户癸", redirect_uris=["http://127.0.0.1:9/portal-j/cb"])
    started = _rp.start(live.url, portal, prompt="login", max_age="0")
    parts = urlsplit(started.url)
    start = f"{live.url}/oidc/federation/start?return_to=" + quote(f"{parts.path}?{parts.query}")
    agent = _TwoSiteAgent(live.url)
    final, pages = agent.run(
        start, stop_at=portal.client.redirect_uris[0], login="wangwu", password=PASSWORD
    )
    assert pages.stages == ["login", "consent"]  # the upstream's (its broker client's scopes)
    assert _upstream_prompts(configured) == [("login",)]
    token = _rp.exchange(live.url, portal, _rp.query(final)["code"], started.verifier)
    assert token.status_code == 200, token.text
    claims, _ = _rp.id_token_claims(live.url, token.json()["id_token"])
    assert claims["auth_time"] == _upstream_auth_time(live, configured)


def test_an_upstream_login_that_is_not_fresh_does_not_satisfy_prompt_login(
    live: Live, configured: Upstream
) -> None:
    """The upstream's clock says the person authenticated 5 minutes before our broker login
    began (as an upstream that ignores ``prompt=login`` and answers from its own session
    would): the person is logged in, but the portal's ``prompt=login`` is not met - our login
    page comes back, saying why."""
    configured.clock.advance(timedelta(minutes=-5))
    portal = live.client("门户子", redirect_uris=["http://127.0.0.1:9/portal-k/cb"])
    agent = _TwoSiteAgent(live.url)
    started = _rp.start(live.url, portal, prompt="login")
    interaction = _interaction_of(agent, started.url)
    link = federation_login_link(os.environ, interaction_id=interaction)
    assert link is not None
    target, pages = agent.run(
        live.url + link.url,
        stop_at=f"{live.url}/oidc/interaction/",
        login="wangwu",
        password=PASSWORD,
    )
    assert pages.stages == ["login", "consent"]  # the upstream's
    assert urlsplit(target).path == f"/oidc/interaction/{interaction}"
    page = agent.http.get(target)
    assert "上级身份平台未重新验证您的身份" in html.unescape(page.text)
    assert f'action="/oidc/interaction/{interaction}/login"' in page.text
    with live.db() as s:
        # Logged in all the same, with the upstream's (older) auth_time.
        (row,) = s.scalars(select(OidcSsoSession)).all()
        assert row.auth_time == configured.clock.now()
        assert row.auth_time < live.clock.now() - timedelta(minutes=4)


def test_the_callback_only_works_in_the_browser_that_started_the_login(
    live: Live, configured: Upstream
) -> None:
    """The ``state`` is bound to the starting browser by a cookie: a callback URL carried to
    another browser logs nobody in there and leaves the state unused; the first browser
    completes; a replay fails."""
    agent = _TwoSiteAgent(live.url)
    callback, _ = agent.run(
        f"{live.url}/oidc/federation/start",
        stop_at=f"{live.url}/oidc/federation/callback",
        login="wangwu",
        password=PASSWORD,
    )
    other = requests.Session()
    elsewhere = other.get(callback, allow_redirects=False)
    assert elsewhere.status_code == 400
    assert "登录请求已失效" in html.unescape(elsewhere.text)
    assert "ywtb_sso" not in other.cookies
    state = _rp.query(callback)["state"]
    done = agent.http.get(callback, allow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/account/sessions"
    assert "ywtb_sso" in done.cookies
    replay = agent.http.get(callback, allow_redirects=False, cookies={"ywtb_fed_state": state})
    assert replay.status_code == 400
    assert "登录请求已失效" in html.unescape(replay.text)
