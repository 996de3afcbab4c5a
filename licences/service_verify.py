"""Public verification (issue 5 item 3; elicence spec §9.1, §9.6, §9.7): by 核验码, by QR
(EL1 text or URL), by uploading the licence PDF.

* **Typed code** — normalised, HMAC-SM3 computed and looked up **always**, also for malformed
  input and wrong check characters (a fixed dummy code is MACed then), so an unknown and a
  wrong code take the same path and give the same ``NOT_FOUND`` body.
* **QR** — the current signed trust list (``licences.service_trust``, verified against the
  pinned trust-list key exactly as an offline verifier does it) gives the issuer keys, the EL1
  signature is checked against the key it lists for the kid (bound to the issuer's USCC), and
  only then is the live status of the identifier consulted.
* **PDF** — the seal signature is verified by the seals service (``seals.service_verify``); a
  file whose seal is not VALID is ``BAD_SIGNATURE``; a VALID one is matched to the record by SM3.

Every verification that reaches a licence is written to its 核验记录 (``licence_verification``),
which the holder can read. Results are frozen ``VerificationResult`` objects (fixed codes).

The typed-code path is split for group commit (``trust.db_batch``): ``prepare_code`` (outside
any transaction: normalise and MAC, the same work for every input) and ``verify_codes`` (inside
the caller's transaction: one Core ``SELECT … WHERE code_digest IN (…)`` of the few columns the
result needs, then one multi-row insert of the 核验记录) for any number of requests at once.
``verify_code`` is the two for one request.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, NamedTuple, cast

from sqlalchemy import Connection, Table, bindparam, insert, select, text
from sqlalchemy.orm import Session

from keys.interfaces import KeyStore
from licences.codes import code_digest
from licences.envelope import (
    CHINA_TZ,
    decode_el1,
    mask_holder_name,
    verify_envelope,
)
from licences.errors import CodeInvalid, EnvelopeMalformed, EnvelopeTooLarge, EnvelopeUnsupported
from licences.lifecycle import LicenceState
from licences.model import Licence, LicenceVerification
from licences.service_keys import LicenceConfig
from licences.service_trust import trusted_keys
from licences.verification import (
    MinimalView,
    Result,
    VerificationResult,
    envelope_result,
)
from seals import service_verify as seals_verify
from trust.clock import Clock
from trust.crypto import sm3
from trust.db import UTCDateTime
from trust.db_pipeline import Statement, execute_together
from trust.ids import new_ordered_id

__all__ = [
    "CodeLookup",
    "CodeRow",
    "Verifier",
    "code_lookup",
    "found_by_digest",
    "live_result",
    "prepare_code",
    "verify_code",
    "verify_codes",
    "verify_pdf",
    "verify_qr",
]

#: MACed in place of malformed input so that every request does the same work (spec §9.1).
_DUMMY_CODE: Final = "0000000000000000"
_ENDED: Final = {
    LicenceState.WITHDRAWN: "withdrawn",
    LicenceState.REVOKED: "revoked",
    LicenceState.REVOKED_PENALTY: "revoked_penalty",
    LicenceState.CANCELLED: "cancelled",
}


@dataclass(frozen=True, slots=True)
class Verifier:
    """Who asked (for the holder's 核验记录): an authenticated client, and a truncated IP."""

    client: str | None = None
    ip: str | None = None

    @property
    def ip_hint(self) -> str | None:
        if not self.ip:
            return None
        if "." in self.ip:
            return ".".join(self.ip.split(".")[:3]) + ".*"
        return ":".join(self.ip.split(":")[:3]) + ":*"


def _today(now: datetime) -> date:
    return now.astimezone(CHINA_TZ).date()


def _view(row: Licence | Any) -> MinimalView:
    """``row``: a ``Licence`` or a result row with its name, validity and holder columns."""
    return MinimalView(
        licence_name=row.licence_name,
        issuer_name=row.issuer_name,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        masked_holder_name=mask_holder_name(row.holder_name),
    )


def live_result(row: Licence | Any, now: datetime) -> tuple[Result, str, str | None]:
    """The fixed result of a licence's current record: (result, reason, superseded_by).
    ``row``: a ``Licence`` or a result row with its status, validity and successor columns."""
    state = LicenceState(row.status)
    if state is LicenceState.SUSPENDED:
        return Result.SUSPENDED, "suspended", None
    if state is LicenceState.SUPERSEDED:
        return Result.SUPERSEDED, "superseded", row.superseded_by
    if state is LicenceState.EXPIRED:
        return Result.EXPIRED, "licence_expired", None
    if state in _ENDED:
        return Result.INVALID, _ENDED[state], None
    today = _today(now)
    if row.valid_until is not None and today > row.valid_until:
        return Result.EXPIRED, "licence_expired", None
    if today < row.valid_from:
        return Result.INVALID, "not_yet_valid", None
    return Result.VALID, "ok", None


def _record_values(
    now: datetime, licence_id: str, channel: str, result: Result, who: Verifier
) -> dict[str, Any]:
    return {
        # Time-ordered: each batch of records lands on the last page of the key's index.
        "id": new_ordered_id("lvf", now),
        "licence_id": licence_id,
        "channel": channel,
        "result": result.value,
        "client": who.client,
        "ip_hint": who.ip_hint,
        "at": now,
    }


def _record(
    session: Session, now: datetime, row: Licence, channel: str, result: Result, who: Verifier
) -> None:
    session.add(LicenceVerification(**_record_values(now, row.id, channel, result, who)))


def _from_record(
    session: Session,
    now: datetime,
    row: Licence,
    channel: str,
    who: Verifier,
    *,
    signature_checked: bool,
    identifier: str | None,
) -> VerificationResult:
    result, reason, newer = live_result(row, now)
    _record(session, now, row, channel, result, who)
    return VerificationResult(
        result=result,
        reason=reason,
        channel=channel,
        checked_at=now,
        view=_view(row),
        superseded_by=newer,
        identifier=identifier,
        signature_checked=signature_checked,
        live_status=True,
    )


@dataclass(frozen=True, slots=True, repr=False)
class CodeLookup:
    """A typed 核验码 made ready for the lookup: its HMAC-SM3 digest (of a fixed dummy code
    when the input was malformed, so every input costs the same), and whether it was well
    formed (a malformed one never matches)."""

    digest: bytes
    well_formed: bool


def prepare_code(*, config: LicenceConfig, raw_code: str) -> CodeLookup:
    """Normalise and MAC ``raw_code`` (spec §9.1); no database work."""
    try:
        return CodeLookup(code_digest(config.code_key, raw_code), True)  # normalises first
    except CodeInvalid:
        return CodeLookup(code_digest(config.code_key, _DUMMY_CODE), False)


def verify_code(
    *, session: Session, clock: Clock, config: LicenceConfig, raw_code: str, who: Verifier
) -> VerificationResult:
    """By 核验码 (live status). Unknown, malformed and wrong codes give one NOT_FOUND body."""
    lookup = prepare_code(config=config, raw_code=raw_code)
    return verify_codes(session=session, now=clock.now(), requests=((lookup, who),))[0]


_LICENCES = cast(Table, Licence.__table__)
_RECORDS = cast(Table, LicenceVerification.__table__)
_RECORD_TEXT_COLUMNS: Final = ("id", "licence_id", "channel", "result", "client", "ip_hint")
#: The columns a typed-code result needs (the row's large columns are never read).
_CODE_COLUMNS: Final = (
    _LICENCES.c.code_digest,
    _LICENCES.c.id,
    _LICENCES.c.status,
    _LICENCES.c.superseded_by,
    _LICENCES.c.valid_from,
    _LICENCES.c.valid_until,
    _LICENCES.c.licence_name,
    _LICENCES.c.issuer_name,
    _LICENCES.c.holder_name,
)
_INSERT_RECORDS: Final = insert(_RECORDS)
#: PostgreSQL: the rows as one JSON document (``json_to_recordset``) and their common time as
#: one parameter: the same short statement for any number of rows, one parameter to adapt (a
#: multi-row VALUES list is re-parsed by the driver every time, an executemany is a round of
#: the protocol per row, and per-column arrays cost twice the client CPU of this).
_INSERT_RECORDS_PG: Final = text(
    "INSERT INTO licence_verification (id, licence_id, channel, result, client, ip_hint, at) "
    "SELECT r.id, r.licence_id, r.channel, r.result, r.client, r.ip_hint, :at "
    "FROM json_to_recordset(CAST(:rows AS json)) AS r(id text, licence_id text, channel text, "
    "result text, client text, ip_hint text)"
).bindparams(bindparam("at", type_=UTCDateTime()))


def _insert_records(connection: Connection, now: datetime, records: list[dict[str, Any]]) -> None:
    """Insert 核验记录 made by ``_record_values`` at ``now`` (all of them)."""
    if connection.dialect.name == "postgresql":
        rows = json.dumps([{c: r[c] for c in _RECORD_TEXT_COLUMNS} for r in records])
        execute_together(connection, [(_INSERT_RECORDS_PG, {"rows": rows, "at": now})])
    else:  # SQLite's executemany is one C loop over the prepared statement
        connection.execute(_INSERT_RECORDS, records)


#: Built once (the statement's cache key is then computed once, not per batch).
_BY_DIGESTS: Final = select(*_CODE_COLUMNS).where(
    _LICENCES.c.code_digest.in_(bindparam("digests", expanding=True))
)
#: PostgreSQL: the same as text with one array parameter (sent in a pipeline,
#: ``trust.db_pipeline``: no SQLAlchemy result processing, and none is needed for these columns).
_BY_DIGESTS_PG: Final = text(
    f"SELECT {', '.join(c.name for c in _CODE_COLUMNS)} FROM licence "  # noqa: S608 - our names
    "WHERE code_digest = ANY(:digests)"
)


class CodeRow(NamedTuple):
    """The columns of a licence a typed-code result needs (``_CODE_COLUMNS``, in order)."""

    code_digest: bytes
    id: str
    status: str
    superseded_by: str | None
    valid_from: date
    valid_until: date | None
    licence_name: str
    issuer_name: str
    holder_name: str


def code_lookup(connection: Connection, lookups: Sequence[CodeLookup]) -> Statement | None:
    """The statement finding the licences of ``lookups`` (None when none is well formed), for
    the caller to run, alone or with others (``trust.db_pipeline.execute_together``); its rows
    go to ``found_by_digest``."""
    wanted = sorted({lookup.digest for lookup in lookups if lookup.well_formed})
    if not wanted:
        return None
    if connection.dialect.name == "postgresql":
        return _BY_DIGESTS_PG, {"digests": wanted}
    return _BY_DIGESTS, {"digests": wanted}


def found_by_digest(rows: Iterable[Sequence[Any]]) -> dict[bytes, CodeRow]:
    """The rows of ``code_lookup``'s statement by code digest."""
    found = (CodeRow(*row) for row in rows)
    return {bytes(row.code_digest): row for row in found}


def verify_codes(
    *,
    session: Session,
    now: datetime,
    requests: Sequence[tuple[CodeLookup, Verifier]],
    found: Mapping[bytes, CodeRow] | None = None,
) -> list[VerificationResult]:
    """Verify several typed codes in the caller's transaction: one lookup for all (unless the
    caller ran ``code_lookup`` and passes what it ``found``), one insert of the 核验记录 of those
    that found a licence; results in the order of ``requests``."""
    # Core statements on the session's connection: the ORM's execution layer is not needed for
    # plain rows, and this runs for every verification.
    connection = session.connection()
    rows: Mapping[bytes, CodeRow] = {}
    if found is not None:
        rows = found
    elif (statement := code_lookup(connection, [lookup for lookup, _ in requests])) is not None:
        rows = found_by_digest(connection.execute(*statement))
    not_found = VerificationResult(Result.NOT_FOUND, "not_found", "code", now)
    results_by_digest: dict[bytes, VerificationResult] = {}  # one per licence (a popular one …)
    results: list[VerificationResult] = []
    records: list[dict[str, Any]] = []
    for lookup, who in requests:
        row = rows.get(lookup.digest) if lookup.well_formed else None
        if row is None:
            results.append(not_found)
            continue
        out = results_by_digest.get(lookup.digest)
        if out is None:
            result, reason, newer = live_result(row, now)
            out = results_by_digest[lookup.digest] = VerificationResult(
                result=result,
                reason=reason,
                channel="code",
                checked_at=now,
                view=_view(row),
                superseded_by=newer,
                live_status=True,
            )
        records.append(_record_values(now, row.id, "code", out.result, who))
        results.append(out)
    if records:
        _insert_records(connection, now, records)
    return results


def verify_qr(
    *, session: Session, clock: Clock, keystore: KeyStore, text: str, who: Verifier
) -> VerificationResult:
    """By QR text (``EL1:`` or the URL form): offline signature check, then live status."""
    now = clock.now()

    def bad(reason: str) -> VerificationResult:
        return VerificationResult(Result.BAD_SIGNATURE, reason, "qr", now)

    try:
        envelope = decode_el1(text.strip())
    except EnvelopeUnsupported:
        return bad("unsupported_version")
    except (EnvelopeMalformed, EnvelopeTooLarge):
        return bad("unreadable")
    trusted = trusted_keys(session=session, clock=clock, keystore=keystore)
    checked = verify_envelope(envelope, trusted, now)
    result, reason = envelope_result(checked)
    payload = checked.payload
    if payload is None or result in (Result.BAD_SIGNATURE, Result.UNKNOWN_ISSUER):
        return VerificationResult(result, reason, "qr", now, signature_checked=True)
    row = session.scalars(
        select(Licence).where(Licence.identifier == payload.identifier)
    ).one_or_none()
    if row is None:
        return VerificationResult(Result.NOT_FOUND, "no_record", "qr", now, signature_checked=True)
    if payload.document_sm3 is not None and payload.document_sm3.hex() != row.document_sm3:
        _record(session, now, row, "qr", Result.INVALID, who)
        return VerificationResult(
            Result.INVALID, "document_mismatch", "qr", now, _view(row), signature_checked=True
        )
    if result is not Result.VALID:  # EXPIRED / not yet valid by the signed dates
        _record(session, now, row, "qr", result, who)
        return VerificationResult(
            result,
            reason,
            "qr",
            now,
            _view(row),
            identifier=row.identifier,
            signature_checked=True,
        )
    return _from_record(
        session, now, row, "qr", who, signature_checked=True, identifier=row.identifier
    )


def verify_pdf(*, session: Session, clock: Clock, data: bytes, who: Verifier) -> VerificationResult:
    """By the licence PDF: the seal through the seals service, then the record by SM3."""
    now = clock.now()
    report = seals_verify.verify_file(data, "licence.pdf", session=session, clock=clock)
    details = (("seal_verdict", str(report["verdict"])), ("seal_reason", str(report["reason"])))
    if report["verdict"] != "VALID":
        return VerificationResult(
            Result.BAD_SIGNATURE, f"seal_{report['reason']}", "pdf", now, details=details
        )
    row = session.scalars(
        select(Licence).where(Licence.document_sm3 == sm3(data).hex())
    ).one_or_none()
    if row is None:
        return VerificationResult(
            Result.NOT_FOUND, "no_record", "pdf", now, signature_checked=True, details=details
        )
    out = _from_record(
        session, now, row, "pdf", who, signature_checked=True, identifier=row.identifier
    )
    return VerificationResult(
        out.result,
        out.reason,
        out.channel,
        out.checked_at,
        out.view,
        out.superseded_by,
        out.identifier,
        True,
        True,
        details,
    )
