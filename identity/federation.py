"""Brokered login from an upstream OpenID provider (the national platform): configuration and
the pure checks ("一地注册、各地互认"). OIDC Core §3.1.3.7 (ID token validation), RFC 7636
(PKCE S256), OpenID Connect for Identity Assurance 1.0 (``verified_claims``).

* Configuration (``FederationSettings.from_environ``): ``TRUST_FEDERATION_ISSUER``,
  ``TRUST_FEDERATION_CLIENT_ID``, ``TRUST_FEDERATION_CLIENT_SECRET`` (all three, or none:
  federation off), ``TRUST_FEDERATION_NAME`` (button label), ``TRUST_FEDERATION_LEEWAY``
  (seconds, default 60).
* ID token checks, every parameter written out: signature against the upstream JWKS with the
  algorithm allow-list ``ES256``/``RS256`` (never ``none``/HMAC), ``iss`` exactly the configured
  issuer, ``aud`` contains our client id (and ``azp`` is it when several audiences), ``exp``
  and ``iat`` with leeway, ``nonce`` equal (constant time) to the one we sent, ``sub`` present.
* Proofing: the upstream's ``verified_claims.verification.assurance_level`` (``P1``-``P4``), or
  else its ``acr`` on the shared ladder ``urn:ywtb:loa:N``, is the proofing level we record as
  evidence. (Reconstructed rule: trust the upstream's level as is; a deployment maps a foreign
  ladder in ``_ACR_LEVELS``.)
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from trust.crypto import constant_time_equal
from trust.errors import InvalidInput, VerificationFailed

__all__ = [
    "FederationSettings",
    "UpstreamIdentity",
    "pkce_pair",
    "upstream_proofing_level",
    "validate_upstream_id_token",
]

_ALGORITHMS: Final = ["ES256", "RS256"]
_ACR_LEVELS: Final = {f"urn:ywtb:loa:{n}": n for n in (1, 2, 3, 4)}


class UpstreamTokenRejected(VerificationFailed):
    code = "identity.federation_token_rejected"
    title = "上级身份平台的令牌未通过校验"


@dataclass(frozen=True, slots=True, repr=False)
class FederationSettings:
    issuer: str
    client_id: str
    client_secret: str
    name: str = "国家政务服务平台"
    leeway_seconds: int = 60

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> FederationSettings | None:
        issuer = environ.get("TRUST_FEDERATION_ISSUER", "").rstrip("/")
        client_id = environ.get("TRUST_FEDERATION_CLIENT_ID", "")
        secret = environ.get("TRUST_FEDERATION_CLIENT_SECRET", "")
        if not (issuer or client_id or secret):
            return None
        if not (issuer and client_id and secret):
            raise InvalidInput(
                "TRUST_FEDERATION_ISSUER, _CLIENT_ID and _CLIENT_SECRET go together",
                code="identity.federation_misconfigured",
            )
        if not issuer.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise InvalidInput(
                "upstream issuer must be https", code="identity.federation_misconfigured"
            )
        leeway = int(environ.get("TRUST_FEDERATION_LEEWAY", "60"))
        name = environ.get("TRUST_FEDERATION_NAME", "国家政务服务平台")
        return cls(issuer, client_id, secret, name, max(0, min(leeway, 600)))

    def __repr__(self) -> str:
        return f"<FederationSettings issuer={self.issuer!r} (secret hidden)>"


def pkce_pair() -> tuple[str, str]:
    """RFC 7636 ``(code_verifier, S256 code_challenge)``."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class UpstreamIdentity:
    """A checked upstream ID token."""

    issuer: str
    sub: str
    acr: str | None
    amr: tuple[str, ...]
    claims: dict[str, Any]


def _reject(reason: str) -> UpstreamTokenRejected:
    return UpstreamTokenRejected(f"upstream ID token rejected: {reason}")


def validate_upstream_id_token(
    *,
    unverified_token: str,
    jwks: Mapping[str, Any],
    issuer: str,
    client_id: str,
    nonce: str,
    now: int,
    leeway: int,
) -> UpstreamIdentity:
    """OIDC Core §3.1.3.7 steps 1-11 for the code flow; ``UpstreamTokenRejected`` otherwise."""
    try:
        keyset = KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
        token = jwt.decode(unverified_token, keyset, algorithms=_ALGORITHMS)
    except (JoseError, ValueError, KeyError, TypeError):
        raise _reject("signature") from None
    claims = dict(token.claims)
    if claims.get("iss") != issuer:
        raise _reject("issuer")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if client_id not in audiences:
        raise _reject("audience")
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise _reject("azp")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int) or not isinstance(iat, int):
        raise _reject("times")
    if exp + leeway <= now:
        raise _reject("expired")
    if iat - leeway > now:
        raise _reject("issued in the future")
    got_nonce = claims.get("nonce")
    if not isinstance(got_nonce, str) or not constant_time_equal(
        got_nonce.encode(), nonce.encode()
    ):
        raise _reject("nonce")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise _reject("sub")
    acr = claims.get("acr")
    amr = claims.get("amr")
    return UpstreamIdentity(
        issuer=issuer,
        sub=sub,
        acr=acr if isinstance(acr, str) else None,
        amr=tuple(str(m) for m in amr) if isinstance(amr, list) else (),
        claims=claims,
    )


def upstream_proofing_level(userinfo: Mapping[str, Any], acr: str | None) -> int:
    """1-4: the upstream's ``verified_claims`` assurance level, else its ``acr``, else 1."""
    verified = userinfo.get("verified_claims")
    if isinstance(verified, Mapping):
        verification = verified.get("verification")
        if isinstance(verification, Mapping):
            level = verification.get("assurance_level")
            if isinstance(level, str) and level in ("P1", "P2", "P3", "P4"):
                return int(level[1])
    return _ACR_LEVELS.get(acr or "", 1)
