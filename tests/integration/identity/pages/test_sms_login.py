"""A whole OIDC login with password + SMS code as the second factor, the code read from the
development SMS outbox page (``/identity/dev/sms-outbox``) as a person would read their phone."""

from __future__ import annotations

import base64
import html
import json
import re
from datetime import timedelta
from typing import Any

from identity import service
from identity.records import PersonRecord
from identity.sim_data import SimRegistryData
from identity.sms import OutboxSender, outbox_messages
from identity.verifiers import Verifiers
from tests.api._support import TestClient
from tests.integration.identity._factories import PASSWORD
from tests.integration.identity.pages import _browser
from tests.integration.identity.pages.conftest import Site


def _latest_code(browser: TestClient, phone: str) -> str:
    page = browser.get("/identity/dev/sms-outbox")
    assert page.status_code == 200
    rows = re.findall(r"<tr><td>[^<]*</td><td>(\d+)</td><td>([^<]*)</td></tr>", page.text)
    texts = [html.unescape(body) for number, body in rows if number == phone]
    assert texts, "no SMS for this phone"
    match = re.search(r"验证码 (\d{6})", texts[0])  # newest first
    assert match is not None
    return match.group(1)


def _claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_password_then_sms_code(
    site: Site, zhang: PersonRecord, sim_data: SimRegistryData, verifiers: Verifiers
) -> None:
    phone_number = sim_data.citizens[0].phone
    with site.db() as s, s.begin():
        sent = service.start_phone_verification(
            session=s, clock=site.clock, keys=site.keys, sender=OutboxSender(), person_id=zhang.id
        )
        code = re.search(r"验证码 (\d{6})", outbox_messages(session=s)[0].body)
        assert code is not None
        assert service.complete_phone_verification(
            session=s,
            clock=site.clock,
            keys=site.keys,
            person_id=zhang.id,
            challenge_id=sent.challenge_id,
            code=code.group(1),
        ).passed
        service.verify_population(
            session=s, clock=site.clock, keys=site.keys, verifiers=verifiers, person_id=zhang.id
        )
    site.clock.advance(timedelta(minutes=1))  # the outbox page lists the newest message first
    browser = site.browser()
    portal = site.portal("门户甲")
    started = _browser.start(portal)
    stop = portal.client.redirect_uris[0]
    login_page = _browser.follow(browser, browser.get(started.url), stop).final
    action, fields = _browser.form_with(login_page.text, "/login")
    second = _browser.follow(
        browser,
        browser.post(action, data=fields | {"login": "zhangsan", "password": PASSWORD}),
        stop,
    ).final
    assert "短信验证码" in second.text
    assert "验证码已发送到您账户登记的手机" in second.text
    action, fields = _browser.form_with(second.text, "/second-factor")

    # A wrong code is refused and the same step is shown again.
    wrong = _browser.follow(browser, browser.post(action, data=fields | {"code": "000000"}), stop)
    assert wrong.portal_url is None
    assert "验证码错误或已失效" in wrong.final.text
    right = _latest_code(browser, phone_number)
    done = _browser.follow(browser, browser.post(action, data=fields | {"code": right}), stop)
    assert done.portal_url is not None, done.final.text[:400]

    token = _browser.exchange(browser, portal, done.portal_url, started.verifier)
    assert token.status_code == 200, token.text
    claims = _claims(token.json()["id_token"])
    assert claims["amr"] == ["pwd", "sms", "mfa"]
    assert claims["acr"] == "urn:ywtb:loa:2"  # min(P2, two factor categories = A2)
    assert [e.detail.get("method") for e in site.events("oidc.login")] == ["pwd+sms+mfa"]
    account = browser.get("/account").text
    assert "密码、短信验证码、多因素认证" in account
    assert "较强" in account
