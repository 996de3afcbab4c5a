"""Fixtures of the archive tests: a fresh valid case folder, the test trust anchors, the LoC
``bagit`` library (required: CI installs it; absent locally it skips, or fails under
``TRUST_REQUIRE_ALL=1``)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import ModuleType

import pytest

from seals.verification import AnchorListEvaluator
from tests.conftest import skip_or_fail
from tests.unit.archive.case_factory import CaseFolder, materials, write_case


@pytest.fixture
def case_folder(tmp_path: Path) -> CaseFolder:
    return write_case(tmp_path / "case")


@pytest.fixture(scope="session")
def trust() -> AnchorListEvaluator:
    return AnchorListEvaluator(materials().anchors)


@pytest.fixture
def bagit(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The LoC ``bagit`` module with SM3 registered (earchive spec §9 workaround); the
    registration is undone after the test."""
    try:
        import bagit as module  # type: ignore[import-untyped]
    except ImportError:
        skip_or_fail("the Library of Congress 'bagit' package is not installed")
        raise
    if "sm3" not in hashlib.algorithms_available:
        skip_or_fail("hashlib has no SM3 (OpenSSL build without it)")
    monkeypatch.setattr(
        module, "CHECKSUM_ALGOS", set(hashlib.algorithms_guaranteed) | {"sm3"}, raising=True
    )
    loaded: ModuleType = module
    return loaded
