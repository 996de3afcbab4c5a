"""Holder use and third parties over HTTP (issue 5 item 5): the holder's licences and download,
share grants (fields, purpose, expiry ≤ 7 days, max uses, named recipient, revocable), the
ex-officio lookup (department staff; item code, case number, reason) shown to the holder, and
every verification in the holder's record."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from licences.catalogue import HolderKind
from licences.service_keys import config_from_settings
from licences.service_share import holder_token_for
from tests.api._support import assert_problem
from tests.factories.principals import make_org, make_staff, make_uscc
from tests.integration.licences.conftest import Lic, business_body
from trust.clock import FixedClock
from trust.crypto import sm3
from trust.principals.roles import Role


def _holder(lic: Lic, code: str) -> dict[str, str]:
    token = holder_token_for(
        config=config_from_settings(lic.app.state.settings),
        clock=lic.app.state.clock,
        holder_kind=HolderKind.LEGAL,
        holder_code=code,
    )
    return {"Authorization": f"Bearer {token}"}


def _two_licences(lic: Lic) -> tuple[str, dict[str, str], list[dict[str, Any]]]:
    code = make_uscc()
    mine = [lic.issue(business_body(holder_code=code)) for _ in range(2)]
    lic.issue()  # someone else's
    return code, _holder(lic, code), mine


def test_holder_sees_and_downloads_own_licences_only(lic: Lic) -> None:
    _code, headers, mine = _two_licences(lic)
    r = lic.client.get("/licences/holder/licences", headers=headers)
    assert r.status_code == 200, r.text
    assert sorted(x["id"] for x in r.json()) == sorted(x["id"] for x in mine)
    pdf = lic.client.get(f"/licences/holder/licences/{mine[0]['id']}/document.pdf", headers=headers)
    assert pdf.status_code == 200
    assert sm3(pdf.content).hex() == mine[0]["document_sm3"]
    other = lic.issued[-1]["id"]
    r = lic.client.get(f"/licences/holder/licences/{other}/document.pdf", headers=headers)
    assert_problem(r, 404, "licence.not_found")
    r = lic.client.get("/licences/holder/licences", headers={"Authorization": "Bearer hld.x.1.y"})
    assert_problem(r, 401, "licence.holder_required")
    assert (
        lic.client.get("/licences/holder/licences", headers=lic.issuer.headers).status_code == 401
    )


def _share(lic: Lic, headers: dict[str, str], licence_id: str, **changes: Any) -> Any:
    body: dict[str, Any] = {
        "fields": ["holder_name", "legal_representative", "address"],
        "purpose": "办理银行开户",
        "recipient": f"client:{lic.system['Authorization']}",
        "expires_in_hours": 48,
        "max_uses": 2,
    }
    body.update(changes)
    return lic.client.post(
        f"/licences/holder/licences/{licence_id}/shares", json=body, headers=headers
    )


def test_share_grant_redeemed_by_the_named_party_and_revocable(
    lic: Lic, db: sessionmaker[Session], clock: FixedClock
) -> None:
    _code, headers, mine = _two_licences(lic)
    with db() as s, s.begin():
        bank = make_org(s, clock, name="某银行", kind="company")
        clerk = make_staff(s, clock, login="clerk", role=Role.AUDITOR, org_id=bank.id)
        other = make_staff(s, clock, login="other", role=Role.AUDITOR, org_id=bank.id)
    r = _share(lic, headers, mine[0]["id"], recipient=f"user:{clerk.user_id}")
    assert r.status_code == 201, r.text
    grant = r.json()
    token = grant["token"]
    assert token.startswith("shr_")
    assert len(token) > 50
    redeem = {"token": token}
    wrong = lic.client.post("/licences/shares/redeem", json=redeem, headers=other.headers)
    assert_problem(wrong, 404, "licence.share.not_found")
    got = lic.client.post("/licences/shares/redeem", json=redeem, headers=clerk.headers)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["result"] == "VALID"
    assert set(body["fields"]) == {"holder_name", "legal_representative", "address"}
    assert body["fields"]["legal_representative"] == "王五"
    assert "business_scope" not in body["fields"]
    assert "document_pdf_base64" not in body
    assert body["uses_left"] == 1
    revoked = lic.client.post(f"/licences/holder/shares/{grant['id']}/revoke", headers=headers)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]
    again = lic.client.post("/licences/shares/redeem", json=redeem, headers=clerk.headers)
    assert_problem(again, 404, "licence.share.not_found")
    activity = lic.client.get(
        f"/licences/holder/licences/{mine[0]['id']}/activity", headers=headers
    ).json()
    assert [v["channel"] for v in activity["verifications"]] == ["share"]
    assert activity["verifications"][0]["client"] == f"user:{clerk.user_id}"
    assert activity["shares"][0]["uses"] == 1


def test_share_limits(lic: Lic, db: sessionmaker[Session], clock: FixedClock) -> None:
    _code, headers, mine = _two_licences(lic)
    lid = mine[0]["id"]
    assert _share(lic, headers, lid, expires_in_hours=169).status_code == 422
    assert _share(lic, headers, lid, purpose="x" * 201).status_code == 422
    assert_problem(_share(lic, headers, lid, fields=["colour"]), 400, "licence.share.fields")
    assert_problem(_share(lic, headers, lid, recipient="bank"), 400, "licence.share.recipient")
    with db() as s, s.begin():
        bank = make_org(s, clock, name="某银行", kind="company")
        clerk = make_staff(s, clock, login="clerk2", role=Role.AUDITOR, org_id=bank.id, days=30)
    grant = _share(lic, headers, lid, recipient=f"user:{clerk.user_id}", max_uses=1).json()
    ok = lic.client.post(
        "/licences/shares/redeem", json={"token": grant["token"]}, headers=clerk.headers
    )
    assert ok.status_code == 200
    used_up = lic.client.post(
        "/licences/shares/redeem", json={"token": grant["token"]}, headers=clerk.headers
    )
    assert_problem(used_up, 404, "licence.share.not_found")
    grant = _share(lic, headers, lid, recipient=f"user:{clerk.user_id}", expires_in_hours=1).json()
    lic.app.state.clock.advance(timedelta(hours=2))
    late = lic.client.post(
        "/licences/shares/redeem", json={"token": grant["token"]}, headers=clerk.headers
    )
    assert_problem(late, 404, "licence.share.not_found")


def test_ex_officio_lookup_is_logged_and_shown_to_the_holder(
    lic: Lic, db: sessionmaker[Session], clock: FixedClock
) -> None:
    _code, headers, mine = _two_licences(lic)
    with db() as s, s.begin():
        tax = make_org(s, clock, name="某市税务局")
        officer = make_staff(s, clock, login="officer", role=Role.AUDITOR, org_id=tax.id)
        firm = make_org(s, clock, name="某公司", kind="company")
        employee = make_staff(s, clock, login="employee", role=Role.AUDITOR, org_id=firm.id)
    body = {
        "identifier": mine[0]["identifier"],
        "service_item_code": "11350100MB0000000X4000111000000",
        "case_number": "2026-SW-000321",
        "reason": "办理税务登记，依职能核验营业执照",
    }
    r = lic.client.post("/licences/ex-officio", json=body, headers=officer.headers)
    assert r.status_code == 200, r.text
    assert r.json()["identifier"] == mine[0]["identifier"]
    denied = lic.client.post("/licences/ex-officio", json=body, headers=employee.headers)
    assert_problem(denied, 403, "licence.ex_officio.staff")
    by_client = lic.client.post("/licences/ex-officio", json=body, headers=lic.system)
    assert_problem(by_client, 403, "licence.ex_officio.staff")
    missing = lic.client.post(
        "/licences/ex-officio", json={**body, "reason": ""}, headers=officer.headers
    )
    assert missing.status_code == 422
    activity = lic.client.get(
        f"/licences/holder/licences/{mine[0]['id']}/activity", headers=headers
    ).json()
    assert len(activity["ex_officio"]) == 1
    entry = activity["ex_officio"][0]
    assert (entry["case_number"], entry["reason"]) == (body["case_number"], body["reason"])
    assert entry["actor"] == f"user:{officer.user_id}"


def test_holder_sees_every_public_verification(lic: Lic) -> None:
    _code, headers, mine = _two_licences(lic)
    lic.verify_code(mine[0]["verification_code"])
    lic.verify_qr(mine[0]["qr_payload"])
    activity = lic.client.get(
        f"/licences/holder/licences/{mine[0]['id']}/activity", headers=headers
    ).json()
    assert [v["channel"] for v in activity["verifications"]] == ["code", "qr"]
    assert all(v["result"] == "VALID" for v in activity["verifications"])
