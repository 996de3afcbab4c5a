"""Lifecycle over HTTP (issue 5 item 4): change → new version and SUPERSEDED, suspend/resume,
annul, terminal states immutable, expiry; each reflected at once in verification and in the
issuer's signed 2-bit status list, which an offline verifier checks with the trust list."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from licences.identifiers import parse_identifier
from licences.model import Licence, LicenceEvent
from licences.service_lifecycle import expire_due_licences
from licences.status import LicenceStatus, decode_status_list, verify_status_list
from licences.verification import verify_trust_list
from tests.api._support import assert_problem
from tests.integration.licences.conftest import FOOD, Lic, business_body
from trust.crypto import SM2PublicKey
from trust.tlog.model import TlogEntry


def _list_value(lic: Lic, licence: dict[str, Any]) -> LicenceStatus:
    """Fetch the signed status list and the trust list, verify both like an offline verifier
    (pinned anchor → trust list → issuer key → status list), and read the licence's entry."""
    anchor = lic.client.get("/licences/trust-list/anchor").json()
    trust = verify_trust_list(
        lic.client.get("/licences/trust-list").content,
        SM2PublicKey.from_point(bytes.fromhex(anchor["public_key"])),
        now=lic.app.state.clock.now(),
    )
    r = lic.client.get(f"/licences/status-lists/{licence['status_list_id']}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/cose"
    checked = verify_status_list(
        decode_status_list(r.content), trust.trusted_keys(), lic.app.state.clock.now()
    )
    assert checked.usable, checked
    assert checked.token is not None
    assert checked.token.statuses.size >= 131_072
    return checked.token.statuses.get(licence["status_index"])


def _post(lic: Lic, ref: str, action: str, reason: str = "依法处理") -> Any:
    return lic.client.post(
        f"/licences/{ref}/{action}", json={"reason": reason}, headers=lic.issuer.headers
    )


def test_suspend_and_resume(lic: Lic) -> None:
    data = lic.issue()
    code = data["verification_code"]
    assert _list_value(lic, data["licence"]) is LicenceStatus.VALID
    assert _post(lic, data["id"], "suspend", "暂扣三个月").json()["status"] == "suspended"
    assert lic.verify_code(code)["result"] == "SUSPENDED"
    assert _list_value(lic, data["licence"]) is LicenceStatus.SUSPENDED
    assert _post(lic, data["id"], "resume", "暂扣期满").json()["status"] == "issued"
    assert lic.verify_code(code)["result"] == "VALID"
    assert _list_value(lic, data["licence"]) is LicenceStatus.VALID


def test_change_issues_new_version_and_supersedes(lic: Lic) -> None:
    old = lic.issue()
    r = lic.client.post(
        f"/licences/{old['id']}/change",
        json={"reason": "住所变更", "fields": {"address": "长沙市天心区新址 1 号"}},
        headers=lic.issuer.headers,
    )
    assert r.status_code == 200, r.text
    new = r.json()
    a, b = parse_identifier(old["identifier"]), parse_identifier(new["identifier"])
    assert (b.serial, b.version) == (a.serial, 2)
    assert new["licence"]["predecessor"] == old["identifier"]
    assert new["licence"]["fields"]["address"] == "长沙市天心区新址 1 号"
    by_old = lic.verify_code(old["verification_code"])
    assert by_old["result"] == "SUPERSEDED"
    assert by_old["superseded_by"] == new["identifier"]
    assert lic.verify_qr(old["qr_payload"])["result"] == "SUPERSEDED"
    assert lic.verify_code(new["verification_code"])["result"] == "VALID"
    assert _list_value(lic, old["licence"]) is LicenceStatus.SUPERSEDED
    # A superseded version is terminal.
    assert_problem(_post(lic, old["id"], "suspend"), 409, "licence.conflict.transition")


def test_annul_and_terminal_states(lic: Lic) -> None:
    data = lic.issue()
    assert _post(lic, data["id"], "annul", "企业申请注销").json()["status"] == "cancelled"
    out = lic.verify_code(data["verification_code"])
    assert (out["result"], out["reason"]) == ("INVALID", "cancelled")
    assert _list_value(lic, data["licence"]) is LicenceStatus.INVALID
    assert_problem(_post(lic, data["id"], "resume"), 409, "licence.conflict.transition")
    r = lic.client.post(
        f"/licences/{data['id']}/revoke", json={"reason": ""}, headers=lic.issuer.headers
    )
    assert r.status_code == 422  # empty reason refused at the edge


def test_lifecycle_needs_the_issuing_organisation(lic: Lic) -> None:
    data = lic.issue()
    r = lic.client.post(
        f"/licences/{data['id']}/revoke", json={"reason": "x"}, headers=lic.outsider.headers
    )
    assert_problem(r, 404, "licence.not_found")
    r = lic.client.get(f"/licences/{data['id']}", headers=lic.outsider.headers)
    assert_problem(r, 404, "licence.not_found")
    assert lic.client.get(f"/licences/{data['id']}", headers=lic.auditor.headers).status_code == 200


def test_events_logged_with_reason_actor_time(lic: Lic) -> None:
    data = lic.issue()
    _post(lic, data["id"], "revoke-penalty", "违法经营，依法吊销")
    r = lic.client.get(f"/licences/{data['id']}/history", headers=lic.issuer.headers)
    events = r.json()
    assert [e["kind"] for e in events] == ["issued", "revoked_penalty"]
    assert events[1]["reason"] == "违法经营，依法吊销"
    assert events[1]["actor"].startswith("user:")
    with lic.app.state.session_factory() as s:
        kinds = list(s.scalars(select(TlogEntry.kind)))
    assert "licence.revoked_penalty" in kinds


def test_expiry(lic: Lic) -> None:
    body = business_body(
        type_code=FOOD,
        fields={
            "legal_representative": "王五",
            "address": "长沙市某路 1 号",
            "main_business": "餐饮服务经营者",
            "business_items": "热食类食品制售",
        },
    )
    data = lic.issue(body)
    assert data["licence"]["valid_until"] == "2031-11-21"
    clock = lic.app.state.clock
    clock.advance(timedelta(days=5 * 366))
    # Past 有效期止 the live status says EXPIRED even before the expiry job ran ...
    assert lic.verify_code(data["verification_code"])["result"] == "EXPIRED"
    assert _list_value(lic, data["licence"]) is LicenceStatus.VALID
    summary = expire_due_licences(session_factory=lic.app.state.session_factory, clock=clock)
    assert summary.expired == (data["identifier"],)
    assert summary.lists_updated == 1
    # ... and afterwards the record, its history and the signed status list say so too.
    assert lic.verify_code(data["verification_code"])["result"] == "EXPIRED"
    with lic.app.state.session_factory() as s:
        row = s.scalars(select(Licence).where(Licence.id == data["id"])).one()
        assert row.status == "expired"
    assert _list_value(lic, data["licence"]) is LicenceStatus.INVALID
    with lic.app.state.session_factory() as s:
        kinds = [e.kind for e in s.scalars(select(LicenceEvent).order_by(LicenceEvent.at))]
        assert kinds == ["issued", "expired"]
    # A second run has nothing left to do.
    again = expire_due_licences(session_factory=lic.app.state.session_factory, clock=clock)
    assert (again.expired, again.lists_updated) == ((), 0)


def test_expiry_sweep_works_in_batches_and_leaves_valid_ones(lic: Lic) -> None:
    food = {
        "legal_representative": "王五",
        "address": "长沙市某路 1 号",
        "main_business": "餐饮服务经营者",
        "business_items": "热食类食品制售",
    }
    due = [lic.issue(business_body(type_code=FOOD, fields=food)) for _ in range(3)]
    # Valid from in 300 days: five years on, it still has 300 days to run.
    later = lic.issue(business_body(type_code=FOOD, fields=food, valid_from="2027-09-18"))
    long_term = lic.issue()  # 营业执照: 长期有效
    clock = lic.app.state.clock
    clock.advance(timedelta(days=5 * 366))
    summary = expire_due_licences(
        session_factory=lic.app.state.session_factory, clock=clock, batch_size=2
    )
    assert sorted(summary.expired) == sorted(d["identifier"] for d in due)
    for d in due:
        assert _list_value(lic, d["licence"]) is LicenceStatus.INVALID
    for d in (later, long_term):
        assert lic.verify_code(d["verification_code"])["result"] == "VALID"
        assert _list_value(lic, d["licence"]) is LicenceStatus.VALID


def test_change_keeps_the_original_validity(lic: Lic) -> None:
    """Issue 5: a change made more than 366 days after 有效期起 keeps the original 有效期 (it
    used to restart it today, silently extending the licence)."""
    food = {
        "legal_representative": "王五",
        "address": "长沙市某路 1 号",
        "main_business": "餐饮服务经营者",
        "business_items": "热食类食品制售",
    }
    # Issued with 有效期起 a year back (the earliest allowed), changed 30 days later: 有效期起
    # is then 396 days old.
    old = lic.issue(business_body(type_code=FOOD, fields=food, valid_from="2025-11-21"))
    assert (old["licence"]["valid_from"], old["licence"]["valid_until"]) == (
        "2025-11-21",
        "2030-11-20",
    )
    lic.app.state.clock.advance(timedelta(days=30))
    r = lic.client.post(
        f"/licences/{old['id']}/change",
        json={"reason": "法定代表人变更", "fields": {"legal_representative": "赵六"}},
        headers=lic.system,  # the department's client (the staff token expired)
    )
    assert r.status_code == 200, r.text
    new = r.json()["licence"]
    assert (new["valid_from"], new["valid_until"]) == ("2025-11-21", "2030-11-20")
    assert new["issued_on"] == "2026-12-22"  # the new version's 颁证日期 is today
    # Setting 有效期起 explicitly restarts the validity by the type's rule ...
    r = lic.client.post(
        f"/licences/{new['id']}/change",
        json={"reason": "延续", "valid_from": "2027-01-31"},
        headers=lic.system,
    )
    assert r.status_code == 200, r.text
    renewed = r.json()["licence"]
    assert (renewed["valid_from"], renewed["valid_until"]) == ("2027-01-31", "2032-01-30")
    # ... and is checked as at issue: within a year of today.
    r = lic.client.post(
        f"/licences/{renewed['id']}/change",
        json={"reason": "延续", "valid_from": "2025-11-21"},
        headers=lic.system,
    )
    assert_problem(r, 400, "licence.request.bad_validity")


def test_status_list_index_lists_every_issuers_lists(lic: Lic) -> None:
    first = lic.issue()["licence"]
    r = lic.client.get("/licences/status-lists")
    assert r.status_code == 200, r.text
    (entry,) = r.json()
    assert entry["id"] == first["status_list_id"]
    assert entry["issuer_code"] == lic.org_uscc
    assert entry["issuer_name"] == "某市市场监督管理局"
    assert (entry["size"], entry["bits"]) == (131_072, 2)
    base = str(lic.app.state.settings.public_base_url).rstrip("/")
    assert entry["url"] == f"{base}/licences/status-lists/{first['status_list_id']}"
    sequence = entry["sequence"]
    _post(lic, first["id"], "suspend", "责令整改")
    (after,) = lic.client.get("/licences/status-lists").json()
    assert after["sequence"] == sequence + 1
    assert after["updated_at"] >= entry["updated_at"]
    # The listed URL serves the signed file.
    path = after["url"].removeprefix(base)
    assert lic.client.get(path).headers["content-type"] == "application/cose"
