"""Holder use and third parties (issue 5 item 5; elicence spec §6, §9.6).

* the holder (``Holder``, see ``licences.sharing``; built by ``holder_for`` from the logged-in
  person's verified citizen ID number and the organisations they act for) lists their
  licences, downloads them, sees every verification, every share redemption and every
  ex-officio lookup of them;
* share grants: created and revoked by the holder, redeemed by the named recipient (an
  authenticated principal) within expiry and uses; each redemption is a row in the holder's
  核验记录; revoking stops further redemptions at once;
* ex-officio lookup (依职能用证): staff of a government department only, with 事项编码, 业务流水号
  and 事由; written to ``licence_access`` and the transparency log, and shown to the holder.

Share and lookup events go to the transparency log without personal data (identifier, ids).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from licences.catalogue import HolderKind
from licences.envelope import mask_holder_name
from licences.model import Licence, LicenceAccess, LicenceShare, LicenceVerification
from licences.service import LicenceRecord, load_licence, load_spec, log_licence_event, record_of
from licences.service_errors import LicenceForbidden, LicenceNotFound, LicenceRequestInvalid
from licences.service_issue import holder_lookup
from licences.service_keys import LicenceConfig
from licences.service_verify import live_result
from licences.sharing import (
    Holder,
    HolderScope,
    check_share_terms,
    new_share_token,
    share_digest,
    share_labels,
)
from trust.clock import Clock
from trust.ids import new_id
from trust.principals import service as principals
from trust.principals.principal import Principal, PrincipalKind
from trust.principals.roles import OrgKind

__all__ = [
    "ShareRecord",
    "create_share",
    "ex_officio_lookup",
    "held_licences",
    "holder_activity",
    "holder_document",
    "holder_for",
    "holder_licences",
    "list_shares",
    "redeem_share",
    "revoke_share",
]

_REF_RE: Final = re.compile(r"[0-9A-Za-z\u4e00-\u9fff()（）\[\]._:/-]{1,64}")


@dataclass(frozen=True, slots=True)
class ShareRecord:
    id: str
    licence_id: str
    fields: tuple[str, ...]
    purpose: str
    recipient: str
    expires_at: datetime
    max_uses: int
    uses: int
    revoked_at: datetime | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "licence_id": self.licence_id,
            "fields": list(self.fields),
            "purpose": self.purpose,
            "recipient": self.recipient,
            "expires_at": self.expires_at.isoformat(),
            "max_uses": self.max_uses,
            "uses": self.uses,
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
            "created_at": self.created_at.isoformat(),
        }


def _share_record(row: LicenceShare) -> ShareRecord:
    return ShareRecord(
        row.id,
        row.licence_id,
        tuple(json.loads(row.fields)),
        row.purpose,
        row.recipient,
        row.expires_at,
        row.max_uses,
        row.uses,
        row.revoked_at,
        row.created_at,
    )


def holder_for(
    *,
    config: LicenceConfig,
    actor: str,
    citizen_id: str | None,
    organisations: Iterable[tuple[str, str]] = (),
) -> Holder:
    """The holder a logged-in person is: ``citizen_id`` (verified by the identity provider, or
    None) and ``organisations`` = (credit code, name) of every organisation whose licences they
    may see (the edge keeps only the legal representative's and agents with
    ``licence:view``). Codes are lookup digests from here on."""
    natural, legal = HolderKind.NATURAL.holder_type_code, HolderKind.LEGAL.holder_type_code
    scopes: list[HolderScope] = []
    if citizen_id:
        scopes.append(HolderScope(holder_lookup(config.code_key, natural, citizen_id), "本人"))
    for credit_code, name in organisations:
        scopes.append(HolderScope(holder_lookup(config.code_key, legal, credit_code), name))
    return Holder(actor, tuple(scopes))


# --------------------------------------------------------------------------- holder


def held_licences(*, session: Session, holder: Holder) -> list[tuple[str, LicenceRecord]]:
    """Every licence of every holder code the person may act as, newest first, each with the
    label of the code it is held under (``本人`` or the organisation's name)."""
    if not holder.scopes:
        return []
    rows = session.scalars(
        select(Licence)
        .where(Licence.holder_lookup.in_(holder.lookups))
        .order_by(Licence.created_at.desc(), Licence.id)
    )
    out: list[tuple[str, LicenceRecord]] = []
    for row in rows:
        scope = holder.scope_of(row.holder_lookup)
        if scope is not None:
            out.append((scope.label, record_of(row)))
    return out


def holder_licences(*, session: Session, holder: Holder) -> list[LicenceRecord]:
    return [record for _label, record in held_licences(session=session, holder=holder)]


def _own(session: Session, holder: Holder, ref: str, *, lock: bool = False) -> Licence:
    row = load_licence(session, ref, lock=lock)
    if holder.scope_of(row.holder_lookup) is None:
        raise LicenceNotFound("电子证照不存在")
    return row


def holder_document(*, session: Session, holder: Holder, ref: str) -> bytes:
    return _own(session, holder, ref).document_pdf


def holder_activity(*, session: Session, holder: Holder, ref: str) -> dict[str, Any]:
    """Every verification (核验记录), ex-officio lookup and share grant of one licence."""
    row = _own(session, holder, ref)
    checks = session.scalars(
        select(LicenceVerification)
        .where(LicenceVerification.licence_id == row.id)
        .order_by(LicenceVerification.at)
    )
    accesses = session.scalars(
        select(LicenceAccess).where(LicenceAccess.licence_id == row.id).order_by(LicenceAccess.at)
    )
    return {
        "verifications": [
            {
                "channel": v.channel,
                "result": v.result,
                "client": v.client,
                "ip": v.ip_hint,
                "at": v.at.isoformat(),
            }
            for v in checks
        ],
        "ex_officio": [
            {
                "actor": a.actor,
                "actor_display": a.actor_display,
                "organisation_id": a.organisation_id,
                "service_item_code": a.service_item_code,
                "case_number": a.case_number,
                "reason": a.reason,
                "at": a.at.isoformat(),
            }
            for a in accesses
        ],
        "shares": [s.to_dict() for s in list_shares(session=session, holder=holder, ref=row.id)],
    }


def create_share(
    *,
    session: Session,
    clock: Clock,
    config: LicenceConfig,
    holder: Holder,
    ref: str,
    fields: list[str],
    purpose: str,
    recipient: str,
    expires_in: timedelta,
    max_uses: int,
) -> tuple[ShareRecord, str]:
    """A share grant and its token (shown once)."""
    row = _own(session, holder, ref)
    spec = load_spec(session, row.type_code)
    now = clock.now()
    terms = check_share_terms(
        fields=fields,
        allowed=list(share_labels(spec)),
        purpose=purpose,
        recipient=recipient,
        expires_in=expires_in,
        max_uses=max_uses,
        now=now,
    )
    token = new_share_token()
    share = LicenceShare(
        id=new_id("shr"),
        licence_id=row.id,
        token_digest=share_digest(config.code_key, token),
        fields=json.dumps(list(terms.fields)),
        purpose=terms.purpose,
        recipient=terms.recipient,
        expires_at=terms.expires_at,
        max_uses=terms.max_uses,
        uses=0,
        revoked_at=None,
        created_at=now,
    )
    session.add(share)
    _log(session, clock, row, "share_created", holder.actor, share=share.id)
    session.flush()
    return _share_record(share), token


def _log(session: Session, clock: Clock, row: Licence, kind: str, actor: str, **extra: Any) -> int:
    return log_licence_event(
        session,
        clock,
        kind=kind,
        identifier=row.identifier,
        actor=actor,
        type_code=row.type_code,
        issuer_code=row.issuer_code,
        extra=extra,
    )


def list_shares(*, session: Session, holder: Holder, ref: str) -> list[ShareRecord]:
    row = _own(session, holder, ref)
    rows = session.scalars(
        select(LicenceShare)
        .where(LicenceShare.licence_id == row.id)
        .order_by(LicenceShare.created_at, LicenceShare.id)
    )
    return [_share_record(r) for r in rows]


def revoke_share(*, session: Session, clock: Clock, holder: Holder, share_id: str) -> ShareRecord:
    share = session.get(LicenceShare, share_id, with_for_update=True)
    if share is None:
        raise LicenceNotFound("共享授权不存在", code="licence.share.not_found")
    row = _own(session, holder, share.licence_id)
    if share.revoked_at is None:
        share.revoked_at = clock.now()
        _log(session, clock, row, "share_revoked", holder.actor, share=share.id)
        session.flush()
    return _share_record(share)


def _share_not_found() -> LicenceNotFound:
    # One answer for an unknown, revoked, expired, used-up token and the wrong recipient.
    return LicenceNotFound("共享码无效或已失效", code="licence.share.not_found")


def _disclosed(row: Licence, fields: tuple[str, ...]) -> dict[str, str]:
    face: dict[str, str] = json.loads(row.fields)
    standard = {
        "holder_name": row.holder_name,
        "licence_number": row.licence_number,
        "identifier": row.identifier,
    }
    return {f: standard.get(f, face.get(f, "")) for f in fields if f != "document"}


def redeem_share(
    *, session: Session, clock: Clock, config: LicenceConfig, principal: Principal, token: str
) -> dict[str, Any]:
    """The recipient redeems a share token: live status, the minimal view and the granted
    fields (and the sealed PDF, base64, when ``document`` was granted)."""
    digest = share_digest(config.code_key, token)
    share = session.scalars(
        select(LicenceShare).where(LicenceShare.token_digest == digest).with_for_update()
    ).one_or_none()
    now = clock.now()
    if (
        share is None
        or share.revoked_at is not None
        or share.expires_at <= now
        or share.uses >= share.max_uses
        or share.recipient != principal.actor
    ):
        raise _share_not_found()
    share.uses += 1
    row = load_licence(session, share.licence_id)
    result, reason, newer = live_result(row, now)
    session.add(
        LicenceVerification(
            id=new_id("lvf"),
            licence_id=row.id,
            channel="share",
            result=result.value,
            client=principal.actor,
            ip_hint=None,
            at=now,
        )
    )
    _log(session, clock, row, "share_redeemed", principal.actor, share=share.id)
    fields = tuple(json.loads(share.fields))
    labels = share_labels(load_spec(session, row.type_code))
    out: dict[str, Any] = {
        "result": result.value,
        "reason": reason,
        "superseded_by": newer,
        "licence_name": row.licence_name,
        "issuer_name": row.issuer_name,
        "valid_from": row.valid_from.isoformat(),
        "valid_until": None if row.valid_until is None else row.valid_until.isoformat(),
        "masked_holder_name": mask_holder_name(row.holder_name),
        "fields": _disclosed(row, fields),
        "field_labels": {f: labels.get(f, f) for f in fields},
        "purpose": share.purpose,
        "uses_left": share.max_uses - share.uses,
    }
    if "document" in fields:
        out["document_pdf_base64"] = base64.b64encode(row.document_pdf).decode()
    session.flush()
    return out


# --------------------------------------------------------------------------- ex officio


def _text(value: str, name: str, limit: int, pattern: re.Pattern[str] | None = None) -> str:
    cleaned = " ".join(str(value or "").split())
    if not 0 < len(cleaned) <= limit or (pattern is not None and not pattern.fullmatch(cleaned)):
        raise LicenceRequestInvalid(f"{name}格式错误或为空", code="licence.ex_officio.input")
    return cleaned


def _department(session: Session, principal: Principal, organisation_id: str | None) -> str:
    departments = sorted(
        org
        for org in principal.roles
        if org is not None
        and principals.get_organisation(session=session, organisation_id=org).kind
        is OrgKind.DEPARTMENT
    )
    if not departments:
        raise LicenceForbidden("仅政府部门工作人员可依职能查验", code="licence.ex_officio.staff")
    if organisation_id is None:
        if len(departments) > 1:
            raise LicenceRequestInvalid(
                "您在多个部门任职，请指定以哪个部门的名义查验（organisation_id）",
                code="licence.ex_officio.department_ambiguous",
            )
        return departments[0]
    if organisation_id not in departments:
        raise LicenceForbidden("只能以本人任职的部门名义查验", code="licence.ex_officio.department")
    return organisation_id


def ex_officio_lookup(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    identifier: str,
    service_item_code: str,
    case_number: str,
    reason: str,
    organisation_id: str | None = None,
) -> LicenceRecord:
    """依职能用证: staff (not a system client) of a government department, with 事项编码,
    业务流水号 and 事由; logged, and shown to the holder.

    The department the lookup is made for is explicit: ``organisation_id`` names it (it must be
    a department the staff member holds a role in); it may be left out only when they belong
    to exactly one department — with several, the request is refused as ambiguous. The log
    entry and the holder's record name that same department."""
    item = _text(service_item_code, "事项编码", 64, _REF_RE)
    case = _text(case_number, "业务流水号", 64, _REF_RE)
    why = _text(reason, "事由", 200)
    if principal.kind is not PrincipalKind.USER:
        raise LicenceForbidden(
            "依职能查验须由部门工作人员实名办理", code="licence.ex_officio.staff"
        )
    department = _department(session, principal, organisation_id)
    row = load_licence(session, identifier)
    index = _log(
        session,
        clock,
        row,
        "ex_officio_lookup",
        principal.actor,
        service_item_code=item,
        organisation_id=department,
    )
    session.add(
        LicenceAccess(
            id=new_id("lac"),
            licence_id=row.id,
            actor=principal.actor,
            actor_display=principal.display[:200],
            organisation_id=department,
            service_item_code=item,
            case_number=case,
            reason=why,
            at=clock.now(),
            log_index=index,
        )
    )
    session.flush()
    return record_of(row)
