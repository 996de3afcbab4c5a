"""Licence services, common part: the catalogue (GB/T 36902), records and reads for issuers,
authorisation and transparency-log events. Issuing is in ``licences.service_issue``,
verification in ``licences.service_verify``, the lifecycle in ``licences.service_lifecycle``,
holder use and third parties in ``licences.service_share``, status lists in
``licences.service_status``, the trust list in ``licences.service_trust``.

Every function is keyword-only and runs in the caller's transaction (it never commits); every
change appends its ``licence.*`` transparency-log event in that same transaction. Log leaves hold
no personal data (spec §9.5): the subject is the licence identifier and the payload carries
``SM3(identifier ‖ event ‖ time)``, type and issuer codes, and the reason code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from licences.catalogue import LicenceTypeSpec, type_from_json, type_to_json
from licences.lifecycle import STATE_ZH, LicenceState
from licences.model import Licence, LicenceEvent, LicenceType
from licences.service_errors import LicenceForbidden, LicenceNotFound, LicenceRequestInvalid
from trust.clock import Clock
from trust.crypto import sm3
from trust.ids import new_id
from trust.principals import service as principals
from trust.principals.principal import Principal, PrincipalKind
from trust.principals.records import OrganisationRecord
from trust.principals.roles import Role
from trust.tlog import service as tlog
from trust.tlog.events import LogEvent

__all__ = [
    "LicenceRecord",
    "TypeRecord",
    "add_event",
    "get_licence",
    "get_type",
    "issuer_organisation",
    "licence_history",
    "list_licences",
    "list_types",
    "load_licence",
    "load_spec",
    "log_licence_event",
    "record_of",
    "register_type",
    "require_issuer",
    "require_issuer_of",
]

_READ_ROLES: Final = (Role.LICENCE_ISSUER, Role.AUDITOR, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class TypeRecord:
    spec: LicenceTypeSpec
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        s = self.spec
        return {
            "code": s.code,
            "name": s.name,
            "defining_authority_name": s.defining_authority_name,
            "defining_authority_code": s.defining_authority_code,
            "holder_kind": s.holder_kind.value,
            "holder_type_code": s.holder_kind.holder_type_code,
            "fields": [
                {
                    "name": f.name,
                    "label": f.label,
                    "type": f.type.value,
                    "mandatory": f.mandatory,
                    "max_length": f.max_length,
                    "choices": list(f.choices),
                }
                for f in s.fields
            ],
            "validity": s.validity.value,
            "validity_years": s.validity_years,
            "template": s.template,
        }


@dataclass(frozen=True, slots=True)
class LicenceRecord:
    """An issued licence version as its issuer (and its holder) sees it: GB/T 36903 metadata.
    Never the 核验码 (only its digest is stored) nor the holder code in clear."""

    id: str
    identifier: str
    version: int
    type_code: str
    licence_name: str
    licence_number: str
    issuer_org_id: str
    issuer_code: str
    issuer_name: str
    holder_name: str
    holder_type_code: str
    holder_code_masked: str
    fields: dict[str, str]
    issued_on: date
    valid_from: date
    valid_until: date | None
    state: LicenceState
    status_reason: str | None
    status_changed_at: datetime
    superseded_by: str | None
    predecessor: str | None
    document_sm3: str
    qr_payload: str
    printed_qr: str
    created_at: datetime
    created_by: str
    status_list_id: str
    status_index: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "identifier": self.identifier,
            "version": self.version,
            "type_code": self.type_code,
            "licence_name": self.licence_name,
            "licence_number": self.licence_number,
            "issuer_org_id": self.issuer_org_id,
            "issuer_code": self.issuer_code,
            "issuer_name": self.issuer_name,
            "holder_name": self.holder_name,
            "holder_type_code": self.holder_type_code,
            "holder_code_masked": self.holder_code_masked,
            "fields": self.fields,
            "issued_on": self.issued_on.isoformat(),
            "valid_from": self.valid_from.isoformat(),
            "valid_until": None if self.valid_until is None else self.valid_until.isoformat(),
            "status": self.state.value,
            "status_zh": STATE_ZH[self.state],
            "status_reason": self.status_reason,
            "status_changed_at": self.status_changed_at.isoformat(),
            "superseded_by": self.superseded_by,
            "predecessor": self.predecessor,
            "document_sm3": self.document_sm3,
            "qr_payload": self.qr_payload,
            "printed_qr": self.printed_qr,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "status_list_id": self.status_list_id,
            "status_index": self.status_index,
        }


def record_of(row: Licence) -> LicenceRecord:
    return LicenceRecord(
        id=row.id,
        identifier=row.identifier,
        version=row.version,
        type_code=row.type_code,
        licence_name=row.licence_name,
        licence_number=row.licence_number,
        issuer_org_id=row.issuer_org_id,
        issuer_code=row.issuer_code,
        issuer_name=row.issuer_name,
        holder_name=row.holder_name,
        holder_type_code=row.holder_type_code,
        holder_code_masked=row.holder_code_masked,
        fields=json.loads(row.fields),
        issued_on=row.issued_on,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        state=LicenceState(row.status),
        status_reason=row.status_reason,
        status_changed_at=row.status_changed_at,
        superseded_by=row.superseded_by,
        predecessor=row.predecessor,
        document_sm3=row.document_sm3,
        qr_payload=row.qr_payload,
        printed_qr=row.printed_qr,
        created_at=row.created_at,
        created_by=row.created_by,
        status_list_id=row.status_list_id,
        status_index=row.status_index,
    )


# --------------------------------------------------------------------------- authorisation


def require_issuer(principal: Principal, organisation_id: str) -> None:
    """发证人 of the organisation (staff or the organisation's own service client)."""
    if principal.kind is PrincipalKind.CLIENT and principal.organisation_id != organisation_id:
        raise LicenceForbidden(
            "应用客户端只能以本组织名义发证", code="licence.forbidden.client_org"
        )
    if not principal.has_role(Role.LICENCE_ISSUER, organisation_id):
        raise LicenceForbidden("需要该组织的发证人（licence_issuer）角色")


def require_issuer_of(principal: Principal, row: Licence) -> None:
    """Issuer of the licence's organisation; to anyone who may not even read it, the licence
    does not exist (404, no probing across issuers); to its auditors, 403."""
    if not _may_read(principal, row.issuer_org_id):
        raise LicenceNotFound("电子证照不存在")
    require_issuer(principal, row.issuer_org_id)


def _may_read(principal: Principal, organisation_id: str) -> bool:
    if principal.kind is PrincipalKind.CLIENT and principal.organisation_id != organisation_id:
        return False
    return any(principal.has_role(role, organisation_id) for role in _READ_ROLES)


def issuer_organisation(
    *, session: Session, principal: Principal, organisation_id: str | None
) -> OrganisationRecord:
    """The organisation a principal issues for: the one named, or the only one it may issue
    for (a client: its own)."""
    if organisation_id is None:
        if principal.kind is PrincipalKind.CLIENT and principal.organisation_id is not None:
            organisation_id = principal.organisation_id
        else:
            orgs = sorted(
                org
                for org, roles in principal.roles.items()
                if org is not None and Role.LICENCE_ISSUER in roles
            )
            if len(orgs) != 1:
                raise LicenceRequestInvalid(
                    "请指定发证组织 organisation_id", code="licence.request.organisation"
                )
            organisation_id = orgs[0]
    require_issuer(principal, organisation_id)
    return principals.get_organisation(session=session, organisation_id=organisation_id)


# --------------------------------------------------------------------------- catalogue


def register_type(
    *, session: Session, clock: Clock, spec: LicenceTypeSpec, actor: str
) -> TypeRecord:
    """Add a licence type to the catalogue, or return it unchanged if the same definition is
    already there (a different definition under the same code is a conflict)."""
    existing = session.get(LicenceType, spec.code)
    definition = type_to_json(spec)
    if existing is not None:
        if (existing.definition, existing.name) != (definition, spec.name):
            raise LicenceRequestInvalid(
                f"证照类型代码 {spec.code} 已登记为其他定义", code="licence.request.type_exists"
            )
        return TypeRecord(spec, existing.created_at)
    now = clock.now()
    session.add(
        LicenceType(
            code=spec.code,
            name=spec.name,
            defining_authority_name=spec.defining_authority_name,
            holder_kind=spec.holder_kind.value,
            definition=definition,
            created_at=now,
            created_by=actor,
        )
    )
    tlog.append(
        session=session,
        clock=clock,
        event=LogEvent(
            kind="licence.type_registered",
            subject=spec.code,
            actor=actor,
            payload={"name": spec.name, "definition_sm3": sm3(definition.encode()).hex()},
        ),
    )
    session.flush()
    return TypeRecord(spec, now)


def _spec_of(row: LicenceType) -> LicenceTypeSpec:
    return type_from_json(
        code=row.code,
        name=row.name,
        defining_authority_name=row.defining_authority_name,
        holder_kind=row.holder_kind,
        definition=row.definition,
    )


def load_spec(session: Session, type_code: str) -> LicenceTypeSpec:
    row = session.get(LicenceType, type_code) if isinstance(type_code, str) else None
    if row is None:
        raise LicenceRequestInvalid(
            f"证照目录中没有类型 {str(type_code)[:30]}", code="licence.request.unknown_type"
        )
    return _spec_of(row)


def get_type(*, session: Session, type_code: str) -> TypeRecord:
    row = session.get(LicenceType, type_code)
    if row is None:
        raise LicenceNotFound(f"证照目录中没有类型 {type_code[:30]}", code="licence.type_not_found")
    return TypeRecord(_spec_of(row), row.created_at)


def list_types(*, session: Session) -> list[TypeRecord]:
    rows = session.scalars(select(LicenceType).order_by(LicenceType.code))
    return [TypeRecord(_spec_of(r), r.created_at) for r in rows]


# --------------------------------------------------------------------------- reads


def load_licence(session: Session, ref: str, *, lock: bool = False) -> Licence:
    """By id (``lic_…``) or identifier; ``LicenceNotFound`` otherwise."""
    if not isinstance(ref, str) or not 0 < len(ref) <= 128:
        raise LicenceNotFound("电子证照不存在")
    column = Licence.id if ref.startswith("lic_") else Licence.identifier
    stmt = select(Licence).where(column == ref)
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).one_or_none()
    if row is None:
        raise LicenceNotFound("电子证照不存在")
    return row


def get_licence(*, session: Session, principal: Principal, ref: str) -> LicenceRecord:
    """A licence for its issuing organisation's issuers, auditors and admins."""
    row = load_licence(session, ref)
    if not _may_read(principal, row.issuer_org_id):
        # The same answer as for a licence that does not exist: no probing across issuers.
        raise LicenceNotFound("电子证照不存在")
    return record_of(row)


def list_licences(
    *,
    session: Session,
    principal: Principal,
    organisation_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[LicenceRecord], int]:
    """The licences of the organisations the principal may read (newest first) and a total."""
    orgs = sorted(
        org
        for org in principal.roles
        if org is not None and (organisation_id is None or org == organisation_id)
        if _may_read(principal, org)
    )
    if not orgs:
        return [], 0
    where = Licence.issuer_org_id.in_(orgs)
    total = int(session.scalar(select(func.count()).select_from(Licence).where(where)) or 0)
    rows = session.scalars(
        select(Licence)
        .where(where)
        .order_by(Licence.created_at.desc(), Licence.id)
        .limit(max(1, min(limit, 200)))
        .offset(max(0, offset))
    )
    return [record_of(r) for r in rows], total


def licence_history(*, session: Session, licence_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(LicenceEvent).where(LicenceEvent.licence_id == licence_id).order_by(LicenceEvent.at)
    )
    return [
        {
            "kind": r.kind,
            "reason": r.reason,
            "actor": r.actor,
            "at": r.at.isoformat(),
            "log_index": r.log_index,
        }
        for r in rows
    ]


# --------------------------------------------------------------------------- events


def log_licence_event(
    session: Session,
    clock: Clock,
    *,
    kind: str,
    identifier: str,
    actor: str,
    type_code: str,
    issuer_code: str,
    extra: dict[str, Any] | None = None,
) -> int:
    """Spec §9.5 leaf: no personal data; ``digest`` = SM3(identifier ‖ event ‖ time)."""
    at = clock.now().isoformat()
    payload: dict[str, Any] = {
        "digest": sm3(f"{identifier}|{kind}|{at}".encode()).hex(),
        "type_code": type_code,
        "issuer_code": issuer_code,
        "at": at,
    }
    payload.update(extra or {})
    appended = tlog.append(
        session=session,
        clock=clock,
        event=LogEvent(kind=f"licence.{kind}", subject=identifier, actor=actor, payload=payload),
    )
    return appended.index


def add_event(
    session: Session, clock: Clock, row: Licence, *, kind: str, reason: str, actor: str
) -> int:
    index = log_licence_event(
        session,
        clock,
        kind=kind,
        identifier=row.identifier,
        actor=actor,
        type_code=row.type_code,
        issuer_code=row.issuer_code,
        extra={"reason": reason[:100]},
    )
    session.add(
        LicenceEvent(
            id=new_id("lev"),
            licence_id=row.id,
            kind=kind,
            reason=reason,
            actor=actor,
            at=clock.now(),
            log_index=index,
        )
    )
    return index
