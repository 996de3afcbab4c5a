"""Certificate revocation lists: build, parse, and use as a revocation source (pure).

RFC 5280 §5: a v2 CRL with cRLNumber (§5.2.3) and authorityKeyIdentifier (§5.2.1), nextUpdate
always present (§5.1.2.5), entries with revocationDate and a reasonCode unless the reason is
``unspecified`` (§5.3.1: "the reason code unspecified SHOULD be absent"). Signed with
SM2-with-SM3 over the exact ``tbsCertList`` bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from asn1crypto import crl, x509

from trust.asn1 import NAME_SM2_SM3, register_sm_oids
from trust.ca.errors import BadCrl, BadRevocationReason
from trust.ca.path import RevocationState, RevocationStatus
from trust.ca.signatures import CERTIFICATE_SIGNATURE_OIDS, sm2_signature_problem
from trust.ca.x509 import CertificateFacts, key_identifier, to_asn1_time
from trust.clock import utc

__all__ = [
    "REVOCATION_REASONS",
    "CrlFacts",
    "CrlRevocationSource",
    "RevokedEntry",
    "assemble_crl",
    "build_tbs_crl",
    "crl_signature_problem",
    "normalise_reason",
    "parse_crl",
]

#: RFC 5280 §5.3.1 CRLReason names this CA accepts. certificateHold / removeFromCRL are refused:
#: revocation here is permanent.
REVOCATION_REASONS: Final = frozenset(
    {
        "unspecified",
        "key_compromise",
        "ca_compromise",
        "affiliation_changed",
        "superseded",
        "cessation_of_operation",
        "privilege_withdrawn",
        "aa_compromise",
    }
)


def normalise_reason(value: str) -> str:
    """``keyCompromise`` / ``key-compromise`` / ``KEY_COMPROMISE`` -> ``key_compromise``."""
    text = value.strip()
    if any(c in text for c in "_- ") or text.isupper() or text.islower():
        snake = text.lower().replace("-", "_").replace(" ", "_")
    else:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", text).lower()
    snake = {"c_a_compromise": "ca_compromise", "a_a_compromise": "aa_compromise"}.get(snake, snake)
    if snake not in REVOCATION_REASONS:
        raise BadRevocationReason(
            f"unknown revocation reason {value!r}; one of: {', '.join(sorted(REVOCATION_REASONS))}"
        )
    return snake


@dataclass(frozen=True, slots=True)
class RevokedEntry:
    serial_number: int
    revoked_at: datetime
    reason: str


def _entry(e: RevokedEntry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "user_certificate": e.serial_number,
        "revocation_date": to_asn1_time(e.revoked_at),
    }
    if e.reason != "unspecified":
        item["crl_entry_extensions"] = [
            {"extn_id": "crl_reason", "critical": False, "extn_value": e.reason}
        ]
    return item


def build_tbs_crl(
    *,
    issuer: x509.Name,
    issuer_spki_der: bytes,
    this_update: datetime,
    next_update: datetime,
    crl_number: int,
    revoked: Sequence[RevokedEntry],
) -> crl.TbsCertList:
    register_sm_oids()
    tbs: dict[str, Any] = {
        "version": "v2",
        "signature": {"algorithm": NAME_SM2_SM3},
        "issuer": issuer,
        "this_update": to_asn1_time(this_update),
        "next_update": to_asn1_time(next_update),
        "crl_extensions": [
            {
                "extn_id": "authority_key_identifier",
                "critical": False,
                "extn_value": {"key_identifier": key_identifier(issuer_spki_der)},
            },
            {"extn_id": "crl_number", "critical": False, "extn_value": crl_number},
        ],
    }
    if revoked:
        tbs["revoked_certificates"] = [
            _entry(e) for e in sorted(revoked, key=lambda e: e.serial_number)
        ]
    return crl.TbsCertList(tbs)


def assemble_crl(tbs: crl.TbsCertList, signature: bytes) -> bytes:
    der: bytes = crl.CertificateList(
        {
            "tbs_cert_list": tbs,
            "signature_algorithm": {"algorithm": NAME_SM2_SM3},
            "signature": signature,
        }
    ).dump()
    return der


@dataclass(frozen=True, slots=True)
class CrlFacts:
    der: bytes
    issuer_name: x509.Name
    this_update: datetime
    next_update: datetime | None
    crl_number: int | None
    #: serial -> (revocationDate, reason name)
    entries: Mapping[int, tuple[datetime, str]] = field(default_factory=dict)
    tbs_der: bytes = b""
    signature_algorithm_oid: str = ""
    signature: bytes | None = None


def _read(der: bytes) -> CrlFacts:
    lst = crl.CertificateList.load(der, strict=True)
    tbs = lst["tbs_cert_list"]
    entries: dict[int, tuple[datetime, str]] = {}
    for item in tbs["revoked_certificates"] or []:
        reason = "unspecified"
        for ext in item["crl_entry_extensions"] or []:
            if ext["extn_id"].native == "crl_reason":
                reason = ext["extn_value"].native
            elif ext["critical"].native:
                raise BadCrl(f"unsupported critical CRL entry extension {ext['extn_id'].dotted}")
        entries[int(item["user_certificate"].native)] = (
            utc(item["revocation_date"].native),
            reason,
        )
    number: int | None = None
    for ext in tbs["crl_extensions"] or []:
        name = ext["extn_id"].native
        if name == "crl_number":
            number = int(ext["extn_value"].native)
        elif ext["critical"].native:
            # RFC 5280 §5.2: a CRL with an unrecognised critical extension must not be used.
            raise BadCrl(f"unsupported critical CRL extension {ext['extn_id'].dotted}")
    sig = lst["signature"]
    next_update = tbs["next_update"].native
    return CrlFacts(
        der=der,
        issuer_name=tbs["issuer"],
        this_update=utc(tbs["this_update"].native),
        next_update=utc(next_update) if next_update is not None else None,
        crl_number=number,
        entries=entries,
        tbs_der=tbs.dump(),
        signature_algorithm_oid=lst["signature_algorithm"]["algorithm"].dotted,
        signature=bytes(sig.contents[1:]) if sig.contents[:1] == b"\x00" else None,
    )


def parse_crl(der: bytes) -> CrlFacts:
    """Parse a DER CRL; ``BadCrl`` if it cannot be read."""
    register_sm_oids()
    try:
        return _read(der)
    except BadCrl:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise BadCrl(f"CRL cannot be parsed: {exc}") from exc


def crl_signature_problem(facts: CrlFacts, issuer: CertificateFacts) -> str | None:
    """``None`` when ``issuer`` signed this CRL (name, cRLSign, SM2 signature); else a reason."""
    if facts.issuer_name != issuer.subject_name:
        return "crl_issuer_mismatch"
    if issuer.key_usage is not None and "crl_sign" not in issuer.key_usage:
        return "issuer_missing_crl_sign"
    if facts.signature_algorithm_oid not in CERTIFICATE_SIGNATURE_OIDS:
        return "unsupported_algorithm"
    return sm2_signature_problem(
        public_key_der=issuer.spki_der, data=facts.tbs_der, signature=facts.signature
    )


class CrlRevocationSource:
    """A ``RevocationSource`` over DER CRLs. A CRL counts only for the certificate's own issuer
    and only if that issuer's signature on it verifies; otherwise the status is ``UNKNOWN``."""

    def __init__(self, crls: Sequence[bytes]) -> None:
        self._crls: list[CrlFacts] = []
        for der in crls:
            try:
                self._crls.append(parse_crl(der))
            except BadCrl:
                continue

    def status(self, certificate: CertificateFacts, issuer: CertificateFacts) -> RevocationStatus:
        for facts in self._crls:
            if crl_signature_problem(facts, issuer) is not None:
                continue
            entry = facts.entries.get(certificate.serial_number)
            if entry is not None:
                return RevocationStatus(RevocationState.REVOKED, entry[0], entry[1])
            return RevocationStatus(RevocationState.GOOD)
        return RevocationStatus(RevocationState.UNKNOWN)
