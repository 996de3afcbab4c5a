"""The login page's optional parts: the upstream (federation) login link, shown only when
federation is configured and pointing back to this interaction; the scan panel's script is the
site's own static file (CSP ``script-src 'self'``, no inline script)."""

from __future__ import annotations

import html
import re

import pytest

from tests.integration.identity.pages import _browser
from tests.integration.identity.pages.conftest import Site


def _login_page(site: Site) -> tuple[str, str]:
    browser = site.browser()
    portal = site.portal("门户甲")
    started = _browser.start(portal)
    trip = _browser.follow(browser, browser.get(started.url), portal.client.redirect_uris[0])
    assert trip.final.status_code == 200
    interaction = re.search(r'action="/oidc/interaction/([^/]+)/login"', trip.final.text)
    assert interaction is not None
    return trip.final.text, interaction.group(1)


def test_no_federation_link_unless_configured(site: Site) -> None:
    body, _ix = _login_page(site)
    assert "federation-login" not in body
    assert "账号登录</a>" not in body


def test_federation_link_returns_to_the_interaction(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUST_FEDERATION_ISSUER", "https://upstream.example")
    monkeypatch.setenv("TRUST_FEDERATION_CLIENT_ID", "ywtb")
    monkeypatch.setenv("TRUST_FEDERATION_CLIENT_SECRET", "s" * 32)
    body, ix = _login_page(site)
    link = re.search(r'<p id="federation-login"><a href="([^"]+)">([^<]+)</a>', body)
    assert link is not None
    assert html.unescape(link.group(1)) == (
        f"/oidc/federation/start?return_to=%2Foidc%2Finteraction%2F{ix}"
    )
    assert link.group(2) == "使用国家政务服务平台账号登录"


def test_scan_panel_uses_the_static_script_only(site: Site) -> None:
    browser = site.browser()
    portal = site.portal("门户乙")
    page = _browser.follow(browser, browser.get(_browser.start(portal).url), "http://x").final
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "unsafe-inline" not in csp
    body, ix = _login_page(site)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", body, re.S)
    assert scripts == [(' src="/static/identity-scan.js"', "")]
    assert f'data-status-url="/oidc/interaction/{ix}/scan/status?s=scn_' in body
    static = site.browser().get("/static/identity-scan.js")
    assert static.status_code == 200
    assert "data-status-url" in static.text
    assert "form.submit()" in static.text
