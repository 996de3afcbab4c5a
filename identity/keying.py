"""Secret keys of the identity package, derived from the service master key.

The master key (32 bytes, ``settings.master_key`` or the 0600 ``master_key_file`` that the
keystore also loads and checks at start-up) is never used directly: each purpose gets its own key
``HMAC-SM3(master, label)`` (GB/T 15852.2; labels distinct from ``keys.masterkey``'s, so the
identity keys reveal nothing about the key-wrapping key and vice versa).

- ``id_lookup``: HMAC-SM3 key of the keyed hash used to find an account by citizen ID number;
- ``id_encryption``: SM4-GCM key (16 bytes) of the citizen ID number at rest;
- ``totp_encryption``: SM4-GCM key of TOTP secrets at rest (they must be recoverable);
- ``code_mac``: HMAC-SM3 key of SMS one-time codes (stored as a MAC, never in clear);
- ``session_mac``: HMAC-SM3 key of the interim person session cookie (``identity.web_session``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from trust.config import Settings
from trust.crypto import hmac_sm3
from trust.errors import Misconfigured

__all__ = ["IdentityKeys"]

_MASTER_BYTES: Final = 32
_PLACEHOLDERS: Final = frozenset(
    {bytes(_MASTER_BYTES), bytes.fromhex("00112233445566778899aabbccddeeff" * 2)}
)


@dataclass(frozen=True, slots=True, repr=False)
class IdentityKeys:
    id_lookup: bytes
    id_encryption: bytes
    totp_encryption: bytes
    code_mac: bytes
    session_mac: bytes

    @classmethod
    def derive(cls, master: bytes) -> IdentityKeys:
        if len(master) != _MASTER_BYTES:
            raise Misconfigured("master key must be 32 bytes", code="identity.master_key_invalid")

        def label(name: str) -> bytes:
            return hmac_sm3(master, f"ywtb-trust/identity/{name}/v1".encode("ascii"))

        return cls(
            id_lookup=label("id-lookup"),
            id_encryption=label("id-encryption")[:16],
            totp_encryption=label("totp-encryption")[:16],
            code_mac=label("code-mac"),
            session_mac=label("session-mac"),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> IdentityKeys:
        """From ``settings.master_key`` or, if unset, the master key file (the keystore has
        already refused a file with loose permissions when the app started)."""
        if settings.master_key is not None:
            text, source = settings.master_key.get_secret_value(), "settings"
        else:
            path = settings.resolved_master_key_file
            try:
                text, source = path.read_text(encoding="ascii"), f"file {path}"
            except (OSError, UnicodeError):
                raise Misconfigured(
                    f"no readable master key at {path}", code="identity.master_key_missing"
                ) from None
        value = text.strip()
        try:
            master = bytes.fromhex(value)
        except ValueError:
            raise Misconfigured(
                f"master key from {source} is not hex", code="identity.master_key_invalid"
            ) from None
        if settings.environment == "production" and master in _PLACEHOLDERS:
            raise Misconfigured(
                "the master key is a well-known placeholder", code="identity.master_key_invalid"
            )
        return cls.derive(master)

    def __repr__(self) -> str:
        return "<IdentityKeys (hidden)>"

    __str__ = __repr__
