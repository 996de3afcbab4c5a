"""EL1 verifiable code: an SM2-signed COSE_Sign1-style envelope in a QR (elicence spec §9.1–9.3).

Envelope (spec §9.2; RFC 9052 structure, hand-built because no COSE library knows SM2)::

    COSE_Sign1    = #6.18([ protected: bstr, unprotected: {}, payload: bstr, signature: bstr(64) ])
    protected     = bstr(CBOR { 1: alg, 4: kid })
    Sig_structure = [ "Signature1", protected, h'', payload ]    -- RFC 9052 §4.4

- ``alg`` = ``ALG_SM2_SM3`` (−65537), a private-use COSE value (RFC 9053 §15: < −65536) meaning
  SM2 with SM3 (GB/T 32918.2) and the default ID ``1234567812345678``; no IANA value exists.
- ``kid`` = the first 8 bytes of SM3(DER of the issuer's signing certificate) (``make_kid``).
- signature = SM2 over the CBOR encoding of Sig_structure, as raw 64-byte r‖s (the COSE
  convention; SES seals use DER). ``signature_der`` gives the DER form for other tools.
- the signature is verified **before** the payload is parsed (the HCERT rule); every length is
  bounded before it is used; unknown prefixes, routes and algorithms are refused.

Text forms of one signed object (spec §9.1 item 3):

- ``EL1:`` + Base45(zlib(COSE_Sign1)) for the project's verifier app; QR alphanumeric mode.
- ``HTTPS://<HOST>/E#`` + unpadded Base32(zlib(COSE_Sign1)) for any phone camera. The fragment
  is never sent to the server. Alphabet choice: Base45 carries 2 bytes in 3 alphanumeric
  characters (8.25 QR bits per byte) but contains space and ``%``, which are not allowed raw in
  a URL; base64url is URL-safe but needs byte mode (10.7 bits per byte); unpadded upper-case
  Base32 (``A–Z 2–7``) is URL-safe *and* alphanumeric (8.8 bits per byte), so it gives the
  smallest URL-safe QR. Scheme, host and the route ``/E`` are upper case so that everything but
  the single ``#`` stays in alphanumeric mode (the route is case-sensitive, hence ``/E``).

Payload: CBOR map with integer keys (spec §9.2 table), dates as days since 1970-01-01,
deterministic (RFC 8949 §4.2.1 as cbor2's ``canonical``) and checked to be so on decode.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, Final

import cbor2

from licences.base45 import b45decode, b45encode
from licences.errors import (
    EnvelopeMalformed,
    EnvelopeTooLarge,
    EnvelopeUnsupported,
    IdentifierInvalid,
    PayloadInvalid,
    SigningFailed,
)
from licences.identifiers import parse_identifier
from trust.crypto import (
    REASON_MALFORMED,
    InvalidSignature,
    SM2PublicKey,
    constant_time_equal,
    decode_signature,
    encode_signature_der,
    sm2_verify,
    sm3,
)
from trust.errors import VerificationFailed

__all__ = [
    "ALG_SM2_SM3",
    "EL1_PREFIX",
    "MAX_COSE_BYTES",
    "MAX_TEXT_CHARS",
    "URL_PATH",
    "CoseSign1",
    "EnvelopeForm",
    "EnvelopeReason",
    "EnvelopeStatus",
    "EnvelopeVerification",
    "IssuerKey",
    "LicencePayload",
    "SignFn",
    "StatusReference",
    "TrustedKeys",
    "UnverifiedEnvelope",
    "decode_cose",
    "decode_el1",
    "decode_payload",
    "encode_el1",
    "encode_el1_url",
    "encode_payload",
    "holder_digest",
    "holder_matches",
    "int_keyed_map",
    "issuer_allowed",
    "make_kid",
    "mask_holder_name",
    "new_holder_salt",
    "sign_cose",
    "sign_envelope",
    "verify_cose_signature",
    "verify_envelope",
]

ALG_SM2_SM3: Final = -65537
COSE_SIGN1_TAG: Final = 18
KID_BYTES: Final = 8
EL1_PREFIX: Final = "EL1:"
URL_PATH: Final = "/E"
PAYLOAD_VERSION: Final = 1
#: QR version 40-L alphanumeric capacity (spec §8): nothing longer can come from one QR.
MAX_TEXT_CHARS: Final = 4296
MAX_COMPRESSED_BYTES: Final = 2900  # 4296 Base45 characters hold 2864 bytes
MAX_COSE_BYTES: Final = 8192  # inflated COSE_Sign1 (an EL1 object is ~300 bytes)
HOLDER_DIGEST_BYTES: Final = 16
CLOCK_SKEW: Final = timedelta(seconds=90)  # spec §9.8
CHINA_TZ: Final = timezone(timedelta(hours=8), "CST")
_MAX_TEXT_FIELD: Final = 128  # characters of a licence number, name, issuer name
_MAX_STATUS_INDEX: Final = 1 << 20  # = licences.status.MAX_ENTRIES (no import: status uses us)
_LABEL: Final = r"[A-Z0-9](?:[A-Z0-9-]{0,61}[A-Z0-9])?"
_HOST_RE: Final = re.compile(rf"{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?")
_LIST_ID_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
_EPOCH: Final = date(1970, 1, 1)

#: A ``trust.signing.Signer.sign``-like callable: message -> SM2 signature (DER or raw r‖s).
SignFn = Callable[[bytes], bytes]


# --------------------------------------------------------------------------- COSE_Sign1


@dataclass(frozen=True, slots=True)
class CoseSign1:
    """A structurally valid COSE_Sign1 whose signature has NOT been checked."""

    protected: bytes  # the serialized protected header, exactly as signed
    kid: bytes
    unverified_payload: bytes
    signature: bytes  # raw r‖s, 64 bytes

    def to_be_signed(self) -> bytes:
        """The CBOR Sig_structure (RFC 9052 §4.4) the signature covers."""
        return _sig_structure(self.protected, self.unverified_payload)

    def signature_der(self) -> bytes:
        """The signature as DER SEQUENCE{r, s} (for ``openssl dgst -verify``)."""
        return encode_signature_der(
            int.from_bytes(self.signature[:32], "big"), int.from_bytes(self.signature[32:], "big")
        )


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    # RFC 9052 §4.4: [ context "Signature1", body_protected, external_aad (empty), payload ].
    return cbor2.dumps(["Signature1", protected, b"", payload])


def make_kid(der: bytes) -> bytes:
    """Spec §9.2: the first 8 bytes of SM3(DER certificate); before a certificate exists, the
    SubjectPublicKeyInfo DER may stand in."""
    return sm3(der)[:KID_BYTES]


def _protected_header(kid: bytes, content_type: str | None) -> dict[int, Any]:
    header: dict[int, Any] = {1: ALG_SM2_SM3, 4: kid}
    if content_type is not None:
        header[3] = content_type  # RFC 9052 §3.1 content type; separates signed object kinds
    return header


def sign_cose(
    payload: bytes, *, kid: bytes, sign: SignFn, content_type: str | None = None
) -> bytes:
    """COSE_Sign1 bytes over ``payload`` with a DER- or raw-returning SM2 ``sign`` callable.

    EL1 licence objects carry no content type (the smallest QR); every other kind of object
    signed with the same keys (status lists) must carry its own, so that one kind can never be
    accepted as another."""
    if not isinstance(kid, bytes) or len(kid) != KID_BYTES:
        raise PayloadInvalid(f"kid must be {KID_BYTES} bytes", code="licence.payload.bad_kid")
    protected = cbor2.dumps(_protected_header(kid, content_type), canonical=True)
    produced = sign(_sig_structure(protected, payload))
    if not isinstance(produced, bytes):
        raise SigningFailed("the signer did not return bytes")
    try:
        r, s, _encoding = decode_signature(produced)
    except InvalidSignature:
        raise SigningFailed("the signer did not return an SM2 signature") from None
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, raw]))


def _cbor_loads(data: bytes, *, max_depth: int) -> Any:
    try:
        return cbor2.loads(
            data, max_depth=max_depth, allow_indefinite=False, allow_duplicate_keys=False
        )
    except Exception:  # cbor2 raises its own errors, ValueError, OverflowError ... on hostile input
        raise EnvelopeMalformed("not well-formed CBOR", code="licence.cbor.malformed") from None


def _canonical(value: Any) -> bytes | None:
    try:
        return cbor2.dumps(value, canonical=True)
    except Exception:  # cyclic (shared-reference tags) or otherwise unencodable values
        return None


def _exact_bytes(value: Any) -> bool:
    return type(value) is bytes


def int_keyed_map(value: Any) -> bool:
    """A CBOR map whose keys are all integers (``true`` would otherwise pass as key 1)."""
    return type(value) is dict and all(type(k) is int for k in value)


def decode_cose(
    data: bytes, *, content_type: str | None = None, max_bytes: int = MAX_COSE_BYTES
) -> CoseSign1:
    """Parse COSE_Sign1 bytes (tagged 18 or untagged) without verifying anything but shape.
    The protected header must be exactly {alg, kid} plus ``content_type`` when one is given.

    Raises ``EnvelopeTooLarge``, ``EnvelopeMalformed`` or ``EnvelopeUnsupported`` (alg)."""
    if not isinstance(data, bytes) or len(data) > max_bytes:
        raise EnvelopeTooLarge(f"COSE_Sign1 exceeds {max_bytes} bytes")
    outer = _cbor_loads(data, max_depth=4)
    if isinstance(outer, cbor2.CBORTag):
        if outer.tag != COSE_SIGN1_TAG:
            raise EnvelopeMalformed("CBOR tag is not COSE_Sign1 (18)", code="licence.cose.bad_tag")
        outer = outer.value
    # cbor2 hands back the content of a tag as immutable tuple/frozendict.
    if type(outer) not in (list, tuple) or len(outer) != 4:
        raise EnvelopeMalformed("COSE_Sign1 must be an array of four", code="licence.cose.shape")
    protected, unprotected, payload, signature = outer
    if not (_exact_bytes(protected) and _exact_bytes(payload) and _exact_bytes(signature)):
        raise EnvelopeMalformed("COSE_Sign1 members have wrong types", code="licence.cose.shape")
    if type(unprotected) not in (dict, cbor2.frozendict) or unprotected:
        raise EnvelopeMalformed("unprotected header must be empty", code="licence.cose.shape")
    if len(signature) != 64:
        raise EnvelopeMalformed("signature must be raw r||s (64 bytes)", code="licence.cose.shape")
    header = _cbor_loads(protected, max_depth=1)
    expected_keys = {1, 4} if content_type is None else {1, 3, 4}
    if not int_keyed_map(header) or set(header) != expected_keys or _canonical(header) != protected:
        raise EnvelopeMalformed(
            "protected header must be the canonical map {1: alg, (3: type,) 4: kid}",
            code="licence.cose.bad_header",
        )
    if content_type is not None and header[3] != content_type:
        raise EnvelopeUnsupported(
            f"content type {header[3]!r} is not {content_type!r}", code="licence.cose.bad_type"
        )
    if type(header[1]) is not int or header[1] != ALG_SM2_SM3:
        raise EnvelopeUnsupported(
            f"signature algorithm {header[1]!r} is not SM2-with-SM3 ({ALG_SM2_SM3})",
            code="licence.cose.unsupported_alg",
        )
    kid = header[4]
    if not _exact_bytes(kid) or len(kid) != KID_BYTES:
        raise EnvelopeMalformed(f"kid must be {KID_BYTES} bytes", code="licence.cose.bad_header")
    return CoseSign1(protected, kid, payload, signature)


@dataclass(frozen=True, slots=True)
class IssuerKey:
    """A trust-list entry: the key, and the issuer codes (USCC) it may sign for. An empty set
    means "any issuer" and should only be used by a trust list that binds issuers elsewhere."""

    public_key: SM2PublicKey
    issuer_codes: frozenset[str] = field(default_factory=frozenset)


#: kid -> key. A bare ``SM2PublicKey`` is not bound to an issuer code.
TrustedKeys = Mapping[bytes, SM2PublicKey | IssuerKey]


def issuer_allowed(entry: SM2PublicKey | IssuerKey, issuer_code: str) -> bool:
    """Whether a trust-list entry may sign for ``issuer_code``."""
    if isinstance(entry, IssuerKey) and entry.issuer_codes:
        return issuer_code in entry.issuer_codes
    return True


def verify_cose_signature(cose: CoseSign1, public_key: SM2PublicKey) -> str | None:
    """None when the signature verifies; else a reason (``signature_malformed`` /
    ``signature_mismatch``)."""
    try:
        sm2_verify(public_key, cose.to_be_signed(), cose.signature)
    except InvalidSignature as exc:
        return "signature_malformed" if exc.reason == REASON_MALFORMED else "signature_mismatch"
    return None


# --------------------------------------------------------------------------- payload


@dataclass(frozen=True, slots=True)
class StatusReference:
    """Spec §9.2 key 11: ``[list-id, index]`` into the issuer's 2-bit status list (§9.4).
    Issued QRs carry it too (see ``licences.issuance`` for why this departs from §9.4)."""

    list_id: str
    index: int


@dataclass(frozen=True, slots=True)
class LicencePayload:
    """The claims of an EL1 object (spec §9.2). Keys in brackets.

    ``document_sm3`` binds the sealed file; a QR printed *inside* that file cannot contain the
    file's own hash, so it is None there and used by QRs made after sealing.
    """

    identifier: str  # [2] GB/T 36904 identifier
    type_code: str  # [3] 证照类型代码 (must equal the identifier's)
    licence_number: str  # [4] 证照编号 as printed
    issuer_code: str  # [5] 颁证单位代码 (must equal the identifier's)
    issued_on: date  # [6] 颁证日期
    valid_from: date  # [7] 有效期起
    valid_until: date | None  # [8] 有效期止; None = 长期有效 (encoded 0)
    masked_holder_name: str  # [9] 持证主体, masked (``mask_holder_name``)
    holder_digest: bytes  # [10] SM3(salt ‖ holder type code ‖ holder code)[:16]
    status: StatusReference | None = None  # [11]
    document_sm3: bytes | None = None  # [12] SM3 of the sealed OFD/PDF
    issued_at: datetime | None = None  # [14] iat, seconds (dynamic tier)
    expires_at: datetime | None = None  # [15] exp, seconds (dynamic tier, ≤ 60 s)
    issuer_name: str | None = None  # [17] 颁证单位名称 (project extension; else from trust list)
    version: int = PAYLOAD_VERSION  # [1]


def new_holder_salt() -> bytes:
    return secrets.token_bytes(16)


def holder_digest(salt: bytes, holder_type_code: str, holder_code: str) -> bytes:
    """Spec §9.2 key 10: SM3(salt ‖ 持证主体代码类型代码 ‖ 持证主体代码)[:16].

    The salt is **not** in the payload: it is a disclosure the holder (or the issuing service)
    hands over when matching against an ID card is needed. With the salt beside the digest, a
    citizen ID number (≈10¹¹ candidates) could be recovered by brute force from any QR."""
    if not isinstance(salt, bytes) or len(salt) < 16:
        raise PayloadInvalid("holder salt must be at least 16 bytes", code="licence.payload.salt")
    data = holder_type_code.encode("utf-8") + holder_code.strip().upper().encode("utf-8")
    return sm3(salt + data)[:HOLDER_DIGEST_BYTES]


def holder_matches(
    payload: LicencePayload, salt: bytes, holder_type_code: str, holder_code: str
) -> bool:
    """Constant-time check of a disclosed salt and holder code against payload key 10."""
    return constant_time_equal(
        holder_digest(salt, holder_type_code, holder_code), payload.holder_digest
    )


def mask_holder_name(name: str) -> str:
    """Spec §9.6 minimal view: ``张*三``, ``张*``, ``某某**有限公司``."""
    n = len(name)
    if n <= 1:
        return "*"
    if n == 2:
        return name[0] + "*"
    if n <= 4:
        return name[0] + "*" * (n - 2) + name[-1]
    tail = min(4, n - 3)
    return name[:2] + "*" * (n - 2 - tail) + name[-tail:]


def _days(value: date) -> int:
    return (value - _EPOCH).days


def _bad(detail: str, code: str = "licence.payload.invalid") -> PayloadInvalid:
    return PayloadInvalid(detail, code=code)


def _check_text(name: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not 1 <= len(value) <= _MAX_TEXT_FIELD:
        raise _bad(f"{name} must be 1…{_MAX_TEXT_FIELD} characters")


def _check_payload(p: LicencePayload) -> None:
    """Everything ``_payload_map`` and ``_payload_from_map`` rely on (both directions)."""
    if p.version != PAYLOAD_VERSION:
        raise _bad(f"payload version must be {PAYLOAD_VERSION}")
    try:
        ident = parse_identifier(p.identifier)
    except IdentifierInvalid as exc:
        raise _bad(f"identifier: {exc.detail}", "licence.payload.bad_identifier") from None
    if p.type_code != ident.type_code or p.issuer_code != ident.issuer_code:
        raise _bad("type and issuer codes must match the identifier", "licence.payload.mismatch")
    for name in ("licence_number", "masked_holder_name"):
        _check_text(name, getattr(p, name))
    _check_text("issuer_name", p.issuer_name, optional=True)
    for name in ("issued_on", "valid_from"):
        value = getattr(p, name)
        if type(value) is not date or value < _EPOCH:
            raise _bad(f"{name} must be a date from 1970-01-01")
    if p.valid_until is not None and (type(p.valid_until) is not date or _days(p.valid_until) < 1):
        raise _bad("valid_until must be a date after 1970-01-01 or None (长期)")
    if not _exact_bytes(p.holder_digest) or len(p.holder_digest) != HOLDER_DIGEST_BYTES:
        raise _bad(f"holder_digest must be {HOLDER_DIGEST_BYTES} bytes")
    if p.document_sm3 is not None and (
        not _exact_bytes(p.document_sm3) or len(p.document_sm3) != 32
    ):
        raise _bad("document_sm3 must be 32 bytes")
    if p.status is not None:
        s = p.status
        if not isinstance(s.list_id, str) or not _LIST_ID_RE.fullmatch(s.list_id):
            raise _bad("status list id must be 1…64 characters [A-Za-z0-9._-]")
        if type(s.index) is not int or not 0 <= s.index < _MAX_STATUS_INDEX:
            raise _bad("status index out of range")
    for name in ("issued_at", "expires_at"):
        value = getattr(p, name)
        if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
            raise _bad(f"{name} must be a timezone-aware datetime")


def _payload_map(p: LicencePayload) -> dict[int, Any]:
    m: dict[int, Any] = {
        1: p.version,
        2: p.identifier,
        3: p.type_code,
        4: p.licence_number,
        5: p.issuer_code,
        6: _days(p.issued_on),
        7: _days(p.valid_from),
        8: 0 if p.valid_until is None else _days(p.valid_until),
        9: p.masked_holder_name,
        10: p.holder_digest,
    }
    if p.status is not None:
        m[11] = [p.status.list_id, p.status.index]
    if p.document_sm3 is not None:
        m[12] = p.document_sm3
    if p.issued_at is not None:
        m[14] = int(p.issued_at.timestamp())
    if p.expires_at is not None:
        m[15] = int(p.expires_at.timestamp())
    if p.issuer_name is not None:
        m[17] = p.issuer_name
    return m


_REQUIRED_KEYS: Final = frozenset(range(1, 11))
_KNOWN_KEYS: Final = _REQUIRED_KEYS | {11, 12, 14, 15, 17}
_MAX_DAYS: Final = _days(date(9999, 12, 31))
_MAX_SECONDS: Final = 253402300799  # 9999-12-31T23:59:59Z


def _day(value: object) -> date:
    if type(value) is not int or not 0 <= value <= _MAX_DAYS:
        raise _bad("date is not a day count")
    return _EPOCH + timedelta(days=value)


def _instant(value: object) -> datetime:
    if type(value) is not int or not 0 <= value <= _MAX_SECONDS:
        raise _bad("time is not a second count")
    return datetime.fromtimestamp(value, UTC)


def _text(value: object) -> str:
    if type(value) is not str:
        raise _bad("text claim is not a text string")
    return value


def _optional(m: dict[Any, Any], key: int, convert: Callable[[Any], Any]) -> Any:
    return convert(m[key]) if key in m else None


def _status_ref(value: object) -> StatusReference:
    if type(value) is not list or len(value) != 2:
        raise _bad("status reference is not [list-id, index]")
    return StatusReference(_text(value[0]), value[1])


def _payload_from_map(m: dict[Any, Any]) -> LicencePayload:
    if not _REQUIRED_KEYS <= set(m) <= _KNOWN_KEYS:
        raise _bad("payload keys are not those of EL1 version 1")
    valid_until = _day(m[8])
    payload = LicencePayload(
        identifier=_text(m[2]),
        type_code=_text(m[3]),
        licence_number=_text(m[4]),
        issuer_code=_text(m[5]),
        issued_on=_day(m[6]),
        valid_from=_day(m[7]),
        valid_until=None if valid_until == _EPOCH else valid_until,
        masked_holder_name=_text(m[9]),
        holder_digest=m[10],
        status=_optional(m, 11, _status_ref),
        document_sm3=m.get(12),
        issued_at=_optional(m, 14, _instant),
        expires_at=_optional(m, 15, _instant),
        issuer_name=_optional(m, 17, _text),
        version=m[1],
    )
    _check_payload(payload)
    return payload


def encode_payload(payload: LicencePayload) -> bytes:
    """Deterministic CBOR of the payload (checked first)."""
    _check_payload(payload)
    return cbor2.dumps(_payload_map(payload), canonical=True)


def decode_payload(data: bytes) -> LicencePayload:
    """Parse **signature-verified** payload bytes. Raises ``EnvelopeUnsupported`` for another
    payload version, ``EnvelopeMalformed``/``PayloadInvalid`` for anything else."""
    m = _cbor_loads(data, max_depth=2)
    if not int_keyed_map(m):
        raise EnvelopeMalformed("payload is not a CBOR map", code="licence.payload.shape")
    version = m.get(1)
    if type(version) is not int or version != PAYLOAD_VERSION:
        raise EnvelopeUnsupported(
            f"payload version {version!r} is not {PAYLOAD_VERSION}",
            code="licence.payload.unsupported_version",
        )
    payload = _payload_from_map(m)
    if _canonical(m) != data:
        raise EnvelopeMalformed(
            "payload is not deterministically encoded", code="licence.payload.not_canonical"
        )
    return payload


def sign_envelope(payload: LicencePayload, *, kid: bytes, sign: SignFn) -> bytes:
    """The COSE_Sign1 bytes of an EL1 object (before compression and text encoding)."""
    return sign_cose(encode_payload(payload), kid=kid, sign=sign)


# --------------------------------------------------------------------------- text forms


class EnvelopeForm(StrEnum):
    EL1 = "EL1"  # "EL1:" + Base45
    URL = "URL"  # "HTTPS://HOST/E#" + Base32


@dataclass(frozen=True, slots=True)
class UnverifiedEnvelope:
    """A decoded EL1 object whose signature has NOT been checked (use ``verify_envelope``)."""

    cose: CoseSign1
    form: EnvelopeForm

    @property
    def kid(self) -> bytes:
        return self.cose.kid


def _deflate(cose: bytes) -> bytes:
    if len(cose) > MAX_COSE_BYTES:
        raise EnvelopeTooLarge(f"COSE_Sign1 exceeds {MAX_COSE_BYTES} bytes")
    compressed = zlib.compress(cose, 9)
    if len(compressed) > MAX_COMPRESSED_BYTES:
        raise EnvelopeTooLarge("compressed envelope does not fit one QR")
    return compressed


def _inflate(data: bytes) -> bytes:
    if len(data) > MAX_COMPRESSED_BYTES:
        raise EnvelopeTooLarge(f"compressed envelope exceeds {MAX_COMPRESSED_BYTES} bytes")
    inflater = zlib.decompressobj(wbits=15)  # zlib format (RFC 1950), as HCERT
    try:
        out = inflater.decompress(data, MAX_COSE_BYTES + 1)
    except zlib.error:
        raise EnvelopeMalformed("not zlib data", code="licence.envelope.bad_zlib") from None
    if len(out) > MAX_COSE_BYTES:
        raise EnvelopeTooLarge(f"inflated envelope exceeds {MAX_COSE_BYTES} bytes")
    if not inflater.eof or inflater.unused_data or inflater.unconsumed_tail:
        raise EnvelopeMalformed(
            "zlib stream truncated or followed by data", code="licence.envelope.bad_zlib"
        )
    return out


def _b32encode(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=")


def _b32decode(text: str) -> bytes:
    # RFC 4648 §6 without padding: lengths ≡ 1, 3, 6 (mod 8) cannot occur.
    if len(text) % 8 in (1, 3, 6) or not re.fullmatch(r"[A-Z2-7]*", text):
        raise EnvelopeMalformed("not unpadded Base32", code="licence.envelope.bad_base32")
    try:
        data = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        raise EnvelopeMalformed("not unpadded Base32", code="licence.envelope.bad_base32") from None
    if _b32encode(data) != text:  # non-zero trailing bits: a second spelling of the same bytes
        raise EnvelopeMalformed("non-canonical Base32", code="licence.envelope.bad_base32")
    return data


def encode_el1(cose: bytes) -> str:
    """``EL1:`` + Base45(zlib(COSE_Sign1)) (spec §9.1 3a)."""
    return EL1_PREFIX + b45encode(_deflate(cose))


def _check_host(host: str) -> str:
    upper = host.upper()
    if len(upper) > 253 or not _HOST_RE.fullmatch(upper):
        raise PayloadInvalid(f"{host!r} is not a host name", code="licence.payload.bad_host")
    return upper


def encode_el1_url(cose: bytes, host: str) -> str:
    """``HTTPS://<HOST>/E#`` + unpadded Base32(zlib(COSE_Sign1)) (spec §9.1 3b)."""
    return f"HTTPS://{_check_host(host)}{URL_PATH}#{_b32encode(_deflate(cose))}"


def _decode_url(text: str) -> bytes:
    head, sep, fragment = text.partition("#")
    scheme, _, rest = head.partition("://")
    host, slash, path = rest.partition("/")
    if not sep or scheme.upper() != "HTTPS" or not slash or "/" + path != URL_PATH:
        raise EnvelopeUnsupported(
            f"not an EL1 verification URL (HTTPS://<host>{URL_PATH}#…)",
            code="licence.envelope.unsupported_url",
        )
    _check_host_decoding(host)
    return _b32decode(fragment)


def _check_host_decoding(host: str) -> None:
    if len(host) > 253 or not _HOST_RE.fullmatch(host.upper()):
        raise EnvelopeMalformed("URL host is malformed", code="licence.envelope.bad_url")


def decode_el1(text: str) -> UnverifiedEnvelope:
    """Decode either text form into an ``UnverifiedEnvelope`` (nothing is trusted yet).

    Raises ``EnvelopeTooLarge`` (any limit), ``EnvelopeUnsupported`` (unknown prefix, route or
    algorithm: spec §9.2 "reject unknown ones") or ``EnvelopeMalformed``."""
    if not isinstance(text, str):
        raise EnvelopeMalformed("EL1 input must be text", code="licence.envelope.not_text")
    if len(text) > MAX_TEXT_CHARS:
        raise EnvelopeTooLarge(f"EL1 text exceeds {MAX_TEXT_CHARS} characters")
    if text.startswith(EL1_PREFIX):
        form, compressed = EnvelopeForm.EL1, b45decode(text[len(EL1_PREFIX) :])
    elif text[:8].upper() == "HTTPS://":
        form, compressed = EnvelopeForm.URL, _decode_url(text)
    else:
        raise EnvelopeUnsupported(
            "unknown prefix: expected EL1: or an HTTPS verification URL",
            code="licence.envelope.unknown_prefix",
        )
    return UnverifiedEnvelope(decode_cose(_inflate(compressed)), form)


# --------------------------------------------------------------------------- verification


class EnvelopeStatus(StrEnum):
    """Verifier result codes (spec §9.7, the subset an offline envelope check can decide)."""

    VALID = "VALID"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    UNKNOWN_ISSUER = "UNKNOWN_ISSUER"
    EXPIRED = "EXPIRED"  # licence past 有效期止, or a dynamic token past exp
    NOT_YET_VALID = "NOT_YET_VALID"  # before 有效期起, or iat in the future
    UNREADABLE = "UNREADABLE"  # signed, but the payload does not parse
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"


class EnvelopeReason(StrEnum):
    OK = "ok"
    UNKNOWN_KID = "unknown_kid"
    ISSUER_NOT_BOUND_TO_KEY = "issuer_not_bound_to_key"
    SIGNATURE_MALFORMED = "signature_malformed"
    SIGNATURE_MISMATCH = "signature_mismatch"
    PAYLOAD_MALFORMED = "payload_malformed"
    PAYLOAD_VERSION = "payload_version"
    LICENCE_EXPIRED = "licence_expired"
    LICENCE_NOT_YET_VALID = "licence_not_yet_valid"
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 - a reason code, not a credential
    ISSUED_IN_FUTURE = "issued_in_future"


@dataclass(frozen=True, slots=True)
class EnvelopeVerification:
    """Outcome of ``verify_envelope``.

    ``status``/``reason``: the fixed result and why. ``payload`` is set only when the signature
    verified under a trusted key and the payload parsed (so also for EXPIRED/NOT_YET_VALID);
    it is then issuer-authenticated data. ``checked_at`` is the time the dates were checked
    against. Live status (suspension, revocation) is NOT covered: see ``licences.status``."""

    status: EnvelopeStatus
    reason: EnvelopeReason
    kid: bytes
    checked_at: datetime
    payload: LicencePayload | None = None

    @property
    def valid(self) -> bool:
        return self.status is EnvelopeStatus.VALID


def _date_result(p: LicencePayload, now: datetime) -> tuple[EnvelopeStatus, EnvelopeReason]:
    if p.expires_at is not None and now > p.expires_at + CLOCK_SKEW:
        return EnvelopeStatus.EXPIRED, EnvelopeReason.TOKEN_EXPIRED
    if p.issued_at is not None and p.issued_at > now + CLOCK_SKEW:
        return EnvelopeStatus.NOT_YET_VALID, EnvelopeReason.ISSUED_IN_FUTURE
    # Licence dates are calendar days in China Standard Time; 有效期止 is the last valid day.
    today = now.astimezone(CHINA_TZ).date()
    if p.valid_until is not None and today > p.valid_until:
        return EnvelopeStatus.EXPIRED, EnvelopeReason.LICENCE_EXPIRED
    if today < p.valid_from:
        return EnvelopeStatus.NOT_YET_VALID, EnvelopeReason.LICENCE_NOT_YET_VALID
    return EnvelopeStatus.VALID, EnvelopeReason.OK


def verify_envelope(
    envelope: UnverifiedEnvelope, trusted_issuer_keys: TrustedKeys, now: datetime
) -> EnvelopeVerification:
    """Verify an EL1 object offline: trusted kid → SM2 signature → payload → issuer binding →
    dates. Fails closed: an empty trust list makes every envelope ``UNKNOWN_ISSUER``.

    Raises ``VerificationFailed`` only when it cannot run (``now`` without a time zone)."""
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise VerificationFailed("verification time must be timezone-aware")
    cose = envelope.cose

    def result(
        status: EnvelopeStatus, reason: EnvelopeReason, payload: LicencePayload | None = None
    ) -> EnvelopeVerification:
        return EnvelopeVerification(status, reason, cose.kid, now, payload)

    entry = trusted_issuer_keys.get(cose.kid)
    if entry is None:
        return result(EnvelopeStatus.UNKNOWN_ISSUER, EnvelopeReason.UNKNOWN_KID)
    key = entry.public_key if isinstance(entry, IssuerKey) else entry
    failure = verify_cose_signature(cose, key)
    if failure is not None:
        return result(EnvelopeStatus.BAD_SIGNATURE, EnvelopeReason(failure))
    try:
        payload = decode_payload(cose.unverified_payload)
    except EnvelopeUnsupported:
        return result(EnvelopeStatus.UNSUPPORTED_VERSION, EnvelopeReason.PAYLOAD_VERSION)
    except (EnvelopeMalformed, PayloadInvalid):
        return result(EnvelopeStatus.UNREADABLE, EnvelopeReason.PAYLOAD_MALFORMED)
    if not issuer_allowed(entry, payload.issuer_code):
        return result(EnvelopeStatus.UNKNOWN_ISSUER, EnvelopeReason.ISSUER_NOT_BOUND_TO_KEY)
    status, reason = _date_result(payload, now)
    return result(status, reason, payload)
