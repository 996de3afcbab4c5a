"""``create_app`` wiring and the uvicorn entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api._support import TestClient
from trust.config import Settings
from trust.web import asgi
from trust.web.app import create_app
from trust.web.routes import ROUTER_MODULES, load_routers


def test_state_holds_the_collaborators(settings: Settings) -> None:
    app = create_app(settings)
    for name in ("settings", "session_factory", "clock", "keystore", "bearer_verifiers"):
        assert getattr(app.state, name) is not None
    assert app.state.settings is settings
    assert settings.data_dir.is_dir()


def test_every_router_module_must_import() -> None:
    """A missing or broken router module stops the start-up: a capability silently absent
    from the app would be a broken installation that still answers."""
    assert load_routers(("trust.web.routes.health",))
    with pytest.raises(ModuleNotFoundError):
        load_routers(("trust.web.routes.health", "trust.web.routes.not_written"))
    with pytest.raises(ModuleNotFoundError):
        load_routers(("tests.api._broken_router_module",))
    assert ROUTER_MODULES[:3] == (
        "trust.web.routes.health",
        "trust.web.routes.pages",
        "trust.web.routes.principals",
    )
    assert len(load_routers()) == len(ROUTER_MODULES)


def test_asgi_factory_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRUST_ENVIRONMENT", "test")
    monkeypatch.setenv("TRUST_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TRUST_MASTER_KEY", "00112233445566778899aabbccddeeff" * 2)
    monkeypatch.delenv("TRUST_DATABASE_URL", raising=False)
    monkeypatch.delenv("TRUST_CONFIG", raising=False)
    app = asgi.app()
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
    assert app.state.settings.data_dir == tmp_path / "var"
