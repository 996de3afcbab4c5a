"""Finding a CJK font for drawing seal pictures (seals/appearance.py).

Order: an explicitly configured path; otherwise the usual locations of a 宋体-like serif (the look
of a 公章: Noto Serif CJK on Debian/Fedora/Arch, AR PL SungtiL GB / UMing, macOS Songti, Windows
SimSun), then sans faces (Noto Sans CJK, WenQuanYi, Droid Sans Fallback, PingFang, STHeiti,
Microsoft YaHei, SimHei); the ``SANS`` style reverses the two groups. Inside a TrueType/OpenType
collection the Simplified-Chinese face is preferred. Nothing is downloaded; if no font is found
the caller gets ``Unavailable`` (code ``seal.no_cjk_font``) with an install hint.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from PIL import ImageFont

from trust.errors import InvalidInput, Unavailable

__all__ = [
    "CjkFont",
    "FontStyle",
    "find_cjk_font",
    "load_font",
    "missing_glyphs",
]

_NOTO: Final = Path("/usr/share/fonts/opentype/noto")  # Debian fonts-noto-cjk(-extra)
_ARPHIC: Final = Path("/usr/share/fonts/truetype/arphic")  # Debian fonts-arphic-uming / ukai
_MAC: Final = Path("/System/Library/Fonts")
_MAC_SUPPLEMENTAL: Final = _MAC / "Supplemental"
_WINDOWS: Final = Path(os.environ.get("WINDIR") or "C:/Windows") / "Fonts"
_SERIF_CANDIDATES: Final = (
    # Linux: Noto Serif CJK in the Debian, Fedora and Arch layouts
    _NOTO / "NotoSerifCJK-Bold.ttc",
    _NOTO / "NotoSerifCJK-Regular.ttc",
    _NOTO / "NotoSerifCJK-SemiBold.ttc",
    _NOTO / "NotoSerifCJK-Medium.ttc",
    _NOTO / "NotoSerifCJKsc-Bold.otf",
    _NOTO / "NotoSerifCJKsc-Regular.otf",
    Path("/usr/share/fonts/google-noto-serif-cjk-fonts/NotoSerifCJK-Bold.ttc"),
    Path("/usr/share/fonts/google-noto-serif-cjk-fonts/NotoSerifCJK-Regular.ttc"),
    Path("/usr/share/fonts/google-noto-serif-cjk-vf-fonts/NotoSerifCJK-VF.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSerifCJK-Bold.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSerifCJK-Regular.ttc"),
    # Debian: AR PL SungtiL GB (fonts-arphic-gbsn00lp), AR PL UMing (fonts-arphic-uming)
    Path("/usr/share/fonts/truetype/arphic-gbsn00lp/gbsn00lp.ttf"),
    _ARPHIC / "uming.ttc",
    # macOS: Songti SC / STSong
    _MAC_SUPPLEMENTAL / "Songti.ttc",
    Path("/Library/Fonts/Songti.ttc"),
    # Windows: SimSun / NSimSun
    _WINDOWS / "simsun.ttc",
    _WINDOWS / "simsunb.ttf",
    # Kaiti last: readable, but not the look of a seal
    Path("/usr/share/fonts/truetype/arphic-gkai00mp/gkai00mp.ttf"),
    _ARPHIC / "ukai.ttc",
    _WINDOWS / "simkai.ttf",
)
_SANS_CANDIDATES: Final = (
    _NOTO / "NotoSansCJK-Bold.ttc",
    _NOTO / "NotoSansCJK-Regular.ttc",
    _NOTO / "NotoSansCJK-Medium.ttc",
    _NOTO / "NotoSansCJKsc-Regular.otf",
    Path("/usr/share/fonts/google-noto-sans-cjk-fonts/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/google-noto-sans-cjk-vf-fonts/NotoSansCJK-VF.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
    # Debian: WenQuanYi (fonts-wqy-zenhei / -microhei), Droid Sans Fallback (fonts-droid-fallback)
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
    # macOS: PingFang SC, STHeiti, Hiragino Sans GB
    _MAC / "PingFang.ttc",
    _MAC / "STHeiti Medium.ttc",
    _MAC / "STHeiti Light.ttc",
    _MAC / "Hiragino Sans GB.ttc",
    # Windows: Microsoft YaHei, SimHei
    _WINDOWS / "msyhbd.ttc",
    _WINDOWS / "msyh.ttc",
    _WINDOWS / "simhei.ttf",
)
_MAX_FACES: Final = 16  # faces probed inside one collection
_PROBE: Final = "国章"  # two common hanzi that every CJK face has
_NOT_A_CHAR: Final = "\uffff"  # never mapped: renders as the font's .notdef glyph

INSTALL_HINT: Final = (
    "no CJK font to draw seal pictures: install fonts-noto-cjk (Debian/Ubuntu; or "
    "fonts-arphic-uming, fonts-wqy-zenhei), google-noto-serif-cjk-fonts (Fedora), or configure "
    "the path of a .ttf/.otf/.ttc font with Simplified Chinese glyphs (macOS Songti/PingFang and "
    "Windows SimSun/Microsoft YaHei are found where they are installed by default)"
)


class FontStyle(StrEnum):
    SERIF = "serif"  # 宋体-like; the usual look of an official seal
    SANS = "sans"


@dataclass(frozen=True, slots=True)
class CjkFont:
    """A font file and the face index inside it (0 for a plain .ttf/.otf)."""

    path: Path
    index: int
    family: str


def _probe_face(path: Path, index: int) -> str | None:
    """The family name of face ``index`` if it draws hanzi, else None."""
    try:
        font = ImageFont.truetype(str(path), 32, index=index)
    except OSError:
        return None
    family = font.getname()[0] or ""
    if any(font.getmask(ch).getbbox() is None for ch in _PROBE):
        return None
    if _drawn_as_notdef(font, _PROBE[0]):
        return None
    return family


def _pick_face(path: Path) -> CjkFont | None:
    found: list[tuple[int, str]] = []
    for index in range(_MAX_FACES):
        try:
            ImageFont.truetype(str(path), 8, index=index)
        except OSError:
            break  # past the last face of the collection
        family = _probe_face(path, index)
        if family is not None:
            found.append((index, family))
    if not found:
        return None
    # Prefer the Simplified Chinese face of a pan-CJK collection (Noto "... CJK SC").
    for index, family in found:
        if family.endswith(" SC") or " SC " in family:
            return CjkFont(path=path, index=index, family=family)
    index, family = found[0]
    return CjkFont(path=path, index=index, family=family)


@functools.lru_cache(maxsize=8)
def _cached_find(configured: str | None, style: FontStyle) -> CjkFont:
    if configured is not None:
        path = Path(configured)
        face = _pick_face(path) if path.is_file() else None
        if face is None:
            raise Unavailable(
                f"configured seal font {configured!r} is missing or has no Chinese glyphs; "
                + INSTALL_HINT,
                code="seal.no_cjk_font",
            )
        return face
    order = _SERIF_CANDIDATES + _SANS_CANDIDATES
    if style is FontStyle.SANS:
        order = _SANS_CANDIDATES + _SERIF_CANDIDATES
    for path in order:
        if path.is_file():
            face = _pick_face(path)
            if face is not None:
                return face
    raise Unavailable(INSTALL_HINT, code="seal.no_cjk_font")


def find_cjk_font(
    configured: str | Path | None = None, *, style: FontStyle = FontStyle.SERIF
) -> CjkFont:
    """The configured font if given (it must exist and draw hanzi), else the first usable
    system font for ``style``. Raises ``Unavailable`` (code ``seal.no_cjk_font``)."""
    return _cached_find(None if configured is None else str(configured), style)


@functools.lru_cache(maxsize=64)
def load_font(font: CjkFont, size_px: int) -> ImageFont.FreeTypeFont:
    """A Pillow font object for ``font`` at ``size_px`` pixels per em (cached)."""
    if not 4 <= size_px <= 4096:
        raise InvalidInput(f"font size {size_px}px out of range", code="seal.bad_size")
    return ImageFont.truetype(str(font.path), size_px, index=font.index)


def _drawn_as_notdef(font: ImageFont.FreeTypeFont, ch: str) -> bool:
    return bytes(font.getmask(ch)) == bytes(font.getmask(_NOT_A_CHAR)) and font.getbbox(
        ch
    ) == font.getbbox(_NOT_A_CHAR)


def missing_glyphs(font: CjkFont, text: str) -> str:
    """The characters of ``text`` (spaces aside) that ``font`` would draw as a blank box."""
    face = load_font(font, 48)
    missing = [ch for ch in dict.fromkeys(text) if not ch.isspace() and _drawn_as_notdef(face, ch)]
    return "".join(missing)
