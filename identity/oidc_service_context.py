"""What the OpenID Provider's services receive besides session and clock: ``OidcContext``.

Server keys of the OIDC layer are derived one-way from the identity keys (which come from the
service master key, ``identity.keying``), one label per purpose:

- ``pairwise``: HMAC-SM3 key of pairwise ``sub`` values (``identity.tokens.pairwise_sub``);
- ``refresh``: HMAC-SM3 key of refresh-token MACs;
- ``csrf``: HMAC-SM3 key of the CSRF tokens of the login, organisation and consent forms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from identity.keying import IdentityKeys
from identity.oidc_settings import OidcSettings
from keys.interfaces import KeyStore
from trust.crypto import hmac_sm3

__all__ = ["OidcContext"]


def _derive(keys: IdentityKeys, label: str) -> bytes:
    return hmac_sm3(keys.code_mac, f"ywtb-trust/identity/oidc/{label}/v1".encode("ascii"))


@dataclass(frozen=True, slots=True, repr=False)
class OidcContext:
    settings: OidcSettings
    keys: IdentityKeys
    #: The keystore whose published token keys verify our own tokens coming back (an
    #: ``id_token_hint`` at the authorisation endpoint); ``None`` where none is needed (CLI).
    keystore: KeyStore | None = None
    pairwise_key: bytes = field(init=False)
    refresh_key: bytes = field(init=False)
    csrf_key: bytes = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pairwise_key", _derive(self.keys, "pairwise"))
        object.__setattr__(self, "refresh_key", _derive(self.keys, "refresh"))
        object.__setattr__(self, "csrf_key", _derive(self.keys, "csrf"))

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    def __repr__(self) -> str:
        return f"<OidcContext issuer={self.settings.issuer!r} (keys hidden)>"
