"""Fixtures for the crypto facade: every test that uses ``sm2_backend`` runs once per backend.

A backend is skipped only when it is truly unusable here (``skip_or_fail``: under
``TRUST_REQUIRE_ALL=1`` that is a failure).
"""

from __future__ import annotations

import shutil

import pytest
from asn1crypto import pem

from tests.conftest import shared_path, skip_or_fail
from trust.crypto import backend
from trust.crypto.backend import BACKEND_NAMES, BackendName, SM2Backend
from trust.errors import Misconfigured


def vector(*parts: str) -> bytes:
    """Bytes of a file under ../shared/vectors."""
    return shared_path("vectors", *parts).read_bytes()


def vector_der(*parts: str) -> bytes:
    """A PEM file under ../shared/vectors, unarmored to DER."""
    _kind, _headers, der = pem.unarmor(vector(*parts))
    return bytes(der)


def require_backend(name: BackendName) -> SM2Backend:
    try:
        return backend.load_backend(name)
    except Misconfigured as exc:
        skip_or_fail(f"SM2 backend {name} unavailable: {exc.detail}")
        raise  # unreachable: skip_or_fail raises


@pytest.fixture(params=BACKEND_NAMES)
def sm2_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> BackendName:
    """Make ``request.param`` the active backend for one test; restore the previous one."""
    name: BackendName = request.param
    require_backend(name)
    monkeypatch.setattr(backend, "_active", backend._active)  # restored after the test
    assert backend.configure(name).name == name
    return name


@pytest.fixture
def other_backend(sm2_backend: BackendName) -> SM2Backend:
    """The backend that is not active (for cross-checks)."""
    other = next(n for n in BACKEND_NAMES if n != sm2_backend)
    return require_backend(other)


@pytest.fixture
def openssl_cli() -> str:
    path = shutil.which("openssl")
    if path is None:
        skip_or_fail("openssl command line not installed")
    assert path is not None
    return path
