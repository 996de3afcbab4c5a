"""SM2 public-key operations (GB/T 32918.2-2016): public keys, signature encodings, verification.

Curve: GB/T 32918.5-2017 recommended curve (eseal spec §2.1). Z value: GB/T 32918.2 §5.5
(eseal spec §2.2). Signature encodings: GB/T 35276-2017 DER, plus the raw r||s form seen in
real files (eseal spec §2.4, §9). The SM2 arithmetic itself runs in the active backend
(``trust.crypto.backend``); only the cheap checks (point on curve, r/s range) are done here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from asn1crypto import keys as a_keys
from asn1crypto import pem as a_pem
from asn1crypto import x509 as a_x509

from trust.crypto.algorithms import OID_EC_PUBLIC_KEY, OID_SM2_CURVE
from trust.crypto.backend import active
from trust.crypto.hashing import sm3
from trust.errors import InvalidInput, TrustError

__all__ = [
    "DEFAULT_USER_ID",
    "REASON_MALFORMED",
    "REASON_MISMATCH",
    "InvalidSignature",
    "SM2PublicKey",
    "SignatureEncoding",
    "check_user_id",
    "decode_signature",
    "encode_signature_der",
    "sm2_digest",
    "sm2_verify",
    "sm2_z",
]

#: GM/T 0009-2012 / GB/T 35276 default distinguishing identifier.
DEFAULT_USER_ID: Final = b"1234567812345678"

#: ``InvalidSignature.reason`` values.
REASON_MALFORMED: Final = "malformed"  # neither DER nor raw r||s, or r/s outside [1, n-1]
REASON_MISMATCH: Final = "mismatch"  # well-formed, but GB/T 32918.2 B7 fails

# GB/T 32918.5-2017 recommended curve parameters (eseal spec §2.1).
P: Final = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A: Final = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B: Final = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N: Final = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX: Final = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY: Final = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

_Z_CURVE_PART: Final = b"".join(v.to_bytes(32, "big") for v in (A, B, GX, GY))
#: SubjectPublicKeyInfo header for id-ecPublicKey + namedCurve 1.2.156.10197.1.301, followed by
#: the 65-byte uncompressed point (RFC 5480 §2; eseal spec §2.1).
_SPKI_PREFIX: Final = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")
_MAX_USER_ID: Final = 8191  # ENTL_A is the bit length in two bytes (GB/T 32918.2 §5.5)


class SignatureEncoding(StrEnum):
    DER = "der"  # SEQUENCE { r INTEGER, s INTEGER }, GB/T 35276 - what we produce
    RAW = "raw"  # 64 bytes r || s, seen in real files (eseal spec §2.4) - accepted, flagged


class InvalidSignature(TrustError):
    """The signature is well-formed but does not verify (or is malformed; see ``reason``)."""

    code = "crypto.invalid_signature"
    http_status = 422
    title = "签名无效"

    def __init__(self, reason: str) -> None:
        super().__init__(f"signature does not verify: {reason}")
        self.reason = reason


def _bad_key(detail: str) -> InvalidInput:
    return InvalidInput(f"not a valid SM2 public key: {detail}", code="crypto.bad_public_key")


def _on_curve(x: int, y: int) -> bool:
    # GB/T 32918.1 §6.2.1 (public key validation): coordinates in [0, p-1] and y² = x³ + ax + b.
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


@dataclass(frozen=True, slots=True)
class SM2PublicKey:
    """An SM2 public key as the 65-byte uncompressed point 04 || x || y, validated on the curve.

    Cofactor h = 1, so every affine point on the curve lies in the order-n group; the point at
    infinity has no affine encoding and is therefore refused by the length/prefix check.
    """

    point: bytes

    def __post_init__(self) -> None:
        pt = self.point
        if not isinstance(pt, bytes) or len(pt) != 65 or pt[0] != 0x04:
            raise _bad_key("expected the 65-byte uncompressed point 04 || x || y")
        if not _on_curve(int.from_bytes(pt[1:33], "big"), int.from_bytes(pt[33:], "big")):
            raise _bad_key("point is not on the SM2 curve")

    @classmethod
    def from_der(cls, spki_der: bytes) -> SM2PublicKey:
        """From SubjectPublicKeyInfo DER (id-ecPublicKey + curve 1.2.156.10197.1.301)."""
        try:
            spki = a_keys.PublicKeyInfo.load(spki_der, strict=True)
            algorithm = spki["algorithm"]
            alg_oid = algorithm["algorithm"].dotted
            params = algorithm["parameters"]
            curve = params.chosen.dotted if params.name == "named" else None
            point = spki["public_key"].native
        except Exception as exc:  # asn1crypto raises ValueError/TypeError/KeyError freely
            raise _bad_key(f"SubjectPublicKeyInfo does not parse ({exc})") from None
        if alg_oid != OID_EC_PUBLIC_KEY or curve != OID_SM2_CURVE:
            raise _bad_key(f"algorithm {alg_oid} / curve {curve} is not SM2")
        if not isinstance(point, bytes):
            raise _bad_key("subjectPublicKey is not a byte string")
        return cls.from_point(point)

    @classmethod
    def from_pem(cls, pem: bytes | str) -> SM2PublicKey:
        data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
        try:
            kind, _headers, der = a_pem.unarmor(data)
        except Exception as exc:
            raise _bad_key(f"not PEM ({exc})") from None
        if kind != "PUBLIC KEY":
            raise _bad_key(f"PEM type {kind!r}, expected 'PUBLIC KEY'")
        return cls.from_der(der)

    @classmethod
    def from_point(cls, point: bytes) -> SM2PublicKey:
        """From an uncompressed (04) or compressed (02/03, GB/T 32918.1 §4.2.10) point."""
        if len(point) == 33 and point[0] in (2, 3):
            x = int.from_bytes(point[1:], "big")
            if x >= P:
                raise _bad_key("x coordinate out of range")
            rhs = (x * x * x + A * x + B) % P
            y = pow(rhs, (P + 1) // 4, P)  # p ≡ 3 (mod 4): the square root, if one exists
            if y * y % P != rhs:
                raise _bad_key("point is not on the SM2 curve")
            if (y & 1) != (point[0] & 1):
                y = P - y
            point = b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")
        return cls(bytes(point))

    @classmethod
    def from_certificate(cls, cert_der: bytes) -> SM2PublicKey:
        """The subject public key of an X.509 certificate (lenient parse, eseal spec §9).

        Only ``tbsCertificate.subjectPublicKeyInfo`` is decoded, so odd names or extensions in
        government certificates do not prevent reading the key.
        """
        try:
            cert = a_x509.Certificate.load(cert_der)
            spki_der = cert["tbs_certificate"]["subject_public_key_info"].dump()
        except Exception as exc:
            raise _bad_key(f"certificate does not parse ({exc})") from None
        return cls.from_der(spki_der)

    @property
    def x(self) -> int:
        return int.from_bytes(self.point[1:33], "big")

    @property
    def y(self) -> int:
        return int.from_bytes(self.point[33:], "big")

    def to_der(self) -> bytes:
        return _SPKI_PREFIX + self.point

    def to_pem(self) -> str:
        armored: bytes = a_pem.armor("PUBLIC KEY", self.to_der())
        return armored.decode("ascii")


def _read_tlv(buf: bytes, pos: int, tag: int) -> tuple[int, int] | None:
    """(start, end) of the value of a DER TLV with ``tag`` at ``pos``; None unless minimal DER."""
    if pos + 2 > len(buf) or buf[pos] != tag:
        return None
    first = buf[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    elif first == 0x81 and pos < len(buf) and buf[pos] >= 0x80:
        length, pos = buf[pos], pos + 1
    else:  # longer forms are never needed for an SM2 signature; non-minimal forms are not DER
        return None
    end = pos + length
    return (pos, end) if end <= len(buf) else None


def _read_positive_integer(buf: bytes, pos: int, limit: int) -> tuple[int, int] | None:
    tlv = _read_tlv(buf[:limit], pos, 0x02)
    if tlv is None or tlv[0] == tlv[1]:
        return None
    start, end = tlv
    if buf[start] & 0x80:  # negative
        return None
    if buf[start] == 0 and (end - start == 1 or not buf[start + 1] & 0x80):  # zero / non-minimal
        return None
    return int.from_bytes(buf[start:end], "big"), end


def _parse_der(sig: bytes) -> tuple[int, int] | None:
    seq = _read_tlv(sig, 0, 0x30)
    if seq is None or seq[1] != len(sig):
        return None
    r = _read_positive_integer(sig, seq[0], seq[1])
    if r is None:
        return None
    s = _read_positive_integer(sig, r[1], seq[1])
    if s is None or s[1] != seq[1]:
        return None
    return r[0], s[0]


def decode_signature(signature: bytes) -> tuple[int, int, SignatureEncoding]:
    """eseal spec §2.4 decision rule: exactly one DER SEQUENCE of two positive INTEGERs using
    every byte -> DER; else exactly 64 bytes -> raw r||s; else ``InvalidSignature``.

    r and s must also lie in [1, n-1] (GB/T 32918.2 §7.1 B1, B2), in either form.
    """
    der = _parse_der(signature)
    if der is not None and 0 < der[0] < N and 0 < der[1] < N:
        return der[0], der[1], SignatureEncoding.DER
    if len(signature) == 64:
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        if 0 < r < N and 0 < s < N:
            return r, s, SignatureEncoding.RAW
    raise InvalidSignature(REASON_MALFORMED)


def _der_integer(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")  # leading 00 when the top bit is set
    return b"\x02" + bytes([len(body)]) + body


def encode_signature_der(r: int, s: int) -> bytes:
    """DER ``SEQUENCE { r INTEGER, s INTEGER }`` (GB/T 35276-2017 §7.3); r, s in [1, n-1]."""
    if not (0 < r < N and 0 < s < N):
        raise InvalidInput(
            "SM2 signature values must lie in [1, n-1]", code="crypto.bad_signature_value"
        )
    body = _der_integer(r) + _der_integer(s)
    return b"\x30" + bytes([len(body)]) + body  # at most 70 bytes: short-form length


def check_user_id(user_id: bytes) -> None:
    """Refuse a distinguishing identifier whose bit length does not fit ENTL_A (two bytes)."""
    if not isinstance(user_id, bytes) or len(user_id) > _MAX_USER_ID:
        raise InvalidInput(
            f"SM2 user ID must be bytes of at most {_MAX_USER_ID} bytes",
            code="crypto.bad_user_id",
        )


def sm2_z(public_key: SM2PublicKey, user_id: bytes = DEFAULT_USER_ID) -> bytes:
    """Z_A = SM3(ENTL_A || ID_A || a || b || Gx || Gy || xA || yA) (GB/T 32918.2 §5.5)."""
    check_user_id(user_id)
    entl = (len(user_id) * 8).to_bytes(2, "big")
    return sm3(entl + user_id + _Z_CURVE_PART + public_key.point[1:])


def sm2_digest(public_key: SM2PublicKey, data: bytes, user_id: bytes = DEFAULT_USER_ID) -> bytes:
    """e = SM3(Z_A || M) (GB/T 32918.2 §6.1 A1-A2), the value the SM2 primitive signs."""
    return sm3(sm2_z(public_key, user_id) + data)


def sm2_verify(
    public_key: SM2PublicKey,
    data: bytes,
    signature: bytes,
    *,
    user_id: bytes = DEFAULT_USER_ID,
) -> SignatureEncoding:
    """Verify an SM2 signature over the message ``data`` (not a digest) with SM3 and ``user_id``.

    Returns the encoding found; raises ``InvalidSignature`` when it does not verify.
    """
    check_user_id(user_id)
    r, s, encoding = decode_signature(signature)
    # The backend receives canonical DER; for DER input this is byte-identical to ``signature``.
    der = signature if encoding is SignatureEncoding.DER else encode_signature_der(r, s)
    handle = active().load_public_key(public_key.to_der())
    if not handle.verify(data, der, user_id):
        raise InvalidSignature(REASON_MISMATCH)
    return encoding
