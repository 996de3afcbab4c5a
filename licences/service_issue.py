"""Issuing a licence (issue 5 item 2) in one transaction:

1. the principal is an issuer (发证人) of the organisation, staff or its service client;
2. the request is checked against the catalogue type (holder code GB 11643 / GB 32100, face
   fields, validity) — ``licences.issuance``;
3. the GB/T 36904 identifier gets a 20-character CSPRNG serial (spec §2.5) and the MOD 37,36
   check character; the 核验码 is 15 CSPRNG characters + check and is stored only as
   HMAC-SM3 (spec §9.1); a random index in the issuer's status list is taken (spec §9.4);
4. the printed EL1 object is signed with the issuer's SM2 key, the PDF rendered with its QR and
   核验码, and sealed with the department's 行政审批专用章 **through the seals service**
   (``seals.service_stamp.stamp_document``, which records its own usage and ``seal.used``);
5. the issued EL1 object carries SM3 of the sealed PDF;
6. the GB/T 36903 metadata and the sealed PDF are stored and ``licence.issued`` is appended to
   the transparency log.

Idempotency: a request with an ``idempotency_key`` already used by the organisation returns the
stored licence when the request is the same and is refused (``licence.conflict.idempotency``)
when it differs. "The same" is decided on the request **as the client sent it** (SM3 of its
canonical JSON, before any default is filled in): a replay on a later day without an explicit
``valid_from`` is still the same request, although the default (today) would now differ.
Two concurrent requests with one key: the build runs in a SAVEPOINT; the loser's insert hits
the unique constraint ``idempotency``, its savepoint is rolled back (seal usage, log entries,
status slot: nothing of it remains) and it answers with the winner's licence, or 409 when its
body differs. The 核验码 of a replayed licence is not shown again (it is not stored; it is
printed on the document).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from keys.interfaces import KeyStore
from licences.codes import code_digest, format_code, new_code
from licences.envelope import (
    CHINA_TZ,
    StatusReference,
    encode_el1,
    encode_el1_url,
    new_holder_salt,
    sign_envelope,
)
from licences.identifiers import LicenceIdentifier, build_identifier, next_version
from licences.issuance import (
    CheckedRequest,
    IssueRequest,
    build_document,
    build_payload,
    check_request,
    masked_code,
    new_licence_number,
)
from licences.lifecycle import LicenceState
from licences.model import Licence, LicenceEvent
from licences.render import render_licence_pdf
from licences.service import (
    LicenceRecord,
    issuer_organisation,
    load_spec,
    log_licence_event,
    record_of,
)
from licences.service_errors import LicenceConflict
from licences.service_keys import LicenceConfig, issuer_signer
from licences.service_status import take_status_slot
from licences.service_trust import ensure_published
from seals import service as seals_service
from seals import service_stamp
from seals.lifecycle import SealStatus, SealType
from seals.policy import StampForm
from seals.service_stamp import Stamped, StampOptions
from trust.clock import Clock
from trust.crypto import hmac_sm3, sm3, sm4_gcm_encrypt
from trust.ids import new_id
from trust.principals.principal import Principal, PrincipalKind
from trust.principals.records import OrganisationRecord
from trust.principals.roles import Grant, Role

__all__ = ["LicenceIssued", "holder_lookup", "issue_licence", "issue_version", "request_sm3"]

#: The licence system's own identity when it stamps: the department's seal user for licences.
STAMPING_ACTOR_ID: Final = "licences"
_SEAL_PREFERENCE: Final = (SealType.ADMIN_APPROVAL, SealType.OFFICIAL)


@dataclass(frozen=True, slots=True)
class LicenceIssued:
    record: LicenceRecord
    #: The 核验码 in display form (``7KQ4-M2XA-9PHT-D3WT``); None when an idempotent replay
    #: returned an existing licence (the code is stored only as a MAC).
    verification_code: str | None
    document_pdf: bytes
    replayed: bool

    def to_dict(self) -> dict[str, Any]:
        r = self.record
        return {
            "id": r.id,
            "identifier": r.identifier,
            "verification_code": self.verification_code,
            "qr_payload": r.qr_payload,
            "qr_url": r.printed_qr,
            "document_sm3": r.document_sm3,
            "status": r.state.value,
            "replayed": self.replayed,
            "licence": r.to_dict(),
        }


def holder_lookup(code_key: bytes, holder_type_code: str, holder_code: str) -> bytes:
    """Keyed digest that finds a holder's licences without storing the code in clear."""
    return hmac_sm3(code_key, f"holder|{holder_type_code}|{holder_code.upper()}".encode())


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def request_sm3(request: IssueRequest) -> str:
    """SM3 of the request as the client sent it (no defaults filled in, nothing normalised):
    what an idempotent replay is compared by."""
    canonical = json.dumps(
        {
            "type": request.type_code,
            "holder_name": request.holder_name,
            "holder_code": request.holder_code,
            "fields": dict(request.fields),
            "valid_from": _iso(request.valid_from),
            "valid_until": _iso(request.valid_until),
            "number": request.licence_number,
            "area": request.area_code,
            "organisation": request.organisation_id,
        },
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return sm3(canonical.encode()).hex()


def _checked_sm3(checked: CheckedRequest) -> str:
    """For versions made by a change (no idempotency key): SM3 of the checked request."""
    canonical = json.dumps(
        {
            "type": checked.spec.code,
            "holder_name": checked.holder_name,
            "holder_code": checked.holder_code,
            "fields": checked.fields,
            "valid_from": checked.valid_from.isoformat(),
            "valid_until": _iso(checked.valid_until),
            "number": checked.licence_number,
            "area": checked.area_code,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return sm3(canonical.encode()).hex()


def _stamping_principal(organisation_id: str) -> Principal:
    # The licence system uses the department's seal as its authorised seal user for licence
    # documents (the seals service still checks the seal is active and in its validity, and
    # records the use and ``seal.used`` in this transaction).
    return Principal(
        kind=PrincipalKind.CLIENT,
        id=STAMPING_ACTOR_ID,
        display="电子证照签发系统",
        organisation_id=organisation_id,
        grants=frozenset({Grant(Role.SEAL_USER, organisation_id)}),
        authenticated_by="internal",
    )


def _choose_seal(session: Session, clock: Clock, organisation_id: str) -> seals_service.SealRecord:
    actor = f"client:{STAMPING_ACTOR_ID}"
    usable = [
        r
        for r in seals_service.list_seals(
            session=session, clock=clock, principal=None, organisation_id=organisation_id
        )
        if r.status is SealStatus.ACTIVE
        and not r.two_person_rule
        and (not r.users or actor in r.users)
    ]
    for kind in _SEAL_PREFERENCE:
        for record in usable:
            if record.seal_type is kind:
                return record
    raise LicenceConflict(
        "发证组织没有可用的行政审批专用章或公章（须已启用、无双人用印）",
        code="licence.conflict.no_seal",
    )


def _seal(
    session: Session,
    clock: Clock,
    keystore: KeyStore,
    config: LicenceConfig,
    org: OrganisationRecord,
    pdf: bytes,
    box: tuple[float, float, float],
) -> tuple[Stamped, str]:
    seal = _choose_seal(session, clock, org.id)
    width, height = seal.picture_size_mm
    x, y, size = box
    outcome = service_stamp.stamp_document(
        session=session,
        clock=clock,
        keystore=keystore,
        principal=_stamping_principal(org.id),
        seal_id=seal.id,
        form=StampForm.PDF,
        document=pdf,
        options=StampOptions(page=1, x_mm=x + (size - width) / 2, y_mm=y + (size - height) / 2),
        tsa_policy_oid=config.tsa_policy_oid,
    )
    if not isinstance(outcome, Stamped):  # excluded by _choose_seal; fail closed regardless
        raise LicenceConflict("印章须双人用印，不能自动签发", code="licence.conflict.no_seal")
    return outcome, seal.id


def _existing(
    session: Session, org_id: str, key: str | None, request_sm3: str
) -> LicenceIssued | None:
    if key is None:
        return None
    row = session.scalars(
        select(Licence).where(Licence.issuer_org_id == org_id, Licence.idempotency_key == key)
    ).one_or_none()
    if row is None:
        return None
    if row.request_sm3 != request_sm3:
        raise LicenceConflict("该幂等键已用于另一个发证请求", code="licence.conflict.idempotency")
    return LicenceIssued(record_of(row), None, row.document_pdf, True)


@dataclass(frozen=True, slots=True)
class _Issue:
    """Everything of one version to build and store."""

    checked: CheckedRequest
    identifier: LicenceIdentifier
    org: OrganisationRecord
    licence_number: str
    predecessor: str | None
    idempotency_key: str | None
    request_sm3: str


def _build_and_store(
    session: Session,
    clock: Clock,
    keystore: KeyStore,
    config: LicenceConfig,
    principal: Principal,
    job: _Issue,
) -> LicenceIssued:
    checked, ident, org = job.checked, job.identifier, job.org
    key = issuer_signer(
        session=session, clock=clock, keystore=keystore, organisation_id=org.id, create=True
    )
    # A new issuer key (the organisation's first) goes into the trust list before it is used.
    ensure_published(session=session, clock=clock, keystore=keystore)
    code = new_code()
    salt = new_holder_salt()
    list_id, index = take_status_slot(session, clock, organisation_id=org.id, issuer_code=org.uscc)

    def payload(document_sm3: bytes | None) -> bytes:
        p = build_payload(
            checked,
            ident,
            licence_number=job.licence_number,
            issuer_name=org.name,
            salt=salt,
            document_sm3=document_sm3,
            status=StatusReference(list_id, index),
        )
        return sign_envelope(p, kid=key.kid, sign=key.signer.sign)

    printed = encode_el1_url(payload(None), config.verify_host)
    document = build_document(
        checked,
        ident,
        licence_number=job.licence_number,
        issuer_name=org.name,
        qr_text=printed,
        verification_code=code,
    )
    rendered = render_licence_pdf(document)
    box = (rendered.seal.x_mm, rendered.seal.y_mm, rendered.seal.width_mm)
    stamped, seal_id = _seal(session, clock, keystore, config, org, rendered.pdf, box)
    sealed_sm3 = sm3(stamped.output)
    now = clock.now()
    kind = "issued" if job.predecessor is None else "changed"
    log_index = log_licence_event(
        session,
        clock,
        kind=kind,
        identifier=ident.text,
        actor=principal.actor,
        type_code=ident.type_code,
        issuer_code=ident.issuer_code,
        extra={"version": ident.version, "document_sm3": sealed_sm3.hex()},
    )
    licence_id = new_id("lic")
    row = Licence(
        id=licence_id,
        identifier=ident.text,
        serial=ident.serial,
        version=ident.version,
        type_code=ident.type_code,
        licence_name=checked.spec.name,
        licence_number=job.licence_number,
        issuer_org_id=org.id,
        issuer_code=org.uscc,
        issuer_name=org.name,
        holder_name=checked.holder_name,
        holder_type_code=checked.spec.holder_kind.holder_type_code,
        holder_lookup=holder_lookup(
            config.code_key, checked.spec.holder_kind.holder_type_code, checked.holder_code
        ),
        holder_code_masked=masked_code(checked),
        holder_salt=salt,
        holder_code_sealed=sm4_gcm_encrypt(
            config.holder_key, checked.holder_code.encode(), aad=licence_id.encode()
        ),
        fields=json.dumps(checked.fields, ensure_ascii=False, sort_keys=True),
        area_code=checked.area_code,
        issued_on=checked.issued_on,
        valid_from=checked.valid_from,
        valid_until=checked.valid_until,
        status=LicenceState.ISSUED.value,
        status_reason=None,
        status_changed_at=now,
        superseded_by=None,
        predecessor=job.predecessor,
        code_digest=code_digest(config.code_key, code),
        status_list_id=list_id,
        status_index=index,
        document_pdf=stamped.output,
        document_sm3=sealed_sm3.hex(),
        signing_kid=key.kid,
        printed_qr=printed,
        qr_payload=encode_el1(payload(sealed_sm3)),
        seal_id=seal_id,
        seal_usage_id=stamped.usage.id,
        idempotency_key=job.idempotency_key,
        request_sm3=job.request_sm3,
        created_at=now,
        created_by=principal.actor,
        log_index=log_index,
    )
    session.add(row)
    session.add(
        LicenceEvent(
            id=new_id("lev"),
            licence_id=row.id,
            kind=kind,
            reason="新发" if job.predecessor is None else f"变更（原版本 {job.predecessor}）",
            actor=principal.actor,
            at=now,
            log_index=log_index,
        )
    )
    session.flush()
    return LicenceIssued(record_of(row), format_code(code), stamped.output, False)


def _today(clock: Clock) -> date:
    return clock.now().astimezone(CHINA_TZ).date()


def issue_licence(
    *,
    session: Session,
    clock: Clock,
    keystore: KeyStore,
    config: LicenceConfig,
    principal: Principal,
    request: IssueRequest,
) -> LicenceIssued:
    """Issue version 001 of a new licence (see the module docstring)."""
    org = issuer_organisation(
        session=session, principal=principal, organisation_id=request.organisation_id
    )
    spec = load_spec(session, request.type_code)
    today = _today(clock)
    checked = check_request(spec, request, today=today)
    digest = request_sm3(request)
    replay = _existing(session, org.id, request.idempotency_key, digest)
    if replay is not None:
        return replay
    ident = build_identifier(spec.code, org.uscc)
    job = _Issue(
        checked=checked,
        identifier=ident,
        org=org,
        licence_number=checked.licence_number or new_licence_number(spec, today),
        predecessor=None,
        idempotency_key=request.idempotency_key,
        request_sm3=digest,
    )
    if request.idempotency_key is None:
        return _build_and_store(session, clock, keystore, config, principal, job)
    try:
        with session.begin_nested():
            return _build_and_store(session, clock, keystore, config, principal, job)
    except IntegrityError:
        # A concurrent request with the same key committed first (PostgreSQL; SQLite runs
        # whole transactions one at a time, so the check above already saw it). Everything
        # this attempt wrote was in the savepoint and is gone.
        replay = _existing(session, org.id, request.idempotency_key, digest)
        if replay is None:
            raise LicenceConflict(
                "并发签发冲突，请稍后重试", code="licence.conflict.concurrent"
            ) from None
        return replay


def issue_version(
    *,
    session: Session,
    clock: Clock,
    keystore: KeyStore,
    config: LicenceConfig,
    principal: Principal,
    previous: Licence,
    checked: CheckedRequest,
) -> LicenceIssued:
    """The next version of ``previous`` (变更): same serial and licence number, version + 1.
    The caller marks ``previous`` SUPERSEDED."""
    org = issuer_organisation(
        session=session, principal=principal, organisation_id=previous.issuer_org_id
    )
    ident = next_version(previous.identifier)
    job = _Issue(
        checked=checked,
        identifier=ident,
        org=org,
        licence_number=checked.licence_number or previous.licence_number,
        predecessor=previous.identifier,
        idempotency_key=None,
        request_sm3=_checked_sm3(checked),
    )
    return _build_and_store(session, clock, keystore, config, principal, job)
