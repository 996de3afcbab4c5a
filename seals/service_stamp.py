"""Stamping (用印) in three forms, who-may-stamp, the two-person rule and the usage record.

Forms (``StampForm``):

* ``bytes`` - a detached GB/T 38540 v4 SES_Signature (``.sig``) with dataHash = SM3(data) and
  the given ``propertyInfo``; optionally an RFC 3161 timestamp from this service's TSA over the
  signature value, stored in the ``[0]`` field (eseal spec §3.2, §3.5);
* ``pdf`` - ``seals.stamping.stamp_pdf``: the seal picture and a CMS SM2/SM3 signature by the
  holder key (position, keyword or cross-page placement; eseal spec §11); optionally a signature
  timestamp token from this service's TSA in the SignerInfo's unsigned attributes (RFC 3161
  Appendix A), through ``seals.stamping.TsaTimeStamper``;
* ``ofd`` - ``seals.ofd_writer.seal_ofd`` with a ``sign_ses`` callback built on
  ``seals.ses_build`` (eseal spec §7.5); optionally timestamped like the bytes form.

Only an authorised user may stamp with an active seal inside its validity (``seals.policy``).
With the seal's two-person rule, a first call stores a request (document SM3, form and options)
instead; a custodian other than the requester approves it, and the requester executes it with the
same document bytes (checked against the approved SM3).

Every use writes a ``seal_usage`` row (用章记录) and a ``seal.used`` transparency-log entry in the
caller's transaction: both or neither.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from keys.interfaces import KeyStore, KeyUsage
from seals.errors import (
    BadSealRequest,
    DocumentMismatch,
    DocumentTooLarge,
    RequestNotApproved,
    SealNotMade,
    StampRequestNotFound,
)
from seals.model import Seal, SealUsage, StampRequest
from seals.ofd_writer import SealPlacement, seal_ofd, ses_signature_callback
from seals.policy import (
    StampForm,
    require_approver,
    require_executor,
    require_history_reader,
    require_stamper,
    require_usable,
)
from seals.service_common import facts_of, load_seal, log_event
from seals.ses import parse_seal
from seals.ses_build import make_ses_signature_v4
from seals.stamping import KeywordPlacement, Placement, TokenSource, TsaTimeStamper, stamp_pdf
from trust.clock import Clock
from trust.crypto import constant_time_equal, sm3
from trust.crypto.algorithms import OID_SM3
from trust.errors import IntegrityFailure
from trust.ids import new_id
from trust.principals.principal import Principal
from trust.signing import Signer
from trust.tsa.service import timestamp as tsa_timestamp

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "StampOptions",
    "StampPending",
    "StampRequestRecord",
    "Stamped",
    "UsageRecord",
    "approve_request",
    "execute_request",
    "get_request",
    "list_requests",
    "stamp_document",
    "usage_history",
]

MAX_DOCUMENT_BYTES: Final = 20 * 1024 * 1024
DEFAULT_PROPERTY_INFO: Final = "document"
_MEDIA: Final = {
    StampForm.BYTES: ("application/octet-stream", ".sig"),
    StampForm.PDF: ("application/pdf", ".pdf"),
    StampForm.OFD: ("application/ofd", ".ofd"),
}
_DEFAULT_POSITION_MM: Final = (130.0, 220.0)  # lower right of an A4 page, for 42 mm seals


@dataclass(frozen=True, slots=True)
class StampOptions:
    """How to stamp. ``page`` counts from 1. PDF: ``x_mm``/``y_mm`` (top-left corner of the
    seal from the page's top-left corner) or ``keyword`` (seal centred on it), ``cross_page``
    for a 骑缝章. OFD: ``x_mm``/``y_mm``. Bytes: ``property_info``. All forms: ``timestamp``
    (a token from this service's TSA over the signature value)."""

    property_info: str | None = None
    timestamp: bool = False
    page: int = 1
    x_mm: float | None = None
    y_mm: float | None = None
    keyword: str | None = None
    cross_page: bool = False

    def checked(self, form: StampForm) -> StampOptions:
        if self.property_info is not None and not (
            self.property_info.isascii()
            and self.property_info.isprintable()
            and 0 < len(self.property_info) <= 200
        ):
            raise BadSealRequest("propertyInfo 须为 1 至 200 个可打印 ASCII 字符")
        if not 1 <= self.page <= 10_000:
            raise BadSealRequest("页码从 1 开始")
        for value in (self.x_mm, self.y_mm):
            if value is not None and not 0 <= value <= 2000:
                raise BadSealRequest("位置应为 0 至 2000 毫米")
        if (self.x_mm is None) != (self.y_mm is None):
            raise BadSealRequest("位置须同时给出 x_mm 和 y_mm")
        if self.keyword is not None:
            if form is not StampForm.PDF:
                raise BadSealRequest("按关键字定位仅适用于 PDF")
            if not 0 < len(self.keyword) <= 50 or self.x_mm is not None:
                raise BadSealRequest("关键字为 1 至 50 个字符，且不能与坐标同时给出")
        if self.cross_page and form is not StampForm.PDF:
            raise BadSealRequest("骑缝章仅适用于 PDF")
        return self

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> StampOptions:
        return cls(**json.loads(text))


@dataclass(frozen=True, slots=True)
class UsageRecord:
    id: str
    seal_id: str
    organisation_id: str
    actor: str
    actor_display: str
    form: StampForm
    input_sm3: str
    output_sm3: str
    input_size: int
    request_id: str | None
    used_at: datetime
    log_index: int


@dataclass(frozen=True, slots=True)
class Stamped:
    output: bytes
    media_type: str
    suffix: str
    usage: UsageRecord


@dataclass(frozen=True, slots=True)
class StampRequestRecord:
    id: str
    seal_id: str
    form: StampForm
    document_sm3: str
    document_size: int
    options: StampOptions
    status: str
    requested_by: str
    requested_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    executed_at: datetime | None


@dataclass(frozen=True, slots=True)
class StampPending:
    """The seal is under the two-person rule: a request was stored, nothing was stamped."""

    request: StampRequestRecord


def _usage_record(row: SealUsage) -> UsageRecord:
    return UsageRecord(
        id=row.id,
        seal_id=row.seal_id,
        organisation_id=row.organisation_id,
        actor=row.actor,
        actor_display=row.actor_display,
        form=StampForm(row.form),
        input_sm3=row.input_sm3,
        output_sm3=row.output_sm3,
        input_size=row.input_size,
        request_id=row.request_id,
        used_at=row.used_at,
        log_index=row.log_index,
    )


def _request_record(row: StampRequest) -> StampRequestRecord:
    return StampRequestRecord(
        id=row.id,
        seal_id=row.seal_id,
        form=StampForm(row.form),
        document_sm3=row.document_sm3,
        document_size=row.document_size,
        options=StampOptions.from_json(row.options_json),
        status=row.status,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        executed_at=row.executed_at,
    )


def _check_document(document: bytes) -> None:
    if not isinstance(document, bytes) or not document:
        raise BadSealRequest("文件为空")
    if len(document) > MAX_DOCUMENT_BYTES:
        raise DocumentTooLarge(f"文件超过 {MAX_DOCUMENT_BYTES} 字节")


# --------------------------------------------------------------------------- the three forms


@dataclass(frozen=True, slots=True)
class _Tools:
    seal: Seal
    esl: bytes
    signer: Signer
    holder_cert: bytes
    #: the service's TSA: (digest algorithm OID, digest) -> TimeStampToken DER
    tsa: TokenSource | None

    @property
    def timestamp(self) -> Callable[[bytes], bytes] | None:
        """SES forms: a token over SM3 of the signature value (eseal spec §3.5)."""
        tsa = self.tsa
        if tsa is None:
            return None
        return lambda signature: tsa(OID_SM3, sm3(signature))


def _tools(
    session: Session,
    clock: Clock,
    keystore: KeyStore,
    row: Seal,
    options: StampOptions,
    tsa_policy_oid: str,
) -> _Tools:
    if row.esl is None or row.holder_key_id is None:
        raise SealNotMade(f"印章 {row.id} 尚未制作")
    signer = keystore.signer(session=session, key_id=row.holder_key_id)
    chain = list(signer.certificate_chain())
    listed = parse_seal(row.esl).property.certs
    # GB/T 38540 §6.2.2 (eseal spec §5.2): the signer certificate must equal a certList entry
    # byte for byte; a renewed certificate means the seal must be re-made.
    if not chain or not any(constant_time_equal(chain[0], c) for c in listed):
        raise IntegrityFailure(
            "the holder certificate is not the one listed in the seal",
            code="seal.holder_cert_mismatch",
        )
    source: TokenSource | None = None
    if options.timestamp:
        tsa = keystore.active_signer(session=session, usage=KeyUsage.TIMESTAMP)

        def source(digest_algorithm_oid: str, digest: bytes) -> bytes:
            return tsa_timestamp(
                clock=clock,
                signer=tsa,
                digest_algorithm_oid=digest_algorithm_oid,
                digest=digest,
                policy_oid=tsa_policy_oid,
            )

    return _Tools(row, row.esl, signer, chain[0], source)


def _produce(
    form: StampForm, document: bytes, options: StampOptions, tools: _Tools, now: datetime
) -> bytes:
    seal = tools.seal
    page = options.page - 1
    if form is StampForm.BYTES:
        return make_ses_signature_v4(
            seal_der=tools.esl,
            signer_cert=tools.holder_cert,
            time_info=now,
            data_hash=sm3(document),
            property_info=options.property_info or DEFAULT_PROPERTY_INFO,
            sign=tools.signer.sign,
            timestamp=tools.timestamp,
        )
    x, y = (
        (options.x_mm, options.y_mm)
        if options.x_mm is not None and options.y_mm is not None
        else _DEFAULT_POSITION_MM
    )
    size = (float(seal.picture_width_mm), float(seal.picture_height_mm))
    if form is StampForm.PDF:
        placement: Placement | KeywordPlacement = (
            KeywordPlacement(options.keyword, page=page if options.page > 1 else None)
            if options.keyword is not None
            else Placement(page, x, y)
        )
        return stamp_pdf(
            document,
            signer=tools.signer,
            seal_image_png=seal.picture_png,
            seal_size_mm=size,
            placement=placement,
            signing_time=now,
            cross_page=options.cross_page,
            reason=seal.name,
            timestamper=TsaTimeStamper(tools.tsa) if tools.tsa is not None else None,
        )
    return seal_ofd(
        document,
        seal_der=tools.esl,
        placement=SealPlacement(page, x, y, size[0], size[1]),
        sign_ses=ses_signature_callback(
            seal_der=tools.esl,
            signer_cert=tools.holder_cert,
            sign=tools.signer.sign,
            signing_time=now,
            timestamp=tools.timestamp,
        ),
        signing_time=now,
    )


def _execute(
    *,
    session: Session,
    clock: Clock,
    keystore: KeyStore,
    principal: Principal,
    row: Seal,
    form: StampForm,
    document: bytes,
    options: StampOptions,
    tsa_policy_oid: str,
    request_id: str | None,
) -> Stamped:
    tools = _tools(session, clock, keystore, row, options, tsa_policy_oid)
    now = clock.now().replace(microsecond=0)
    output = _produce(form, document, options, tools, now)
    usage_id = new_id("use")
    input_sm3, output_sm3 = sm3(document).hex(), sm3(output).hex()
    event = log_event(
        session,
        clock,
        "used",
        row.id,
        principal.actor,
        usage_id=usage_id,
        organisation_id=row.organisation_id,
        form=form.value,
        input_sm3=input_sm3,
        output_sm3=output_sm3,
        input_size=len(document),
        request_id=request_id,
        esl_sm3=row.esl_sm3,
    )
    usage = SealUsage(
        id=usage_id,
        seal_id=row.id,
        organisation_id=row.organisation_id,
        actor=principal.actor,
        actor_display=principal.display[:200],
        form=form.value,
        input_sm3=input_sm3,
        output_sm3=output_sm3,
        input_size=len(document),
        request_id=request_id,
        used_at=now,
        log_index=event.index,
    )
    session.add(usage)
    session.flush()
    media_type, suffix = _MEDIA[form]
    return Stamped(output, media_type, suffix, _usage_record(usage))


# --------------------------------------------------------------------------- public surface


def stamp_document(
    *,
    session: Session,
    clock: Clock,
    keystore: KeyStore,
    principal: Principal,
    seal_id: str,
    form: StampForm,
    document: bytes,
    options: StampOptions,
    tsa_policy_oid: str,
) -> Stamped | StampPending:
    """Stamp ``document`` now, or - under the seal's two-person rule - store a request."""
    _check_document(document)
    options = options.checked(form)
    row = load_seal(session, seal_id)
    facts = facts_of(session, row)
    require_stamper(principal, facts)
    require_usable(facts, clock.now())
    if row.two_person_rule:
        return StampPending(_new_request(session, clock, principal, row, form, document, options))
    return _execute(
        session=session,
        clock=clock,
        keystore=keystore,
        principal=principal,
        row=row,
        form=form,
        document=document,
        options=options,
        tsa_policy_oid=tsa_policy_oid,
        request_id=None,
    )


def _new_request(
    session: Session,
    clock: Clock,
    principal: Principal,
    row: Seal,
    form: StampForm,
    document: bytes,
    options: StampOptions,
) -> StampRequestRecord:
    request = StampRequest(
        id=new_id("sreq"),
        seal_id=row.id,
        form=form.value,
        document_sm3=sm3(document).hex(),
        document_size=len(document),
        options_json=options.to_json(),
        status="pending",
        requested_by=principal.actor,
        requested_at=clock.now(),
    )
    session.add(request)
    session.flush()
    log_event(
        session,
        clock,
        "stamp_requested",
        row.id,
        principal.actor,
        request_id=request.id,
        form=form.value,
        document_sm3=request.document_sm3,
        document_size=request.document_size,
        options=json.loads(request.options_json),
    )
    return _request_record(request)


def _requestload_seal(session: Session, request_id: str, *, lock: bool = False) -> StampRequest:
    stmt = select(StampRequest).where(StampRequest.id == request_id)
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).first()
    if row is None:
        raise StampRequestNotFound(f"用印申请 {request_id} 不存在")
    return row


def get_request(*, session: Session, principal: Principal, request_id: str) -> StampRequestRecord:
    row = _requestload_seal(session, request_id)
    facts = facts_of(session, load_seal(session, row.seal_id))
    if principal.actor != row.requested_by:
        require_history_reader(principal, facts)
    return _request_record(row)


def approve_request(
    *, session: Session, clock: Clock, principal: Principal, request_id: str
) -> StampRequestRecord:
    """A custodian of the seal who is not the requester approves a pending request."""
    row = _requestload_seal(session, request_id, lock=True)
    seal = load_seal(session, row.seal_id)
    require_approver(principal, facts_of(session, seal), row.requested_by)
    if row.status != "pending":
        raise RequestNotApproved(
            f"用印申请状态为 {row.status}，不能审批", code="seal.request_not_pending"
        )
    row.status = "approved"
    row.approved_by = principal.actor
    row.approved_at = clock.now()
    session.flush()
    log_event(
        session,
        clock,
        "stamp_approved",
        seal.id,
        principal.actor,
        request_id=row.id,
        requested_by=row.requested_by,
        document_sm3=row.document_sm3,
    )
    return _request_record(row)


def execute_request(
    *,
    session: Session,
    clock: Clock,
    keystore: KeyStore,
    principal: Principal,
    request_id: str,
    document: bytes,
    tsa_policy_oid: str,
) -> Stamped:
    """The requester stamps the approved document; its SM3 must equal the approved one, and
    the seal must still be usable (and the requester still authorised) now."""
    _check_document(document)
    row = _requestload_seal(session, request_id, lock=True)
    require_executor(principal, row.requested_by)
    seal = load_seal(session, row.seal_id)
    facts = facts_of(session, seal)
    require_stamper(principal, facts)
    if row.status != "approved":
        raise RequestNotApproved(f"用印申请状态为 {row.status}，不能执行")
    if not constant_time_equal(sm3(document).hex().encode(), row.document_sm3.encode()):
        raise DocumentMismatch(
            "文件的 SM3 与审批时不一致", extra={"approved_sm3": row.document_sm3}
        )
    require_usable(facts, clock.now())
    stamped = _execute(
        session=session,
        clock=clock,
        keystore=keystore,
        principal=principal,
        row=seal,
        form=StampForm(row.form),
        document=document,
        options=StampOptions.from_json(row.options_json).checked(StampForm(row.form)),
        tsa_policy_oid=tsa_policy_oid,
        request_id=row.id,
    )
    row.status = "executed"
    row.executed_at = clock.now()
    session.flush()
    return stamped


def usage_history(
    *, session: Session, principal: Principal | None, seal_id: str, limit: int = 200
) -> list[UsageRecord]:
    """用章记录 of one seal, newest first (custodians, admin, auditors; ``None``: the CLI)."""
    seal = load_seal(session, seal_id)
    if principal is not None:
        require_history_reader(principal, facts_of(session, seal))
    rows = session.scalars(
        select(SealUsage)
        .where(SealUsage.seal_id == seal_id)
        .order_by(SealUsage.used_at.desc(), SealUsage.log_index.desc())
        .limit(max(1, min(limit, 1000)))
    )
    return [_usage_record(r) for r in rows]


def list_requests(
    *, session: Session, principal: Principal | None, seal_id: str, status: str | None = "pending"
) -> list[StampRequestRecord]:
    """The seal's stamping requests (``status=None``: all), oldest first; custodians, admin and
    auditors (``None``: the CLI)."""
    seal = load_seal(session, seal_id)
    if principal is not None:
        require_history_reader(principal, facts_of(session, seal))
    stmt = select(StampRequest).where(StampRequest.seal_id == seal_id)
    if status is not None:
        stmt = stmt.where(StampRequest.status == status)
    rows = session.scalars(stmt.order_by(StampRequest.requested_at, StampRequest.id).limit(200))
    return [_request_record(r) for r in rows]
