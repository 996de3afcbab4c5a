"""Seal pictures (seals/appearance.py, seals/fonts.py): size, colour, layout, bounds."""

from __future__ import annotations

import io
import math
import time

import pytest
from PIL import Image

from seals.appearance import (
    SEAL_RED,
    SealDesign,
    SealShape,
    oval_seal,
    png_physical_size_mm,
    render_seal,
    round_seal,
    square_seal,
)
from seals.fonts import FontStyle, find_cjk_font, missing_glyphs
from trust.errors import InvalidInput, TrustError, Unavailable

NAME = "某某市行政审批服务局"
TYPE = "行政审批专用章"


pytestmark = pytest.mark.usefixtures("cjk_font")  # every test here draws with a CJK font


def _rgba(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.mode == "RGBA"
    return image


def _ink(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    """Number of pixels with any ink (alpha > 0) inside ``box``."""
    alpha = image.getchannel("A").crop(box).tobytes()
    return sum(1 for v in alpha if v > 64)


def _alpha(image: Image.Image, xy: tuple[int, int]) -> int:
    return image.getchannel("A").tobytes()[xy[1] * image.width + xy[0]]


def _ink_in_annulus(image: Image.Image, r0: float, r1: float, upper: bool) -> int:
    w, h = image.size
    cx, cy = w / 2, h / 2
    raw = image.getchannel("A").tobytes()
    count = 0
    for y in range(0, h // 2) if upper else range(h // 2, h):
        for x in range(w):
            if r0 <= math.hypot(x + 0.5 - cx, y + 0.5 - cy) / (w / 2) <= r1 and raw[y * w + x] > 64:
                count += 1
    return count


@pytest.mark.parametrize(
    ("design", "dpi", "size"),
    [
        (round_seal(NAME, TYPE, diameter_mm=42), 300, (496, 496)),
        (round_seal(NAME, TYPE, diameter_mm=38), 150, (224, 224)),
        (oval_seal("某某科技有限公司", "发票专用章", serial="91320100MA1XYZ1234"), 300, (472, 354)),
        (square_seal("张三"), 600, (472, 472)),
    ],
)
def test_pixel_size_and_physical_size_follow_mm_and_dpi(
    design: SealDesign, dpi: int, size: tuple[int, int]
) -> None:
    seal = render_seal(design, dpi=dpi)
    image = _rgba(seal.png)
    assert image.size == size == (seal.width_px, seal.height_px)
    assert image.info["dpi"] == pytest.approx((dpi, dpi), abs=0.05)  # pHYs: whole px per metre
    width_mm, height_mm = png_physical_size_mm(seal.png)
    assert width_mm == pytest.approx(design.width_mm, abs=0.1)
    assert height_mm == pytest.approx(design.height_mm, abs=0.1)


def test_round_seal_is_red_ink_on_transparent_background() -> None:
    image = _rgba(render_seal(round_seal(NAME, TYPE)).png)
    raw = image.tobytes()
    pixels = [tuple(raw[i : i + 4]) for i in range(0, len(raw), 4)]
    inked = [p for p in pixels if p[3] > 0]
    assert {p[:3] for p in inked} == {SEAL_RED}  # one colour; edges differ only in alpha
    assert max(p[3] for p in inked) == round(255 * 0.92)  # slight transparency inside strokes
    assert 0.08 < len(inked) / len(pixels) < 0.5  # mostly transparent
    w, h = image.size
    for corner in [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)]:
        assert image.getpixel(corner) == (*SEAL_RED, 0)


def test_round_seal_layout_star_ring_arc_text_and_type_line() -> None:
    image = _rgba(render_seal(round_seal(NAME, TYPE)).png)
    d = image.width
    c = d // 2
    assert _alpha(image, (c, c)) > 200  # the star covers the centre
    assert _alpha(image, (c, d // 2 - round(d * 0.165) + 4)) > 200  # upper star point
    assert _alpha(image, (2 + round(d * 0.013), c)) > 200  # the ring, left
    # name along the upper arc: ink in the band between the ring and the star, on both sides
    arc = _ink_in_annulus(image, 0.55, 0.9, upper=True)
    assert arc > 0.15 * (math.pi * (0.9**2 - 0.55**2) / 2) * (d / 2) ** 2
    assert _ink(image, (0, round(d * 0.2), round(d * 0.2), c)) > 500  # left end of the arc
    assert _ink(image, (d - round(d * 0.2), round(d * 0.2), d, c)) > 500  # right end
    # seal type: a horizontal line of ink below the star, clear of the ring
    line = (round(d * 0.25), round(d * 0.72), round(d * 0.75), round(d * 0.81))
    assert _ink(image, line) > 2000


def test_arc_band_changes_with_the_name_and_type_line_with_the_type() -> None:
    a = _rgba(render_seal(round_seal(NAME, TYPE)).png)
    b = _rgba(render_seal(round_seal("另一个单位名称", TYPE)).png)
    c = _rgba(render_seal(round_seal(NAME, "合同专用章")).png)
    d = a.width
    upper = (0, 0, d, d // 2 - round(d * 0.17))
    assert a.crop(upper).tobytes() != b.crop(upper).tobytes()
    assert a.crop(upper).tobytes() == c.crop(upper).tobytes()  # type does not touch the arc
    line = (0, round(d * 0.7), d, round(d * 0.83))
    assert a.crop(line).tobytes() != c.crop(line).tobytes()


def test_rendering_is_deterministic() -> None:
    design = round_seal(NAME, TYPE, serial="3201000012345")
    assert render_seal(design).png == render_seal(design).png


def test_oval_seal_has_arc_name_middle_number_and_type() -> None:
    seal = render_seal(oval_seal("某某科技有限公司", "发票专用章", serial="91320100MA1XYZ1234"))
    image = _rgba(seal.png)
    w, h = image.size
    assert _ink(image, (round(w * 0.2), round(h * 0.08), round(w * 0.8), round(h * 0.3))) > 2000
    assert _ink(image, (round(w * 0.2), round(h * 0.5), round(w * 0.8), round(h * 0.62))) > 1500
    assert _ink(image, (round(w * 0.3), round(h * 0.7), round(w * 0.7), round(h * 0.84))) > 1500
    assert _alpha(image, (w // 2, h // 2 - round(h * 0.12))) == 0  # no star in an oval


def test_square_seal_fills_a_2x2_grid_or_a_row() -> None:
    image = _rgba(render_seal(square_seal("张三")).png)  # 张三之印
    s = image.width
    inner = round(s * 0.12)
    half = s // 2
    for box in [
        (inner, inner, half, half),
        (half, inner, s - inner, half),
        (inner, half, half, s - inner),
        (half, half, s - inner, s - inner),
    ]:
        assert _ink(image, box) > 300
    row = _rgba(render_seal(square_seal("欧阳修", add_yin=False)).png)
    third = (s - 2 * inner) // 3
    for k in range(3):
        assert _ink(row, (inner + k * third, inner, inner + (k + 1) * third, s - inner)) > 300


@pytest.mark.parametrize(
    ("design", "dpi", "code"),
    [
        (round_seal(""), 300, "seal.bad_design"),
        (round_seal("某" * 41), 300, "seal.bad_design"),
        (round_seal(NAME, "专" * 13), 300, "seal.bad_design"),
        (round_seal("某某\n单位"), 300, "seal.bad_design"),
        (round_seal(" 某某单位"), 300, "seal.bad_design"),
        (round_seal(NAME, diameter_mm=5), 300, "seal.bad_size"),
        (round_seal(NAME, diameter_mm=150), 300, "seal.bad_size"),
        (round_seal(NAME), 2400, "seal.bad_size"),
        (round_seal(NAME, diameter_mm=100), 1200, "seal.bad_size"),  # 4724 px > 4000
        (SealDesign(SealShape.ROUND, NAME, width_mm=40, height_mm=30), 300, "seal.bad_size"),
        (oval_seal(NAME, width_mm=30, height_mm=40), 300, "seal.bad_size"),
        (square_seal("张"), 300, "seal.bad_design"),
        (square_seal("张三李四王"), 300, "seal.bad_design"),
        (round_seal("某某单位\U0001f600"), 300, "seal.glyph_missing"),
    ],
)
def test_bad_designs_are_refused(design: SealDesign, dpi: int, code: str) -> None:
    with pytest.raises(InvalidInput) as info:
        render_seal(design, dpi=dpi)
    assert info.value.code == code


@pytest.mark.slow
def test_largest_allowed_seal_renders_in_bounded_time() -> None:
    start = time.monotonic()
    seal = render_seal(round_seal("某" * 40, "专" * 12, serial="9" * 24, diameter_mm=100), dpi=1000)
    assert seal.width_px == 3937
    assert time.monotonic() - start < 30


def test_configured_font_must_exist_and_draw_hanzi() -> None:
    with pytest.raises(Unavailable) as info:
        find_cjk_font("/nonexistent/font.ttf")
    assert info.value.code == "seal.no_cjk_font"
    assert "fonts-noto-cjk" in info.value.detail
    with pytest.raises(Unavailable):
        find_cjk_font("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Latin only
    with pytest.raises(Unavailable):
        render_seal(round_seal(NAME), font_path="/nonexistent/font.ttf")


def test_font_discovery_prefers_simplified_chinese_face() -> None:
    font = find_cjk_font(style=FontStyle.SERIF)
    assert "CJK" not in font.family or font.family.endswith("SC")
    assert missing_glyphs(font, NAME + TYPE + "0123456789ABC") == ""
    assert missing_glyphs(font, "\U0001f600") == "\U0001f600"


def test_png_physical_size_requires_phys() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (10, 10)).save(out, "PNG")
    with pytest.raises(InvalidInput):
        png_physical_size_mm(out.getvalue())
    with pytest.raises(TrustError):
        png_physical_size_mm(b"not a png")
