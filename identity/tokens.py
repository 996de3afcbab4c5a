"""Token formats and minting (pure apart from the ``Signer`` call): ID tokens (OIDC Core §2,
§3.1.3.6), JWT access tokens (RFC 9068), pairwise subject identifiers (OIDC Core §8.1), refresh
tokens, and verification of our own access tokens with joserfc.

* JWS: compact serialisation, ``alg`` ES256 only, ``kid`` always set (the keystore key id),
  signed through ``keys.interfaces.Signer`` - this module never sees a private key. The ES256
  ``Signer`` returns raw r||s as JWS wants (RFC 7518 §3.4).
* ``sub``: ``BASE64URL(HMAC-SM3(pairwise key, sector || 0x00 || account id))`` - per sector,
  never the citizen ID number, not reversible without the server key.
* Refresh token: ``<row id>.<BASE64URL(HMAC-SM3(refresh key, row id))>``; the database row
  holds no token material, and the same token can be produced again for the grace period of
  racing refreshes.
* Verification spells out every parameter: algorithm allow-list ``["ES256"]``, ``typ``
  ``at+jwt``, issuer, expiry with leeway, required claims (layout style rule 3).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from identity.oidc_errors import InvalidToken
from keys.interfaces import Signer
from trust.crypto import constant_time_equal, hmac_sm3
from trust.errors import InvalidInput, Misconfigured
from trust.signing import SignatureAlgorithm

__all__ = [
    "ACCESS_TOKEN_TYP",
    "IdTokenHintInvalid",
    "VerifiedAccessToken",
    "VerifiedIdTokenHint",
    "at_hash",
    "mint_access_token",
    "mint_id_token",
    "pairwise_sub",
    "parse_refresh_token",
    "refresh_token_value",
    "secret_digest",
    "sign_jwt",
    "verify_access_token",
    "verify_id_token_hint",
]

ACCESS_TOKEN_TYP: Final = "at+jwt"  # noqa: S105 - a JOSE media type, not a secret
_ALGORITHMS: Final = ["ES256"]
_REQUIRED_AT: Final = ("iss", "exp", "iat", "jti", "client_id", "sub")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


#: Compact, sorted, UTF-8 JSON; one encoder for every token (``json.dumps`` with options builds
#: a new one per call).
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _json(value: Mapping[str, Any]) -> bytes:
    return _ENCODER.encode(value).encode()


def secret_digest(value: str) -> bytes:
    """SHA-256 of a high-entropy secret (client secret, code, cookie) for storage."""
    return hashlib.sha256(value.encode("utf-8")).digest()


def pairwise_sub(key: bytes, sector: str, account_id: str) -> str:
    """OIDC Core §8.1 pairwise identifier for ``account_id`` in ``sector``."""
    return _b64(hmac_sm3(key, sector.encode("utf-8") + b"\x00" + account_id.encode("ascii")))


def at_hash(access_token: str) -> str:
    """OIDC Core §3.1.3.6: left half of SHA-256 (ES256's hash) of the ASCII access token."""
    return _b64(hashlib.sha256(access_token.encode("ascii")).digest()[:16])


@functools.lru_cache(maxsize=64)
def _encoded_header(kid: str, typ: str) -> str:
    return _b64(_json({"alg": "ES256", "kid": kid, "typ": typ}))


def sign_jwt(signer: Signer, claims: Mapping[str, Any], *, typ: str) -> str:
    """A compact JWS over ``claims`` with ``alg`` ES256, ``kid`` and ``typ``."""
    if signer.algorithm is not SignatureAlgorithm.ES256:
        raise Misconfigured("token signer is not ES256", code="oidc.signer_not_es256")
    signing_input = f"{_encoded_header(signer.key_id, typ)}.{_b64(_json(claims))}".encode("ascii")
    signature = signer.sign(signing_input)
    if len(signature) != 64:
        raise Misconfigured("ES256 signer returned a non-JOSE signature")
    return f"{signing_input.decode('ascii')}.{_b64(signature)}"


def _ts(at: datetime) -> int:
    return int(at.timestamp())


def mint_id_token(
    *,
    signer: Signer,
    issuer: str,
    sub: str,
    client_id: str,
    now: datetime,
    lifetime_seconds: int,
    auth_time: datetime,
    acr: str,
    amr: Sequence[str],
    sid: str | None,
    nonce: str | None = None,
    access_token: str | None = None,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """An ID token (OIDC Core §2): iss, sub, aud, exp, iat, auth_time, acr, amr, sid, nonce
    (when the request had one), at_hash (when issued with an access token), azp, plus
    ``extra_claims`` (e.g. ``legal_person``, scope claims). Registered claims win."""
    claims: dict[str, Any] = dict(extra_claims or {})
    claims.update(
        {
            "iss": issuer,
            "sub": sub,
            "aud": client_id,
            "azp": client_id,
            "iat": _ts(now),
            "exp": _ts(now) + lifetime_seconds,
            "auth_time": _ts(auth_time),
            "acr": acr,
            "amr": list(amr),
        }
    )
    if sid is not None:
        claims["sid"] = sid
    if nonce is not None:
        claims["nonce"] = nonce
    if access_token is not None:
        claims["at_hash"] = at_hash(access_token)
    return sign_jwt(signer, claims, typ="JWT")


def mint_access_token(
    *,
    signer: Signer,
    issuer: str,
    sub: str,
    client_id: str,
    scope: str,
    now: datetime,
    lifetime_seconds: int,
    grant_id: str | None = None,
    auth_time: datetime | None = None,
    acr: str | None = None,
    amr: Sequence[str] | None = None,
    sid: str | None = None,
    extra_claims: Mapping[str, Any] | None = None,
) -> tuple[str, str]:
    """An RFC 9068 JWT access token; returns ``(token, jti)``. ``aud`` is the issuer (our own
    resource endpoints: userinfo and the service APIs). ``gid`` names the grant so that
    revoking the grant kills the token. ``jti``: ``at_`` and 120 random bits."""
    jti = "at_" + secrets.token_urlsafe(15)
    claims: dict[str, Any] = dict(extra_claims or {})
    claims.update(
        {
            "iss": issuer,
            "sub": sub,
            "aud": issuer,
            "client_id": client_id,
            "scope": scope,
            "iat": _ts(now),
            "exp": _ts(now) + lifetime_seconds,
            "jti": jti,
        }
    )
    if grant_id is not None:
        claims["gid"] = grant_id
    if auth_time is not None:
        claims["auth_time"] = _ts(auth_time)
    if acr is not None:
        claims["acr"] = acr
    if amr is not None:
        claims["amr"] = list(amr)
    if sid is not None:
        claims["sid"] = sid
    return sign_jwt(signer, claims, typ=ACCESS_TOKEN_TYP), jti


@dataclass(frozen=True, slots=True)
class VerifiedAccessToken:
    """An access token whose signature, issuer, type and times were checked; whether its
    grant is still alive is the service's check (``grant_id``)."""

    jti: str
    sub: str
    client_id: str
    scope: tuple[str, ...]
    grant_id: str | None
    expires_at: int
    issued_at: int
    claims: dict[str, Any]


def verify_access_token(
    *, unverified_token: str, jwks: Mapping[str, Any], issuer: str, now: int, leeway: int
) -> VerifiedAccessToken:
    """Check one of our access tokens against the published JWKS; ``InvalidToken`` otherwise."""
    try:
        keyset = KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
        token = jwt.decode(unverified_token, keyset, algorithms=_ALGORITHMS)
    except (JoseError, ValueError, KeyError, TypeError):
        raise InvalidToken("access token is invalid") from None
    if token.header.get("typ") != ACCESS_TOKEN_TYP:
        raise InvalidToken("not an access token")
    claims = token.claims
    if any(name not in claims for name in _REQUIRED_AT):
        raise InvalidToken("access token lacks a required claim")
    if claims["iss"] != issuer or claims.get("aud") != issuer:
        raise InvalidToken("access token from another issuer or audience")
    exp, iat = claims["exp"], claims["iat"]
    if not isinstance(exp, int) or not isinstance(iat, int):
        raise InvalidToken("access token times are malformed")
    if exp + leeway <= now:
        raise InvalidToken("access token expired")
    if iat - leeway > now:
        raise InvalidToken("access token issued in the future")
    return VerifiedAccessToken(
        jti=str(claims["jti"]),
        sub=str(claims["sub"]),
        client_id=str(claims["client_id"]),
        scope=tuple(str(claims.get("scope", "")).split()),
        grant_id=str(claims["gid"]) if "gid" in claims else None,
        expires_at=exp,
        issued_at=iat,
        claims=dict(claims),
    )


class IdTokenHintInvalid(InvalidInput):
    code = "oidc.id_token_hint_invalid"
    title = "id_token_hint 无效"


@dataclass(frozen=True, slots=True)
class VerifiedIdTokenHint:
    """An ``id_token_hint`` that is one of our ID tokens (signature, ``typ``, issuer checked;
    an expired one is still a valid hint: OIDC Core §3.1.2.1, RP-Initiated Logout §2)."""

    sub: str
    audiences: tuple[str, ...]
    sid: str | None


def verify_id_token_hint(
    *, unverified_token: str, jwks: Mapping[str, Any], issuer: str
) -> VerifiedIdTokenHint:
    """Check an ``id_token_hint`` against the published JWKS; ``IdTokenHintInvalid`` otherwise.
    The algorithm allow-list is ES256 only: ``alg: none`` and HMAC are refused (OIDF Basic OP
    test OP-IDToken-none)."""
    try:
        keyset = KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
        token = jwt.decode(unverified_token, keyset, algorithms=_ALGORITHMS)
    except (JoseError, ValueError, KeyError, TypeError):
        raise IdTokenHintInvalid("id_token_hint 无效（签名不正确或格式错误）") from None
    if token.header.get("typ") != "JWT":
        raise IdTokenHintInvalid("id_token_hint 不是 ID 令牌")
    claims = token.claims
    if claims.get("iss") != issuer:
        raise IdTokenHintInvalid("id_token_hint 不是本平台签发的")
    aud = claims.get("aud")
    audiences = tuple(a for a in (aud if isinstance(aud, list) else [aud]) if isinstance(a, str))
    sub, sid = claims.get("sub"), claims.get("sid")
    if not audiences or not isinstance(sub, str) or not sub:
        raise IdTokenHintInvalid("id_token_hint 缺少 aud 或 sub")
    return VerifiedIdTokenHint(sub, audiences, sid if isinstance(sid, str) else None)


def refresh_token_value(key: bytes, row_id: str) -> str:
    return f"{row_id}.{_b64(hmac_sm3(key, b'refresh-token|' + row_id.encode('ascii')))}"


def parse_refresh_token(key: bytes, unverified_value: str) -> str | None:
    """The row id of a well-formed refresh token whose MAC is right, else ``None``."""
    if not isinstance(unverified_value, str) or len(unverified_value) > 200:
        return None
    row_id, _, mac = unverified_value.partition(".")
    if not row_id.startswith("ort_") or not row_id.isascii() or not mac:
        return None
    expected = refresh_token_value(key, row_id)
    return row_id if constant_time_equal(expected, unverified_value) else None
