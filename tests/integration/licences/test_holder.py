"""Holder use over HTTP (issue 5 item 5, fix 6): the holder is the natural person logged in
through the identity capability (the real login pages, ``trust.web.person``): their licences are
those of their verified citizen ID number, and those of the company they represent or act for
as agent with ``licence:view``; share grants (fields, purpose, expiry ≤ 7 days, max uses, named
recipient, revocable), through the API and through the page's form (code shown once); the
ex-officio lookup (department staff; item code, case number, reason; an explicit department)
shown to the holder; every verification in the holder's record."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from licences.model import LicenceAccess
from tests.api._support import TestClient, assert_problem
from tests.factories.principals import Staff, make_org, make_staff
from tests.integration.licences._people import People, csrf_of, log_in, make_people
from tests.integration.licences.conftest import LAWYER, Lic, business_body
from trust.clock import FixedClock
from trust.crypto import sm3
from trust.principals import service as principals
from trust.principals.roles import Role


@pytest.fixture
def people(lic: Lic, db: sessionmaker[Session], clock: FixedClock) -> People:
    return make_people(lic.app, db, clock)


def _lawyer(holder_name: str, code: str) -> dict[str, Any]:
    return {
        "type_code": LAWYER,
        "holder_name": holder_name,
        "holder_code": code,
        "fields": {
            "gender": "男",
            "practice_org": "湖南某某律师事务所",
            "practice_category": "专职律师",
            "qualification_no": "A2019",
        },
    }


@pytest.fixture
def issued(lic: Lic, people: People) -> dict[str, dict[str, Any]]:
    """A licence of each person and of the company, and one of a stranger."""
    return {
        "rep": lic.issue(_lawyer(people.rep.name, people.rep.id_number)),
        "company": lic.issue(
            business_body(holder_name=people.company.name, holder_code=people.company.uscc)
        ),
        "agent": lic.issue(_lawyer(people.agent.name, people.agent.id_number)),
        "unverified": lic.issue(_lawyer(people.unverified.name, people.unverified.id_number)),
        "stranger": lic.issue(),
    }


def _ids(browser: TestClient) -> set[str]:
    r = browser.get("/licences/holder/licences")
    assert r.status_code == 200, r.text
    return {x["id"] for x in r.json()}


def test_holder_api_needs_a_logged_in_person(lic: Lic, issued: dict[str, Any]) -> None:
    r = lic.client.get("/licences/holder/licences")
    assert_problem(r, 401, "licence.holder_required")
    # A staff API token is not a holder; nor is the old interim token.
    r = lic.client.get("/licences/holder/licences", headers=lic.issuer.headers)
    assert_problem(r, 401, "licence.holder_required")
    r = lic.client.get("/licences/holder/licences", headers={"Authorization": "Bearer hld.x.1.y"})
    assert r.status_code == 401


def test_not_logged_in_page_links_to_the_identity_login(lic: Lic, people: People) -> None:
    browser = TestClient(lic.app, base_url=lic.app.state.settings.public_base_url)
    page = browser.get("/licences/mine")
    assert page.status_code == 401
    assert 'href="/account/login?return_to=%2Flicences%2Fmine"' in page.text
    start = browser.get("/account/login?return_to=%2Flicences%2Fmine", follow_redirects=False)
    assert start.status_code == 303
    assert start.headers["location"].startswith("/oidc/authorize?")
    assert "client_id=ywtb-account" in start.headers["location"]
    assert "code_challenge_method=S256" in start.headers["location"]
    # Only local paths to return to.
    for bad in ("https://evil.example/x", "//evil.example/x", "/\\evil"):
        r = browser.get("/account/login", params={"return_to": bad}, follow_redirects=False)
        assert r.status_code == 400


def test_callback_refuses_a_forged_state(lic: Lic, people: People) -> None:
    browser = TestClient(lic.app, base_url=lic.app.state.settings.public_base_url)
    browser.get("/account/login?return_to=%2Flicences%2Fmine", follow_redirects=False)
    r = browser.get("/account/login/callback?code=abc&state=not-the-state")
    assert r.status_code == 400
    assert "登录请求已过期或无效" in r.text


def test_legal_representative_sees_own_and_company_licences(
    lic: Lic, people: People, issued: dict[str, dict[str, Any]]
) -> None:
    browser = log_in(lic.app, people.rep)
    assert _ids(browser) == {issued["rep"]["id"], issued["company"]["id"]}
    page = browser.get("/licences/mine")
    assert page.status_code == 200
    assert people.rep.name in page.text
    assert people.company.name in page.text
    assert page.text.count('class="holder-licence"') == 2
    pdf = browser.get(f"/licences/holder/licences/{issued['company']['id']}/document.pdf")
    assert pdf.status_code == 200
    assert sm3(pdf.content).hex() == issued["company"]["document_sm3"]
    page_pdf = browser.get(f"/licences/mine/{issued['rep']['id']}/document.pdf")
    assert sm3(page_pdf.content).hex() == issued["rep"]["document_sm3"]
    other = browser.get(f"/licences/holder/licences/{issued['stranger']['id']}/document.pdf")
    assert_problem(other, 404, "licence.not_found")


def test_agent_sees_the_company_only_with_licence_view(
    lic: Lic, people: People, issued: dict[str, dict[str, Any]]
) -> None:
    agent = log_in(lic.app, people.agent)
    assert _ids(agent) == {issued["agent"]["id"], issued["company"]["id"]}
    without_scope = log_in(lic.app, people.other_agent)
    assert _ids(without_scope) == set()


def test_unverified_person_sees_nothing_of_their_number(
    lic: Lic, people: People, issued: dict[str, dict[str, Any]]
) -> None:
    browser = log_in(lic.app, people.unverified)
    assert _ids(browser) == set()
    page = browser.get("/licences/mine")
    assert 'id="holder-unverified"' in page.text


@pytest.fixture
def bank_staff(db: sessionmaker[Session], clock: FixedClock) -> tuple[Staff, Staff]:
    """Two staff members of a bank: the named recipient of a share and a colleague."""
    with db() as s, s.begin():
        bank = make_org(s, clock, name="某银行", kind="company")
        clerk = make_staff(s, clock, login="clerk", role=Role.AUDITOR, org_id=bank.id)
        other = make_staff(s, clock, login="other", role=Role.AUDITOR, org_id=bank.id)
    return clerk, other


def _share(browser: TestClient, licence_id: str, **changes: Any) -> Any:
    body: dict[str, Any] = {
        "fields": ["holder_name", "legal_representative", "address"],
        "purpose": "办理银行开户",
        "recipient": "user:usr_nobody",
        "expires_in_hours": 48,
        "max_uses": 2,
    }
    body.update(changes)
    return browser.post(f"/licences/holder/licences/{licence_id}/shares", json=body)


def test_share_grant_redeemed_by_the_named_party_and_revocable(
    lic: Lic,
    people: People,
    issued: dict[str, dict[str, Any]],
    bank_staff: tuple[Staff, Staff],
) -> None:
    clerk, other = bank_staff
    holder = log_in(lic.app, people.agent)  # the agent presents the company's licence
    company = issued["company"]["id"]
    r = _share(holder, company, recipient=f"user:{clerk.user_id}")
    assert r.status_code == 201, r.text
    grant = r.json()
    token = grant["token"]
    assert token.startswith("shr_")
    redeem = {"token": token}
    wrong = lic.client.post("/licences/shares/redeem", json=redeem, headers=other.headers)
    assert_problem(wrong, 404, "licence.share.not_found")
    got = lic.client.post("/licences/shares/redeem", json=redeem, headers=clerk.headers)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["result"] == "VALID"
    assert set(body["fields"]) == {"holder_name", "legal_representative", "address"}
    assert body["fields"]["holder_name"] == people.company.name
    assert body["field_labels"]["holder_name"] == "持证主体名称（完整）"
    assert body["field_labels"]["address"] == "住所"  # the type's own label
    assert "document_pdf_base64" not in body
    assert body["uses_left"] == 1
    revoked = holder.post(f"/licences/holder/shares/{grant['id']}/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]
    again = lic.client.post("/licences/shares/redeem", json=redeem, headers=clerk.headers)
    assert_problem(again, 404, "licence.share.not_found")
    # The representative sees the same activity, the agent named as the sharer in the log.
    rep = log_in(lic.app, people.rep)
    activity = rep.get(f"/licences/holder/licences/{company}/activity").json()
    assert [v["channel"] for v in activity["verifications"]] == ["share"]
    assert activity["verifications"][0]["client"] == f"user:{clerk.user_id}"
    assert activity["shares"][0]["uses"] == 1


def _staff_browser(lic: Lic, staff_token: str) -> TestClient:
    """A browser signed in through the staff login page (the cookie, as a person gets it)."""
    browser = TestClient(lic.app, follow_redirects=False)
    browser.__enter__()
    page = browser.get("/staff/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    signed_in = browser.post("/staff/login", data={"token": staff_token, "csrf": csrf.group(1)})
    assert signed_in.status_code == 303, signed_in.text
    return browser


def test_a_named_staff_recipient_redeems_a_share_on_the_page(
    lic: Lic,
    people: People,
    issued: dict[str, dict[str, Any]],
    bank_staff: tuple[Staff, Staff],
) -> None:
    clerk, other = bank_staff
    holder = log_in(lic.app, people.rep)
    company = issued["company"]["id"]
    grant = _share(
        holder,
        company,
        recipient=f"user:{clerk.user_id}",
        fields=["holder_name", "address", "document"],
    ).json()
    mine = holder.get("/licences/mine")
    assert mine.status_code == 200

    anonymous = lic.client.get("/licences/shares/redeem/page", follow_redirects=False)
    assert (anonymous.status_code, anonymous.headers["location"]) == (303, "/staff/login")
    browser = _staff_browser(lic, clerk.token)
    form_page = browser.get("/licences/shares/redeem/page")
    assert form_page.status_code == 200
    assert form_page.headers["cache-control"] == "no-store"
    csrf = re.search(r'name="csrf" value="([^"]+)"', form_page.text)
    assert csrf is not None
    redeem = {"csrf": csrf.group(1), "token": f"  {grant['token']} "}

    forged = browser.post("/licences/shares/redeem/page", data={**redeem, "csrf": "x" * 40})
    assert_problem(forged, 403, "licence.csrf")
    blank = browser.post("/licences/shares/redeem/page", data={**redeem, "token": " "})
    assert blank.status_code == 400
    assert "请输入共享码" in blank.text

    shown = browser.post("/licences/shares/redeem/page", data=redeem)
    assert shown.status_code == 200, shown.text[:2000]
    assert shown.headers["cache-control"] == "no-store"
    html = shown.text
    assert 'data-result="VALID"' in html
    assert "有效（VALID）" in html
    assert f"<td>{people.company.name}</td>" in html  # the full name: a granted field
    assert "持证主体名称（完整）" in html
    assert "住所" in html
    assert 'id="share-uses-left">1<' in html
    document = re.search(r'id="share-document" href="data:application/pdf;base64,([^"]+)"', html)
    assert document is not None
    assert base64.b64decode(document.group(1)).startswith(b"%PDF-")

    # Another staff member with the same code, an unknown code: one message, nothing used.
    stranger = _staff_browser(lic, other.token)
    page = stranger.get("/licences/shares/redeem/page")
    other_csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert other_csrf is not None
    refused = stranger.post(
        "/licences/shares/redeem/page", data={"csrf": other_csrf.group(1), "token": grant["token"]}
    )
    assert refused.status_code == 404
    assert "共享码无效或已失效" in refused.text
    unknown = browser.post("/licences/shares/redeem/page", data={**redeem, "token": "shr_nothing"})
    assert unknown.status_code == 404
    assert "共享码无效或已失效" in unknown.text

    # The holder sees the use, by whom; the last use empties the grant.
    activity = holder.get(f"/licences/holder/licences/{company}/activity").json()
    assert [v["client"] for v in activity["verifications"]] == [f"user:{clerk.user_id}"]
    assert activity["shares"][0]["uses"] == 1
    assert browser.post("/licences/shares/redeem/page", data=redeem).status_code == 200
    spent = browser.post("/licences/shares/redeem/page", data=redeem)
    assert spent.status_code == 404


def test_share_limits(lic: Lic, people: People, issued: dict[str, dict[str, Any]]) -> None:
    holder = log_in(lic.app, people.rep)
    lid = issued["company"]["id"]
    assert _share(holder, lid, expires_in_hours=169).status_code == 422
    assert _share(holder, lid, purpose="x" * 201).status_code == 422
    assert_problem(_share(holder, lid, fields=["colour"]), 400, "licence.share.fields")
    assert_problem(_share(holder, lid, recipient="bank"), 400, "licence.share.recipient")
    stranger = _share(holder, issued["stranger"]["id"])
    assert_problem(stranger, 404, "licence.not_found")


def test_share_form_on_the_page_shows_the_code_once(
    lic: Lic, people: People, issued: dict[str, dict[str, Any]]
) -> None:
    holder = log_in(lic.app, people.rep)
    page = holder.get("/licences/mine")
    csrf = csrf_of(page)
    lid = issued["company"]["id"]
    form = {
        "csrf": csrf,
        "fields": ["holder_name", "address"],
        "purpose": "办理银行开户",
        "recipient": "client:cli_bank",
        "expires_days": "7",
        "max_uses": "3",
    }
    r = holder.post(f"/licences/mine/{lid}/shares", data=form)
    assert r.status_code == 200, r.text[:2000]
    assert r.headers["cache-control"] == "no-store"
    token = re.search(r'id="share-token">(shr_[a-z0-9]+)<', r.text)
    assert token is not None
    assert "/licences/shares/redeem" in r.text
    after = holder.get("/licences/mine")
    assert token.group(1) not in after.text  # shown once
    activity = holder.get(f"/licences/holder/licences/{lid}/activity").json()
    (share,) = activity["shares"]
    assert (share["recipient"], share["max_uses"], share["purpose"]) == (
        "client:cli_bank",
        3,
        "办理银行开户",
    )
    assert share["fields"] == ["holder_name", "address"]
    # Refused: a wrong CSRF token, a purpose over 200 characters, more than 7 days.
    forged = holder.post(f"/licences/mine/{lid}/shares", data={**form, "csrf": "x" * 40})
    assert forged.status_code == 403
    long = holder.post(f"/licences/mine/{lid}/shares", data={**form, "purpose": "长" * 201})
    assert long.status_code == 400
    assert "用证事由为 1 至 200 个字符" in long.text
    late = holder.post(f"/licences/mine/{lid}/shares", data={**form, "expires_days": "8"})
    assert late.status_code == 400
    assert len(holder.get(f"/licences/holder/licences/{lid}/activity").json()["shares"]) == 1


def test_ex_officio_lookup_names_its_department_and_is_shown_to_the_holder(
    lic: Lic,
    people: People,
    issued: dict[str, dict[str, Any]],
    db: sessionmaker[Session],
    clock: FixedClock,
) -> None:
    with db() as s, s.begin():
        tax = make_org(s, clock, name="某市税务局")
        customs = make_org(s, clock, name="某海关")
        officer = make_staff(s, clock, login="officer", role=Role.AUDITOR, org_id=tax.id)
        both = make_staff(s, clock, login="both", role=Role.AUDITOR, org_id=tax.id)
        principals.grant_role(
            session=s,
            clock=clock,
            user_id=both.user_id,
            role=Role.AUDITOR,
            organisation_id=customs.id,
            actor="test",
        )
        firm = make_org(s, clock, name="某公司", kind="company")
        employee = make_staff(s, clock, login="employee", role=Role.AUDITOR, org_id=firm.id)
    company = issued["company"]
    body = {
        "identifier": company["identifier"],
        "service_item_code": "11350100MB0000000X4000111000000",
        "case_number": "2026-SW-000321",
        "reason": "办理税务登记，依职能核验营业执照",
    }
    r = lic.client.post("/licences/ex-officio", json=body, headers=officer.headers)
    assert r.status_code == 200, r.text
    assert r.json()["identifier"] == company["identifier"]
    # Staff of two departments must say for which one; only one of their own.
    ambiguous = lic.client.post("/licences/ex-officio", json=body, headers=both.headers)
    assert_problem(ambiguous, 400, "licence.ex_officio.department_ambiguous")
    foreign = lic.client.post(
        "/licences/ex-officio", json={**body, "organisation_id": firm.id}, headers=both.headers
    )
    assert_problem(foreign, 403, "licence.ex_officio.department")
    explicit = lic.client.post(
        "/licences/ex-officio", json={**body, "organisation_id": customs.id}, headers=both.headers
    )
    assert explicit.status_code == 200, explicit.text
    denied = lic.client.post("/licences/ex-officio", json=body, headers=employee.headers)
    assert_problem(denied, 403, "licence.ex_officio.staff")
    by_client = lic.client.post("/licences/ex-officio", json=body, headers=lic.system)
    assert_problem(by_client, 403, "licence.ex_officio.staff")
    missing = lic.client.post(
        "/licences/ex-officio", json={**body, "reason": ""}, headers=officer.headers
    )
    assert missing.status_code == 422
    with db() as s:
        rows = s.scalars(select(LicenceAccess).order_by(LicenceAccess.at, LicenceAccess.id))
        assert sorted(a.organisation_id for a in rows) == sorted([tax.id, customs.id])
    holder = log_in(lic.app, people.rep)
    activity = holder.get(f"/licences/holder/licences/{company['id']}/activity").json()
    assert len(activity["ex_officio"]) == 2
    entry = next(a for a in activity["ex_officio"] if a["actor"] == f"user:{officer.user_id}")
    assert (entry["case_number"], entry["reason"]) == (body["case_number"], body["reason"])
    assert entry["organisation_id"] == tax.id


def test_holder_sees_every_public_verification(
    lic: Lic, people: People, issued: dict[str, dict[str, Any]]
) -> None:
    mine = issued["rep"]
    lic.verify_code(mine["verification_code"])
    lic.verify_qr(mine["qr_payload"])
    holder = log_in(lic.app, people.rep)
    activity = holder.get(f"/licences/holder/licences/{mine['id']}/activity").json()
    assert [v["channel"] for v in activity["verifications"]] == ["code", "qr"]
    assert all(v["result"] == "VALID" for v in activity["verifications"])


def test_logging_out_of_identity_ends_the_holder_session(
    lic: Lic, people: People, issued: dict[str, dict[str, Any]], clock: FixedClock
) -> None:
    holder = log_in(lic.app, people.rep)
    assert _ids(holder)
    clock.advance(timedelta(days=2))  # past the SSO session's absolute lifetime
    assert_problem(holder.get("/licences/holder/licences"), 401, "licence.holder_required")
