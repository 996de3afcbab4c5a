"""The service's answers to the two questions seal verification asks (``seals.ports``):
does a certificate chain to a trusted anchor, and is a timestamp token good.

``ServiceTrust`` implements ``TrustEvaluator`` with ``trust.ca.path.validate_chain`` (SM2-aware
RFC 5280 §6.1 path validation) over the service's trust list (``trust.ca.service
.trust_anchors_der``: our own root plus imported anchors), our CA's intermediates, and
``StoredRevocation`` (authoritative for certificates our CA issued, ``unknown`` for others, which
is noted but not required: foreign CRLs are not fetched). The chain is judged at the time the
verifier asks for - the signing time (eseal spec §5.3).

Leaf policy: for a certificate that chains to **our own** root, the purpose's profile
(``trust.ca.profiles.leaf_policy``: digitalSignature and our seal-holder / seal-maker extended key
usage), so that one of our holder certificates cannot pass as a maker certificate; for any other
anchor only "end entity" - key usage of foreign seal certificates is checked by
``seals.checks.check_cert_valid`` (digitalSignature or nonRepudiation), and their EKUs are
vendor-specific (eseal spec §9).

Outcome mapping: VALID -> trusted; INDETERMINATE (no path to an anchor, eseal spec §5.4 "unknown
issuer is not invalid") -> no_trusted_anchor; INVALID -> invalid, with ``trust.<reason>``.

``ServiceTimestamps`` implements ``TimestampVerifier`` with ``trust.tsa.verify_timestamp_token``
against the same trust list.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from sqlalchemy.orm import Session

from seals.ports import (
    CertPurpose,
    TimestampOutcome,
    TimestampStatus,
    TrustOutcome,
    TrustStatus,
)
from trust.ca import service as ca_service
from trust.ca.errors import BadCertificate
from trust.ca.path import ChainValidation, PathOutcome, RevocationSource, validate_chain
from trust.ca.policy import LeafPolicy
from trust.ca.profiles import Profile, leaf_policy
from trust.ca.x509 import parse_certificate
from trust.crypto import constant_time_equal
from trust.tsa.verify import verify_timestamp_token

__all__ = ["ServiceTimestamps", "ServiceTrust", "service_trust"]

#: Foreign certificates: only "not a CA"; key usage is checked per purpose by seals.checks.
_FOREIGN_LEAF: Final = LeafPolicy(
    key_usage=frozenset(),
    extended_key_usage=frozenset(),
    eku_must_be_critical=False,
    eku_exclusive=False,
    end_entity=True,
)
_OWN_PROFILE: Final = {
    CertPurpose.SEAL_SIGNER: Profile.SEAL_HOLDER,
    CertPurpose.SEAL_MAKER: Profile.SEAL_MAKER,
    CertPurpose.DOCUMENT_SIGNER: Profile.SEAL_HOLDER,
}


def _subject(der: bytes) -> str:
    try:
        return parse_certificate(der).subject
    except BadCertificate:
        return "<unreadable certificate>"


def _detail(result: ChainValidation) -> str:
    failed = result.failed
    if not failed:
        return ""
    first = next((c for c in failed if c.reason == result.reason), failed[0])
    return f"{first.name} failed at depth {first.depth} ({first.subject}): {first.reason}"


class ServiceTrust:
    """``TrustEvaluator`` over the trust list, our intermediates and our revocation records."""

    def __init__(
        self,
        *,
        anchors: Sequence[bytes],
        intermediates: Sequence[bytes],
        own_root: bytes | None,
        revocation: RevocationSource | None,
    ) -> None:
        self._anchors = tuple(anchors)
        self._intermediates = tuple(intermediates)
        self._own_root = own_root
        self._revocation = revocation

    def _validate(self, certificate: bytes, at: datetime, policy: LeafPolicy) -> ChainValidation:
        return validate_chain(
            leaf=certificate,
            intermediates=self._intermediates,
            trust_anchors=self._anchors,
            at=at,
            policy=policy,
            revocation=self._revocation,
            require_known_revocation=False,
        )

    def evaluate(self, certificate: bytes, *, at: datetime, purpose: CertPurpose) -> TrustOutcome:
        result = self._validate(certificate, at, _FOREIGN_LEAF)
        if (
            result.outcome is PathOutcome.VALID
            and self._own_root is not None
            and result.anchor is not None
            and constant_time_equal(result.anchor, self._own_root)
        ):
            result = self._validate(certificate, at, leaf_policy(_OWN_PROFILE[purpose]))
        subjects = tuple(_subject(der) for der in result.chain)
        if result.outcome is PathOutcome.VALID:
            anchor = subjects[-1] if subjects else ""
            return TrustOutcome(
                TrustStatus.TRUSTED, "trust.chain_ok", f"chains to {anchor}", subjects
            )
        reason = f"trust.{result.reason or 'unknown'}"
        status = (
            TrustStatus.NO_TRUSTED_ANCHOR
            if result.outcome is PathOutcome.INDETERMINATE
            else TrustStatus.INVALID
        )
        return TrustOutcome(status, reason, _detail(result), subjects)


class ServiceTimestamps:
    """``TimestampVerifier``: RFC 3161 tokens checked against the same trust list."""

    def __init__(
        self,
        *,
        anchors: Sequence[bytes],
        intermediates: Sequence[bytes],
        revocation: RevocationSource | None,
    ) -> None:
        self._anchors = tuple(anchors)
        self._intermediates = tuple(intermediates)
        self._revocation = revocation

    def verify(self, token: bytes, *, covered: bytes) -> TimestampOutcome:
        result = verify_timestamp_token(
            token,
            data=covered,
            trust_anchors_der=self._anchors,
            certificates_der=self._intermediates,
            revocation=self._revocation,
        )
        reason = f"timestamp.{result.reason}" if result.reason else "timestamp.ok"
        if result.outcome is PathOutcome.VALID:
            return TimestampOutcome(TimestampStatus.VALID, reason, result.gen_time)
        if result.outcome is PathOutcome.INDETERMINATE:
            return TimestampOutcome(TimestampStatus.INDETERMINATE, reason, result.gen_time)
        return TimestampOutcome(TimestampStatus.INVALID, reason, result.gen_time)


def service_trust(*, session: Session) -> tuple[ServiceTrust, ServiceTimestamps]:
    """Both collaborators over the trust list and CA records behind ``session``."""
    anchors = ca_service.trust_anchors_der(session=session)
    intermediates: list[bytes] = []
    own_root: bytes | None = None
    if ca_service.is_initialised(session=session):
        intermediates = ca_service.ca_chain(session=session)
        own_root = ca_service.authority_certificate(session=session, role="root").der
    revocation = ca_service.StoredRevocation(session)
    return (
        ServiceTrust(
            anchors=anchors, intermediates=intermediates, own_root=own_root, revocation=revocation
        ),
        ServiceTimestamps(anchors=anchors, intermediates=intermediates, revocation=revocation),
    )
