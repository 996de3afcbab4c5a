"""The seal registry and lifecycle through the service on a real database: apply (drawn and
uploaded pictures), make (holder key + certificate from our CA, maker-signed v4 .esl), activate,
suspend, resume, revoke (holder certificate revoked too), expire; refusals with stable codes;
one transparency-log entry per change, in the same transaction."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

import pytest
from PIL import Image

from keys.interfaces import KeyUsage
from seals import service
from seals.errors import BadSealImage, BadTransition, NotAuthorised, SealImageTooLarge
from seals.lifecycle import SealStatus, SealType
from seals.model import Seal
from seals.service import SealApplication
from seals.ses import parse_seal
from tests.integration.seals.conftest import World, count, log_kinds
from trust.ca import service as ca_service
from trust.ca.profiles import EKU_SEAL_HOLDER, EKU_SEAL_MAKER
from trust.ca.x509 import parse_certificate
from trust.crypto import sm3
from trust.errors import TrustError


def _apply(world: World, **changes: object) -> service.SealRecord:
    values: dict[str, object] = {
        "organisation_id": world.org_id,
        "seal_type": SealType.ADMIN_APPROVAL,
        "name": "演示市市场监督管理局行政审批专用章",
        "reason": "新设窗口",
    }
    values.update(changes)
    with world.db() as s, s.begin():
        return service.apply_seal(
            session=s,
            clock=world.clock,
            principal=world.custodian,
            application=SealApplication(**values),  # type: ignore[arg-type]
        )


def test_full_lifecycle_with_one_log_entry_per_change(world: World) -> None:
    seal = world.seal(activate=False)
    assert seal.status is SealStatus.MADE
    kw: dict[str, Any] = {"clock": world.clock, "principal": world.custodian, "seal_id": seal.id}
    with world.db() as s, s.begin():
        assert service.activate_seal(session=s, reason="启用", **kw).status is SealStatus.ACTIVE
        assert (
            service.suspend_seal(session=s, reason="印章遗失", **kw).status is SealStatus.SUSPENDED
        )
        assert service.resume_seal(session=s, reason="已找回", **kw).status is SealStatus.ACTIVE
        final = service.revoke_seal(session=s, reason="机构撤并", **kw)
    assert final.status is SealStatus.REVOKED
    assert final.status_reason == "机构撤并"
    assert log_kinds(world.db) == [
        "seal.applied",
        "seal.made",
        "seal.activated",
        "seal.suspended",
        "seal.resumed",
        "seal.revoked",
    ]
    with world.db() as s:
        status = ca_service.certificate_status(
            session=s, clock=world.clock, serial=final.holder_cert_serial or ""
        )
    assert status.status == "revoked"
    assert status.reason == "cessation_of_operation"


def test_made_seal_holds_our_certificates_and_keys(world: World) -> None:
    seal = world.seal()
    with world.db() as s:
        esl = service.seal_esl(session=s, principal=world.custodian, seal_id=seal.id)
        holder_key = world.keystore.get(session=s, key_id=seal.holder_key_id or "")
        org_uscc = seal.organisation_uscc
    assert sm3(esl).hex() == seal.esl_sm3
    parsed = parse_seal(esl)
    assert parsed.version == 4
    assert parsed.es_id == seal.es_id
    assert parsed.property.name == seal.name
    assert parsed.property.type == 3  # 行政审批专用章 in our numbering
    assert parsed.picture.type == "PNG"
    assert (parsed.picture.width_mm, parsed.picture.height_mm) == (42, 42)
    assert holder_key.usage is KeyUsage.SEAL_HOLDER
    assert holder_key.owner == seal.id
    holder = parse_certificate(parsed.property.certs[0])
    assert f"O={world.org_name}" in holder.subject
    assert f"NTRCN-{org_uscc}" in holder.subject
    assert EKU_SEAL_HOLDER in (holder.extended_key_usage or ())
    maker = parse_certificate(parsed.maker_cert)
    assert EKU_SEAL_MAKER in (maker.extended_key_usage or ())
    assert holder.not_after >= seal.valid_to - timedelta(days=1)


def test_the_seal_maker_is_created_once(world: World) -> None:
    first, second = world.seal(), world.seal(name="演示市市场监督管理局合同专用章")
    with world.db() as s:
        makers = world.keystore.list(session=s, usage=KeyUsage.SEAL_MAKER)
        a = parse_seal(service.seal_esl(session=s, principal=None, seal_id=first.id))
        b = parse_seal(service.seal_esl(session=s, principal=None, seal_id=second.id))
    assert len(makers) == 1
    assert a.maker_cert == b.maker_cert
    assert a.property.certs != b.property.certs  # one holder key per seal


@pytest.mark.parametrize(
    ("seal_type", "size"),
    [
        (SealType.OFFICIAL, (42, 42)),
        (SealType.FINANCE, (40, 30)),
        (SealType.LEGAL_REPRESENTATIVE, (20, 20)),
    ],
)
def test_drawn_pictures_follow_the_seal_type(
    world: World, seal_type: SealType, size: tuple[int, int]
) -> None:
    record = _apply(world, seal_type=seal_type, person_name="张三")
    assert record.picture_source == "drawn"
    assert record.picture_size_mm == size
    with world.db() as s:
        png = service.seal_picture(session=s, principal=world.custodian, seal_id=record.id)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        ratio = image.size[0] / image.size[1]
    assert ratio == pytest.approx(size[0] / size[1], rel=0.02)


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (200, 200), (230, 0, 18)).save(out, "JPEG")
    return out.getvalue()


def test_uploaded_jpeg_is_re_encoded_as_png(world: World) -> None:
    record = _apply(world, image=_jpeg(), image_size_mm=(38, 38))
    assert record.picture_source == "uploaded"
    assert record.picture_size_mm == (38, 38)
    with world.db() as s:
        png = service.seal_picture(session=s, principal=None, seal_id=record.id)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(
    ("image", "error", "code"),
    [
        (b"GIF89a" + bytes(100), BadSealImage, "seal.bad_image"),
        (b"\x89PNG\r\n\x1a\n" + bytes(50), BadSealImage, "seal.bad_image"),
        (bytes(1024 * 1024 + 1), SealImageTooLarge, "seal.image_too_large"),
    ],
)
def test_bad_uploads_are_refused(
    world: World, image: bytes, error: type[TrustError], code: str
) -> None:
    with pytest.raises(error) as info:
        _apply(world, image=image)
    assert info.value.code == code
    assert count(world.db, Seal) == 0
    assert log_kinds(world.db) == []


def test_only_custodians_and_admins_manage(world: World) -> None:
    with pytest.raises(NotAuthorised) as info, world.db() as s, s.begin():
        service.apply_seal(
            session=s,
            clock=world.clock,
            principal=world.stamper,
            application=SealApplication(
                organisation_id=world.org_id,
                seal_type="公章",
                name="印章",
                reason="x",
            ),
        )
    assert info.value.code == "seal.not_custodian"
    seal = world.seal()
    for who in (world.stamper, world.outsider, world.client, world.auditor):
        with pytest.raises(NotAuthorised), world.db() as s, s.begin():
            service.suspend_seal(
                session=s, clock=world.clock, principal=who, seal_id=seal.id, reason="x"
            )
    assert log_kinds(world.db)[-1] == "seal.activated"


def test_refused_transitions_leave_no_trace(world: World) -> None:
    record = _apply(world)
    before = log_kinds(world.db)
    for change in (service.activate_seal, service.suspend_seal, service.resume_seal):
        with pytest.raises(TrustError) as info, world.db() as s, s.begin():
            change(
                session=s,
                clock=world.clock,
                principal=world.custodian,
                seal_id=record.id,
                reason="x",
            )
        assert info.value.code in ("seal.bad_transition", "seal.not_made")
    assert log_kinds(world.db) == before
    with world.db() as s, s.begin():
        service.revoke_seal(
            session=s,
            clock=world.clock,
            principal=world.custodian,
            seal_id=record.id,
            reason="撤回",
        )
    with pytest.raises(BadTransition), world.db() as s, s.begin():
        service.make_seal(
            session=s,
            clock=world.clock,
            keystore=world.keystore,
            settings=world.settings,
            principal=world.custodian,
            seal_id=record.id,
            reason="x",
        )
    with world.db() as s:  # no key was generated for the refused making
        assert world.keystore.list(session=s, usage=KeyUsage.SEAL_HOLDER) == []


def test_expiry_is_effective_at_once_and_recorded_on_demand(world: World) -> None:
    seal = world.seal(valid_days=30)
    world.clock.advance(timedelta(days=31))
    with world.db() as s:
        record = service.get_seal(
            session=s, clock=world.clock, principal=world.custodian, seal_id=seal.id
        )
    assert record.status is SealStatus.EXPIRED
    assert record.recorded_status is SealStatus.ACTIVE
    with world.db() as s, s.begin():
        assert service.expire_due_seals(session=s, clock=world.clock) == [seal.id]
        assert service.expire_due_seals(session=s, clock=world.clock) == []
    assert log_kinds(world.db)[-1] == "seal.expired"
    with pytest.raises(BadTransition), world.db() as s, s.begin():
        service.resume_seal(
            session=s, clock=world.clock, principal=world.custodian, seal_id=seal.id, reason="x"
        )


def test_listing_shows_seals_of_the_principals_organisations(world: World) -> None:
    seal = world.seal()
    with world.db() as s:
        mine = service.list_seals(session=s, clock=world.clock, principal=world.stamper)
        theirs = service.list_seals(session=s, clock=world.clock, principal=world.outsider)
        everything = service.list_seals(session=s, clock=world.clock, principal=None)
    assert [r.id for r in mine] == [seal.id]
    assert theirs == []
    assert [r.id for r in everything] == [seal.id]


def test_the_first_seal_is_made_while_the_clock_moves_on(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the seal maker is created on first use, in the same call; a createDate taken
    before its certificate was issued made the new seal fail its own check
    (``cert.not_yet_valid_at_given_time``) whenever a second boundary fell in between."""
    clock = world.clock
    stand_still = clock.now

    def ticking() -> datetime:
        clock.advance(timedelta(milliseconds=700))
        return stand_still()

    monkeypatch.setattr(clock, "now", ticking)
    seal = world.seal()
    assert seal.status == "active"
    with world.db() as s:
        parsed = parse_seal(service.seal_esl(session=s, principal=None, seal_id=seal.id))
    maker = parse_certificate(parsed.maker_cert)
    holder = parse_certificate(parsed.property.certs[0])
    assert parsed.property.create_date >= maker.not_before
    assert parsed.property.create_date >= holder.not_before
