"""Password change through the app: the current password is checked (and guessing it counts
towards the account's lockout), the enrolment policy applies, and every *other* SSO session of
the person ends with back-channel logout queued for its portals; this browser stays logged in."""

from __future__ import annotations

from sqlalchemy import select

from identity import service
from identity.channels_service_logout import list_outbox
from identity.oidc_model import OidcSsoSession
from identity.records import PersonRecord
from tests.api._support import TestClient
from tests.integration.identity._factories import PASSWORD
from tests.integration.identity.pages import _browser
from tests.integration.identity.pages.conftest import PHONE_UA, Site

NEW = "a new passphrase 2027"


def _change(
    browser: TestClient, current: str, new: str, again: str | None = None
) -> tuple[int, str]:
    page = browser.get("/account/password")
    assert page.status_code == 200
    action, fields = _browser.form_with(page.text, "/account/password")
    data = fields | {
        "current_password": current,
        "new_password": new,
        "new_password_again": new if again is None else again,
    }
    response = browser.post(action, data=data)
    return response.status_code, response.text


def _password_ok(site: Site, password: str) -> bool:
    with site.db() as s, s.begin():
        result = service.authenticate_password(
            session=s, clock=site.clock, keys=site.keys, login="zhangsan", password=password,
            client_ip=None,
        )  # fmt: skip
        return result.ok


def test_change_ends_the_other_sessions_with_backchannel_logout(
    site: Site, zhang: PersonRecord
) -> None:
    portal = site.portal("门户乙", backchannel_logout_uri="http://127.0.0.1:9/portal-b/bcl")
    here = site.browser()
    assert _browser.login(here, portal, login="zhangsan", password=PASSWORD).portal_url
    phone = site.browser(user_agent=PHONE_UA)
    assert _browser.login(phone, portal, login="zhangsan", password=PASSWORD).portal_url
    with site.db() as s:
        sessions = {r.user_agent: r.sid for r in s.scalars(select(OidcSsoSession))}
    phone_sid = sessions[PHONE_UA]

    status, body = _change(here, PASSWORD, NEW)
    assert status == 200, body
    assert "密码已修改" in body
    assert "1 个登录已全部退出" in body

    # The phone's session is over, and its portal is told by back-channel.
    assert phone.get("/account").status_code == 401
    assert here.get("/account").status_code == 200
    with site.db() as s:
        ended = s.get(OidcSsoSession, phone_sid)
        assert ended is not None
        assert ended.end_reason == "password_changed"
        outbox = list_outbox(session=s, person_id=zhang.id)
    assert [(e.sid, e.client_id, e.status) for e in outbox] == [
        (phone_sid, portal.client.client_id, "pending")
    ]
    assert [e.person_id for e in site.events("password.changed")] == [zhang.id]
    assert site.events("logout")
    assert not _password_ok(site, PASSWORD)
    assert _password_ok(site, NEW)


def test_refusals_keep_the_password(site: Site, zhang: PersonRecord) -> None:
    here = site.browser()
    assert _browser.login(
        here, site.portal("门户甲"), login="zhangsan", password=PASSWORD
    ).portal_url

    status, body = _change(here, PASSWORD, NEW, again=NEW + "x")
    assert status == 400
    assert "两次输入的新密码不一致" in body
    status, body = _change(here, PASSWORD, "short")
    assert status == 400
    assert "密码长度" in body
    status, body = _change(here, PASSWORD, PASSWORD)
    assert status == 400
    assert "不能与当前密码相同" in body

    # A forged form: no CSRF token of this session.
    action, fields = _browser.form_with(here.get("/account/password").text, "/account/password")
    forged = {"csrf": "ab" * 32, "current_password": PASSWORD, "new_password": NEW}
    assert here.post(action, data=forged | {"new_password_again": NEW}).status_code == 403
    assert fields["csrf"] != forged["csrf"]

    # Guessing the current password counts towards the account lockout.
    for _ in range(4):
        assert _change(here, "wrong password 1", NEW)[0] == 400
    assert len(site.events("password.change_failed")) == 4
    status, body = _change(here, "wrong password 1", NEW)
    assert status == 400
    status, body = _change(here, PASSWORD, NEW)  # right, but the account is locked now
    assert status == 429
    assert "尝试次数过多" in body
    assert _password_ok(site, PASSWORD) is False  # locked for logins too
    site.clock.advance(__import__("datetime").timedelta(minutes=2))
    assert _password_ok(site, PASSWORD)
    assert site.events("password.changed") == []
