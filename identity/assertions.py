"""SM2-signed assertions from upstream parties: the face-verification provider and the national
network identity service (网号/网证). Pure: parse, verify, check the common claims.

Wire form (JWS Compact Serialisation shape, RFC 7515 §7.1, with the private algorithm name of
``specs/identity.md`` §7.2)::

    BASE64URL(header) "." BASE64URL(claims) "." BASE64URL(signature)

- header: ``{"alg": "SM2SM3", "typ": <expected type>}`` (``kid`` optional, informational);
  any other ``alg`` is refused - the algorithm is never taken from the token (§7.1 rules);
- signature: SM2 with SM3 and the default user ID ``1234567812345678`` over the ASCII signing
  input ``header "." claims``; raw 64-byte r||s (as §7.2) or DER (GB/T 35276) accepted;
- claims: JSON object with ``iss``, ``aud``, ``time`` (Unix seconds), ``nonce`` and the
  kind-specific fields. ``time`` must lie within ``[now - max_age, now + skew]``.

Replay protection (the nonce was issued by us and is used once) needs the database and is done
by the service (``identity.service_verify``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from identity.errors import AssertionRejected
from trust.crypto import InvalidSignature, SM2PublicKey, sm2_verify
from trust.errors import InvalidInput

__all__ = [
    "ASSERTION_ALG",
    "MAX_ASSERTION_BYTES",
    "VerifiedAssertion",
    "b64url",
    "signing_input",
    "verify_assertion",
]

ASSERTION_ALG: Final = "SM2SM3"
MAX_ASSERTION_BYTES: Final = 8192


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    """Signature, type, issuer, audience and time checked; ``claims`` still need their
    kind-specific checks and the nonce its replay check."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    #: The exact bytes that were signed (for the evidence digest).
    signed_bytes: bytes


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(part: str) -> bytes:
    if not part or any(c not in _B64URL for c in part):
        raise AssertionRejected("断言编码错误", code="identity.assertion_malformed")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise AssertionRejected("断言编码错误", code="identity.assertion_malformed") from None


_B64URL: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def signing_input(header: Mapping[str, Any], claims: Mapping[str, Any]) -> bytes:
    """What the issuer signs (used by the simulator and by tests acting as the provider)."""

    def enc(obj: Mapping[str, Any]) -> str:
        text = json.dumps(dict(obj), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        return b64url(text.encode("utf-8"))

    return f"{enc(header)}.{enc(claims)}".encode("ascii")


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeError, ValueError):
        raise AssertionRejected("断言不是 JSON", code="identity.assertion_malformed") from None
    if not isinstance(value, dict):
        raise AssertionRejected("断言不是 JSON 对象", code="identity.assertion_malformed")
    return value


def verify_assertion(
    unverified_token: str,
    *,
    public_key: SM2PublicKey,
    expected_typ: str,
    expected_issuer: str,
    expected_audience: str,
    now: datetime,
    max_age: timedelta,
    skew: timedelta,
) -> VerifiedAssertion:
    """Check an assertion completely but for its nonce; ``AssertionRejected`` with a reason
    code (``identity.assertion_*``) otherwise."""
    if not isinstance(unverified_token, str) or len(unverified_token) > MAX_ASSERTION_BYTES:
        raise AssertionRejected("断言过长或格式错误", code="identity.assertion_malformed")
    parts = unverified_token.strip().split(".")
    if len(parts) != 3:
        raise AssertionRejected("断言应由三段组成", code="identity.assertion_malformed")
    header = _json_object(_unb64(parts[0]))
    claims = _json_object(_unb64(parts[1]))
    signature = _unb64(parts[2])
    if header.get("alg") != ASSERTION_ALG:
        raise AssertionRejected("断言签名算法不被接受", code="identity.assertion_bad_alg")
    if header.get("typ") != expected_typ:
        raise AssertionRejected("断言类型不符", code="identity.assertion_bad_type")
    signed = f"{parts[0]}.{parts[1]}".encode("ascii")
    try:
        sm2_verify(public_key, signed, signature)
    except (InvalidSignature, InvalidInput):
        raise AssertionRejected("断言签名无效", code="identity.assertion_bad_signature") from None
    _check_common(claims, expected_issuer, expected_audience, now, max_age, skew)
    return VerifiedAssertion(header=header, claims=claims, signed_bytes=signed)


def _check_common(
    claims: Mapping[str, Any],
    issuer: str,
    audience: str,
    now: datetime,
    max_age: timedelta,
    skew: timedelta,
) -> None:
    if claims.get("iss") != issuer:
        raise AssertionRejected("断言签发方不符", code="identity.assertion_bad_issuer")
    if claims.get("aud") != audience:
        raise AssertionRejected("断言受众不符", code="identity.assertion_bad_audience")
    at = claims.get("time")
    if not isinstance(at, int) or isinstance(at, bool):
        raise AssertionRejected("断言缺少时间", code="identity.assertion_malformed")
    stamp = now.timestamp()
    if at > stamp + skew.total_seconds():
        raise AssertionRejected("断言时间在未来", code="identity.assertion_not_yet_valid")
    if at < stamp - max_age.total_seconds():
        raise AssertionRejected("断言已过期", code="identity.assertion_expired")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= 128:
        raise AssertionRejected("断言缺少随机数", code="identity.assertion_malformed")
