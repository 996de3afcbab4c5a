"""Fixtures shared by the seal unit tests."""

from __future__ import annotations

import pytest

from seals.appearance import render_seal, round_seal


@pytest.fixture(scope="module")
def seal_png(cjk_font: object) -> bytes:
    """A drawn round seal (needs a CJK font: ``cjk_font`` skips or fails without one)."""
    return render_seal(round_seal("某某市行政审批服务局", "行政审批专用章")).png
