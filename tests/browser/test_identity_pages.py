"""Chromium, with the site's CSP enforced: "扫码登录" in two browser contexts (the phone already
logged in; the desktop on the login page, its QR code decoded from a screenshot, the login
completed by the page's own polling script), and the person's pages - 我的账户, 经办人授权
(grant and revoke), 修改密码 - used through their labelled form fields."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
import zxingcpp
from PIL import Image

from identity import service
from identity.oidc_service_clients import RegisteredClient
from identity.records import PersonRecord
from identity.sim_data import SimRegistryData
from tests.integration.identity._factories import PASSWORD, make_organisation, make_person
from tests.integration.identity.channels._receiver import Receiver, run_receiver
from tests.integration.identity.oidc import _rp
from tests.integration.identity.oidc.conftest import Live, live, person, sim

#: The live app, its person and registry data: the OIDC core's fixtures, reused.
_FIXTURES = (live, person, sim)
NEW_PASSWORD = "a new passphrase 2027"
PHONE_UA = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36"


@pytest.fixture
def portals(
    live: Live, person: PersonRecord
) -> Iterator[tuple[Receiver, RegisteredClient, RegisteredClient]]:
    with run_receiver(lambda: requests.get(f"{live.url}/oidc/jwks").json()) as rp:
        a = live.client("网上办事大厅", redirect_uris=[f"{rp.url}/a/cb"])
        b = live.client("不动产登记网", redirect_uris=[f"{rp.url}/b/cb"])
        yield rp, a, b


def _password_login(page: Any, live: Live, rp: RegisteredClient) -> _rp.Started:
    started = _rp.start(live.url, rp)
    page.goto(started.url)
    page.get_by_label("手机号、用户名或公民身份号码").fill("zhangsan")
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url(f"{rp.client.redirect_uris[0]}?*")
    return started


def test_scan_to_log_in_with_the_phone(browser: Any, live: Live, portals: Any) -> None:
    _receiver, a, b = portals
    phone_ctx = browser.new_context(
        locale="zh-CN",
        viewport={"width": 390, "height": 844},
        user_agent=PHONE_UA,
    )
    desktop_ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1000})
    try:
        phone = phone_ctx.new_page()
        _password_login(phone, live, a)

        desktop = desktop_ctx.new_page()
        started = _rp.start(live.url, b)
        desktop.goto(started.url)
        assert desktop.get_by_role("heading", name="扫码登录").is_visible()
        image = desktop.locator("#scan-qr")
        assert image.evaluate("img => img.complete && img.naturalWidth > 0")
        (decoded,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.screenshot())))
        assert decoded.text.startswith(f"{live.url}/oidc/scan?t=")
        desktop_code = desktop.locator("#scan-match-code").inner_text()

        phone.goto(decoded.text)
        assert phone.locator("#scan-client").inner_text() == "不动产登记网"
        assert phone.locator("#scan-match-code").inner_text() == desktop_code
        assert "Chrome" in phone.locator("#scan-browser").inner_text()
        phone.get_by_role("button", name="确认登录").click()
        assert phone.get_by_role("heading", name="已确认登录").is_visible()

        # The desktop's polling script notices the approval and completes the login by itself.
        desktop.wait_for_url(f"{b.client.redirect_uris[0]}?*", timeout=15000)
        code = _rp.query(desktop.url)["code"]
        token = _rp.exchange(live.url, b, code, started.verifier)
        assert token.status_code == 200, token.text
        claims, _header = _rp.id_token_claims(live.url, token.json()["id_token"])
        assert claims["amr"] == ["swk"]
        assert claims["acr"] == "urn:ywtb:loa:1"

        # The same QR code is spent.
        phone.goto(decoded.text)
        assert phone.get_by_role("heading", name="二维码已失效").is_visible()
    finally:
        phone_ctx.close()
        desktop_ctx.close()


def test_account_agents_and_password_pages(
    browser: Any, live: Live, portals: Any, person: PersonRecord, sim: SimRegistryData
) -> None:
    _receiver, a, _b = portals
    with live.db() as s, s.begin():
        make_organisation(s, live.clock, sim.enterprises[0], person)
        make_person(s, live.clock, live.keys, sim.citizens[1])
    context = browser.new_context(locale="zh-CN")
    try:
        page = context.new_page()
        _password_login(page, live, a)

        page.goto(f"{live.url}/account")
        assert page.get_by_role("heading", name="我的账户", exact=True).is_visible()
        assert page.locator("#account-name").inner_text() == "张*明"
        assert page.locator("#session-methods").inner_text() == "密码"
        assert sim.citizens[0].id_number not in page.content()

        page.get_by_role("link", name="经办人授权").first.click()
        assert page.get_by_role("heading", name="授权新的经办人").is_visible()
        page.get_by_label("经办人姓名").fill(sim.citizens[1].name)
        page.get_by_label("经办人公民身份号码").fill(sim.citizens[1].id_number)
        page.get_by_label("代为申办政务服务事项").check()
        page.get_by_label("查看办件进度").check()
        until = (live.clock.now() + timedelta(days=90)).date().isoformat()
        page.get_by_label("有效期至（含当日，最长三年）").fill(until)
        page.get_by_role("button", name="授权", exact=True).click()
        assert "已授权经办人" in page.locator("#agents-done").inner_text()
        row = page.locator("tr[data-state='valid']")
        assert "李文静" in row.inner_text()
        assert "查看办件进度" in row.inner_text()

        page.get_by_role("button", name=re.compile("撤销李文静的授权")).click()
        assert "已撤销" in page.locator("#agents-done").inner_text()
        assert page.locator("tr[data-state='revoked']").count() == 1

        page.get_by_role("link", name="修改密码").first.click()
        page.get_by_label("当前密码").fill(PASSWORD)
        page.get_by_label("新密码", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("再次输入新密码").fill(NEW_PASSWORD)
        page.get_by_role("button", name="修改密码").click()
        assert "密码已修改" in page.locator("#password-done").inner_text()
        with live.db() as s, s.begin():
            ok = service.authenticate_password(
                session=s, clock=live.clock, keys=live.keys, login="zhangsan",
                password=NEW_PASSWORD, client_ip=None,
            )  # fmt: skip
            assert ok.ok
    finally:
        context.close()
