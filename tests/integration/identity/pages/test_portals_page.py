"""已授权的网站 through the app: the person sees each portal they consented to, with the data
they agreed to share, and withdraws that consent; the portal's refresh tokens - a long-lived
``offline_access`` one included - and access tokens stop working at once, the next login at
that portal asks for consent again, the other portal is untouched, and the withdrawal is
recorded (security event and transparency log)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from identity.oidc_service_clients import RegisteredClient
from identity.records import PersonRecord
from tests.integration.identity._factories import PASSWORD
from tests.integration.identity.pages import _browser
from tests.integration.identity.pages.conftest import Site
from trust.tlog.model import TlogEntry


def _login_and_exchange(
    browser: httpx.Client, portal: RegisteredClient, scope: str
) -> tuple[list[str], dict[str, Any]]:
    """A login at ``portal`` asking consent again (``prompt=consent``), then the exchange."""
    trip = _browser.login(
        browser, portal, login="zhangsan", password=PASSWORD, scope=scope, prompt="consent"
    )
    assert trip.portal_url is not None, trip.final.text[:600]
    token = _browser.exchange(browser, portal, trip.portal_url, trip.verifier)
    assert token.status_code == 200, token.text
    return trip.stages, token.json()


def _refresh(browser: httpx.Client, portal: RegisteredClient, refresh_token: str) -> Any:
    return browser.post(
        "/oidc/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(portal.client.client_id, portal.client_secret or ""),
    )


def _userinfo(browser: httpx.Client, access_token: str) -> int:
    return browser.get(
        "/oidc/userinfo", headers={"Authorization": f"Bearer {access_token}"}
    ).status_code


def test_withdrawing_consent_revokes_the_portals_tokens(site: Site, zhang: PersonRecord) -> None:
    browser = site.browser()
    kept = site.portal("门户乙")
    gone = site.portal("不动产登记网站")
    stages, kept_tokens = _login_and_exchange(browser, kept, "openid profile")
    assert stages == ["login", "consent"]
    site.clock.advance(timedelta(minutes=1))
    stages, tokens = _login_and_exchange(browser, gone, "openid profile phone offline_access")
    assert stages == ["consent"]  # single sign-on: no second password

    page = browser.get("/account/portals")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    body = page.text
    for name in ("门户乙", "不动产登记网站", "手机号码", "在您离开后继续访问（长期令牌）"):
        assert name in body
    assert "含长期令牌" in body
    action, fields = _browser.form_with(body, "/account/portals/withdraw")
    # the latest consent first
    assert body.index(f'data-client="{gone.client.client_id}"') < body.index(
        f'data-client="{kept.client.client_id}"'
    )
    fields["client_id"] = gone.client.client_id

    # A form without its CSRF token is refused and changes nothing.
    forged = browser.post(action, data={"client_id": gone.client.client_id, "csrf": "x"})
    assert forged.status_code == 403
    assert _refresh(browser, gone, tokens["refresh_token"]).status_code == 200

    done = browser.post(action, data=fields)
    assert done.status_code == 303
    assert done.headers["location"] == "/account/portals?done=withdrawn"
    after = browser.get(done.headers["location"]).text
    assert 'id="portals-done"' in after
    assert f'data-client="{gone.client.client_id}"' not in after
    assert f'data-client="{kept.client.client_id}"' in after

    # The withdrawn portal's tokens are dead; the other portal's still work.
    refused = _refresh(browser, gone, tokens["refresh_token"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert _userinfo(browser, tokens["access_token"]) == 401
    assert _userinfo(browser, kept_tokens["access_token"]) == 200
    assert _refresh(browser, kept, kept_tokens["refresh_token"]).status_code == 200

    # Withdrawing again is a no-op, not an error; the next login there asks again.
    again = browser.post(action, data=fields)
    assert again.status_code == 303
    stages, _ = _login_and_exchange(browser, gone, "openid profile")
    assert stages == ["consent"]

    withdrawn = [e for e in site.events("consent.revoked")]
    assert len(withdrawn) == 1
    assert withdrawn[0].detail["client_id"] == gone.client.client_id
    assert withdrawn[0].detail["scopes"] == ["offline_access", "phone", "profile"]
    with site.db() as s:
        logged = s.scalars(
            select(TlogEntry).where(TlogEntry.kind == "identity.consent_withdrawn")
        ).all()
    assert [e.subject for e in logged] == [gone.client.client_id]


def test_an_unknown_portal_is_a_clear_error(site: Site, zhang: PersonRecord) -> None:
    browser = site.browser()
    portal = site.portal("门户甲")
    _login_and_exchange(browser, portal, "openid profile")
    page = browser.get("/account/portals").text
    action, fields = _browser.form_with(page, "/account/portals/withdraw")
    missing = browser.post(action, data=fields | {"client_id": "no-such-portal"})
    assert missing.status_code == 404
    assert "没有该网站" in missing.text
    assert f'data-client="{portal.client.client_id}"' in missing.text  # nothing withdrawn


def test_without_a_session_the_page_says_to_log_in(site: Site) -> None:
    page = site.browser().get("/account/portals")
    assert page.status_code == 401
    assert "请先登录" in page.text
