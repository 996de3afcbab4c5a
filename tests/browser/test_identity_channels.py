"""Chromium, with the site's real Content-Security-Policy enforced on every page: two portals,
one login; logout at portal A reaches portal B by back-channel (delivered before the
post-logout redirect, to a receiver that checks the signature against the JWKS); and
"扫码登录": a kiosk's device request approved on the phone, where the citizen is already logged
in, with the QR decoded from the kiosk page's image."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import zxingcpp
from PIL import Image

from identity.device import DEVICE_CODE_GRANT
from identity.oidc_service_clients import RegisteredClient
from identity.records import PersonRecord
from tests.integration.identity._factories import PASSWORD
from tests.integration.identity.channels._receiver import Receiver, run_receiver
from tests.integration.identity.oidc import _rp
from tests.integration.identity.oidc.conftest import Live, live, person, sim

#: The live app, its person and registry data: the OIDC core's fixtures, reused.
_FIXTURES = (live, person, sim)


@pytest.fixture
def portals(
    live: Live, person: PersonRecord
) -> Iterator[tuple[Live, Receiver, RegisteredClient, RegisteredClient]]:
    with run_receiver(lambda: requests.get(f"{live.url}/oidc/jwks").json()) as rp:
        a = live.client(
            "门户甲",
            redirect_uris=[f"{rp.url}/a/cb"],
            post_logout_redirect_uris=[f"{rp.url}/a/bye"],
        )
        b = live.client("门户乙", redirect_uris=[f"{rp.url}/b/cb"], backchannel_logout_uri=rp.url)
        yield live, rp, a, b


def _browser_login(page: Any, live: Live, rp: RegisteredClient, *, login: bool) -> str:
    """Run the code flow in the browser; the portal backend exchanges the code. Returns the
    ID token."""
    started = _rp.start(live.url, rp)
    page.goto(started.url)
    if login:
        page.get_by_label("手机号、用户名或公民身份号码").fill("zhangsan")
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
    # Either the consent page or the portal's page (``h1#portal``, served by the receiver).
    landed = page.locator('button[value="allow"], h1#portal').first
    landed.wait_for()
    if landed.get_attribute("value") == "allow":
        landed.click()
    redirect = rp.client.redirect_uris[0]
    page.wait_for_url(f"{redirect}?*")
    token = _rp.exchange(live.url, rp, _rp.query(page.url)["code"], started.verifier)
    assert token.status_code == 200, token.text
    return str(token.json()["id_token"])


def _context(browser: Any, **kw: Any) -> Any:
    """A browser context that enforces the pages' CSP (no ``bypass_csp``): the OP's forms that
    end in a redirect to a portal allow that portal's origin in ``form-action``."""
    return browser.new_context(locale="zh-CN", **kw)


def _csp_violations(page: Any) -> list[str]:
    """Console reports of blocked resources or form targets (Chromium logs every CSP
    violation to the console)."""
    seen: list[str] = []
    page.on(
        "console",
        lambda msg: seen.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    return seen


def test_logout_at_portal_a_reaches_portal_b(browser: Any, portals: Any) -> None:
    live, receiver, a, b = portals
    strict = _context(browser)
    page = strict.new_page()
    violations = _csp_violations(page)
    id_token_a = _browser_login(page, live, a, login=True)
    _browser_login(page, live, b, login=False)  # SSO: no login form for portal B
    sid = _rp.id_token_claims(live.url, id_token_a)[0]["sid"]

    page.goto(f"{live.url}/account/sessions")
    assert page.get_by_role("heading", name="我的登录会话").is_visible()
    assert page.locator(f'tr[data-sid="{sid}"]').count() == 1

    bye = a.client.post_logout_redirect_uris[0]
    page.goto(
        f"{live.url}/oidc/logout?id_token_hint={id_token_a}"
        f"&post_logout_redirect_uri={bye}&state=browser-1"
    )
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url(f"{bye}?*")
    assert parse_qs(urlsplit(page.url).query) == {"state": ["browser-1"]}

    deadline = time.monotonic() + 30
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert receiver.rejected == []
    assert [r.claims["sid"] for r in receiver.received] == [sid]
    assert receiver.received[0].claims["aud"] == b.client.client_id

    # Logged out everywhere: portal B's next visit shows the login form again.
    page.goto(_rp.start(live.url, b).url)
    assert page.get_by_label("密码").is_visible()
    assert violations == []
    strict.close()


def test_device_approval_on_the_phone(browser: Any, portals: Any) -> None:
    live, _receiver, a, _b = portals
    kiosk = live.client("政务服务自助终端", grant_types=[DEVICE_CODE_GRANT], scopes=["openid"])
    phone_ctx = _context(browser, viewport={"width": 390, "height": 844})
    kiosk_ctx = _context(browser, viewport={"width": 1080, "height": 1920})
    try:
        phone = phone_ctx.new_page()
        violations = _csp_violations(phone)
        _browser_login(phone, live, a, login=True)

        auth = (kiosk.client.client_id, kiosk.client_secret or "")
        started = requests.post(f"{live.url}/oidc/device_authorization", auth=auth).json()
        screen = kiosk_ctx.new_page()
        screen.goto(f"{live.url}/oidc/device/kiosk?user_code={started['user_code']}")
        assert screen.locator("#user-code").inner_text() == started["user_code"]
        image = screen.locator("#device-qr")
        assert image.evaluate("img => img.complete && img.naturalWidth > 0")
        shot = image.screenshot()  # what the camera sees: the rendered image
        (decoded,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))
        assert decoded.text == started["verification_uri_complete"]

        phone.goto(decoded.text)
        assert phone.locator("#device-client").inner_text() == "政务服务自助终端"
        assert phone.locator("#device-code").inner_text() == started["user_code"]
        phone.get_by_role("button", name="同意登录").click()
        assert "已同意" in phone.locator("h1").inner_text()

        live.clock.advance(timedelta(seconds=6))
        tokens = requests.post(
            f"{live.url}/oidc/token",
            data={"grant_type": DEVICE_CODE_GRANT, "device_code": started["device_code"]},
            auth=auth,
        )
        assert tokens.status_code == 200, tokens.text
        claims, _ = _rp.id_token_claims(live.url, tokens.json()["id_token"])
        assert claims["aud"] == kiosk.client.client_id
        assert violations == []
    finally:
        phone_ctx.close()
        kiosk_ctx.close()
