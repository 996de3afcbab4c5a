"""The licence document as PDF (版式文件), with the EL1 QR, the 核验码 and a seal area.

GB/T 36905 asks for an OFD file; this renders the PDF rendition that the seals service stamps
(``seals.stamping``) — an OFD writer is separate. One A4 page shows 证照名称, 证照编号, 持证主体,
the face fields (照面信息), 有效期限, 颁发机关 and 发证日期, the GB/T 36904 identifier, the QR of
the URL form (EC level Q on paper, 4-module quiet zone, spec §9.3) with the 核验码 in four groups
under it (spec §9.3 "print the 核验码 under the QR"), and an empty, corner-marked area where the
issuing department's seal goes. ``RenderedLicence.seal`` gives that area (page 0, mm, origin at
the page's top-left corner, y downwards), the convention of ``seals.stamping.Placement``.

Fonts: reportlab embeds only TrueType outlines, and the CJK fonts on a typical server (Noto CJK)
are CFF-flavoured OpenType collections. The font found by ``seals.fonts.find_cjk_font`` (or a
configured path) is therefore subset with fontTools to the characters of the document and its
CFF outlines are converted to TrueType quadratics (cu2qu) in memory; that subset is embedded.
Where no font file is usable (none installed, or fontTools missing), the standard non-embedded
CJK font ``STSong-Light`` (Adobe-GB1) is used, so a fresh machine still makes readable
documents; ``RenderedLicence.font_embedded`` says which happened. A configured font that is
unusable is an error, not a silent fallback.
"""

from __future__ import annotations

import functools
import io
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final, Literal

import qrcode
from qrcode.util import QRData
from reportlab.lib.colors import Color, black, white
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont as ReportlabTTFont
from reportlab.pdfgen.canvas import Canvas

from licences.errors import LicenceFontUnavailable, LicenceRenderError
from seals.fonts import CjkFont, FontStyle, find_cjk_font
from trust.crypto import sm3
from trust.errors import Unavailable

__all__ = [
    "QR_ALPHANUMERIC",
    "STANDARD_CJK_FONT",
    "LicenceDocument",
    "QrSymbol",
    "RenderedLicence",
    "SealPlacement",
    "make_qr",
    "render_licence_pdf",
]

STANDARD_CJK_FONT: Final = "STSong-Light"
#: Characters of the QR alphanumeric mode (ISO/IEC 18004 §7.4.4).
QR_ALPHANUMERIC: Final = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
_MM: Final = 72.0 / 25.4  # points per millimetre
_PAGE_W_MM: Final = 210.0
_PAGE_H_MM: Final = 297.0
_QR_BOX_MM: Final = 44.0  # including the 4-module quiet zone
_MIN_MODULE_MM: Final = 0.33  # below this, phone cameras struggle with a printed QR
_SEAL_MM: Final = 46.0  # a 42 mm 公章 (党政机关公文格式 practice) with a margin
_TABLE_BOTTOM_MM: Final = 192.0
_MAX_TEXT: Final = 2000  # characters of any one field
_LABEL: Final = Color(0.35, 0.35, 0.35)
_FRAME: Final = Color(0.55, 0.42, 0.18)
_MARK: Final = Color(0.6, 0.6, 0.6)
# reportlab keeps registered fonts in a process-wide table; register, draw, save and
# unregister under one lock so concurrent renders never see each other's subsets.
_REGISTRY_LOCK: Final = threading.Lock()
# ISO/IEC 18004 mode indicators, as qrcode.util.MODE_ALPHA_NUM / MODE_8BIT_BYTE (typed literals).
_MODE_ALNUM: Final = 2
_MODE_BYTE: Final = 4
ErrorLevel = Literal["L", "M", "Q", "H"]
_EC: Final = {
    "L": qrcode.ERROR_CORRECT_L,
    "M": qrcode.ERROR_CORRECT_M,
    "Q": qrcode.ERROR_CORRECT_Q,
    "H": qrcode.ERROR_CORRECT_H,
}


@dataclass(frozen=True, slots=True)
class LicenceDocument:
    licence_name: str  # 证照名称
    licence_number: str  # 证照编号
    holder_name: str  # 持证主体 (in full: this is the face of the licence)
    face_fields: tuple[tuple[str, str], ...]  # 照面信息 (label, value)
    issuer_name: str  # 颁发机关
    issued_on: date  # 发证日期
    valid_from: date
    valid_until: date | None  # None = 长期
    identifier: str  # GB/T 36904 电子证照标识
    qr_text: str  # the EL1 URL form (or ``EL1:`` text)
    verification_code: str  # 核验码, 16 characters (grouped when printed)


@dataclass(frozen=True, slots=True)
class SealPlacement:
    """Where to stamp: page (0-based) and box in mm from the page's top-left, y downwards."""

    page: int
    x_mm: float
    y_mm: float
    width_mm: float
    height_mm: float


@dataclass(frozen=True, slots=True)
class QrSymbol:
    version: int
    error_level: str
    modules: tuple[tuple[bool, ...], ...]  # without quiet zone

    @property
    def size(self) -> int:
        return len(self.modules)


@dataclass(frozen=True, slots=True)
class RenderedLicence:
    pdf: bytes
    seal: SealPlacement
    qr: QrSymbol
    font_name: str  # PostScript name of the embedded face, or STANDARD_CJK_FONT
    font_embedded: bool


# --------------------------------------------------------------------------- QR


def _segments(text: str) -> list[tuple[str, bool]]:
    """Maximal runs of alphanumeric-mode characters (True) and of other characters (byte mode)."""
    runs: list[tuple[str, bool]] = []
    for ch in text:
        alnum = ch in QR_ALPHANUMERIC
        if runs and runs[-1][1] == alnum:
            runs[-1] = (runs[-1][0] + ch, alnum)
        else:
            runs.append((ch, alnum))
    return runs


def make_qr(text: str, error_level: ErrorLevel = "Q") -> QrSymbol:
    """The smallest QR for ``text`` at ``error_level``, alphanumeric mode wherever possible
    (the URL form becomes alphanumeric + one byte-mode ``#`` + alphanumeric, spec §9.1)."""
    if error_level not in _EC:
        raise LicenceRenderError(f"QR error level {error_level!r} is not L, M, Q or H")
    qr = qrcode.QRCode(error_correction=_EC[error_level], border=0)
    for chunk, alnum in _segments(text):
        data = chunk.encode("utf-8")
        qr.add_data(QRData(data, mode=_MODE_ALNUM if alnum else _MODE_BYTE))
    try:
        qr.make(fit=True)
    except Exception:  # qrcode raises DataOverflowError / ValueError beyond version 40
        raise LicenceRenderError(
            "the QR text does not fit version 40", code="licence.render.qr_too_large"
        ) from None
    modules = tuple(tuple(bool(m) for m in row) for row in qr.modules)
    return QrSymbol(int(qr.version), error_level, modules)


# --------------------------------------------------------------------------- fonts


def _regular_face(font: CjkFont) -> CjkFont:
    """Body text in the Regular weight when the found face is a Bold with a Regular sibling."""
    sibling = font.path.with_name(font.path.name.replace("-Bold", "-Regular"))
    if sibling != font.path and sibling.is_file():
        return CjkFont(path=sibling, index=font.index, family=font.family)
    return font


def _to_truetype(face: Any) -> None:
    """Replace CFF outlines by TrueType quadratic outlines (cu2qu), in place."""
    # fontTools ships no type information; it is imported lazily because it is optional.
    from fontTools.pens.cu2quPen import Cu2QuPen  # type: ignore[import-untyped]
    from fontTools.pens.ttGlyphPen import TTGlyphPen  # type: ignore[import-untyped]
    from fontTools.ttLib import newTable  # type: ignore[import-untyped]

    order = face.getGlyphOrder()
    glyph_set = face.getGlyphSet()
    glyphs = {}
    for name in order:
        pen = TTGlyphPen(None)
        glyph_set[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
        glyphs[name] = pen.glyph()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = glyphs
    face["glyf"] = glyf
    face["loca"] = newTable("loca")
    for tag in ("CFF ", "VORG"):
        if tag in face:
            del face[tag]
    maxp = newTable("maxp")
    maxp.tableVersion = 0x00010000
    maxp.numGlyphs = len(order)
    for attr in (
        "maxZones",
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
    ):
        setattr(maxp, attr, 1 if attr == "maxZones" else 0)
    face["maxp"] = maxp
    face["head"].glyphDataFormat = 0
    face["post"].formatType = 3.0
    face.sfntVersion = "\x00\x01\x00\x00"


@functools.lru_cache(maxsize=16)
def _embeddable_subset(path: str, index: int, chars: str) -> tuple[bytes, str, str]:
    """(TrueType bytes, unique PostScript name, characters the font lacks) for ``chars``."""
    from fontTools import subset  # type: ignore[import-untyped]
    from fontTools.ttLib import TTFont  # (untyped; reported once per module by mypy)

    with TTFont(path, fontNumber=index, lazy=True) as face:  # closes the font file
        cmap = face.getBestCmap()
        missing = "".join(ch for ch in chars if ord(ch) not in cmap and not ch.isspace())
        options = subset.Options()
        options.layout_features = []
        options.name_IDs = [1, 2, 3, 4, 6]
        options.hinting = False
        options.notdef_outline = True
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=chars)
        subsetter.subset(face)
        if "glyf" not in face:
            _to_truetype(face)
        base = face["name"].getDebugName(6) or "CJK"
        unique = f"{base[:40]}-EL{sm3((path + chars).encode('utf-8')).hex()[:10]}"
        for record in face["name"].names:
            if record.nameID == 6:
                record.string = unique
        out = io.BytesIO()
        face.save(out)
        return out.getvalue(), unique, missing


def _standard_font() -> str:
    if STANDARD_CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(STANDARD_CJK_FONT))
    return STANDARD_CJK_FONT


def _embedded_font(configured: str | Path | None, chars: str) -> tuple[ReportlabTTFont, str] | None:
    """A reportlab TTFont for a subset of the system/configured font, or None to fall back."""
    try:
        found = find_cjk_font(configured, style=FontStyle.SERIF)
    except Unavailable:
        if configured is not None:
            raise LicenceFontUnavailable(f"licence font {configured!r} is unusable") from None
        return None
    face = found if configured is not None else _regular_face(found)
    try:
        data, name, missing = _embeddable_subset(str(face.path), face.index, chars)
    except ImportError:  # fontTools not installed: a fresh machine falls back
        if configured is not None:
            raise LicenceFontUnavailable("fontTools is needed to embed a font") from None
        return None
    if missing:
        raise LicenceRenderError(
            f"the licence font has no glyphs for {missing!r}", code="licence.render.missing_glyph"
        )
    return ReportlabTTFont(name, io.BytesIO(data)), name


# --------------------------------------------------------------------------- layout


def _check_document(doc: LicenceDocument) -> None:
    texts = [doc.licence_name, doc.licence_number, doc.holder_name, doc.issuer_name]
    texts += [doc.identifier, doc.qr_text, doc.verification_code]
    for label, value in doc.face_fields:
        texts += [label, value]
    if any(not isinstance(t, str) or not t or len(t) > _MAX_TEXT for t in texts):
        raise LicenceRenderError(f"every text must be 1…{_MAX_TEXT} characters")
    if any(ord(ch) < 0x20 for t in texts for ch in t):
        raise LicenceRenderError("control characters cannot be printed")
    if len(doc.verification_code) != 16:
        raise LicenceRenderError("核验码 must be 16 characters (normalised)")


def _cn_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _validity(doc: LicenceDocument) -> str:
    if doc.valid_until is None:
        return f"{_cn_date(doc.valid_from)}起长期有效"
    return f"{_cn_date(doc.valid_from)}至{_cn_date(doc.valid_until)}"


def _grouped_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, 16, 4))


def _rows(doc: LicenceDocument) -> list[tuple[str, str]]:
    return [
        ("持证主体", doc.holder_name),
        *doc.face_fields,
        ("有效期限", _validity(doc)),
        ("颁发机关", doc.issuer_name),
    ]


def _all_text(doc: LicenceDocument) -> str:
    parts = [doc.licence_name, f"证照编号：{doc.licence_number}", "电子证照标识：", doc.identifier]
    parts += [f"{a}{b}" for a, b in _rows(doc)]
    parts += [_cn_date(doc.issued_on), "核验码"]
    parts += [_grouped_code(doc.verification_code), "0123456789年月日至起长期有效："]
    return "".join(sorted(set("".join(parts))))


class _Page:
    """Drawing in mm with the origin at the top-left corner, y downwards."""

    def __init__(self, canvas: Canvas, font: str) -> None:
        self.c = canvas
        self.font = font

    def text(self, x: float, y: float, s: str, size: float, *, align: str = "left") -> None:
        self.c.setFont(self.font, size)
        y_pt = (_PAGE_H_MM - y) * _MM
        if align == "centre":
            self.c.drawCentredString(x * _MM, y_pt, s)
        elif align == "right":
            self.c.drawRightString(x * _MM, y_pt, s)
        else:
            self.c.drawString(x * _MM, y_pt, s)

    def width(self, s: str, size: float) -> float:
        return float(pdfmetrics.stringWidth(s, self.font, size)) / _MM

    def wrap(self, s: str, size: float, width_mm: float) -> list[str]:
        """Greedy line breaking at any character (CJK text has no spaces to break at)."""
        lines, line = [], ""
        for ch in s:
            if line and self.width(line + ch, size) > width_mm:
                lines.append(line)
                line = ""
            line += ch
        return [*lines, line]

    def rect(self, x: float, y: float, w: float, h: float, **kw: Any) -> None:
        self.c.rect(x * _MM, (_PAGE_H_MM - y - h) * _MM, w * _MM, h * _MM, **kw)


def _draw_frame(page: _Page) -> None:
    page.c.setStrokeColor(_FRAME)
    page.c.setLineWidth(1.6)
    page.rect(10, 10, _PAGE_W_MM - 20, _PAGE_H_MM - 20, stroke=1, fill=0)
    page.c.setLineWidth(0.5)
    page.rect(12.5, 12.5, _PAGE_W_MM - 25, _PAGE_H_MM - 25, stroke=1, fill=0)


def _draw_table(page: _Page, doc: LicenceDocument) -> None:
    rows = _rows(doc)
    left, right, gap, size, leading = 28.0, 182.0, 6.0, 12.0, 7.0
    label_w = min(max(24.0, *(page.width(label, size) for label, _ in rows)), 52.0)
    value_x = left + label_w + gap
    y = 66.0
    for label, value in rows:
        label_lines = page.wrap(label, size, label_w)
        value_lines = page.wrap(value, size, right - value_x)
        if y + leading * (max(len(label_lines), len(value_lines)) - 1) > _TABLE_BOTTOM_MM:
            raise LicenceRenderError(
                "the face fields do not fit on one page", code="licence.render.too_long"
            )
        page.c.setFillColor(_LABEL)
        for i, line in enumerate(label_lines):
            page.text(left, y + leading * i, line, size)
        page.c.setFillColor(black)
        for i, line in enumerate(value_lines):
            page.text(value_x, y + leading * i, line, size)
        y += leading * max(len(label_lines), len(value_lines)) + 3.5


def _draw_qr(page: _Page, qr: QrSymbol, x: float, y: float) -> None:
    module = _QR_BOX_MM / (qr.size + 8)
    if module < _MIN_MODULE_MM:
        raise LicenceRenderError(
            f"QR version {qr.version} is too dense to print in {_QR_BOX_MM} mm",
            code="licence.render.qr_too_large",
        )
    page.c.setFillColor(white)
    page.rect(x, y, _QR_BOX_MM, _QR_BOX_MM, stroke=0, fill=1)
    page.c.setFillColor(black)
    for r, row in enumerate(qr.modules):
        for col, dark in enumerate(row):
            if dark:
                # Slight overlap so anti-aliased rasterisers leave no hairlines between modules.
                x0, y0 = x + (col + 4) * module, y + (r + 4) * module
                page.rect(x0, y0, module * 1.02, module * 1.02, stroke=0, fill=1)


def _draw_seal_area(page: _Page, x: float, y: float) -> None:
    """Corner marks only: the area stays empty for the seal."""
    page.c.setStrokeColor(_MARK)
    page.c.setLineWidth(0.6)
    arm = 5.0
    for cx, dx in ((x, 1), (x + _SEAL_MM, -1)):
        for cy, dy in ((y, 1), (y + _SEAL_MM, -1)):
            x_pt, y_pt = cx * _MM, (_PAGE_H_MM - cy) * _MM
            page.c.line(x_pt, y_pt, x_pt + dx * arm * _MM, y_pt)
            page.c.line(x_pt, y_pt, x_pt, y_pt - dy * arm * _MM)


def _draw(page: _Page, doc: LicenceDocument, qr: QrSymbol) -> SealPlacement:
    _draw_frame(page)
    page.c.setFillColor(black)
    page.text(_PAGE_W_MM / 2, 42, doc.licence_name, 26, align="centre")
    page.text(_PAGE_W_MM / 2, 53, f"证照编号：{doc.licence_number}", 11, align="centre")
    _draw_table(page, doc)
    qr_x, qr_y = 26.0, 204.0
    _draw_qr(page, qr, qr_x, qr_y)
    page.text(qr_x + _QR_BOX_MM / 2, qr_y + _QR_BOX_MM + 5, "核验码", 9, align="centre")
    code = _grouped_code(doc.verification_code)
    page.text(qr_x + _QR_BOX_MM / 2, qr_y + _QR_BOX_MM + 11, code, 12, align="centre")
    seal_x, seal_y = 136.0, 198.0
    _draw_seal_area(page, seal_x, seal_y)
    right = seal_x + _SEAL_MM
    page.text(right, seal_y + _SEAL_MM + 7, doc.issuer_name, 11, align="right")
    page.text(right, seal_y + _SEAL_MM + 14, _cn_date(doc.issued_on), 11, align="right")
    page.c.setFillColor(_LABEL)
    lines = page.wrap(f"电子证照标识：{doc.identifier}", 7.5, _PAGE_W_MM - 52)
    for i, line in enumerate(lines[:2]):
        page.text(26, 277 + 4 * i, line, 7.5)
    return SealPlacement(0, seal_x, seal_y, _SEAL_MM, _SEAL_MM)


def render_licence_pdf(
    document: LicenceDocument,
    *,
    font_path: str | Path | None = None,
    embed_font: bool = True,
    qr_error_level: ErrorLevel = "Q",
) -> RenderedLicence:
    """One A4 page of PDF. ``font_path`` names a .ttf/.otf/.ttc to embed (it must work);
    without it a system CJK font is embedded when one is found, else ``STSong-Light`` is used.
    ``embed_font=False`` forces ``STSong-Light``. Deterministic output (reportlab invariant)."""
    _check_document(document)
    qr = make_qr(document.qr_text, qr_error_level)
    with _REGISTRY_LOCK:
        embedded = _embedded_font(font_path, _all_text(document)) if embed_font else None
        if embedded is None:
            name = _standard_font()
        else:
            ttf, name = embedded
            pdfmetrics.registerFont(ttf)
        try:
            buf = io.BytesIO()
            canvas = Canvas(
                buf,
                pagesize=(_PAGE_W_MM * _MM, _PAGE_H_MM * _MM),
                invariant=1,
                # No stray non-embedded Helvetica; types-reportlab wrongly declares a float here.
                initialFontName=name,  # type: ignore[arg-type]
            )
            canvas.setTitle(document.licence_name)
            canvas.setAuthor(document.issuer_name)
            canvas.setSubject(document.identifier)
            seal = _draw(_Page(canvas, name), document, qr)
            canvas.showPage()
            canvas.save()
        finally:
            if embedded is not None:
                _unregister(name)
    return RenderedLicence(buf.getvalue(), seal, qr, name, embedded is not None)


def _unregister(name: str) -> None:
    # reportlab has no public unregister; without this every subset would stay in memory.
    registry: dict[str, Any] = getattr(pdfmetrics, "_fonts")  # noqa: B009 - private, untyped
    faces: dict[str, Any] = getattr(pdfmetrics, "_dynFaceNames")  # noqa: B009
    registry.pop(name, None)
    faces.pop(name, None)
