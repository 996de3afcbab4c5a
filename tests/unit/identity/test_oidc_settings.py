"""The one lifetime model: defaults written out, environment overrides, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from identity.oidc_settings import load_oidc_settings
from trust.config import load_settings
from trust.errors import Misconfigured


def _settings(tmp_path: Path, **over: object):  # type: ignore[no-untyped-def]
    return load_settings(environ={}, overrides={"data_dir": tmp_path, **over})


def test_defaults(tmp_path: Path) -> None:
    s = load_oidc_settings(_settings(tmp_path), environ={})
    assert s.issuer == "http://127.0.0.1:8000"
    assert s.secure_cookies is False
    assert (s.code_seconds, s.access_token_seconds, s.id_token_seconds) == (60, 600, 600)
    assert (s.refresh_idle_seconds, s.refresh_absolute_seconds) == (43200, 604800)
    assert (s.session_idle_seconds, s.session_absolute_seconds) == (7200, 43200)
    assert s.refresh_grace_seconds == 10
    assert s.acr_elevated_seconds == 1800
    assert s.clock_skew_seconds == 60  # from Settings.clock_skew_seconds


def test_https_issuer_sets_secure_cookies_and_env_overrides(tmp_path: Path) -> None:
    s = load_oidc_settings(
        _settings(tmp_path, public_base_url="https://id.example/"),
        environ={"TRUST_OIDC_ACCESS_TOKEN_SECONDS": "300"},
    )
    assert s.issuer == "https://id.example"
    assert s.secure_cookies is True
    assert s.access_token_seconds == 300


@pytest.mark.parametrize(
    "env",
    [
        {"TRUST_OIDC_REFRESH_IDLE_SECONDS": "999999999"},  # idle above absolute
        {"TRUST_OIDC_SESSION_IDLE_SECONDS": "86400"},
        {"TRUST_OIDC_CODE_SECONDS": "3600"},
        {"TRUST_OIDC_ACCESS_TOKEN_SECONDS": "ten"},
    ],
)
def test_refusals(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(Misconfigured):
        load_oidc_settings(_settings(tmp_path), environ=env)
