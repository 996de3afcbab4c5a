"""No token, code, secret, password or personal data in any log (issue: "no token or password
in any log").

The app runs under uvicorn exactly as ``trustctl serve`` configures it (``access_log=False``,
``trust.web.middleware.server_log_config``), but at DEBUG, so that every record any logger
writes is seen. A real login (by citizen ID number, with ``login_hint``), consent, code
exchange, userinfo, refresh, introspection, RP-initiated logout with ``id_token_hint`` and a
federation callback with ``code``/``state`` go through it; then every captured record (root /
caplog, the ``trust`` loggers including the access log, uvicorn's) is scanned for each secret.
The access log itself is checked: method, path without the query string, status, duration,
request id."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from identity.keying import IdentityKeys
from identity.records import PersonRecord
from identity.sim_data import SimRegistryData
from tests.integration.identity._factories import PASSWORD, make_person
from tests.integration.identity.oidc import _rp
from tests.integration.identity.oidc.conftest import Live, _free_port
from trust.clock import FixedClock
from trust.config import Settings, load_settings
from trust.web.app import create_app
from trust.web.http_protocol import HTTP_PROTOCOL
from trust.web.middleware import ACCESS_LOGGER, server_log_config

#: The test's own HTTP client logs full URLs at DEBUG: it is the user agent, not the service.
_CLIENT_LOGGERS = ("urllib3", "requests")
_LOGGERS = ("", "trust", "trust.web", ACCESS_LOGGER, "uvicorn", "uvicorn.error", "uvicorn.access")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def collected() -> Iterator[_Collect]:
    """Logging configured as ``trustctl serve`` does (at DEBUG); restored afterwards."""
    saved = {
        name: (lg.level, list(lg.handlers), lg.propagate, lg.disabled)
        for name in _LOGGERS
        for lg in [logging.getLogger(name)]
    }
    handler = _Collect()
    yield handler
    for name, (level, handlers, propagate, disabled) in saved.items():
        lg = logging.getLogger(name)
        lg.setLevel(level)
        lg.handlers[:] = handlers
        lg.propagate, lg.disabled = propagate, disabled


@pytest.fixture
def live(settings: Settings, db: sessionmaker[Session], collected: _Collect) -> Iterator[Live]:
    """The OIDC tests' live app, served with ``trustctl serve``'s logging options."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    live_settings = load_settings(
        environ={},
        overrides=settings.model_dump()
        | {"public_base_url": url, "master_key": "00112233445566778899aabbccddeeff" * 2},
    )
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    app = create_app(live_settings, clock=clock)
    app.state.session_factory = db
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="debug",
        access_log=False,
        log_config=server_log_config("DEBUG"),
        http=HTTP_PROTOCOL,
    )
    # After dictConfig; loggers that do not propagate get the collector themselves.
    # Not ``uvicorn.access``: uvicorn writes access records only if that logger has handlers
    # (``hasHandlers()``); the test checks below that it has none.
    for name in ("", "trust", "uvicorn"):
        logging.getLogger(name).addHandler(collected)
    logging.getLogger().setLevel(logging.DEBUG)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield Live(url, clock, db, live_settings, IdentityKeys.from_settings(live_settings))
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _messages(records: list[logging.LogRecord]) -> list[str]:
    out: list[str] = []
    for record in records:
        if record.name.startswith(_CLIENT_LOGGERS):
            continue
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        out.append(f"{record.name}: {text} {record.__dict__!r}")
    return out


def test_no_secret_or_personal_data_in_any_log(
    live: Live,
    sim: SimRegistryData,
    collected: _Collect,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # pytest attaches its capture handler to every logger that does not propagate, at the start
    # of the test; uvicorn writes access records as soon as ``uvicorn.access`` has a handler.
    # Under ``trustctl serve`` nothing is attached there: restore that.
    logging.getLogger("uvicorn.access").handlers.clear()
    citizen = sim.citizens[0]
    with live.db() as s, s.begin():
        person: PersonRecord = make_person(s, live.clock, live.keys, citizen, username="zhangsan")
    bye = "http://127.0.0.1:9/log-portal/bye"
    rp = live.client(
        "log-portal",
        scopes=["openid", "profile", "phone"],
        post_logout_redirect_uris=[bye],
    )
    agent = live.agent()
    started = _rp.start(live.url, rp, scope="openid profile phone", login_hint=citizen.id_number)
    final, _pages = agent.run(
        started.url,
        stop_at=rp.client.redirect_uris[0],
        login=citizen.id_number,
        password=PASSWORD,
    )
    code = _rp.query(final)["code"]
    tokens = _rp.exchange(live.url, rp, code, started.verifier).json()
    info = _rp.userinfo(live.url, tokens["access_token"]).json()
    assert info["name"] == person.name
    auth = (rp.client.client_id, rp.client_secret or "")
    refreshed = requests.post(
        f"{live.url}/oidc/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=auth,
    ).json()
    assert requests.post(
        f"{live.url}/oidc/introspect", data={"token": refreshed["access_token"]}, auth=auth
    ).json()["active"]
    confirm = agent.http.get(
        f"{live.url}/oidc/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": bye,
            "state": started.state,
        },
    )
    assert confirm.status_code == 200
    federation = agent.http.get(
        f"{live.url}/oidc/federation/callback",
        params={"code": "upstream-code-Q7x9", "state": "upstream-state-W3k8"},
    )
    assert federation.status_code in (400, 404)

    secrets: dict[str, str] = {
        "password": PASSWORD,
        "citizen ID number": citizen.id_number,
        "name": person.name,
        "phone": citizen.phone,
        "client secret": rp.client_secret or "",
        "authorisation code": code,
        "PKCE verifier": started.verifier,
        "state": started.state,
        "access token": tokens["access_token"],
        "refresh token": tokens["refresh_token"],
        "rotated refresh token": refreshed["refresh_token"],
        "ID token": tokens["id_token"],
        "ID token signature": tokens["id_token"].rsplit(".", 1)[1],
        "SSO cookie": agent.http.cookies.get("ywtb_sso") or "",
        "upstream code": "upstream-code-Q7x9",
        "upstream state": "upstream-state-W3k8",
    }
    assert all(secrets.values())
    # The access record is written once the response has gone out: wait for the last one.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(
        getattr(r, "http_path", "") == "/oidc/federation/callback" for r in collected.records
    ):
        time.sleep(0.02)
    messages = _messages(collected.records) + _messages(caplog.records)
    assert len(messages) > 20  # DEBUG logging really ran
    for what, value in secrets.items():
        leaks = [m[:300] for m in messages if value in m]
        assert leaks == [], f"{what} in the logs"

    access = [r for r in collected.records if r.name == ACCESS_LOGGER]
    logout = [r for r in access if getattr(r, "http_path", "") == "/oidc/logout"]
    assert logout, "the access log has the logout request"
    record: Any = logout[0]
    assert (record.http_method, record.http_status) == ("GET", 200)
    assert record.request_id.startswith("req_")
    assert record.duration_ms >= 0
    assert "?" not in record.getMessage()
    assert record.getMessage().startswith("GET /oidc/logout 200 ")
    paths = {getattr(r, "http_path", "") for r in access}
    assert {"/oidc/authorize", "/oidc/token", "/oidc/federation/callback"} <= paths
    # uvicorn's own access log is off: no handler anywhere up its chain, no records.
    assert not logging.getLogger("uvicorn.access").hasHandlers()
    assert [r for r in caplog.records if r.name == "uvicorn.access"] == []


def test_trustctl_serve_runs_uvicorn_without_its_access_log(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``trustctl serve`` hands uvicorn ``access_log=False`` and the log configuration used
    above (uvicorn itself is not started: its ``run`` is replaced by a recorder)."""
    import click
    from click.testing import CliRunner

    from trust.cli import admin
    from trust.cli.context import CliContext

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))

    @click.group()
    def cli() -> None:
        pass

    admin.register(cli)
    ctx = CliContext()
    ctx.__dict__.update(settings=settings)
    result = CliRunner().invoke(cli, ["serve", "--port", "8765"], obj=ctx)
    assert result.exit_code == 0, result.output
    (call,) = calls
    assert call["access_log"] is False
    assert call["log_config"] == server_log_config("INFO")
    loggers = call["log_config"]["loggers"]
    assert loggers["uvicorn.access"] == {"handlers": [], "level": "CRITICAL", "propagate": False}
    assert loggers["trust"]["handlers"] == ["stderr"]
