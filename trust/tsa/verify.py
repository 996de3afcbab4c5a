"""Verification of RFC 3161 time-stamp tokens signed with SM2/SM3 (pure).

Checks, each reported separately (RFC 3161 §2.4.2, RFC 5652 §5.4 / §11, RFC 5816 §2.2.1):

``format``              ContentInfo (GB/T 35275 or PKCS#7 signedData) / SignedData / one
                        SignerInfo / eContentType id-ct-TSTInfo / TSTInfo version 1 all parse
``imprint``             messageImprint equals the digest of the caller's data (or digest)
``nonce``               the nonce echoes the caller's (when the caller gives one)
``signer_certificate``  the certificate identified by signingCertificateV2 (ESSCertIDv2 hash,
                        and issuerSerial) and by the SignerInfo sid is found
``content_type``        the contentType signed attribute is id-ct-TSTInfo
``message_digest``      messageDigest = SM3(TSTInfo DER)
``signature``           SM2 over the DER SET OF signed attributes verifies with that certificate
``tsa_eku``             the certificate's only EKU is id-kp-timeStamping, critical (§2.3)
``chain``               a path from it to a trust anchor validates (``trust.ca.path``) at ``at``
                        (default: genTime)
``time``                genTime lies inside the TSA certificate's validity

Outcome: VALID when every check passes; INDETERMINATE when only the chain is indeterminate (no
trusted anchor); INVALID otherwise. A token that cannot be read is INVALID (``format``), never an
exception; bad *arguments* (neither or both of ``data`` / ``digest``) raise ``InvalidInput``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from asn1crypto import cms, core, tsp

from trust.asn1 import register_sm_oids
from trust.ca.errors import BadCertificate
from trust.ca.path import ChainValidation, PathOutcome, RevocationSource, validate_chain
from trust.ca.profiles import EKU_TIME_STAMPING, Profile, leaf_policy
from trust.ca.signatures import CMS_SIGNATURE_OIDS, sm2_signature_problem
from trust.ca.x509 import CertificateFacts, parse_certificate
from trust.clock import utc
from trust.crypto import constant_time_equal, sha256, sm3
from trust.crypto.algorithms import OID_GBT35275_SIGNED_DATA, OID_SHA256, OID_SM3
from trust.errors import InvalidInput
from trust.tsa.tsp import OID_TST_INFO

__all__ = ["TimestampCheck", "TimestampOutcome", "TimestampVerification", "verify_timestamp_token"]

TimestampOutcome = PathOutcome

_PKCS7_SIGNED_DATA: Final = "1.2.840.113549.1.7.2"
_TOKEN_CONTENT_TYPES: Final = frozenset({OID_GBT35275_SIGNED_DATA, _PKCS7_SIGNED_DATA})
_HASHES: Final = {OID_SM3: sm3, OID_SHA256: sha256}


@dataclass(frozen=True, slots=True)
class TimestampCheck:
    name: str
    ok: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TimestampVerification:
    outcome: PathOutcome
    #: Reason code of the first failed check; ``None`` when valid.
    reason: str | None
    checks: tuple[TimestampCheck, ...]
    gen_time: datetime | None
    serial_number: int | None
    policy_oid: str | None
    nonce: int | None
    digest_algorithm_oid: str | None
    #: DER of the TSA certificate that signed, when found.
    tsa_certificate: bytes | None
    chain: ChainValidation | None
    #: e.g. ``content_type_pkcs7`` (PKCS#7 signedData OID instead of GB/T 35275).
    notes: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return self.outcome is PathOutcome.VALID


@dataclass(frozen=True, slots=True)
class _Token:
    tst_der: bytes
    tst: Any  # tsp.TSTInfo
    signer_info: Any  # cms.SignerInfo
    certificates: tuple[bytes, ...]
    content_type_oid: str


def _read_token(der: bytes) -> _Token:
    info = cms.ContentInfo.load(der, strict=True)
    content_type = info["content_type"].dotted
    if content_type not in _TOKEN_CONTENT_TYPES:
        raise ValueError(f"contentType {content_type} is not signedData")
    signed = info["content"]
    if not isinstance(signed, cms.SignedData):
        signed = cms.SignedData.load(info["content"].dump(), strict=True)
    encap = signed["encap_content_info"]
    if encap["content_type"].dotted != OID_TST_INFO:
        raise ValueError("eContentType is not id-ct-TSTInfo")
    content = encap["content"]
    if isinstance(content, core.Void):
        raise ValueError("the TSTInfo is not encapsulated")
    tst_der = bytes(content.contents)
    tst = tsp.TSTInfo.load(tst_der, strict=True)
    if tst["version"].native != "v1":
        raise ValueError("TSTInfo version is not 1")
    tst.native  # noqa: B018 - parse every field now
    signer_infos = signed["signer_infos"]
    if len(signer_infos) != 1:
        raise ValueError("a time-stamp token has exactly one SignerInfo")
    certificates = tuple(
        c.chosen.dump() for c in signed["certificates"] or [] if c.name == "certificate"
    )
    return _Token(tst_der, tst, signer_infos[0], certificates, content_type)


def _signed_attrs(signer_info: Any) -> tuple[bytes, dict[str, Any]]:
    attrs = signer_info["signed_attrs"]
    if isinstance(attrs, core.Void) or len(attrs) == 0:
        raise ValueError("signed attributes are required (RFC 3161 §2.4.1 signingCertificate)")
    # RFC 5652 §5.4: the signature covers the DER of the SET OF, not the [0] IMPLICIT form.
    raw = b"\x31" + attrs.dump()[1:]
    found: dict[str, Any] = {}
    for attr in attrs:
        name = attr["type"].native
        if name in found:
            raise ValueError(f"signed attribute {name} appears twice")
        values = attr["values"]
        if len(values) != 1:
            raise ValueError(f"signed attribute {name} must have exactly one value")
        found[name] = values[0]
    return raw, found


def _find_signer(
    token: _Token, attrs: dict[str, Any], extra: Sequence[bytes]
) -> tuple[CertificateFacts | None, str | None]:
    """RFC 5816 §2.2.1: the first ESSCertIDv2 identifies the signer's certificate."""
    scv2 = attrs.get("signing_certificate_v2")
    if scv2 is None:
        return None, "signing_certificate_missing"
    cert_id = scv2["certs"][0]
    alg = cert_id["hash_algorithm"]["algorithm"].dotted
    hasher = _HASHES.get(alg)
    if hasher is None:
        return None, "unsupported_algorithm"
    wanted = cert_id["cert_hash"].native
    sid = token.signer_info["sid"]
    for der in (*token.certificates, *extra):
        if not constant_time_equal(hasher(der), wanted):
            continue
        try:
            cert = parse_certificate(der)
        except BadCertificate:
            return None, "signer_certificate_unreadable"
        issuer_serial = cert_id["issuer_serial"]
        if not isinstance(issuer_serial, core.Void):
            names = [g.chosen for g in issuer_serial["issuer"] if g.name == "directory_name"]
            if issuer_serial["serial_number"].native != cert.serial_number or not any(
                n == cert.issuer_name for n in names
            ):
                return None, "signer_certificate_mismatch"
        if sid.name == "issuer_and_serial_number":
            ias = sid.chosen
            if (
                ias["serial_number"].native != cert.serial_number
                or ias["issuer"] != cert.issuer_name
            ):
                return None, "signer_certificate_mismatch"
        return cert, None
    return None, "signer_certificate_not_found"


def _imprint_problem(
    tst: Any, data: bytes | None, digest: bytes | None, alg_oid: str | None
) -> str | None:
    imprint = tst["message_imprint"]
    token_alg = imprint["hash_algorithm"]["algorithm"].dotted
    token_digest = imprint["hashed_message"].native
    hasher = _HASHES.get(token_alg)
    if hasher is None:
        return "unsupported_algorithm"
    if data is not None:
        expected = hasher(data)
    else:
        assert digest is not None
        if alg_oid is not None and alg_oid != token_alg:
            return "imprint_algorithm_mismatch"
        expected = digest
    return None if constant_time_equal(expected, token_digest) else "imprint_mismatch"


class _Report:
    def __init__(self) -> None:
        self.checks: list[TimestampCheck] = []

    def add(self, name: str, reason: str | None) -> None:
        self.checks.append(TimestampCheck(name, reason is None, reason))

    def first_failure(self) -> str | None:
        return next((c.reason for c in self.checks if not c.ok), None)


def _failed_format(reason: str, notes: tuple[str, ...] = ()) -> TimestampVerification:
    return TimestampVerification(
        outcome=PathOutcome.INVALID,
        reason=reason,
        checks=(TimestampCheck("format", False, reason),),
        gen_time=None,
        serial_number=None,
        policy_oid=None,
        nonce=None,
        digest_algorithm_oid=None,
        tsa_certificate=None,
        chain=None,
        notes=notes,
    )


def _cryptographic_checks(
    report: _Report, token: _Token, raw_attrs: bytes, attrs: dict[str, Any], cert: CertificateFacts
) -> None:
    content_type = attrs.get("content_type")
    report.add(
        "content_type",
        None
        if content_type is not None and content_type.dotted == OID_TST_INFO
        else "content_type_mismatch",
    )
    digest_alg = token.signer_info["digest_algorithm"]["algorithm"].dotted
    message_digest = attrs.get("message_digest")
    if digest_alg != OID_SM3:
        report.add("message_digest", "unsupported_algorithm")
    elif message_digest is None or not constant_time_equal(
        message_digest.native, sm3(token.tst_der)
    ):
        report.add("message_digest", "message_digest_mismatch")
    else:
        report.add("message_digest", None)
    sig_alg = token.signer_info["signature_algorithm"]["algorithm"].dotted
    if sig_alg not in CMS_SIGNATURE_OIDS:
        report.add("signature", "unsupported_algorithm")
    else:
        problem = sm2_signature_problem(
            public_key_der=cert.spki_der,
            data=raw_attrs,
            signature=token.signer_info["signature"].native,
        )
        report.add("signature", problem)
    eku_ok = cert.extended_key_usage == (EKU_TIME_STAMPING,) and cert.eku_critical
    report.add("tsa_eku", None if eku_ok else "not_a_timestamping_certificate")


def verify_timestamp_token(
    token_der: bytes,
    *,
    data: bytes | None = None,
    digest: bytes | None = None,
    digest_algorithm_oid: str | None = None,
    nonce: int | None = None,
    trust_anchors_der: Sequence[bytes],
    certificates_der: Sequence[bytes] = (),
    at: datetime | None = None,
    revocation: RevocationSource | None = None,
) -> TimestampVerification:
    """Verify a DER TimeStampToken against ``data`` (or its ``digest``), trusting only
    ``trust_anchors_der``. ``certificates_der`` adds certificates the token may not carry
    (``certReq`` false). ``at`` is the path-validation time (default genTime)."""
    if (data is None) == (digest is None):
        raise InvalidInput("give exactly one of data or digest", code="tsa.bad_arguments")
    register_sm_oids()
    try:
        token = _read_token(token_der)
        raw_attrs, attrs = _signed_attrs(token.signer_info)
        return _verify(
            token,
            raw_attrs,
            attrs,
            data=data,
            digest=digest,
            digest_algorithm_oid=digest_algorithm_oid,
            nonce=nonce,
            trust_anchors_der=trust_anchors_der,
            certificates_der=certificates_der,
            at=at,
            revocation=revocation,
        )
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError):
        return _failed_format("malformed_token")


def _verify(
    token: _Token,
    raw_attrs: bytes,
    attrs: dict[str, Any],
    *,
    data: bytes | None,
    digest: bytes | None,
    digest_algorithm_oid: str | None,
    nonce: int | None,
    trust_anchors_der: Sequence[bytes],
    certificates_der: Sequence[bytes],
    at: datetime | None,
    revocation: RevocationSource | None,
) -> TimestampVerification:
    tst = token.tst
    gen_time = utc(tst["gen_time"].native)
    notes: list[str] = []
    if token.content_type_oid != OID_GBT35275_SIGNED_DATA:
        notes.append("content_type_pkcs7")
    report = _Report()
    report.add("format", None)
    report.add("imprint", _imprint_problem(tst, data, digest, digest_algorithm_oid))
    if nonce is not None:
        report.add("nonce", None if tst["nonce"].native == nonce else "nonce_mismatch")
    cert, problem = _find_signer(token, attrs, certificates_der)
    report.add("signer_certificate", problem)
    chain: ChainValidation | None = None
    if cert is not None:
        _cryptographic_checks(report, token, raw_attrs, attrs, cert)
        in_validity = cert.not_before <= gen_time <= cert.not_after
        report.add("time", None if in_validity else "gen_time_outside_certificate_validity")
        chain = validate_chain(
            leaf=cert.der,
            intermediates=[*token.certificates, *certificates_der],
            trust_anchors=trust_anchors_der,
            at=gen_time if at is None else at,
            policy=leaf_policy(Profile.TIMESTAMP),
            revocation=revocation,
        )
        report.add("chain", chain.reason)
    outcome = PathOutcome.VALID
    failed = [c for c in report.checks if not c.ok]
    if failed:
        only_chain = all(c.name == "chain" for c in failed)
        indeterminate = chain is not None and chain.outcome is PathOutcome.INDETERMINATE
        outcome = PathOutcome.INDETERMINATE if only_chain and indeterminate else PathOutcome.INVALID
    return TimestampVerification(
        outcome=outcome,
        reason=report.first_failure(),
        checks=tuple(report.checks),
        gen_time=gen_time,
        serial_number=int(tst["serial_number"].native),
        policy_oid=tst["policy"].dotted,
        nonce=tst["nonce"].native,
        digest_algorithm_oid=tst["message_imprint"]["hash_algorithm"]["algorithm"].dotted,
        tsa_certificate=cert.der if cert else None,
        chain=chain,
        notes=(*notes, *(chain.notes if chain else ())),
    )
