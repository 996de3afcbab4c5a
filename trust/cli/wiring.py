"""Which implementations the CLI wires in (the web app does the same in ``trust.web.app``)."""

from __future__ import annotations

from keys.interfaces import KeyStore
from trust.config import Settings

__all__ = ["build_keystore"]


def build_keystore(settings: Settings) -> KeyStore:
    # Software keystore for now; a PKCS#11 / GM/T 0018 keystore plugs in here (keys/hsm.py).
    from keys.software import SoftwareKeyStore

    return SoftwareKeyStore.from_settings(settings)
