"""Backend selection: auto prefers the system OpenSSL, falls back to tongsuopy, and refuses to
start with a clear message when neither works."""

from __future__ import annotations

import pytest

from tests.unit.crypto.conftest import require_backend
from trust.crypto import backend
from trust.crypto.backend import BACKEND_NAMES, BackendInfo, SM2Backend
from trust.errors import Misconfigured


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing configured, nothing cached (restored after the test)."""
    monkeypatch.setattr(backend, "_active", None)
    monkeypatch.setattr(backend, "_loaded", {})


def _broken(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    real = backend._construct

    def construct(name: backend.BackendName) -> SM2Backend:
        if name in names:
            raise OSError(f"simulated: {name} library missing")
        return real(name)

    monkeypatch.setattr(backend, "_construct", construct)


def test_both_backends_are_present_here() -> None:
    for name in BACKEND_NAMES:
        info = require_backend(name).info
        assert isinstance(info, BackendInfo)
        assert info.name == name
        assert info.version_text
        assert info.library_path
    assert require_backend("openssl").info.version_text.startswith("OpenSSL 3.")
    assert require_backend("tongsuopy").info.version_text.startswith("tongsuopy ")


@pytest.mark.usefixtures("fresh")
def test_auto_prefers_openssl() -> None:
    require_backend("openssl")
    assert backend.configure("auto").name == "openssl"
    assert backend.active().info.name == "openssl"


@pytest.mark.usefixtures("fresh")
def test_active_configures_auto_lazily() -> None:
    require_backend("openssl")
    assert backend._active is None
    assert backend.active().info.name == "openssl"


@pytest.mark.usefixtures("fresh")
def test_auto_falls_back_to_tongsuopy(monkeypatch: pytest.MonkeyPatch) -> None:
    require_backend("tongsuopy")
    _broken(monkeypatch, "openssl")
    assert backend.configure("auto").name == "tongsuopy"
    with pytest.raises(Misconfigured, match="simulated: openssl"):
        backend.configure("openssl")
    available = backend.available_backends()
    assert isinstance(available["openssl"], Misconfigured)
    assert isinstance(available["tongsuopy"], BackendInfo)


@pytest.mark.usefixtures("fresh")
def test_neither_backend_names_both_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    _broken(monkeypatch, "openssl", "tongsuopy")
    with pytest.raises(Misconfigured) as info:
        backend.configure("auto")
    assert "'openssl'" in info.value.detail
    assert "'tongsuopy'" in info.value.detail
    assert "simulated" in info.value.detail
    with pytest.raises(Misconfigured):
        backend.active()


@pytest.mark.usefixtures("fresh")
def test_backend_failing_the_known_answer_test_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = require_backend("openssl")

    class Lying:
        """Delegates everything but claims every signature is invalid."""

        info = real.info

        def load_public_key(self, spki_der: bytes) -> object:
            class Handle:
                def verify(self, data: bytes, der_signature: bytes, user_id: bytes) -> bool:
                    return False

            return Handle()

        def load_private_key(self, pkcs8_der: bytes) -> object:
            return real.load_private_key(pkcs8_der)

        def generate_private_key(self) -> object:
            return real.generate_private_key()

    monkeypatch.setattr(backend, "_loaded", {})  # forget the real one loaded above
    monkeypatch.setattr(backend, "_construct", lambda name: Lying())
    with pytest.raises(Misconfigured, match="known-answer"):
        backend.load_backend("openssl")


def test_unknown_name_is_refused() -> None:
    with pytest.raises(Misconfigured):
        backend.load_backend("gmssl")  # type: ignore[arg-type]
