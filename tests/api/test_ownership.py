"""Layout §5.3: start-up refuses when a generic package name is not ours."""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import importlib.util
from pathlib import Path

import pytest

from trust.errors import Misconfigured
from trust.web import app as app_module


def test_our_packages_are_ours() -> None:
    app_module.check_package_ownership()


def test_a_package_claimed_by_another_distribution_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    claims = {"identity": ["identity"], "trust": ["ywtb-trust"]}
    monkeypatch.setattr(importlib.metadata, "packages_distributions", lambda: claims)
    with pytest.raises(Misconfigured) as err:
        app_module.check_package_ownership()
    assert err.value.code == "startup.package_not_ours"
    assert "identity" in err.value.detail


def test_our_own_distribution_name_is_accepted_in_any_spelling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    claims = {"keys": ["ywtb_trust"], "seals": ["YWTB-Trust"]}
    monkeypatch.setattr(importlib.metadata, "packages_distributions", lambda: claims)
    app_module.check_package_ownership()


def test_a_package_resolving_elsewhere_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = importlib.util.find_spec
    elsewhere = tmp_path / "site-packages" / "seals" / "__init__.py"

    def find_spec(name: str, package: str | None = None) -> importlib.machinery.ModuleSpec | None:
        if name == "seals":
            return importlib.machinery.ModuleSpec("seals", None, origin=str(elsewhere))
        return real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(Misconfigured) as err:
        app_module.check_package_ownership()
    assert "seals" in err.value.detail
