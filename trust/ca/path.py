"""SM2-aware certification-path building and validation at a given time (pure).

RFC 5280 §6.1 basic path validation, adapted to certificates signed with SM2-with-SM3 (which
pyca/cryptography cannot verify and which OpenSSL checks with the right user ID only at depth 0,
eseal spec §10): every link's signature is verified with ``sm2_verify`` over the exact
``tbsCertificate`` bytes; validity at the validation time (§6.1.3 (a)(2)); issuer/subject name
chaining (§6.1.3 (a)(4)); basicConstraints cA and pathLenConstraint (§6.1.4 (k)-(m)); keyCertSign
on every certificate that issues another (§6.1.4 (n)); unprocessed critical extensions (§6.1.4
(o)); revocation (§6.1.3 (a)(3)); and a leaf key-usage/EKU policy.

The trust anchor's certificate is not signature-checked (its key is the anchor), but it must be
valid at the time and allowed to sign certificates, like OpenSSL does (eseal spec §10 pitfall 3).

Outcome: ``VALID``; ``INDETERMINATE`` when no path to a trust anchor exists although nothing was
found wrong (``no_trusted_anchor``) or revocation status is required but unknown; ``INVALID``
for everything else. It fails closed: no anchors, an unreadable leaf or an unknown algorithm
never validate.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final, Protocol

from trust.ca.errors import BadCertificate
from trust.ca.policy import LeafPolicy
from trust.ca.signatures import CERTIFICATE_SIGNATURE_OIDS, sm2_signature_problem
from trust.ca.x509 import CertificateFacts, parse_certificate
from trust.clock import utc

__all__ = [
    "ChainValidation",
    "LeafPolicy",
    "PathCheck",
    "PathOutcome",
    "RevocationSource",
    "RevocationState",
    "RevocationStatus",
    "validate_chain",
]

#: Reason codes (stable; seals verification maps them to its own result).
R_MALFORMED: Final = "malformed_certificate"
R_NO_ANCHOR: Final = "no_trusted_anchor"
R_BAD_SIGNATURE: Final = "bad_signature"
R_UNSUPPORTED_ALGORITHM: Final = "unsupported_algorithm"
R_NOT_YET_VALID: Final = "not_yet_valid"
R_EXPIRED: Final = "expired"
R_NOT_A_CA: Final = "not_a_ca"
R_NO_KEY_CERT_SIGN: Final = "ca_missing_key_cert_sign"
R_PATH_LENGTH: Final = "path_length_exceeded"
R_CRITICAL_EXTENSION: Final = "unsupported_critical_extension"
R_REVOKED: Final = "revoked"
R_REVOCATION_UNKNOWN: Final = "revocation_unknown"
R_LEAF_IS_CA: Final = "leaf_is_ca"
R_LEAF_KEY_USAGE: Final = "leaf_key_usage"
R_LEAF_EKU: Final = "leaf_extended_key_usage"
R_LEAF_EKU_NOT_CRITICAL: Final = "leaf_eku_not_critical"
R_LEAF_EKU_NOT_EXCLUSIVE: Final = "leaf_eku_not_exclusive"

_INDETERMINATE_REASONS: Final = frozenset({R_NO_ANCHOR, R_REVOCATION_UNKNOWN})
_MAX_DEPTH: Final = 8


class PathOutcome(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    INDETERMINATE = "indeterminate"


class RevocationState(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class RevocationStatus:
    state: RevocationState
    revoked_at: datetime | None = None
    #: CRLReason name (RFC 5280 §5.3.1), e.g. ``key_compromise``.
    reason: str | None = None


class RevocationSource(Protocol):
    def status(self, certificate: CertificateFacts, issuer: CertificateFacts) -> RevocationStatus:
        """Status of ``certificate`` as issued by ``issuer``; ``UNKNOWN`` if this source has no
        authoritative information about it."""
        ...


@dataclass(frozen=True, slots=True)
class PathCheck:
    #: ``parse``, ``anchor``, ``signature``, ``validity``, ``critical_extensions``,
    #: ``revocation``, ``basic_constraints``, ``key_cert_sign``, ``path_length``,
    #: ``leaf_end_entity``, ``leaf_key_usage``, ``leaf_extended_key_usage``.
    name: str
    ok: bool
    #: 0 is the leaf; the highest depth is the trust anchor.
    depth: int
    subject: str
    #: Reason code when ``ok`` is false.
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ChainValidation:
    """The result of validating one certification path at ``validation_time``."""

    outcome: PathOutcome
    #: The reason code of the first failed check; ``None`` when valid.
    reason: str | None
    validation_time: datetime
    #: DER certificates, leaf first, ending with the trust anchor when one was reached.
    chain: tuple[bytes, ...]
    anchor: bytes | None
    checks: tuple[PathCheck, ...]
    #: Facts that did not fail the path, e.g. ``revoked_after_validation_time:<serial>:<reason>``.
    notes: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return self.outcome is PathOutcome.VALID

    @property
    def failed(self) -> tuple[PathCheck, ...]:
        return tuple(c for c in self.checks if not c.ok)


@dataclass(frozen=True, slots=True)
class _Pool:
    anchors: tuple[CertificateFacts, ...]
    intermediates: tuple[CertificateFacts, ...]

    def is_anchor(self, cert: CertificateFacts) -> bool:
        return any(
            a.der == cert.der
            or (a.subject_name == cert.subject_name and a.spki_der == cert.spki_der)
            for a in self.anchors
        )

    def issuers_of(self, cert: CertificateFacts, used: set[bytes]) -> list[CertificateFacts]:
        """Candidates whose subject is ``cert``'s issuer name (RFC 5280 §6.1.3 (a)(4)). When both
        key identifiers are present they must agree (§4.2.1.1): a same-named CA with another
        key is not the issuer. Anchors first."""
        aki = cert.authority_key_identifier
        found = [
            c
            for c in (*self.anchors, *self.intermediates)
            if c.der not in used
            and c.subject_name == cert.issuer_name
            and (aki is None or c.subject_key_identifier is None or c.subject_key_identifier == aki)
        ]
        return sorted(found, key=lambda c: 0 if self.is_anchor(c) else 1)


def _parse_all(ders: Sequence[bytes], kind: str, notes: list[str]) -> list[CertificateFacts]:
    out: list[CertificateFacts] = []
    for i, der in enumerate(ders):
        try:
            out.append(parse_certificate(der))
        except BadCertificate:
            notes.append(f"{kind}_unreadable:{i}")
    return out


def _paths(
    pool: _Pool, path: list[CertificateFacts]
) -> Iterator[tuple[list[CertificateFacts], bool]]:
    """Candidate paths from the leaf upwards, by name chaining; ``True`` when anchored."""
    top = path[-1]
    if pool.is_anchor(top):
        yield path, True
        return
    issuers = pool.issuers_of(top, {c.der for c in path}) if len(path) < _MAX_DEPTH else []
    if not issuers:
        yield path, False
        return
    for issuer in issuers:
        yield from _paths(pool, [*path, issuer])


class _Checker:
    def __init__(self, at: datetime) -> None:
        self.at = at
        self.checks: list[PathCheck] = []
        self.notes: list[str] = []

    def add(self, name: str, cert: CertificateFacts, depth: int, reason: str | None) -> None:
        self.checks.append(PathCheck(name, reason is None, depth, cert.subject, reason))

    def signature(self, cert: CertificateFacts, issuer: CertificateFacts, depth: int) -> None:
        if cert.signature_algorithm_oid not in CERTIFICATE_SIGNATURE_OIDS:
            self.add("signature", cert, depth, R_UNSUPPORTED_ALGORITHM)
            return
        problem = sm2_signature_problem(
            public_key_der=issuer.spki_der, data=cert.tbs_der, signature=cert.signature
        )
        self.add("signature", cert, depth, None if problem is None else R_BAD_SIGNATURE)

    def validity(self, cert: CertificateFacts, depth: int) -> None:
        reason = None
        if self.at < cert.not_before:
            reason = R_NOT_YET_VALID
        elif self.at > cert.not_after:
            reason = R_EXPIRED
        self.add("validity", cert, depth, reason)

    def ca(self, cert: CertificateFacts, depth: int, below: int) -> None:
        """``cert`` issues the certificate at depth-1; ``below`` = non-self-issued CA
        certificates between it and the leaf."""
        self.add("basic_constraints", cert, depth, None if cert.is_ca else R_NOT_A_CA)
        usage_ok = cert.key_usage is None or "key_cert_sign" in cert.key_usage
        self.add("key_cert_sign", cert, depth, None if usage_ok else R_NO_KEY_CERT_SIGN)
        if cert.path_len is not None:
            self.add("path_length", cert, depth, None if below <= cert.path_len else R_PATH_LENGTH)

    def revocation(
        self,
        cert: CertificateFacts,
        issuer: CertificateFacts,
        depth: int,
        source: RevocationSource | None,
        require_known: bool,
    ) -> None:
        if source is None:
            self.notes.append(f"revocation_not_checked:{cert.serial_number:x}")
            return
        status = source.status(cert, issuer)
        reason: str | None = None
        if status.state is RevocationState.REVOKED:
            revoked_at = utc(status.revoked_at) if status.revoked_at else None
            if revoked_at is None or revoked_at <= self.at:
                reason = R_REVOKED
            else:
                self.notes.append(
                    f"revoked_after_validation_time:{cert.serial_number:x}:{status.reason}"
                )
        elif status.state is RevocationState.UNKNOWN:
            self.notes.append(f"revocation_unknown:{cert.serial_number:x}")
            if require_known:
                reason = R_REVOCATION_UNKNOWN
        self.add("revocation", cert, depth, reason)

    def leaf(self, cert: CertificateFacts, policy: LeafPolicy) -> None:
        if policy.end_entity:
            self.add("leaf_end_entity", cert, 0, R_LEAF_IS_CA if cert.is_ca else None)
        if policy.key_usage:
            ok = cert.key_usage is not None and policy.key_usage <= cert.key_usage
            self.add("leaf_key_usage", cert, 0, None if ok else R_LEAF_KEY_USAGE)
        if policy.extended_key_usage:
            eku = cert.extended_key_usage or ()
            reason = None if policy.extended_key_usage & set(eku) else R_LEAF_EKU
            if reason is None and policy.eku_must_be_critical and not cert.eku_critical:
                reason = R_LEAF_EKU_NOT_CRITICAL
            if reason is None and policy.eku_exclusive and len(eku) != 1:
                reason = R_LEAF_EKU_NOT_EXCLUSIVE
            self.add("leaf_extended_key_usage", cert, 0, reason)


def _evaluate(
    path: list[CertificateFacts],
    anchored: bool,
    *,
    at: datetime,
    policy: LeafPolicy,
    revocation: RevocationSource | None,
    require_known: bool,
) -> tuple[PathOutcome, str | None, _Checker]:
    chk = _Checker(at)
    top = len(path) - 1
    if anchored:
        chk.add("anchor", path[top], top, None)
    else:
        chk.add("anchor", path[top], top, R_NO_ANCHOR)
    # From the anchor (or the topmost certificate found) down to the leaf, RFC 5280 §6.1.3.
    for depth in range(top, -1, -1):
        cert = path[depth]
        if depth < top:
            chk.signature(cert, path[depth + 1], depth)
        if anchored or depth < top:
            chk.validity(cert, depth)
            if cert.unhandled_critical:
                chk.add("critical_extensions", cert, depth, R_CRITICAL_EXTENSION)
        if depth > 0 and anchored:
            below = sum(1 for c in path[1:depth] if not c.self_issued)
            chk.ca(cert, depth, below)
        if depth < top:
            chk.revocation(cert, path[depth + 1], depth, revocation, require_known)
    chk.leaf(path[0], policy)
    failed = [c for c in chk.checks if not c.ok]
    if not failed:
        return PathOutcome.VALID, None, chk
    if not anchored:
        # A link that does not verify is a definite failure even without an anchor.
        for c in failed:
            if c.reason == R_BAD_SIGNATURE:
                return PathOutcome.INVALID, R_BAD_SIGNATURE, chk
    first = next((c for c in failed if c.reason not in _INDETERMINATE_REASONS), None)
    if first is not None and anchored:
        return PathOutcome.INVALID, first.reason, chk
    reason = R_NO_ANCHOR if not anchored else failed[0].reason
    return PathOutcome.INDETERMINATE, reason, chk


def _result(
    outcome: PathOutcome,
    reason: str | None,
    at: datetime,
    path: Sequence[CertificateFacts],
    anchored: bool,
    checks: Sequence[PathCheck],
    notes: Sequence[str],
) -> ChainValidation:
    return ChainValidation(
        outcome=outcome,
        reason=reason,
        validation_time=at,
        chain=tuple(c.der for c in path),
        anchor=path[-1].der if anchored and path else None,
        checks=tuple(checks),
        notes=tuple(notes),
    )


def validate_chain(
    *,
    leaf: bytes,
    intermediates: Sequence[bytes],
    trust_anchors: Sequence[bytes],
    at: datetime,
    policy: LeafPolicy,
    revocation: RevocationSource | None,
    require_known_revocation: bool = False,
) -> ChainValidation:
    """Build a path from ``leaf`` through ``intermediates`` to one of ``trust_anchors`` (all DER)
    and validate it at ``at``. ``revocation=None`` skips revocation (recorded in ``notes``)."""
    at = utc(at)
    notes: list[str] = []
    try:
        leaf_facts = parse_certificate(leaf)
    except BadCertificate:
        check = PathCheck("parse", False, 0, "<unreadable>", R_MALFORMED)
        return ChainValidation(PathOutcome.INVALID, R_MALFORMED, at, (leaf,), None, (check,), ())
    pool = _Pool(
        anchors=tuple(_parse_all(trust_anchors, "anchor", notes)),
        intermediates=tuple(_parse_all(intermediates, "intermediate", notes)),
    )
    best: tuple[PathOutcome, str | None, list[CertificateFacts], bool, _Checker] | None = None
    for path, anchored in _paths(pool, [leaf_facts]):
        outcome, reason, chk = _evaluate(
            path,
            anchored,
            at=at,
            policy=policy,
            revocation=revocation,
            require_known=require_known_revocation,
        )
        if outcome is PathOutcome.VALID:
            return _result(outcome, None, at, path, anchored, chk.checks, [*notes, *chk.notes])
        # Prefer an anchored path's failure (it says what is wrong) over "no anchor".
        if best is None or (anchored and not best[3]):
            best = (outcome, reason, path, anchored, chk)
    assert best is not None  # _paths always yields at least the leaf alone
    outcome, reason, path, anchored, chk = best
    return _result(outcome, reason, at, path, anchored, chk.checks, [*notes, *chk.notes])
