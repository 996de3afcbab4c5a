"""Finding a CJK font (seals/fonts.py) on machines laid out differently, and failing clearly on
a machine without one (a fresh clone on a bare system)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from seals import fonts
from seals.appearance import render_seal, round_seal
from seals.fonts import CjkFont, find_cjk_font
from trust.errors import Unavailable


@pytest.fixture
def clean_cache() -> Iterator[None]:
    fonts._cached_find.cache_clear()
    yield
    fonts._cached_find.cache_clear()


@pytest.mark.usefixtures("clean_cache")
def test_without_any_cjk_font_drawing_fails_with_a_clear_code(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(fonts, "_SERIF_CANDIDATES", (tmp_path / "absent.ttc",))
    monkeypatch.setattr(fonts, "_SANS_CANDIDATES", ())
    with pytest.raises(Unavailable) as info:
        find_cjk_font()
    assert info.value.code == "seal.no_cjk_font"
    assert "fonts-noto-cjk" in info.value.detail
    with pytest.raises(Unavailable) as drawn:
        render_seal(round_seal("某某市行政审批服务局", "行政审批专用章"))
    assert drawn.value.code == "seal.no_cjk_font"


@pytest.mark.usefixtures("clean_cache")
def test_a_font_in_a_later_location_is_found(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cjk_font: CjkFont
) -> None:
    # A macOS-like layout: nothing where Debian keeps fonts, PingFang among the sans faces.
    mac = tmp_path / "System" / "Library" / "Fonts"
    mac.mkdir(parents=True)
    (mac / "PingFang.ttc").symlink_to(cjk_font.path)
    monkeypatch.setattr(fonts, "_SERIF_CANDIDATES", (tmp_path / "Songti.ttc",))
    monkeypatch.setattr(fonts, "_SANS_CANDIDATES", (tmp_path / "msyh.ttc", mac / "PingFang.ttc"))
    found = find_cjk_font()
    assert found.path == mac / "PingFang.ttc"
    assert found.family == cjk_font.family
    assert render_seal(round_seal("某某市行政审批服务局", "行政审批专用章")).png


def test_macos_windows_and_other_debian_locations_are_searched() -> None:
    names = {p.name for p in (*fonts._SERIF_CANDIDATES, *fonts._SANS_CANDIDATES)}
    assert {"Songti.ttc", "PingFang.ttc", "STHeiti Medium.ttc"} <= names  # macOS
    assert {"simsun.ttc", "msyh.ttc", "simhei.ttf"} <= names  # Windows
    assert {"uming.ttc", "gbsn00lp.ttf", "wqy-zenhei.ttc", "DroidSansFallbackFull.ttf"} <= names
