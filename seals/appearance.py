"""Seal pictures drawn when none is uploaded (issue 4 item 2; eseal spec §3.1 picture info).

Three forms, modelled on the usual look of Chinese official seals (the geometry follows common
practice for 公章 and is not taken from a normative text [recon]):

* round (公章 / 行政审批专用章): ring border, five-pointed star in the centre, the organisation's
  name along the upper arc (each character rotated to follow the arc, evenly spaced), the seal
  type as a horizontal line below the star, an optional code along the lower arc;
* oval (财务专用章 / 发票专用章): elliptical border, name along the upper arc, the code (e.g. the
  taxpayer identification number) as a middle line, the seal type below it;
* square (法定代表人名章): square border, the person's name in a 2x2 grid (read right column
  first; ``印`` / ``之印`` appended to fill it) or a single 1x2 / 1x3 row.

Output is a PNG: red ink (#E60012) on a fully transparent background, ink alpha ``opacity``,
anti-aliased by drawing at up to 4x and box-filtering down. The pHYs chunk carries the DPI, so the
physical size in millimetres is recoverable (``png_physical_size_mm``). Drawing is deterministic:
the same design, DPI, font and Pillow build give byte-identical PNGs.
"""

from __future__ import annotations

import io
import math
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from PIL import Image, ImageChops, ImageDraw, PngImagePlugin

from seals.fonts import CjkFont, find_cjk_font, load_font, missing_glyphs
from trust.errors import InvalidInput

__all__ = [
    "SEAL_RED",
    "SealDesign",
    "SealImage",
    "SealShape",
    "oval_seal",
    "png_physical_size_mm",
    "render_seal",
    "round_seal",
    "square_seal",
]

SEAL_RED: Final = (0xE6, 0x00, 0x12)
MM_PER_INCH: Final = 25.4
MIN_SIZE_MM: Final = 10.0
MAX_SIZE_MM: Final = 100.0
MIN_DPI: Final = 72
MAX_DPI: Final = 1200
MAX_PIXELS_PER_SIDE: Final = 4000
MAX_NAME_CHARS: Final = 40
MAX_TYPE_CHARS: Final = 12
MAX_SERIAL_CHARS: Final = 24
_WORK_LIMIT: Final = 4096  # longest side of the supersampled canvas
_MAX_SUPERSAMPLE: Final = 4
_TAU: Final = 2 * math.pi


class SealShape(StrEnum):
    ROUND = "round"
    OVAL = "oval"
    SQUARE = "square"


@dataclass(frozen=True, slots=True)
class SealDesign:
    """What to draw. ``name``: organisation (round, oval) or person (square);
    ``seal_type``: e.g. 行政审批专用章; ``serial``: round - lower arc, oval - middle line."""

    shape: SealShape
    name: str
    seal_type: str = ""
    serial: str = ""
    width_mm: float = 42.0
    height_mm: float = 42.0
    add_yin: bool = True  # square only: append 印 / 之印 to fill a 2x2 grid


@dataclass(frozen=True, slots=True)
class SealImage:
    png: bytes
    width_px: int
    height_px: int
    width_mm: float
    height_mm: float
    dpi: int


def round_seal(
    name: str, seal_type: str = "", *, serial: str = "", diameter_mm: float = 42.0
) -> SealDesign:
    return SealDesign(SealShape.ROUND, name, seal_type, serial, diameter_mm, diameter_mm)


def oval_seal(
    name: str,
    seal_type: str = "",
    *,
    serial: str = "",
    width_mm: float = 40.0,
    height_mm: float = 30.0,
) -> SealDesign:
    return SealDesign(SealShape.OVAL, name, seal_type, serial, width_mm, height_mm)


def square_seal(person_name: str, *, side_mm: float = 20.0, add_yin: bool = True) -> SealDesign:
    return SealDesign(SealShape.SQUARE, person_name, "", "", side_mm, side_mm, add_yin)


# --------------------------------------------------------------------------- validation


def _bad(detail: str, code: str = "seal.bad_design") -> InvalidInput:
    return InvalidInput(detail, code=code)


def _check_text(label: str, text: str, max_chars: int, *, required: bool) -> None:
    if not isinstance(text, str):
        raise _bad(f"{label} must be text")
    if required and not text.strip():
        raise _bad(f"{label} must not be empty")
    if len(text) > max_chars:
        raise _bad(f"{label} has {len(text)} characters; at most {max_chars} fit on a seal")
    if text != text.strip() or any(
        unicodedata.category(ch).startswith(("C", "Z")) and ch != " " for ch in text
    ):
        raise _bad(f"{label} contains control characters or stray whitespace")


def _check_design(design: SealDesign, dpi: int) -> tuple[int, int]:
    if not isinstance(dpi, int) or not MIN_DPI <= dpi <= MAX_DPI:
        raise _bad(f"dpi must be an integer in {MIN_DPI}..{MAX_DPI}", "seal.bad_size")
    for value in (design.width_mm, design.height_mm):
        if not (isinstance(value, int | float) and MIN_SIZE_MM <= value <= MAX_SIZE_MM):
            raise _bad(f"seal size must be {MIN_SIZE_MM}..{MAX_SIZE_MM} mm", "seal.bad_size")
    if design.shape is SealShape.SQUARE:
        if not 2 <= len(design.name) <= 4 or " " in design.name:
            raise _bad("a name seal holds 2 to 4 characters")
        _check_text("name", design.name, 4, required=True)
    else:
        _check_text("name", design.name, MAX_NAME_CHARS, required=True)
    _check_text("seal_type", design.seal_type, MAX_TYPE_CHARS, required=False)
    _check_text("serial", design.serial, MAX_SERIAL_CHARS, required=False)
    if design.shape is SealShape.ROUND and design.width_mm != design.height_mm:
        raise _bad("a round seal has equal width and height", "seal.bad_size")
    if design.shape is SealShape.OVAL and not design.width_mm > design.height_mm:
        raise _bad("an oval seal is wider than it is high", "seal.bad_size")
    width = round(design.width_mm / MM_PER_INCH * dpi)
    height = round(design.height_mm / MM_PER_INCH * dpi)
    if max(width, height) > MAX_PIXELS_PER_SIDE:
        raise _bad(f"seal would exceed {MAX_PIXELS_PER_SIDE} px per side", "seal.bad_size")
    return width, height


# --------------------------------------------------------------------------- glyph drawing


class _Ink:
    """A grayscale coverage canvas (255 = ink) with the project's glyph helpers."""

    def __init__(self, width: int, height: int, font: CjkFont) -> None:
        self.image = Image.new("L", (width, height), 0)
        self.draw = ImageDraw.Draw(self.image)
        self.font = font

    def glyph(self, ch: str, height: float, width: float) -> Image.Image:
        """``ch`` scaled so that its ink box is exactly ``width`` x ``height`` pixels, centred in
        a square tile (so that rotation about the tile centre is rotation about the glyph)."""
        em = max(8, round(height * 1.25))
        face = load_font(self.font, em)
        box = face.getbbox(ch)
        tile = Image.new("L", (round(box[2] - box[0]) + 2, round(box[3] - box[1]) + 2), 0)
        ImageDraw.Draw(tile).text((1 - box[0], 1 - box[1]), ch, fill=255, font=face)
        glyph = tile.resize((max(1, round(width)), max(1, round(height))), Image.Resampling.BICUBIC)
        side = math.ceil(math.hypot(glyph.width, glyph.height)) + 2
        square = Image.new("L", (side, side), 0)
        square.paste(glyph, ((side - glyph.width) // 2, (side - glyph.height) // 2))
        return square

    def stamp(self, tile: Image.Image, cx: float, cy: float, angle_deg: float = 0.0) -> None:
        """Combine ``tile`` (rotated ``angle_deg`` counter-clockwise) centred at (cx, cy)."""
        if angle_deg:
            tile = tile.rotate(angle_deg, resample=Image.Resampling.BICUBIC)
        left, top = round(cx - tile.width / 2), round(cy - tile.height / 2)
        region = self.image.crop((left, top, left + tile.width, top + tile.height))
        self.image.paste(ImageChops.lighter(region, tile), (left, top))

    def line(self, text: str, cx: float, cy: float, height: float, max_width: float) -> None:
        """Horizontal text centred at (cx, cy): condensed glyphs, shrunk to ``max_width``."""
        n = len(text)
        if n == 0:
            return
        char_w = min(height * 0.85, max_width / (n * 1.08))
        glyph_h = height if char_w >= height * 0.5 else char_w * 2
        pitch = char_w * 1.08
        for i, ch in enumerate(text):
            if ch != " ":
                x = cx + (i - (n - 1) / 2) * pitch
                self.stamp(self.glyph(ch, glyph_h * _glyph_scale(ch), char_w), x, cy)


def _glyph_scale(ch: str) -> float:
    """Latin letters and digits are drawn shorter than hanzi so they line up visually."""
    return 0.78 if ch.isascii() else 1.0


# --------------------------------------------------------------------------- shapes


def _star(ink: _Ink, cx: float, cy: float, radius: float) -> None:
    points = []
    for k in range(10):
        r = radius if k % 2 == 0 else radius * 0.381966  # regular pentagram: inner = R / phi^2
        a = math.pi / 2 + k * math.pi / 5
        points.append((cx + r * math.cos(a), cy - r * math.sin(a)))
    ink.draw.polygon(points, fill=255)


def _ring(ink: _Ink, box: tuple[float, float, float, float], width: float) -> None:
    ink.draw.ellipse(box, outline=255, width=max(1, round(width)))


def _arc_text(
    ink: _Ink,
    text: str,
    cx: float,
    cy: float,
    radius: float,
    height: float,
    *,
    max_span: float,
    bottom: bool = False,
) -> None:
    """Characters evenly spaced along a circular arc centred at the top (or the bottom) of the
    seal, each rotated so that its vertical axis points through the centre."""
    n = len(text)
    if n == 0:
        return
    # about 23 degrees per character, spread to 110 degrees for 4+ characters, never past max_span
    spread = min(math.radians(110), (n - 1) * math.radians(40))
    span = min(max_span, max(n * math.radians(23), spread)) if n > 1 else 0.0
    step = span / (n - 1) if n > 1 else 0.0
    for _ in range(40):  # shrink until neighbours clear each other at their inner edges
        width = height * 0.82 if n == 1 else min(height * 0.82, 0.85 * (radius - height) * step)
        if width >= height * 0.6:
            break
        height *= 0.95
    r_c = radius - height / 2
    for i, ch in enumerate(text):
        if bottom:  # read left to right along the lower arc, tops towards the centre
            phi = 1.5 * math.pi - span / 2 + i * step
            rotation = math.degrees(phi) - 270.0
        else:
            phi = math.pi / 2 + span / 2 - i * step
            rotation = math.degrees(phi) - 90.0
        x, y = cx + r_c * math.cos(phi), cy - r_c * math.sin(phi)
        if ch != " ":
            ink.stamp(ink.glyph(ch, height * _glyph_scale(ch), width), x, y, rotation)


def _draw_round(ink: _Ink, design: SealDesign) -> None:
    d = ink.image.width
    c = d / 2
    border = d * 1.2 / 42
    pad = d * 0.006
    _ring(ink, (pad, pad, d - pad, d - pad), border)
    _star(ink, c, c, d * 0.165)
    inner = c - pad - border
    name_h = d * 0.15
    _arc_text(ink, design.name, c, c, inner - d * 0.022, name_h, max_span=math.radians(250))
    if design.serial:
        _arc_text(
            ink,
            design.serial,
            c,
            c,
            inner - d * 0.02,
            d * 0.055,
            max_span=math.radians(80),
            bottom=True,
        )
    type_y = c + (d * 0.245 if design.serial else d * 0.265)
    chord = 2 * math.sqrt(max(0.0, (inner - d * 0.06) ** 2 - (type_y - c + d * 0.05) ** 2))
    ink.line(design.seal_type, c, type_y, d * (0.09 if design.serial else 0.1), chord)


@dataclass(frozen=True, slots=True)
class _Sample:
    t: float
    x: float
    y: float
    normal: float
    length: float


def _offset_ellipse(a: float, b: float, inset: float, samples: int = 2048) -> list[_Sample]:
    """Samples of the curve running ``inset`` inside the ellipse x = a cos t, y = b sin t (the
    true offset curve, not a smaller ellipse, so glyphs keep clear of the border where it bends
    sharply). ``length`` is measured along the curve ``2 * inset`` inside - the inner edge of
    the glyphs - so that spacing by it keeps neighbours apart where the curve bends."""
    out: list[_Sample] = []
    length = 0.0
    prev: tuple[float, float] | None = None
    for k in range(samples + 1):
        t = _TAU * k / samples
        normal = math.atan2(a * math.sin(t), b * math.cos(t))
        ex, ey = a * math.cos(t), b * math.sin(t)
        inner = (ex - 2 * inset * math.cos(normal), ey - 2 * inset * math.sin(normal))
        if prev is not None:
            length += math.dist(prev, inner)
        prev = inner
        x, y = ex - inset * math.cos(normal), ey - inset * math.sin(normal)
        out.append(_Sample(t, x, y, normal, length))
    return out


def _sample_at(table: list[_Sample], target: float) -> _Sample:
    lo, hi = 0, len(table) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if table[mid].length < target:
            lo = mid + 1
        else:
            hi = mid
    return table[lo]


def _ellipse_text(
    ink: _Ink, text: str, cx: float, cy: float, a: float, b: float, height: float
) -> None:
    """Characters evenly spaced by arc length along the upper part of an ellipse, centred at
    the top, each rotated to the border's normal at its position."""
    n = len(text)
    for _ in range(40):  # shrink until the characters fit the arc with sane proportions
        table = _offset_ellipse(a, b, height / 2)
        top = table[len(table) // 4].length  # t = pi/2
        half = table[round(len(table) * (0.25 + 95 / 360))].length - top
        pitch = min(height * 0.9, 2 * half / (n - 1)) if n > 1 else 0.0
        width = height * 0.8 if n == 1 else min(height * 0.8, pitch * 0.9)
        if width >= height * 0.6:
            break
        height *= 0.95
    for i, ch in enumerate(text):
        sample = _sample_at(table, top + ((n - 1) / 2 - i) * pitch)
        if ch != " ":
            tile = ink.glyph(ch, height * _glyph_scale(ch), width)
            ink.stamp(tile, cx + sample.x, cy - sample.y, math.degrees(sample.normal) - 90)


def _draw_oval(ink: _Ink, design: SealDesign) -> None:
    w, h = ink.image.size
    cx, cy = w / 2, h / 2
    border = h * 1.0 / 30
    pad = h * 0.008
    _ring(ink, (pad, pad, w - pad, h - pad), border)
    a, b = cx - pad - border - h * 0.025, cy - pad - border - h * 0.025
    _ellipse_text(ink, design.name, cx, cy, a, b, h * 0.15)
    ink.line(design.serial, cx, cy + h * 0.06, h * 0.1, w * 0.66)
    ink.line(design.seal_type, cx, cy + h * 0.27, h * 0.12, w * 0.42)


def _square_cells(name: str, add_yin: bool) -> tuple[str, int, int]:
    """(characters in drawing order, columns, rows); 2x2 reads right column first."""
    text = name
    if add_yin and len(text) == 3:
        text += "印"
    elif add_yin and len(text) == 2:
        text += "之印"
    if len(text) == 4:
        # right column top-down, then left column: cell order (col, row) = (1,0),(1,1),(0,0),(0,1)
        return text[2] + text[0] + text[3] + text[1], 2, 2
    return text, len(text), 1


def _draw_square(ink: _Ink, design: SealDesign) -> None:
    side = ink.image.width
    border = side * 0.06
    pad = side * 0.006
    ink.draw.rectangle((pad, pad, side - pad, side - pad), outline=255, width=max(1, round(border)))
    text, cols, rows = _square_cells(design.name, design.add_yin)
    inner = side - 2 * (pad + border) - side * 0.08
    origin = (side - inner) / 2
    cell_w, cell_h = inner / cols, inner / rows
    for k, ch in enumerate(text):
        col, row = k % cols, k // cols
        cx = origin + (col + 0.5) * cell_w
        cy = origin + (row + 0.5) * cell_h
        ink.stamp(ink.glyph(ch, cell_h * 0.9, cell_w * 0.9), cx, cy)


# --------------------------------------------------------------------------- output


def _to_png(coverage: Image.Image, design: SealDesign, dpi: int, opacity: float) -> bytes:
    alpha = coverage.point(lambda v: round(v * opacity))
    rgba = Image.new("RGBA", coverage.size, (*SEAL_RED, 0))
    rgba.putalpha(alpha)
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", f"seal {design.shape.value} {design.width_mm:g}x{design.height_mm:g} mm")
    out = io.BytesIO()
    rgba.save(out, "PNG", dpi=(dpi, dpi), pnginfo=info, optimize=False, compress_level=9)
    return out.getvalue()


def render_seal(
    design: SealDesign,
    *,
    dpi: int = 300,
    font_path: str | Path | None = None,
    opacity: float = 0.92,
) -> SealImage:
    """Draw ``design`` at ``dpi`` (42 mm at 300 dpi -> 496 px). ``font_path`` overrides font
    discovery (seals/fonts.py). ``opacity`` (0.5..1) is the ink alpha inside the strokes."""
    width, height = _check_design(design, dpi)
    if not (isinstance(opacity, int | float) and 0.5 <= opacity <= 1.0):
        raise _bad("opacity must lie in 0.5..1.0")
    font = find_cjk_font(font_path)
    missing = missing_glyphs(font, design.name + design.seal_type + design.serial)
    if missing:
        raise _bad(
            f"the seal font {font.family!r} has no glyph for {missing!r}", "seal.glyph_missing"
        )
    ss = max(1, min(_MAX_SUPERSAMPLE, _WORK_LIMIT // max(width, height)))
    ink = _Ink(width * ss, height * ss, font)
    {SealShape.ROUND: _draw_round, SealShape.OVAL: _draw_oval, SealShape.SQUARE: _draw_square}[
        design.shape
    ](ink, design)
    coverage = ink.image.resize((width, height), Image.Resampling.BOX)
    png = _to_png(coverage, design, dpi, opacity)
    return SealImage(png, width, height, float(design.width_mm), float(design.height_mm), dpi)


def png_physical_size_mm(png: bytes) -> tuple[float, float]:
    """(width, height) in millimetres from a PNG's pHYs chunk (unit: metre)."""
    try:
        with Image.open(io.BytesIO(png)) as image:
            if image.format != "PNG":
                raise _bad("not a PNG image", "seal.bad_image")
            dpi = image.info.get("dpi")
            size = image.size
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise _bad(f"unreadable PNG: {exc}", "seal.bad_image") from exc
    if not dpi or not dpi[0] or not dpi[1]:
        raise _bad("the PNG carries no physical size (pHYs chunk)", "seal.bad_image")
    return size[0] / float(dpi[0]) * MM_PER_INCH, size[1] / float(dpi[1]) * MM_PER_INCH
