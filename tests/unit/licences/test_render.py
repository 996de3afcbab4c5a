"""The licence PDF: Chinese text extracted by poppler, the page rendered and looked at, the QR
read back from the rendered page by zxing-cpp (an independent decoder), the seal area empty,
and the fallback font on a machine without a usable CJK font file."""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from PIL import Image

from licences import render
from licences.codes import format_code, new_code
from licences.envelope import (
    EnvelopeStatus,
    StatusReference,
    decode_el1,
    encode_el1_url,
    sign_envelope,
    verify_envelope,
)
from licences.errors import LicenceFontUnavailable, LicenceRenderError
from licences.render import (
    STANDARD_CJK_FONT,
    LicenceDocument,
    RenderedLicence,
    make_qr,
    render_licence_pdf,
)
from tests.conftest import skip_or_fail
from tests.unit.licences._support import (
    HOLDER_NAME,
    ISSUER_CODE,
    issuer_key,
    kid_of,
    typical_payload,
)
from trust.errors import Unavailable

DPI = 200
CODE = "7KQ4M2XA9PHTD3WT"


#: A status reference as issued: the issuer's 12th list, the largest index.
STATUS_REF = StatusReference(f"{ISSUER_CODE}-12", 131_071)


@functools.cache
def _qr_text(with_status: bool = True) -> str:
    key = issuer_key()
    payload = typical_payload(status=STATUS_REF if with_status else None)
    cose = sign_envelope(payload, kid=kid_of(key), sign=key.sign)
    return encode_el1_url(cose, "zwfw.hunan.gov.cn")


def _document(**changes: object) -> LicenceDocument:
    payload = typical_payload()
    doc = LicenceDocument(
        licence_name="建筑业企业资质证书",
        licence_number=payload.licence_number,
        holder_name=HOLDER_NAME,
        face_fields=(
            ("统一社会信用代码", "91430100MA4L0ABC2X"),
            ("法定代表人", "王某某"),
            ("注册地址", "湖南省长沙市岳麓区麓谷街道某某路188号"),
            ("经济性质", "有限责任公司（自然人投资或控股）"),
            (
                "资质类别及等级",
                "建筑工程施工总承包贰级；市政公用工程施工总承包叁级；建筑装修装饰工程专业承包贰级",
            ),
        ),
        issuer_name="湖南省住房和城乡建设厅",
        issued_on=payload.issued_on,
        valid_from=payload.valid_from,
        valid_until=payload.valid_until,
        identifier=payload.identifier,
        qr_text=_qr_text(),
        verification_code=CODE,
    )
    return replace(doc, **changes)  # type: ignore[arg-type]


@functools.cache
def _rendered() -> RenderedLicence:
    return render_licence_pdf(_document())


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"{name} (poppler-utils) not installed")
    return path  # type: ignore[return-value]


def _pdftotext(pdf: bytes, tmp_path: Path) -> str:
    (tmp_path / "licence.pdf").write_bytes(pdf)
    out = subprocess.run(
        [_tool("pdftotext"), "-layout", "licence.pdf", "-"],
        cwd=tmp_path, capture_output=True, check=True,
    )  # fmt: skip
    return out.stdout.decode("utf-8")


def _page_image(pdf: bytes, tmp_path: Path) -> Image.Image:
    (tmp_path / "licence.pdf").write_bytes(pdf)
    subprocess.run(
        [_tool("pdftoppm"), "-r", str(DPI), "-png", "-singlefile", "licence.pdf", "page"],
        cwd=tmp_path, capture_output=True, check=True,
    )  # fmt: skip
    return Image.open(tmp_path / "page.png").convert("L")


def _zxing() -> object:
    try:
        import zxingcpp
    except ImportError:
        skip_or_fail("zxing-cpp not installed")
    return zxingcpp


def _expected_texts(doc: LicenceDocument) -> list[str]:
    return [
        doc.licence_name,
        doc.licence_number,
        doc.holder_name,
        "法定代表人",
        "王某某",
        "湖南省住房和城乡建设厅",
        "2026年3月2日至2031年3月1日",
        format_code(doc.verification_code),  # 7KQ4-M2XA-9PHT-D3WT
        doc.identifier,
    ]


def test_embedded_font_and_text(tmp_path: Path) -> None:
    rendered = _rendered()
    assert rendered.pdf.startswith(b"%PDF-")
    assert rendered.font_embedded
    assert b"/FontFile2" in rendered.pdf  # the TrueType subset is in the file
    text = _pdftotext(rendered.pdf, tmp_path)
    for expected in _expected_texts(_document()):
        assert expected in text.replace(" ", "") or expected in text, expected


def test_qr_read_back_from_the_rendered_page_equals_the_payload(tmp_path: Path) -> None:
    zxingcpp = _zxing()
    page = _page_image(_rendered().pdf, tmp_path)
    assert page.size == (round(210 / 25.4 * DPI), round(297 / 25.4 * DPI))
    results = zxingcpp.read_barcodes(page)  # type: ignore[attr-defined]
    assert len(results) == 1
    assert results[0].text == _qr_text()
    assert results[0].ec_level == "Q"
    envelope = decode_el1(results[0].text)
    trusted = {kid_of(issuer_key()): issuer_key().public_key()}
    verdict = verify_envelope(envelope, trusted, datetime(2026, 11, 22, tzinfo=UTC))
    assert verdict.status is EnvelopeStatus.VALID
    assert verdict.payload == typical_payload(status=STATUS_REF)


def test_seal_area_is_empty_and_where_reported(tmp_path: Path) -> None:
    rendered = _rendered()
    seal = rendered.seal
    assert seal.page == 0
    assert (seal.width_mm, seal.height_mm) == (46.0, 46.0)
    assert seal.x_mm > 0
    assert seal.x_mm + seal.width_mm < 200
    assert seal.y_mm > 150
    assert seal.y_mm + seal.height_mm < 285
    page = _page_image(rendered.pdf, tmp_path)
    px = DPI / 25.4
    inset = 6.0  # the corner marks are 5 mm long
    box = (
        round((seal.x_mm + inset) * px),
        round((seal.y_mm + inset) * px),
        round((seal.x_mm + seal.width_mm - inset) * px),
        round((seal.y_mm + seal.height_mm - inset) * px),
    )
    assert page.crop(box).getextrema() == (255, 255)  # nothing printed inside
    corner = page.crop((round(seal.x_mm * px) - 2, round(seal.y_mm * px) - 2,
                        round((seal.x_mm + 5) * px), round((seal.y_mm + 5) * px)))  # fmt: skip
    assert corner.getextrema()[0] < 200  # the corner mark is there
    page.save(tmp_path / "licence.png")  # kept for looking at with --basetemp


def test_fallback_font_without_a_font_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_font(*_args: object, **_kwargs: object) -> object:
        raise Unavailable("no CJK font", code="seal.no_cjk_font")

    monkeypatch.setattr(render, "find_cjk_font", no_font)
    doc = _document(holder_name="长沙市某某建材贸易有限公司")
    rendered = render_licence_pdf(doc)
    assert not rendered.font_embedded
    assert rendered.font_name == STANDARD_CJK_FONT
    assert b"/FontFile" not in rendered.pdf
    text = _pdftotext(rendered.pdf, tmp_path)
    for expected in _expected_texts(doc):
        assert expected in text.replace(" ", "") or expected in text, expected
    forced = render_licence_pdf(_document(), embed_font=False)
    assert forced.font_name == STANDARD_CJK_FONT


def test_fallback_page_still_scans(tmp_path: Path) -> None:
    zxingcpp = _zxing()
    page = _page_image(render_licence_pdf(_document(), embed_font=False).pdf, tmp_path)
    assert [r.text for r in zxingcpp.read_barcodes(page)] == [_qr_text()]  # type: ignore[attr-defined]


def test_configured_font(tmp_path: Path) -> None:
    with pytest.raises(LicenceFontUnavailable):
        render_licence_pdf(_document(), font_path=tmp_path / "missing.ttf")
    try:
        found = render.find_cjk_font()
    except Unavailable:
        skip_or_fail("no system CJK font to configure explicitly")
    rendered = render_licence_pdf(_document(), font_path=found.path)
    assert rendered.font_embedded


def test_deterministic_output() -> None:
    doc = _document(verification_code=new_code())
    assert render_licence_pdf(doc).pdf == render_licence_pdf(doc).pdf


def test_renders_do_not_leak_fonts() -> None:
    from reportlab.pdfbase import pdfmetrics

    before = set(pdfmetrics.getRegisteredFontNames())
    render_licence_pdf(_document(holder_name="株洲市某某物流有限公司"))
    assert set(pdfmetrics.getRegisteredFontNames()) <= before | {STANDARD_CJK_FONT}


def test_long_values_wrap_and_too_much_is_refused() -> None:
    long_scope = "房屋建筑工程施工；" * 12
    rendered = render_licence_pdf(_document(face_fields=(("经营范围", long_scope),)))
    assert rendered.pdf.startswith(b"%PDF-")
    with pytest.raises(LicenceRenderError) as err:
        render_licence_pdf(_document(face_fields=(("经营范围", long_scope * 8),)))
    assert err.value.code == "licence.render.too_long"


@pytest.mark.parametrize(
    "changes",
    [
        {"holder_name": ""},
        {"licence_name": "证\x00照"},
        {"verification_code": "7KQ4-M2XA"},
        {"face_fields": (("", "x"),)},
        {"issued_on": date(2026, 1, 1), "licence_number": "x" * 3000},
    ],
)
def test_bad_documents(changes: dict[str, object]) -> None:
    with pytest.raises(LicenceRenderError):
        render_licence_pdf(_document(**changes))


def test_make_qr_modes_and_versions() -> None:
    url = make_qr(_qr_text(), "Q")
    assert url.error_level == "Q"
    assert url.size == 17 + 4 * url.version
    # Alphanumeric + one byte-mode "#" + alphanumeric beats byte mode for the whole URL.
    import qrcode

    whole = qrcode.QRCode(error_correction=qrcode.ERROR_CORRECT_Q)
    whole.add_data(qrcode.util.QRData(_qr_text().encode(), mode=qrcode.util.MODE_8BIT_BYTE))
    whole.make(fit=True)
    assert url.version < whole.version
    assert render._MODE_ALNUM == qrcode.util.MODE_ALPHA_NUM
    assert render._MODE_BYTE == qrcode.util.MODE_8BIT_BYTE
    with pytest.raises(LicenceRenderError):
        make_qr("A" * 5000, "H")


def test_status_reference_fits_the_printed_qr() -> None:
    """Issue 5: the printed QR carries a status reference (claim 11) if it fits the spec §9.3
    limits: for a typical licence it costs no QR version at EC Q, and stays within version 19
    (the largest size the spec plans for, 93×93) and the renderer's 0.33 mm module floor."""
    with_ref, without = make_qr(_qr_text(True), "Q"), make_qr(_qr_text(False), "Q")
    assert with_ref.version == without.version
    assert with_ref.version <= 19
    key = issuer_key()
    envelope = decode_el1(_qr_text(True))
    checked = verify_envelope(
        envelope, {kid_of(key): key.public_key()}, datetime(2026, 11, 22, tzinfo=UTC)
    )
    assert checked.payload is not None
    assert checked.payload.status == STATUS_REF
