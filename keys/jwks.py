"""Public JWK sets of the signing keys (RFC 7517 §5, RFC 7518 §6.2.1).

Two separate sets, never mixed (``specs/identity.md`` §7.3): one SM2 key written as
``{"kty": "EC", "crv": "SM2"}`` in the main ``jwks_uri`` makes joserfc/Authlib-based relying
parties fail on the *whole* set (``KeyError 'SM2'``), ES256 logins included.

* ``jwks_for``: ES256 keys only (``kty`` EC, ``crv`` P-256, ``alg`` ES256) - the standard set;
* ``sm2_jwks_for``: SM2 keys only (``kty`` EC, ``crv`` SM2, ``alg`` SM2SM3, the private JOSE
  name of ``specs/identity.md`` §7.2) - published separately, e.g. as ``jwks_uri_sm2``.

Both publish PENDING keys (the next key is known before it signs), the ACTIVE key and RETIRED
keys (tokens they signed still verify); DESTROYED keys are left out. Every JWK has ``kid`` (the
key id), ``alg`` and ``use: sig``. Only public values appear.
"""

from __future__ import annotations

import base64
from typing import Any, Final

from sqlalchemy.orm import Session

from keys.interfaces import KeyInfo, KeyStatus, KeyStore, KeyUsage
from trust.crypto import SM2PublicKey
from trust.crypto.es256 import p256_public_jwk
from trust.signing import SignatureAlgorithm

__all__ = ["SM2_JOSE_ALG", "es256_jwk", "jwks_for", "sm2_jwk", "sm2_jwks_for"]

#: Private JOSE algorithm name for SM2 with SM3 (no IANA registration exists).
SM2_JOSE_ALG: Final = "SM2SM3"

#: Order in a set: the signing key first, then the next one, then the old ones.
_PUBLISHED: Final = (KeyStatus.ACTIVE, KeyStatus.PENDING, KeyStatus.RETIRED)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _published(
    keystore: KeyStore,
    session: Session,
    usage: KeyUsage,
    owner: str | None,
    algorithm: SignatureAlgorithm,
) -> list[KeyInfo]:
    infos = [
        info
        for info in keystore.list(session=session, usage=usage, owner=owner)
        if info.algorithm is algorithm and info.status in _PUBLISHED and info.owner == owner
    ]
    infos.sort(key=lambda i: (_PUBLISHED.index(i.status), -i.created_at.timestamp(), i.key_id))
    return infos


def es256_jwk(info: KeyInfo) -> dict[str, str]:
    """The public JWK of one ES256 key."""
    return {
        **p256_public_jwk(info.public_key_der),
        "kid": info.key_id,
        "alg": "ES256",
        "use": "sig",
    }


def sm2_jwk(info: KeyInfo) -> dict[str, str]:
    """The public JWK of one SM2 key (point coordinates x, y, 32 bytes each)."""
    point = SM2PublicKey.from_der(info.public_key_der).point  # 04 || x || y
    return {
        "kty": "EC",
        "crv": "SM2",
        "x": _b64url(point[1:33]),
        "y": _b64url(point[33:65]),
        "kid": info.key_id,
        "alg": SM2_JOSE_ALG,
        "use": "sig",
    }


def jwks_for(
    *,
    keystore: KeyStore,
    session: Session,
    usage: KeyUsage = KeyUsage.TOKEN_SIGNING,
    owner: str | None = None,
) -> dict[str, Any]:
    """The standard JWKS: ES256 public keys of ``usage``/``owner``; never an SM2 key."""
    keys = _published(keystore, session, usage, owner, SignatureAlgorithm.ES256)
    return {"keys": [es256_jwk(info) for info in keys]}


def sm2_jwks_for(
    *,
    keystore: KeyStore,
    session: Session,
    usage: KeyUsage = KeyUsage.TOKEN_SIGNING,
    owner: str | None = None,
) -> dict[str, Any]:
    """The separate SM2 key set: SM2 public keys of ``usage``/``owner``; never an ES256 key."""
    keys = _published(keystore, session, usage, owner, SignatureAlgorithm.SM2_SM3)
    return {"keys": [sm2_jwk(info) for info in keys]}
