"""Stamping through the service: the three forms, who may stamp (and when), the two-person rule,
the usage record with its log entry, and atomicity when something fails mid-stamp."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from seals import service, service_stamp
from seals.errors import NotAuthorised, SealNotUsable
from seals.model import SealUsage, StampRequest
from seals.pdf_verify import verify_pdf_signatures
from seals.policy import StampForm
from seals.service_stamp import Stamped, StampOptions, StampPending
from seals.service_verify import verify_file
from tests.integration.seals.conftest import World, count, log_kinds
from tests.unit.seals._ses_support import minimal_ofd
from tests.unit.seals.pdf_fixtures import make_pdf, signature_holes
from trust.crypto import sm3
from trust.errors import TrustError
from trust.tlog.model import TlogEntry

DATA = "行政许可决定书 第 2026-001 号".encode()


def _verify(world: World, data: bytes, original: bytes | None = None) -> dict[str, Any]:
    with world.db() as s:
        return verify_file(data, None, session=s, clock=world.clock, original=original)


def _stamped(result: Stamped | StampPending) -> Stamped:
    assert isinstance(result, Stamped)
    return result


@pytest.mark.parametrize(
    ("form", "document"),
    [
        (StampForm.BYTES, DATA),
        (StampForm.PDF, make_pdf(pages=2)),
        (StampForm.OFD, minimal_ofd(pages=2)),
    ],
)
def test_each_form_stamps_records_and_verifies(
    world: World, form: StampForm, document: bytes
) -> None:
    seal = world.seal()
    out = _stamped(world.stamp(seal.id, form, document))
    report = _verify(world, out.output, document if form is StampForm.BYTES else None)
    assert report["verdict"] == "VALID", report
    [sig] = report["signatures"]
    assert sig["seal_name"] == seal.name
    assert sig["registry"]["seal_id"] == seal.id
    assert sig["organisation"] == world.org_name
    assert sig["signing_time"] == world.clock.now().isoformat()
    usage = out.usage
    assert (usage.form, usage.actor, usage.request_id) == (form, "user:usr_stamper", None)
    assert usage.input_sm3 == sm3(document).hex()
    assert usage.output_sm3 == sm3(out.output).hex()
    with world.db() as s:
        entry = s.get(TlogEntry, usage.log_index)
        assert entry is not None
        assert entry.kind == "seal.used"
        assert entry.subject == seal.id
        payload = json.loads(entry.data)["payload"]
    assert payload["usage_id"] == usage.id
    assert payload["output_sm3"] == usage.output_sm3
    assert payload["form"] == form.value


def test_bytes_form_with_a_timestamp_uses_the_timestamp_time(world: World) -> None:
    seal = world.seal()
    out = _stamped(
        world.stamp(
            seal.id,
            StampForm.BYTES,
            DATA,
            options=StampOptions(timestamp=True, property_info="case/2026-001.txt"),
        )
    )
    report = _verify(world, out.output, DATA)
    [sig] = report["signatures"]
    assert report["verdict"] == "VALID", sig
    assert sig["time_basis"] == "timestamp"
    assert sig["checks"]["timestamp"]["status"] == "pass"
    assert sig["property_info"] == "case/2026-001.txt"
    # Without the original the document hash cannot be checked: never VALID.
    assert _verify(world, out.output)["verdict"] == "INDETERMINATE"
    assert _verify(world, out.output, DATA + b"x")["verdict"] == "INVALID"


@pytest.mark.parametrize(
    ("form", "document"),
    [(StampForm.PDF, make_pdf(pages=1)), (StampForm.OFD, minimal_ofd(pages=1))],
)
def test_pdf_and_ofd_with_a_timestamp_report_it(
    world: World, form: StampForm, document: bytes
) -> None:
    seal = world.seal()
    world.clock.advance(timedelta(minutes=5))
    out = _stamped(world.stamp(seal.id, form, document, options=StampOptions(timestamp=True)))
    report = _verify(world, out.output)
    [sig] = report["signatures"]
    assert report["verdict"] == "VALID", sig
    assert sig["time_basis"] == "timestamp"
    assert sig["checks"]["timestamp"]["status"] == "pass"
    assert sig["checks"]["timestamp"]["reason"] == "timestamp.ok"
    assert sig["signing_time"] == world.clock.now().replace(microsecond=0).isoformat()
    if form is StampForm.PDF:
        # A signature stamped without the option carries no token: not_checked, still VALID.
        plain = _stamped(world.stamp(seal.id, form, document))
        [sig] = _verify(world, plain.output)["signatures"]
        assert sig["checks"]["timestamp"]["status"] == "not_checked"
        assert sig["time_basis"] == "signing_time_attribute"


def test_a_pdf_timestamp_changed_inside_the_signature_hole_is_caught(world: World) -> None:
    """Unsigned attributes sit in the /Contents hole, outside the byte range and the SM2
    signature: only the timestamp check can notice a changed token."""
    seal = world.seal()
    out = _stamped(
        world.stamp(seal.id, StampForm.PDF, make_pdf(pages=1), options=StampOptions(timestamp=True))
    ).output
    [check] = verify_pdf_signatures(out).signatures
    assert check.timestamp_token is not None
    start, _ = signature_holes(out)[0]
    cms_der = bytes.fromhex(out[start + 1 : out.index(b">", start)].decode())
    # The last byte of the token is the last byte of the TSA's SM2 signature value.
    last = cms_der.index(check.timestamp_token) + len(check.timestamp_token) - 1
    changed = bytearray(out)
    at = start + 1 + 2 * last
    changed[at : at + 2] = b"%02x" % (cms_der[last] ^ 0x01)
    report = _verify(world, bytes(changed))
    [sig] = report["signatures"]
    assert sig["checks"]["signer_signature"]["status"] == "pass"
    assert sig["checks"]["document_hash"]["status"] == "pass"
    assert sig["checks"]["timestamp"]["status"] == "fail"
    assert report["verdict"] == "INVALID"
    assert report["reason"].startswith("timestamp.")


def test_pdf_keyword_and_cross_page_placements(world: World) -> None:
    seal = world.seal()
    pdf = make_pdf(pages=3)
    first = _stamped(
        world.stamp(seal.id, StampForm.PDF, pdf, options=StampOptions(keyword="（盖章）"))
    )
    second = _stamped(
        world.stamp(
            seal.id,
            StampForm.PDF,
            first.output,
            options=StampOptions(cross_page=True, x_mm=0, y_mm=120),
        )
    )
    report = _verify(world, second.output)
    assert report["verdict"] == "VALID"
    assert [s["checks"]["coverage"]["reason"] for s in report["signatures"]] == [
        "pdf.later_signatures_only",
        "pdf.whole_file",
    ]


def test_a_service_client_of_the_organisation_may_stamp(world: World) -> None:
    seal = world.seal()
    out = _stamped(world.stamp(seal.id, StampForm.BYTES, DATA, principal=world.client))
    assert out.usage.actor == "client:cli_system"


def test_who_may_not_stamp(world: World) -> None:
    seal = world.seal()
    for who in (world.outsider, world.custodian, world.auditor):
        with pytest.raises(NotAuthorised) as info:
            world.stamp(seal.id, StampForm.BYTES, DATA, principal=who)
        assert info.value.code == "seal.not_authorised"
    restricted = world.seal(users=("client:cli_system",), name="限定用章人的专用章")
    with pytest.raises(NotAuthorised):
        world.stamp(restricted.id, StampForm.BYTES, DATA)
    _stamped(world.stamp(restricted.id, StampForm.BYTES, DATA, principal=world.client))


def _change(world: World, change: Any, seal_id: str) -> None:
    with world.db() as s, s.begin():
        change(session=s, clock=world.clock, principal=world.custodian, seal_id=seal_id, reason="x")


def test_only_an_active_seal_inside_its_validity_stamps(world: World) -> None:
    made = world.seal(activate=False)
    with pytest.raises(SealNotUsable) as info:
        world.stamp(made.id, StampForm.BYTES, DATA)
    assert info.value.code == "seal.not_active"

    seal = world.seal(valid_days=10)
    _change(world, service.suspend_seal, seal.id)
    with pytest.raises(SealNotUsable) as info:
        world.stamp(seal.id, StampForm.BYTES, DATA)
    assert info.value.code == "seal.suspended"
    _change(world, service.resume_seal, seal.id)
    _stamped(world.stamp(seal.id, StampForm.BYTES, DATA))

    world.clock.advance(timedelta(days=11))
    with pytest.raises(SealNotUsable) as info:
        world.stamp(seal.id, StampForm.BYTES, DATA)
    assert info.value.code == "seal.expired"

    revoked = world.seal()
    _change(world, service.revoke_seal, revoked.id)
    with pytest.raises(SealNotUsable) as info:
        world.stamp(revoked.id, StampForm.BYTES, DATA)
    assert info.value.code == "seal.revoked"
    # The outsider learns nothing about the state: authorisation is checked first.
    with pytest.raises(NotAuthorised):
        world.stamp(revoked.id, StampForm.BYTES, DATA, principal=world.outsider)
    assert count(world.db, SealUsage) == 1


def test_two_person_rule(world: World) -> None:
    seal = world.seal(two_person_rule=True)
    pdf = make_pdf(pages=1)
    pending = world.stamp(seal.id, StampForm.PDF, pdf, options=StampOptions(x_mm=100, y_mm=200))
    assert isinstance(pending, StampPending)
    request = pending.request
    assert request.status == "pending"
    assert request.document_sm3 == sm3(pdf).hex()
    assert count(world.db, SealUsage) == 0

    def approve(who: Any) -> service_stamp.StampRequestRecord:
        with world.db() as s, s.begin():
            return service_stamp.approve_request(
                session=s, clock=world.clock, principal=who, request_id=request.id
            )

    def execute(who: Any, document: bytes) -> Stamped:
        with world.db() as s, s.begin():
            return service_stamp.execute_request(
                session=s,
                clock=world.clock,
                keystore=world.keystore,
                principal=who,
                request_id=request.id,
                document=document,
                tsa_policy_oid=world.settings.tsa_policy_oid,
            )

    with pytest.raises(TrustError) as info:
        execute(world.stamper, pdf)  # not approved yet
    assert info.value.code == "seal.request_not_approved"
    for who in (world.stamper, world.auditor, world.outsider):
        with pytest.raises(NotAuthorised):
            approve(who)
    approved = approve(world.custodian)
    assert (approved.status, approved.approved_by) == ("approved", "user:usr_custodian")
    with pytest.raises(TrustError) as info:
        approve(world.custodian2)
    assert info.value.code == "seal.request_not_pending"

    with pytest.raises(TrustError) as info:
        execute(world.stamper, make_pdf(pages=1, keyword="（已改）"))
    assert info.value.code == "seal.document_mismatch"
    with pytest.raises(TrustError) as info:
        execute(world.client, pdf)
    assert info.value.code == "seal.not_requester"
    done = execute(world.stamper, pdf)
    assert done.usage.request_id == request.id
    assert _verify(world, done.output)["verdict"] == "VALID"
    with pytest.raises(TrustError) as info:
        execute(world.stamper, pdf)
    assert info.value.code == "seal.request_not_approved"
    with world.db() as s:
        row = s.get(StampRequest, request.id)
        assert row is not None
        assert row.status == "executed"
    assert log_kinds(world.db)[-3:] == ["seal.stamp_requested", "seal.stamp_approved", "seal.used"]
    assert log_kinds(world.db).count("seal.used") == 1


def test_requester_who_is_also_custodian_cannot_approve(world: World) -> None:
    from tests.integration.seals.conftest import person
    from trust.principals.roles import Role

    both = person("usr_both", (Role.SEAL_CUSTODIAN, world.org_id), (Role.SEAL_USER, world.org_id))
    seal = world.seal(two_person_rule=True)
    pending = world.stamp(seal.id, StampForm.BYTES, DATA, principal=both)
    assert isinstance(pending, StampPending)
    with pytest.raises(TrustError) as info, world.db() as s, s.begin():
        service_stamp.approve_request(
            session=s, clock=world.clock, principal=both, request_id=pending.request.id
        )
    assert info.value.code == "seal.approver_is_requester"


def test_usage_history_for_custodians(world: World) -> None:
    seal = world.seal()
    for i in range(3):
        world.clock.advance(timedelta(minutes=1))
        _stamped(world.stamp(seal.id, StampForm.BYTES, DATA + str(i).encode()))
    with world.db() as s:
        history = service_stamp.usage_history(session=s, principal=world.custodian, seal_id=seal.id)
        audit = service_stamp.usage_history(session=s, principal=world.auditor, seal_id=seal.id)
    assert [u.input_sm3 for u in history] == [sm3(DATA + str(i).encode()).hex() for i in (2, 1, 0)]
    assert audit == history
    with pytest.raises(NotAuthorised), world.db() as s:
        service_stamp.usage_history(session=s, principal=world.stamper, seal_id=seal.id)
    assert log_kinds(world.db).count("seal.used") == 3


@pytest.mark.parametrize("where", ["stamp_pdf", "_usage_record"])
def test_a_failure_mid_stamp_leaves_no_usage_and_no_log_entry(
    world: World, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    seal = world.seal()
    log_before = log_kinds(world.db, prefix="")

    def boom(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("injected failure")

    monkeypatch.setattr(service_stamp, where, boom)
    with pytest.raises(RuntimeError, match="injected"):
        world.stamp(seal.id, StampForm.PDF, make_pdf(pages=1))
    assert count(world.db, SealUsage) == 0
    assert log_kinds(world.db, prefix="") == log_before
    with world.db() as s:
        assert s.scalars(select(TlogEntry).where(TlogEntry.kind == "seal.used")).first() is None
