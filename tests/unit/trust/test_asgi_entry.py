"""The server entry (``trust.web.asgi:app``) applies the process-wide GIL switch interval."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from trust.config import Settings
from trust.web import asgi


@pytest.fixture
def restore_switch_interval() -> object:
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


def test_the_entry_sets_the_configured_switch_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_switch_interval: object
) -> None:
    monkeypatch.setenv("TRUST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRUST_MASTER_KEY", "00" * 32)
    monkeypatch.setenv("TRUST_GIL_SWITCH_INTERVAL_MS", "2.5")
    monkeypatch.delenv("TRUST_CONFIG", raising=False)
    monkeypatch.delenv("TRUST_DATABASE_URL", raising=False)
    sys.setswitchinterval(0.005)
    asgi.app()
    assert sys.getswitchinterval() == pytest.approx(0.0025)


def test_the_default_is_half_a_millisecond_and_nonsense_is_refused() -> None:
    assert Settings().gil_switch_interval_ms == 0.5
    for bad in (0, -1, 1000):
        with pytest.raises(ValidationError):
            Settings(gil_switch_interval_ms=bad)


@pytest.mark.parametrize("enabled", [False, True])
def test_fastapi_telemetry_asks_the_providers_only_when_turned_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    from opentelemetry import trace

    from tests.api._support import TestClient
    from trust.web.app import create_app

    asked: list[object] = []
    original = trace.get_tracer_provider

    def counting() -> object:
        asked.append(None)
        return original()

    monkeypatch.setattr(trace, "get_tracer_provider", counting)
    settings = Settings(data_dir=tmp_path, master_key="00" * 32, opentelemetry=enabled)
    with TestClient(create_app(settings)) as client:
        asked.clear()
        assert client.get("/healthz").status_code == 200
    assert bool(asked) is enabled
