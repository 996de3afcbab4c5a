"""经办人授权 through the app: the legal representative grants an agent by citizen ID number and
name (logged to the transparency log, recorded as a security event) and revokes; the agent sees
what they hold; forged forms, strangers and guessing are refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from identity.model import AgentAuthorisation
from identity.records import OrganisationRecord, PersonRecord
from identity.sim_data import SimRegistryData
from tests.api._support import TestClient
from tests.integration.identity._factories import PASSWORD, make_organisation
from tests.integration.identity.pages import _browser
from tests.integration.identity.pages.conftest import Site
from trust.tlog.model import TlogEntry


@pytest.fixture
def company(site: Site, zhang: PersonRecord, sim_data: SimRegistryData) -> OrganisationRecord:
    with site.db() as s, s.begin():
        return make_organisation(s, site.clock, sim_data.enterprises[0], zhang)


def _logged_in(site: Site, login: str) -> TestClient:
    browser = site.browser()
    trip = _browser.login(browser, site.portal(f"门户-{login}"), login=login, password=PASSWORD)
    assert trip.portal_url is not None
    return browser


def _grant_form(browser: TestClient) -> tuple[str, dict[str, str]]:
    page = browser.get("/account/agents")
    assert page.status_code == 200, page.text
    return _browser.form_with(page.text, "/account/agents/grant")


def _grant(
    browser: TestClient, citizen_name: str, id_number: str, **extra: object
) -> tuple[int, str]:
    action, fields = _grant_form(browser)
    data: dict[str, object] = fields | {
        "agent_name": citizen_name,
        "agent_id_number": id_number,
        "scopes": ["matter:apply", "licence:view"],
        "not_after": "2027-06-30",
    }
    data.update(extra)
    response = browser.post(action, data=data)  # type: ignore[arg-type]
    if response.status_code == 303:
        response = browser.get(response.headers["location"])
        return 303, response.text
    return response.status_code, response.text


def _log_kinds(site: Site) -> list[str]:
    with site.db() as s:
        return list(s.scalars(select(TlogEntry.kind).order_by(TlogEntry.idx)))


def test_grant_list_and_revoke(
    site: Site,
    zhang: PersonRecord,
    li: PersonRecord,
    company: OrganisationRecord,
    sim_data: SimRegistryData,
) -> None:
    rep = _logged_in(site, "zhangsan")
    agent_citizen = sim_data.citizens[1]
    status, body = _grant(rep, agent_citizen.name, agent_citizen.id_number)
    assert status == 303
    assert "已授权经办人" in body
    with site.db() as s:
        (row,) = s.scalars(select(AgentAuthorisation))
        assert (row.legal_person_id, row.agent_id, row.granted_by) == (company.id, li.id, zhang.id)
        assert row.scopes == "licence:view matter:apply"
        # "有效期至 2027-06-30" includes that whole day in Beijing time.
        assert row.not_after == datetime(2027, 6, 30, 16, 0, tzinfo=UTC)
        assert row.not_before == site.clock.now()
    assert "identity.agent_granted" in _log_kinds(site)
    assert [e.detail["authorisation_id"] for e in site.events("agent.granted")] == [row.id]
    listed = re.search(
        rf'<tr data-authorisation="{row.id}" data-state="valid">(.*?)</tr>', body, re.S
    )
    assert listed is not None
    assert "李文静" in listed.group(1)
    assert "代为申办政务服务事项" in listed.group(1)
    assert agent_citizen.id_number not in body  # only the masked number is shown

    # The agent sees the authorisation they hold, and acts for the company at login.
    agent = _logged_in(site, "liwenjing")
    held = agent.get("/account/agents").text
    assert re.search(rf'<tr data-authorisation="{row.id}" data-state="valid">', held)
    assert "模拟数据科技有限公司" in held
    assert "授权新的经办人" not in held
    assert "经办人，授权至 2027-07-01 00:00" in agent.get("/account").text

    # A second grant for the same agent is refused while the first is valid.
    status, body = _grant(rep, agent_citizen.name, agent_citizen.id_number)
    assert status == 409
    assert "已有有效授权" in body

    # Revoke.
    action, fields = _browser.form_with(rep.get("/account/agents").text, "/account/agents/revoke")
    assert fields["authorisation_id"] == row.id
    revoked = rep.post(action, data=fields)
    assert revoked.status_code == 303
    after = rep.get(revoked.headers["location"]).text
    assert "已撤销该经办人授权" in after
    assert re.search(rf'<tr data-authorisation="{row.id}" data-state="revoked">', after)
    assert "identity.agent_revoked" in _log_kinds(site)
    assert re.search(
        rf'data-authorisation="{row.id}" data-state="revoked"', agent.get("/account/agents").text
    )


def test_refusals(
    site: Site,
    zhang: PersonRecord,
    li: PersonRecord,
    company: OrganisationRecord,
    sim_data: SimRegistryData,
) -> None:
    rep = _logged_in(site, "zhangsan")
    agent_citizen = sim_data.citizens[1]

    # No CSRF token, or one of another session: refused, nothing granted.
    action, fields = _grant_form(rep)
    forged = fields | {"csrf": "00" * 32, "agent_name": agent_citizen.name}
    forged |= {"agent_id_number": agent_citizen.id_number, "scopes": "matter:apply"}
    forged["not_after"] = "2027-01-01"
    assert rep.post(action, data=forged).status_code == 403
    # A right number with a wrong name: the same answer as an unknown person.
    status, body = _grant(rep, "李文", agent_citizen.id_number)
    assert status == 404
    assert "未找到" in body
    unknown = sim_data.citizens[2]  # 王建国 has no account here
    assert _grant(rep, unknown.name, unknown.id_number)[0] == 404
    # A number failing the GB 11643 check character.
    bad = agent_citizen.id_number[:17] + ("0" if agent_citizen.id_number[17] != "0" else "1")
    status, body = _grant(rep, agent_citizen.name, bad)
    assert status == 400
    # Validity beyond three years, or no scope.
    assert (
        _grant(rep, agent_citizen.name, agent_citizen.id_number, not_after="2031-01-01")[0] == 400
    )
    assert _grant(rep, agent_citizen.name, agent_citizen.id_number, scopes=[])[0] == 400
    # Someone else's company: only its legal representative may grant.
    agent = _logged_in(site, "liwenjing")
    page = agent.get("/account/agents").text
    assert "您不是任何已注册单位的法定代表人" in page
    assert "/account/agents/grant" not in page
    with site.db() as s, s.begin():
        make_organisation(s, site.clock, sim_data.enterprises[1], li)
    action, fields = _grant_form(agent)  # 李文静 now represents a company of her own
    fields |= {"legal_person_id": company.id, "agent_name": sim_data.citizens[0].name}
    fields |= {"agent_id_number": sim_data.citizens[0].id_number, "not_after": "2027-01-01"}
    refused = agent.post(action, data=fields | {"scopes": "matter:apply"})
    assert refused.status_code == 403
    assert "仅法定代表人" in refused.text
    with site.db() as s:
        assert s.scalar(select(AgentAuthorisation.id)) is None
    assert "identity.agent_granted" not in _log_kinds(site)


def test_failed_lookups_are_rate_limited(
    site: Site,
    zhang: PersonRecord,
    li: PersonRecord,
    company: OrganisationRecord,
    sim_data: SimRegistryData,
) -> None:
    rep = _logged_in(site, "zhangsan")
    numbers = [c.id_number for c in sim_data.citizens[2:5]]  # valid numbers, no accounts
    for i in range(10):
        assert _grant(rep, f"某人{i}", numbers[i % 3])[0] == 404
    status, body = _grant(rep, "某人", numbers[0])
    assert status == 429
    assert "次数过多" in body
    site.clock.advance(timedelta(minutes=11))
    assert _grant(rep, "某人", numbers[0])[0] == 404
