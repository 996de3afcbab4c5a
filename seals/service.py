"""The seal registry and lifecycle (issue 4 item 1): apply, make, activate, suspend, resume,
revoke, expire; reads. Stamping is in ``seals.service_stamp``, verification in
``seals.service_verify``.

Every function is keyword-only, runs in the caller's transaction (never commits) and appends one
``seal.*`` transparency-log event per change in that same transaction. Who may act is decided by
``seals.policy``; which transitions exist by ``seals.lifecycle``.

Making a seal (制章, GB/T 38540-2020 SESeal v4, eseal spec §6): a holder key (``keys``, usage
SEAL_HOLDER, owner = the seal id) gets a seal-holder certificate from this service's CA (subject
O = the organisation's name, organizationIdentifier = its USCC); the seal-making authority (a
service key of usage SEAL_MAKER with a seal-maker certificate, created on first use) signs the
SES_SealInfo listing that certificate. The ``.esl`` DER and its SM3 are stored.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from keys.interfaces import KeyStore, KeyUsage
from seals import service_maker as maker
from seals.errors import BadSealRequest, SealNotMade
from seals.lifecycle import (
    LifecycleAction,
    SealStatus,
    SealType,
    effective_status,
    next_status,
    parse_seal_type,
)
from seals.model import Seal, SealAssignment
from seals.policy import SealFacts, require_manager, require_reader
from seals.service_common import SealRecord, facts_of, load_seal, log_event, record_of
from trust.ca import service as ca_service
from trust.clock import Clock
from trust.config import Settings
from trust.crypto import sm3
from trust.ids import new_id
from trust.principals import service as principals
from trust.principals.principal import Principal
from trust.principals.roles import Role

__all__ = [
    "MAX_VALID_DAYS",
    "SealApplication",
    "SealRecord",
    "activate_seal",
    "apply_seal",
    "expire_due_seals",
    "get_seal",
    "list_seals",
    "make_seal",
    "resume_seal",
    "revoke_seal",
    "seal_esl",
    "seal_facts",
    "seal_picture",
    "suspend_seal",
]

MAX_VALID_DAYS: Final = 5 * 365  # within the seal-holder certificate profile's 5 * 366 days
DEFAULT_VALID_DAYS: Final = 2 * 365
_MAX_NAME: Final = 64  # the seal name is also the holder certificate's CN (RFC 5280 ub 64)
_MAX_REASON: Final = 500
_MAX_NAMED: Final = 50
_VIEW_ROLES: Final = frozenset({Role.SEAL_CUSTODIAN, Role.SEAL_USER, Role.ADMIN, Role.AUDITOR})
_PAST_TENSE: Final = {
    LifecycleAction.MAKE: "made",
    LifecycleAction.ACTIVATE: "activated",
    LifecycleAction.SUSPEND: "suspended",
    LifecycleAction.RESUME: "resumed",
    LifecycleAction.REVOKE: "revoked",
    LifecycleAction.EXPIRE: "expired",
}


@dataclass(frozen=True, slots=True)
class SealApplication:
    """What an applicant asks for. ``image`` is an uploaded PNG/JPEG (else a picture is drawn);
    ``custodians`` / ``users`` name principals (``user:…`` / ``client:…``) when the seal is
    restricted to them."""

    organisation_id: str
    seal_type: SealType | str
    name: str
    reason: str
    image: bytes | None = None
    image_size_mm: tuple[int, int] | None = None
    person_name: str | None = None
    valid_days: int = DEFAULT_VALID_DAYS
    two_person_rule: bool = False
    custodians: Sequence[str] = ()
    users: Sequence[str] = ()


# --------------------------------------------------------------------------- helpers


def _seconds(when: datetime) -> datetime:
    return when.replace(microsecond=0)


def _text(value: str, *, field: str, max_len: int) -> str:
    cleaned = " ".join(value.split())
    if not cleaned or len(cleaned) > max_len or not cleaned.isprintable():
        raise BadSealRequest(f"{field}不能为空且不超过{max_len}个字符")
    return cleaned


def _principal_refs(values: Iterable[str], field: str) -> list[str]:
    refs = list(dict.fromkeys(v.strip() for v in values))
    if len(refs) > _MAX_NAMED:
        raise BadSealRequest(f"{field}最多{_MAX_NAMED}个")
    for ref in refs:
        kind, _, ident = ref.partition(":")
        if kind not in ("user", "client") or not ident or len(ref) > 128 or not ref.isprintable():
            raise BadSealRequest(f"{field}应写作 user:<用户编号> 或 client:<客户端编号>：{ref!r}")
    return refs


# --------------------------------------------------------------------------- reads


def seal_facts(*, session: Session, seal_id: str) -> SealFacts:
    return facts_of(session, load_seal(session, seal_id))


def get_seal(*, session: Session, clock: Clock, principal: Principal, seal_id: str) -> SealRecord:
    row = load_seal(session, seal_id)
    require_reader(principal, facts_of(session, row))
    return record_of(session, row, clock.now())


def list_seals(
    *,
    session: Session,
    clock: Clock,
    principal: Principal | None,
    organisation_id: str | None = None,
) -> list[SealRecord]:
    """Seals the principal may see (``None``: the CLI operator sees all), optionally of one
    organisation, oldest first."""
    stmt = select(Seal).order_by(Seal.created_at, Seal.id)
    if organisation_id is not None:
        stmt = stmt.where(Seal.organisation_id == organisation_id)
    if principal is not None and not principal.has_role(Role.SYSTEM_ADMIN):
        visible = [org for org, roles in principal.roles.items() if org and roles & _VIEW_ROLES]
        stmt = stmt.where(Seal.organisation_id.in_(visible))
    now = clock.now()
    return [record_of(session, row, now) for row in session.scalars(stmt)]


def seal_esl(*, session: Session, principal: Principal | None, seal_id: str) -> bytes:
    """The made seal (SESeal DER); ``seal.not_made`` before making."""
    row = load_seal(session, seal_id)
    if principal is not None:
        require_reader(principal, facts_of(session, row))
    if row.esl is None:
        raise SealNotMade(f"印章 {seal_id} 尚未制作")
    return row.esl


def seal_picture(*, session: Session, principal: Principal | None, seal_id: str) -> bytes:
    row = load_seal(session, seal_id)
    if principal is not None:
        require_reader(principal, facts_of(session, row))
    return row.picture_png


# --------------------------------------------------------------------------- lifecycle


def apply_seal(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    application: SealApplication,
) -> SealRecord:
    """Register a seal in state ``applied`` (申请刻制). The picture is the uploaded image
    (checked and re-encoded as PNG) or one drawn for the seal type."""
    org = principals.get_organisation(session=session, organisation_id=application.organisation_id)
    require_manager(principal, org.id, None)
    seal_type = (
        application.seal_type
        if isinstance(application.seal_type, SealType)
        else parse_seal_type(application.seal_type)
    )
    name = _text(application.name, field="印章名称", max_len=_MAX_NAME)
    reason = _text(application.reason, field="理由", max_len=_MAX_REASON)
    if not 1 <= application.valid_days <= MAX_VALID_DAYS:
        raise BadSealRequest(f"有效期应为 1 至 {MAX_VALID_DAYS} 天")
    custodians = _principal_refs(application.custodians, "印章管理员")
    users = _principal_refs(application.users, "授权用章人")
    picture = maker.picture_for(
        seal_type=seal_type,
        organisation_name=org.name,
        uscc=org.uscc,
        person_name=application.person_name,
        image=application.image,
        image_size_mm=application.image_size_mm,
    )
    now = _seconds(clock.now())
    row = Seal(
        id=new_id("seal"),
        organisation_id=org.id,
        seal_type=seal_type.value,
        name=name,
        es_id=secrets.token_hex(16).upper(),
        status=SealStatus.APPLIED.value,
        picture_png=picture.png,
        picture_source=picture.source,
        picture_width_mm=picture.width_mm,
        picture_height_mm=picture.height_mm,
        valid_from=now,
        valid_to=now + timedelta(days=application.valid_days),
        two_person_rule=application.two_person_rule,
        created_at=clock.now(),
        created_by=principal.actor,
        status_changed_at=clock.now(),
        status_reason=reason,
    )
    session.add(row)
    session.flush()
    for duty, refs in (("custodian", custodians), ("user", users)):
        for ref in refs:
            session.add(
                SealAssignment(
                    seal_id=row.id,
                    principal=ref,
                    duty=duty,
                    created_at=clock.now(),
                    created_by=principal.actor,
                )
            )
    session.flush()
    log_event(
        session,
        clock,
        "applied",
        row.id,
        principal.actor,
        organisation_id=org.id,
        seal_type=seal_type.value,
        name=name,
        es_id=row.es_id,
        valid_from=row.valid_from.isoformat(),
        valid_to=row.valid_to.isoformat(),
        two_person_rule=row.two_person_rule,
        picture_source=picture.source,
        picture_sm3=sm3(picture.png).hex(),
        custodians=custodians,
        users=users,
        reason=reason,
    )
    return record_of(session, row, clock.now())


def _change(
    session: Session,
    clock: Clock,
    principal: Principal,
    seal_id: str,
    action: LifecycleAction,
    reason: str,
    **payload: Any,
) -> Seal:
    row = load_seal(session, seal_id, lock=True)
    require_manager(principal, row.organisation_id, facts_of(session, row))
    text = _text(reason, field="理由", max_len=_MAX_REASON)
    before = SealStatus(row.status)
    current = effective_status(before, valid_to=row.valid_to, now=clock.now())
    if current is SealStatus.EXPIRED and before is not SealStatus.EXPIRED:
        _record_expiry(session, clock, row, "system")
    row.status = next_status(SealStatus(row.status), action).value
    row.status_changed_at = clock.now()
    row.status_reason = text
    session.flush()
    log_event(
        session,
        clock,
        _PAST_TENSE[action],
        row.id,
        principal.actor,
        organisation_id=row.organisation_id,
        status_from=before.value,
        status_to=row.status,
        reason=text,
        **payload,
    )
    return row


def _record_expiry(session: Session, clock: Clock, row: Seal, actor: str) -> None:
    before = row.status
    row.status = next_status(SealStatus(row.status), LifecycleAction.EXPIRE).value
    row.status_changed_at = clock.now()
    row.status_reason = "有效期届满"
    session.flush()
    log_event(
        session,
        clock,
        "expired",
        row.id,
        actor,
        organisation_id=row.organisation_id,
        status_from=before,
        status_to=row.status,
        valid_to=row.valid_to.isoformat(),
    )


def make_seal(
    *,
    session: Session,
    clock: Clock,
    keystore: KeyStore,
    settings: Settings,
    principal: Principal,
    seal_id: str,
    reason: str,
) -> SealRecord:
    """制章: holder key and certificate, then the maker-signed v4 SESeal (``applied`` ->
    ``made``)."""
    row = load_seal(session, seal_id, lock=True)
    require_manager(principal, row.organisation_id, facts_of(session, row))
    next_status(SealStatus(row.status), LifecycleAction.MAKE)  # refuse early, before any key
    now = clock.now()
    if now >= row.valid_to:
        raise BadSealRequest("印章有效期已过，不能制作")
    org = principals.get_organisation(session=session, organisation_id=row.organisation_id)
    holder = keystore.generate(
        session=session,
        clock=clock,
        usage=KeyUsage.SEAL_HOLDER,
        label=f"{row.name} 用章密钥"[:120],
        owner=row.id,
        actor=principal.actor,
    )
    issuing = keystore.signer(session=session, key_id=ca_service.authority_key_id(session=session))
    days = min(math.ceil((row.valid_to - now).total_seconds() / 86400), 5 * 366)
    holder_cert = maker.issue_holder_certificate(
        session=session,
        clock=clock,
        issuer=issuing,
        public_key_der=holder.public_key_der,
        key_id=holder.key_id,
        common_name=row.name,
        organisation_name=org.name,
        uscc=org.uscc,
        days=days,
        actor=principal.actor,
    )
    maker_signer = maker.ensure_seal_maker(
        session=session, clock=clock, keystore=keystore, settings=settings, actor=principal.actor
    )
    # The seal is made now, after both certificates exist: its createDate must not precede the
    # maker's or the holder's notBefore (the maker is created on first use, in this call).
    made = clock.now()
    esl = maker.make_esl(
        maker=maker_signer,
        es_id=row.es_id,
        seal_type=SealType(row.seal_type),
        name=row.name,
        holder_cert=holder_cert.der,
        create_date=_seconds(made),
        valid_start=row.valid_from,
        valid_end=row.valid_to,
        picture_png=row.picture_png,
        picture_size_mm=(row.picture_width_mm, row.picture_height_mm),
    )
    row.holder_key_id = holder.key_id
    row.holder_cert_serial = holder_cert.serial
    row.holder_cert_sm3 = sm3(holder_cert.der).hex()
    row.maker_key_id = maker_signer.key_id
    row.esl = esl
    row.esl_sm3 = sm3(esl).hex()
    row.made_at = made
    session.flush()
    _change(
        session,
        clock,
        principal,
        seal_id,
        LifecycleAction.MAKE,
        reason,
        esl_sm3=row.esl_sm3,
        holder_key_id=holder.key_id,
        holder_cert_serial=holder_cert.serial,
        maker_key_id=maker_signer.key_id,
    )
    return record_of(session, row, clock.now())


def activate_seal(
    *, session: Session, clock: Clock, principal: Principal, seal_id: str, reason: str
) -> SealRecord:
    """启用: ``made`` -> ``active``."""
    row = load_seal(session, seal_id)
    if row.esl is None:
        raise SealNotMade(f"印章 {seal_id} 尚未制作")
    row = _change(session, clock, principal, seal_id, LifecycleAction.ACTIVATE, reason)
    return record_of(session, row, clock.now())


def suspend_seal(
    *, session: Session, clock: Clock, principal: Principal, seal_id: str, reason: str
) -> SealRecord:
    """暂停: ``active`` -> ``suspended`` (stamping refused until resumed)."""
    row = _change(session, clock, principal, seal_id, LifecycleAction.SUSPEND, reason)
    return record_of(session, row, clock.now())


def resume_seal(
    *, session: Session, clock: Clock, principal: Principal, seal_id: str, reason: str
) -> SealRecord:
    """恢复: ``suspended`` -> ``active``."""
    row = _change(session, clock, principal, seal_id, LifecycleAction.RESUME, reason)
    return record_of(session, row, clock.now())


def revoke_seal(
    *, session: Session, clock: Clock, principal: Principal, seal_id: str, reason: str
) -> SealRecord:
    """注销 (final). The holder certificate is revoked too (RFC 5280 cessationOfOperation), so
    that signatures dated after this moment no longer validate; earlier ones still do."""
    row = _change(session, clock, principal, seal_id, LifecycleAction.REVOKE, reason)
    if row.holder_cert_serial is not None:
        status = ca_service.certificate_status(
            session=session, clock=clock, serial=row.holder_cert_serial
        )
        if status.status != "revoked":
            ca_service.revoke(
                session=session,
                clock=clock,
                serial=row.holder_cert_serial,
                reason="cessation_of_operation",
                actor=principal.actor,
            )
    return record_of(session, row, clock.now())


def expire_due_seals(*, session: Session, clock: Clock, actor: str = "system") -> list[str]:
    """Record ``expired`` for every seal whose validity has ended; returns their ids."""
    now = clock.now()
    due = session.scalars(
        select(Seal)
        .where(
            Seal.valid_to < now,
            Seal.status.in_(
                [SealStatus.MADE.value, SealStatus.ACTIVE.value, SealStatus.SUSPENDED.value]
            ),
        )
        .order_by(Seal.id)
        .with_for_update()
    ).all()
    for row in due:
        _record_expiry(session, clock, row, actor)
    return [row.id for row in due]
