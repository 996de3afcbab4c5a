"""Fixtures for the channel/logout work on a real database: keystore, OIDC context, a person
with SSO sessions at two portals."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from identity.keying import IdentityKeys
from identity.oidc_service_context import OidcContext
from identity.oidc_settings import load_oidc_settings
from keys.jwks import jwks_for
from keys.software import SoftwareKeyStore
from trust.config import Settings

ISSUER = "http://127.0.0.1:8000"


@pytest.fixture
def keystore(settings: Settings) -> SoftwareKeyStore:
    return SoftwareKeyStore.from_settings(settings)


@pytest.fixture
def ctx(settings: Settings, keys: IdentityKeys) -> OidcContext:
    return OidcContext(load_oidc_settings(settings, environ={}, overrides={"issuer": ISSUER}), keys)


@pytest.fixture
def jwks_of(keystore: SoftwareKeyStore, db: sessionmaker[Session]) -> Any:
    def read() -> dict[str, Any]:
        with db() as s:
            return jwks_for(keystore=keystore, session=s)

    return read


# The live app (uvicorn on loopback) and the scripted user agent of the OIDC core's tests.
from tests.integration.identity.oidc.conftest import live, person, sim  # noqa: E402, F401
