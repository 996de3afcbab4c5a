"""我的账户 through the app: who may see it (the browser SSO session), what it shows (masked
identity data, proofing level with its evidence, the session's authentication strength, the
legal persons the person acts for) and what it never shows (the full ID number or phone)."""

from __future__ import annotations

import re
from datetime import timedelta

from identity import service
from identity.records import PersonRecord
from identity.sim_data import SimRegistryData
from identity.verifiers import Verifiers
from tests.integration.identity._factories import PASSWORD, make_organisation
from tests.integration.identity.pages import _browser
from tests.integration.identity.pages.conftest import Site


def _text(body: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}">(.*?)</', body, re.S)
    assert match is not None, f"#{element_id} missing"
    return match.group(1).strip()


def test_without_a_session_the_page_says_to_log_in(site: Site) -> None:
    browser = site.browser()
    for path in ("/account", "/account/agents", "/account/password"):
        page = browser.get(path)
        assert page.status_code == 401
        assert "请先登录" in page.text
        assert page.headers["cache-control"] == "no-store"
        # The account login (when the app serves one) brings the browser back to this page.
        has_login = any(getattr(r, "path", None) == "/account/login" for r in site.app.routes)
        link = f'href="/account/login?return_to={path.replace("/", "%2F")}"'
        assert (link in page.text) is has_login


def test_account_page_shows_proofing_evidence_and_session_strength(
    site: Site,
    zhang: PersonRecord,
    li: PersonRecord,
    sim_data: SimRegistryData,
    verifiers: Verifiers,
) -> None:
    citizen = sim_data.citizens[0]
    with site.db() as s, s.begin():
        service.verify_population(
            session=s, clock=site.clock, keys=site.keys, verifiers=verifiers, person_id=zhang.id
        )
        site.clock.advance(timedelta(minutes=1))
        failed = service.verify_bank_card(
            session=s,
            clock=site.clock,
            keys=site.keys,
            verifiers=verifiers,
            person_id=zhang.id,
            card_number=sim_data.bank_cards[1].card_number,  # 李文静's card: not a match
        )
        assert not failed.passed
        own = make_organisation(s, site.clock, sim_data.enterprises[0], zhang)
        other = make_organisation(s, site.clock, sim_data.enterprises[1], li)
        service.grant_agent(
            session=s,
            clock=site.clock,
            legal_person_id=other.id,
            granted_by=li.id,
            agent_id=zhang.id,
            scopes=["matter:apply"],
            not_after=site.clock.now() + timedelta(days=30),
        )
    browser = site.browser()
    portal = site.portal("门户甲")
    trip = _browser.login(browser, portal, login="zhangsan", password=PASSWORD)
    assert trip.portal_url is not None
    assert trip.stages == ["login"]

    page = browser.get("/account")
    assert page.status_code == 200, page.text
    body = page.text
    assert _text(body, "account-name") == "张*明"
    assert (
        _text(body, "account-id-number")
        == citizen.id_number[:3] + "*" * 13 + citizen.id_number[-2:]
    )
    assert _text(body, "account-phone").startswith(citizen.phone[:3] + "****" + citizen.phone[-4:])
    assert _text(body, "account-level") == "二级"
    # Never the full number, phone or name.
    assert citizen.id_number not in body
    assert citizen.phone not in body
    assert citizen.name not in body

    rows = re.findall(r'<tr data-kind="([a-z_]+)" data-outcome="([a-z]+)">(.*?)</tr>', body, re.S)
    assert [(k, o) for k, o, _ in rows] == [("bank_card", "mismatch"), ("population", "match")]
    bank, population = rows[0][2], rows[1][2]
    assert "人口库核验" in population
    assert "一致，核验通过" in population
    assert "模拟数据" in population  # the simulated registry is labelled wherever it shows
    assert "二级" in population  # the level this evidence supports on its own
    assert "16:00" in population  # 08:00 UTC shown in Beijing time
    assert "不一致" in bank
    assert "不提升核验等级" in bank

    assert _text(body, "session-methods") == "密码"
    assert _text(body, "session-strength").startswith("一般")
    # acr = min(proofing P2, ceiling of one factor A1 = loa:1)
    assert _text(body, "session-acr") == "一级（urn:ywtb:loa:1）"
    acting = re.search(r'<ul id="acting-for">(.*?)</ul>', body, re.S).group(1)  # type: ignore[union-attr]
    assert "模拟数据科技有限公司" in acting
    assert "法定代表人" in acting
    assert "示例智慧政务服务有限公司" in acting
    assert "经办人" in acting
    assert own.uscc in acting
    assert other.uscc in acting
    for link in ('href="/account/sessions"', 'href="/account/agents"', 'href="/account/password"'):
        assert link in body


def test_sso_session_records_the_browser_user_agent(site: Site, zhang: PersonRecord) -> None:
    browser = site.browser(user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0 " + "x" * 300)
    _browser.login(browser, site.portal("门户甲"), login="zhangsan", password=PASSWORD)
    sessions = browser.get("/account/sessions")
    assert sessions.status_code == 200
    assert "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0" in sessions.text
    from identity.oidc_model import OidcSsoSession

    with site.db() as s:
        (row,) = s.query(OidcSsoSession).all()
        assert row.user_agent is not None
        assert len(row.user_agent) == 200
