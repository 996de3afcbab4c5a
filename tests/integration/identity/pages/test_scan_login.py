"""扫码登录 through the app: the login page's QR code (decoded from its PNG), approved on a phone
that is already logged in, completes the desktop's login with amr ``swk`` at the strength the
ladder gives it. One-time, bound to the interaction and its browser, short-lived; denial,
replay, forgery, another browser and a dead phone session are refused."""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import zxingcpp
from PIL import Image
from sqlalchemy import select

from identity.oidc_model import OidcScanLogin, OidcSsoSession
from identity.oidc_service_clients import RegisteredClient
from identity.records import PersonRecord
from identity.scan_login import sweep_scan_logins
from tests.api._support import TestClient
from tests.integration.identity._factories import PASSWORD
from tests.integration.identity.pages import _browser
from tests.integration.identity.pages.conftest import PHONE_UA, Site


@dataclass
class LoginPage:
    browser: TestClient
    portal: RegisteredClient
    started: _browser.Started
    body: str
    interaction: str
    scan_id: str
    match_code: str
    qr_text: str
    status_url: str


def _phone(site: Site) -> TestClient:
    phone = site.browser(user_agent=PHONE_UA)
    trip = _browser.login(phone, site.portal("手机门户"), login="zhangsan", password=PASSWORD)
    assert trip.portal_url is not None
    return phone


def _desktop_login_page(
    site: Site, portal: RegisteredClient | None = None, **extra: Any
) -> LoginPage:
    desktop = site.browser()
    portal = portal or site.portal("门户乙")
    started = _browser.start(portal, **extra)
    trip = _browser.follow(desktop, desktop.get(started.url), portal.client.redirect_uris[0])
    body = trip.final.text
    assert trip.final.status_code == 200, body[:400]
    assert "扫码登录" in body
    src = re.search(r'<img id="scan-qr" src="data:image/png;base64,([^"]+)"', body)
    assert src is not None
    (decoded,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(src.group(1)))))
    status_url = re.search(r'data-status-url="([^"]+)"', body)
    code = re.search(r'id="scan-match-code">(\d+)<', body)
    interaction = re.search(r'action="/oidc/interaction/([^/]+)/scan"', body)
    scan_id = re.search(r'name="scan_id" value="([^"]+)"', body)
    assert status_url
    assert code
    assert interaction
    assert scan_id
    return LoginPage(
        desktop, portal, started, body, interaction.group(1), scan_id.group(1),
        code.group(1), decoded.text, status_url.group(1).replace("&amp;", "&"),
    )  # fmt: skip


def _status(page: LoginPage, browser: TestClient | None = None) -> str:
    response = (browser or page.browser).get(page.status_url)
    return str(response.json()["status"])


def _approve(phone: TestClient, page: LoginPage, decision: str = "approve") -> Any:
    shown = phone.get(page.qr_text)
    assert shown.status_code == 200, shown.text
    action, fields = _browser.form_with(shown.text, "/oidc/scan")
    return shown, phone.post(action, data=fields | {"decision": decision})


def _complete(page: LoginPage, browser: TestClient | None = None) -> _browser.Trip:
    action, fields = _browser.form_with(page.body, "/scan")
    response = (browser or page.browser).post(action, data=fields)
    return _browser.follow(browser or page.browser, response, page.portal.client.redirect_uris[0])


def _claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_scan_login_end_to_end(site: Site, zhang: PersonRecord) -> None:
    phone = _phone(site)
    page = _desktop_login_page(site)
    assert page.qr_text.startswith(f"{site.issuer}/oidc/scan?t=scn_")
    assert _status(page) == "pending"

    shown, decided = _approve(phone, page)
    assert 'id="scan-client">门户乙<' in shown.text
    assert 'id="scan-browser">Chrome · Windows<' in shown.text
    assert f'id="scan-match-code">{page.match_code}<' in shown.text  # the same on both screens
    assert decided.status_code == 200
    assert "已确认登录" in decided.text
    assert _status(page) == "approved"

    trip = _complete(page)
    assert trip.portal_url is not None, trip.final.text[:400]
    token = _browser.exchange(page.browser, page.portal, trip.portal_url, page.started.verifier)
    assert token.status_code == 200, token.text
    claims = _claims(token.json()["id_token"])
    assert claims["amr"] == ["swk"]
    assert claims["acr"] == "urn:ywtb:loa:1"  # one possession factor: A1 on the ladder

    # The desktop has its own SSO session, recorded with its browser; the phone keeps its own.
    with site.db() as s:
        sessions = {r.user_agent: r for r in s.scalars(select(OidcSsoSession))}
        desktop = next(r for ua, r in sessions.items() if ua and "Windows" in ua)
        assert desktop.amr == ["swk"]
        assert desktop.person_id == zhang.id
        assert sessions[PHONE_UA].ended_at is None
        assert s.get(OidcScanLogin, page.scan_id).status == "consumed"  # type: ignore[union-attr]
    assert page.browser.get("/account").status_code == 200
    # The phone's password login and the desktop's scan login; both carry the same fixed clock
    # time, so the rows have no order to rely on.
    assert sorted(e.detail["method"] for e in site.events("oidc.login")) == ["pwd", "swk"]
    assert len(site.events("scan_login.approved")) == 1

    # One time only: the QR code, the approval and the completion are all spent.
    assert phone.get(page.qr_text).status_code == 404
    again = _complete(page)
    assert again.portal_url is None


def test_denial_replay_and_forgery(site: Site, zhang: PersonRecord) -> None:
    phone = _phone(site)
    page = _desktop_login_page(site)
    shown, denied = _approve(phone, page, "deny")
    assert "已拒绝" in denied.text
    assert _status(page) == "denied"
    trip = _complete(page)
    assert trip.portal_url is None
    assert "扫码登录未完成或已失效" in trip.final.text
    # The same QR code cannot be decided again (replay of the phone's own form).
    action, fields = _browser.form_with(shown.text, "/oidc/scan")
    replay = phone.post(action, data=fields | {"decision": "approve"})
    assert replay.status_code == 404
    assert "二维码" in replay.text
    assert phone.get(page.qr_text).status_code == 404
    assert len(site.events("scan_login.denied")) == 1

    # A new QR code after "刷新二维码"; a forged MAC is not a request.
    fresh = page.browser.get(f"/oidc/interaction/{page.interaction}")
    scan_ids = re.findall(r'name="scan_id" value="([^"]+)"', fresh.text)
    assert scan_ids
    assert scan_ids[0] != page.scan_id
    token = page.qr_text.split("t=")[1]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert phone.get(f"/oidc/scan?t={forged}").status_code == 404
    assert phone.get("/oidc/scan?t=scn_x.y").status_code == 404


def test_bound_to_the_interaction_and_its_browser(site: Site, zhang: PersonRecord) -> None:
    phone = _phone(site)
    page = _desktop_login_page(site)
    _approve(phone, page)
    # Another browser (no flow cookie of this interaction) learns nothing and cannot complete.
    other = site.browser()
    assert other.get(page.status_url).status_code == 404
    assert _complete(page, other).portal_url is None
    # Another interaction in the same browser cannot use this request either.
    second = _browser.follow(page.browser, page.browser.get(_browser.start(page.portal).url), "x")
    other_ix = re.search(r'action="/oidc/interaction/([^/]+)/scan"', second.final.text)
    assert other_ix is not None
    assert other_ix.group(1) != page.interaction
    action, fields = _browser.form_with(second.final.text, "/scan")
    assert page.browser.post(action, data=fields | {"scan_id": page.scan_id}).status_code == 303
    assert _status(page) == "approved"  # still unused
    # Without the page's CSRF token: refused.
    forged = page.browser.post(
        f"/oidc/interaction/{page.interaction}/scan", data={"scan_id": page.scan_id}
    )
    assert forged.status_code == 400
    assert _complete(page).portal_url is not None  # the real page still completes


def test_expiry_and_a_dead_phone_session(site: Site, zhang: PersonRecord) -> None:
    phone = _phone(site)
    page = _desktop_login_page(site)
    site.clock.advance(timedelta(seconds=121))
    assert _status(page) == "expired"
    assert phone.get(page.qr_text).status_code == 404

    page = _desktop_login_page(site)
    _approve(phone, page)
    site.clock.advance(timedelta(seconds=61))  # approved, but not completed in time
    assert _status(page) == "expired"
    assert _complete(page).portal_url is None

    page = _desktop_login_page(site)
    _approve(phone, page)
    sessions = phone.get("/account/sessions")
    action, fields = _browser.form_with(sessions.text, "/account/sessions")
    phone.post(action, data=fields | {"sid": "all"})  # the phone logs out before completion
    assert _complete(page).portal_url is None

    with site.db() as s, s.begin():
        assert sweep_scan_logins(session=s, clock=site.clock) >= 2
    site.clock.advance(timedelta(minutes=5))
    with site.db() as s, s.begin():
        sweep_scan_logins(session=s, clock=site.clock)
        assert s.scalar(select(OidcScanLogin.id)) is None


def test_phone_without_session_and_requests_above_loa1(site: Site, zhang: PersonRecord) -> None:
    page = _desktop_login_page(site)
    stranger = site.browser(user_agent=PHONE_UA)
    shown = stranger.get(page.qr_text)
    assert shown.status_code == 401
    assert "请先在手机上登录" in shown.text
    assert _status(page) == "pending"
    # A portal that needs loa:2 gets no scan panel: the scan could not satisfy it.
    strict = site.portal("严格门户", min_acr="urn:ywtb:loa:2")
    desktop = site.browser()
    started = _browser.start(strict)
    trip = _browser.follow(desktop, desktop.get(started.url), strict.client.redirect_uris[0])
    assert 'name="password"' in trip.final.text
    assert "scan-qr" not in trip.final.text
