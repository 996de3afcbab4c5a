"""PDF stamping (seals/stamping.py): placement, rendering, pyHanko's view, incremental seals,
keyword and cross-page placement, the OpenSSL oracle, hostile input."""

from __future__ import annotations

import io
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import cms
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.status import SignatureCoverageLevel

from seals.appearance import render_seal, round_seal
from seals.fonts import find_cjk_font
from seals.pdf_verify import LaterChanges, PdfMalformed, PdfTooLarge, verify_pdf_signatures
from seals.stamping import KeywordPlacement, Placement, find_keyword, stamp_pdf
from tests.conftest import REPO_ROOT, skip_or_fail
from tests.unit.seals.pdf_fixtures import (
    A4,
    PT_PER_MM,
    TestSm2Signer,
    broken_xref,
    cms_of,
    content_bomb,
    garbage,
    make_pdf,
    make_test_signer,
    pdftotext_words,
    render_pages,
)
from trust.errors import Conflict, InvalidInput, TrustError, Unavailable

SIGNED_AT = datetime(2026, 11, 22, 8, 0, 0, tzinfo=UTC)
SEAL_MM = (42.0, 42.0)
DPI = 50
#: Rendered pages kept for a person to look at (gitignored): ``tests/artifacts/seal_pdf_*.png``.
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"


@pytest.fixture(scope="module")
def seal_png() -> bytes:
    try:
        find_cjk_font()
    except Unavailable as exc:
        skip_or_fail(str(exc))
    return render_seal(round_seal("某某市行政审批服务局", "行政审批专用章")).png


@pytest.fixture
def signer() -> TestSm2Signer:
    return make_test_signer()


@pytest.fixture(scope="module")
def poppler() -> None:
    for tool in ("pdftoppm", "pdftotext"):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} (poppler-utils) not installed")


Stamp = Callable[..., bytes]


@pytest.fixture
def stamp(signer: TestSm2Signer, seal_png: bytes) -> Stamp:
    def _stamp(pdf: bytes, placement: Placement | KeywordPlacement, **kw: object) -> bytes:
        args: dict[str, object] = {
            "signer": signer,
            "seal_image_png": seal_png,
            "seal_size_mm": SEAL_MM,
            "placement": placement,
            "signing_time": SIGNED_AT,
        }
        args.update(kw)
        return stamp_pdf(pdf, **args)  # type: ignore[arg-type]

    return _stamp


def _red_mask(png: Path) -> tuple[Image.Image, list[tuple[int, int]]]:
    image = Image.open(png).convert("RGB")
    raw = image.tobytes()
    red = []
    for i in range(0, len(raw), 3):
        r, g, b = raw[i], raw[i + 1], raw[i + 2]
        if r > 170 and g < 110 and b < 110:
            red.append(((i // 3) % image.width, (i // 3) // image.width))
    return image, red


def _px(mm: float) -> float:
    return mm / 25.4 * DPI


def _render(pdf: bytes, tmp_path: Path, name: str = "doc") -> list[Path]:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    return render_pages(path, tmp_path, DPI)


def _keep(page: Path, name: str) -> Path:
    """Copy a rendered page to ``tests/artifacts/`` (the test's own tmp dir is not kept)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    kept = ARTIFACTS / f"seal_pdf_{name}.png"
    shutil.copyfile(page, kept)
    return kept


# --------------------------------------------------------------------------- placement


@pytest.mark.usefixtures("poppler")
def test_seal_renders_inside_the_placed_rectangle_and_nowhere_else(
    stamp: Stamp, tmp_path: Path
) -> None:
    out = stamp(make_pdf(pages=2), Placement(page=0, x_mm=120, y_mm=200))
    page1, page2 = _render(out, tmp_path)
    _keep(page1, "placed_page1_x120_y200mm")
    _, red = _red_mask(page1)
    x0, y0 = _px(120), _px(200)  # top-left origin, as Placement documents
    x1, y1 = x0 + _px(42), y0 + _px(42)
    inside = [(x, y) for x, y in red if x0 - 1 <= x <= x1 + 1 and y0 - 1 <= y <= y1 + 1]
    assert len(inside) > 0.1 * _px(42) ** 2  # ring, star and text
    assert len(inside) == len(red)  # no red pixel outside the seal box
    xs, ys = [x for x, _ in red], [y for _, y in red]
    # the ring touches all four sides of the box
    assert (min(xs) <= x0 + 2, max(xs) >= x1 - 3) == (True, True)
    assert (min(ys) <= y0 + 2, max(ys) >= y1 - 3) == (True, True)
    assert _red_mask(page2)[1] == []


def test_pyhanko_sees_one_signature_covering_the_whole_file(stamp: Stamp) -> None:
    out = stamp(make_pdf(), Placement(0, 20, 20), field_name="审批章")
    reader = PdfFileReader(io.BytesIO(out))
    (sig,) = reader.embedded_signatures
    assert sig.field_name == "审批章"
    start, hole_start, hole_end, length = sig.byte_range
    assert start == 0
    assert hole_end + length == len(out)  # up to the last byte
    assert out[hole_start : hole_start + 1] == b"<"
    assert out[hole_end - 1 : hole_end] == b">"
    assert bytes.fromhex(out[hole_start + 1 : hole_end - 1].decode()) == sig.pkcs7_content
    assert sig.evaluate_signature_coverage() == SignatureCoverageLevel.ENTIRE_FILE
    assert sig.md_algorithm == "sm3"
    assert sig.signer_info["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    assert sig.sig_object["/SubFilter"] == "/adbe.pkcs7.detached"


def test_our_verifier_passes_and_reports_what_was_signed(
    stamp: Stamp, signer: TestSm2Signer
) -> None:
    out = stamp(make_pdf(), Placement(0, 20, 20), reason="审批通过", location="南京")
    result = verify_pdf_signatures(out)
    (check,) = result.signatures
    assert result.all_intact
    assert check.intact
    assert check.covers_whole_file
    assert check.later_changes is LaterChanges.NONE
    assert check.signature_encoding == "der"
    assert check.signing_time == SIGNED_AT
    assert check.signer_certificate == signer.chain[0]
    assert check.reasons == ()


def test_the_signer_signs_exactly_the_der_signed_attributes(
    stamp: Stamp, signer: TestSm2Signer
) -> None:
    out = stamp(make_pdf(), Placement(0, 20, 20))
    (signer_info,) = cms.ContentInfo.load(cms_of(out))["content"]["signer_infos"]
    attrs = b"\x31" + signer_info["signed_attrs"].dump()[1:]
    assert signer.calls == [attrs]  # one private-key operation, over SET OF signed attributes
    assert {a["type"].dotted for a in signer_info["signed_attrs"]} >= {
        "1.2.840.113549.1.9.3",  # contentType
        "1.2.840.113549.1.9.4",  # messageDigest
        "1.2.840.113549.1.9.5",  # signingTime
    }


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_openssl_verifies_the_signed_attributes_signature(stamp: Stamp, tmp_path: Path) -> None:
    out = stamp(make_pdf(), Placement(0, 20, 20))
    content = cms.ContentInfo.load(cms_of(out))["content"]
    (signer_info,) = content["signer_infos"]
    (tmp_path / "attrs.der").write_bytes(b"\x31" + signer_info["signed_attrs"].dump()[1:])
    (tmp_path / "sig.der").write_bytes(signer_info["signature"].native)
    serial = signer_info["sid"].chosen["serial_number"].native
    (leaf,) = [c.chosen for c in content["certificates"] if c.chosen.serial_number == serial]
    (tmp_path / "cert.der").write_bytes(leaf.dump())
    pub = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-in", str(tmp_path / "cert.der"), "-pubkey",
         "-noout"],
        check=True, capture_output=True, timeout=30,
    ).stdout  # fmt: skip
    (tmp_path / "pub.pem").write_bytes(pub)

    def openssl_verify(attrs: Path) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["openssl", "dgst", "-sm3", "-verify", str(tmp_path / "pub.pem"), "-sigopt",
             "distid:1234567812345678", "-signature", str(tmp_path / "sig.der"), str(attrs)],
            capture_output=True, timeout=30, check=False,
        )  # fmt: skip

    ok = openssl_verify(tmp_path / "attrs.der")
    assert ok.returncode == 0, ok.stderr
    assert b"Verified OK" in ok.stdout
    tampered = tmp_path / "attrs2.der"
    data = bytearray((tmp_path / "attrs.der").read_bytes())
    data[-1] ^= 1
    tampered.write_bytes(bytes(data))
    assert openssl_verify(tampered).returncode != 0


# --------------------------------------------------------------------------- several seals


def test_second_seal_is_an_incremental_update_and_both_verify(stamp: Stamp) -> None:
    first = stamp(make_pdf(), Placement(0, 20, 20))
    second = stamp(first, Placement(0, 120, 200))
    assert second.startswith(first)  # earlier bytes untouched
    one, two = verify_pdf_signatures(second).signatures
    assert (one.field_name, two.field_name) == ("Seal1", "Seal2")
    assert one.intact
    assert two.intact
    assert not one.covers_whole_file
    assert "not_whole_file" in one.reasons
    assert one.later_revisions == (2,)
    assert one.later_changes is LaterChanges.SIGNATURES  # only a signature was added
    assert two.covers_whole_file


def test_field_names_must_be_unique(stamp: Stamp) -> None:
    first = stamp(make_pdf(), Placement(0, 20, 20), field_name="A")
    with pytest.raises(Conflict) as info:
        stamp(first, Placement(0, 20, 100), field_name="A")
    assert info.value.code == "seal.field_exists"


# --------------------------------------------------------------------------- keyword


@pytest.mark.usefixtures("poppler")
def test_keyword_placement_lands_on_the_keyword(stamp: Stamp, tmp_path: Path) -> None:
    pdf = make_pdf(pages=3, keyword="（盖章）", keyword_page=1, keyword_at=(380.0, 200.0))
    source = tmp_path / "source.pdf"
    source.write_bytes(pdf)
    (word,) = [w for w in pdftotext_words(source) if w.text == "（盖章）"]
    assert word.page == 1
    want_x = (word.x_min + word.x_max) / 2
    want_y = A4[1] - (word.y_min + word.y_max) / 2  # poppler: top-left origin

    (hit,) = find_keyword(pdf, "（盖章）")
    assert hit.page == 1
    assert (hit.x0 + hit.x1) / 2 == pytest.approx(want_x, abs=1.0)
    assert (hit.y0 + hit.y1) / 2 == pytest.approx(want_y, abs=2.0)

    out = stamp(pdf, KeywordPlacement("（盖章）"))
    (sig,) = PdfFileReader(io.BytesIO(out)).embedded_signatures
    widget = sig.sig_field["/Kids"][0].get_object()
    x0, y0, x1, y1 = (float(v) for v in widget["/Rect"])
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx((want_x, want_y), abs=2.0)
    assert x1 - x0 == pytest.approx(42 * PT_PER_MM, abs=0.01)
    assert widget["/P"] == PdfFileReader(io.BytesIO(out)).root["/Pages"]["/Kids"][1]

    pages = _render(out, tmp_path, "stamped")
    _keep(pages[1], "keyword_page2")
    _, red = _red_mask(pages[1])
    cx = sum(x for x, _ in red) / len(red)
    cy = sum(y for _, y in red) / len(red)
    assert cx == pytest.approx(want_x / 72 * DPI, abs=3)
    assert cy == pytest.approx((A4[1] - want_y) / 72 * DPI, abs=4)
    assert _red_mask(pages[0])[1] == []
    assert _red_mask(pages[2])[1] == []


def test_keyword_occurrence_page_and_offset(stamp: Stamp) -> None:
    pdf = make_pdf(pages=3, keyword=None)
    hits = find_keyword(pdf, "行政许可决定书")
    assert [h.page for h in hits] == [0, 1, 2]
    assert [h.page for h in find_keyword(pdf, "行政许可决定书", page=1)] == [1]
    out = stamp(pdf, KeywordPlacement("行政许可决定书", occurrence=-1, offset_mm=(30, 10)))
    (sig,) = PdfFileReader(io.BytesIO(out)).embedded_signatures
    widget = sig.sig_field["/Kids"][0].get_object()
    x0, y0, x1, y1 = (float(v) for v in widget["/Rect"])
    assert (x0 + x1) / 2 == pytest.approx((hits[2].x0 + hits[2].x1) / 2 + 30 * PT_PER_MM, abs=0.1)
    assert (y0 + y1) / 2 == pytest.approx((hits[2].y0 + hits[2].y1) / 2 - 10 * PT_PER_MM, abs=0.1)
    with pytest.raises(InvalidInput) as info:
        stamp(pdf, KeywordPlacement("不存在的词"))
    assert info.value.code == "seal.keyword_not_found"


# --------------------------------------------------------------------------- cross-page seal


@pytest.mark.usefixtures("poppler")
def test_cross_page_seal_is_sliced_onto_the_right_edge_of_every_page(
    stamp: Stamp, tmp_path: Path
) -> None:
    out = stamp(make_pdf(pages=3), Placement(page=0, x_mm=0, y_mm=100), cross_page=True)
    (check,) = verify_pdf_signatures(out).signatures
    assert check.intact
    assert check.covers_whole_file
    (sig,) = PdfFileReader(io.BytesIO(out)).embedded_signatures
    assert len(sig.sig_field["/Kids"]) == 3  # one field carries the signature, three widgets
    width = A4[0] / 72 * DPI  # the page's right edge in pixels
    slice_px = _px(42) / 3
    top, bottom = _px(100), _px(142)
    columns = []
    for number, page in enumerate(_render(out, tmp_path), start=1):
        _keep(page, f"cross_page_{number}")
        image, red = _red_mask(page)
        assert image.width == pytest.approx(width, abs=1)
        assert red, f"no seal slice on {page.name}"
        assert all(x >= width - slice_px - 2 for x, _ in red)  # right edge only
        assert all(top - 2 <= y <= bottom + 2 for _, y in red)
        assert max(x for x, _ in red) >= width - 2  # flush with the edge
        columns.append(len(red))
    assert min(columns) > 0.2 * max(columns)  # every slice carries a real part of the seal


def test_cross_page_seal_after_a_seal_leaves_the_first_valid(stamp: Stamp) -> None:
    first = stamp(make_pdf(pages=3), Placement(0, 120, 200))
    out = stamp(first, Placement(page=1, x_mm=0, y_mm=60), cross_page=True)  # pages 2 and 3
    one, two = verify_pdf_signatures(out).signatures
    assert one.intact
    assert one.later_changes is LaterChanges.SIGNATURES  # widgets of a new signature field
    assert two.intact
    assert two.covers_whole_file
    reader = PdfFileReader(io.BytesIO(out))
    field = reader.embedded_signatures[1].sig_field
    pages = reader.root["/Pages"]["/Kids"]
    kids = [k.get_object() for k in field["/Kids"]]
    assert [k["/P"] for k in kids] == [pages[1], pages[2]]
    assert all(k.raw_get("/Parent").get_object() is field for k in kids)
    assert all(k["/F"] == 132 for k in kids)  # Print | Locked


def test_cross_page_needs_two_pages_and_a_fixed_position(stamp: Stamp) -> None:
    with pytest.raises(InvalidInput):
        stamp(make_pdf(pages=1), Placement(0, 0, 100), cross_page=True)
    with pytest.raises(InvalidInput):
        stamp(make_pdf(pages=3), KeywordPlacement("（盖章）"), cross_page=True)


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("placement", "code"),
    [
        (Placement(0, 190, 20), "seal.outside_page"),  # runs off the right edge
        (Placement(0, 20, 280), "seal.outside_page"),  # runs off the bottom
        (Placement(0, -1, 20), "seal.outside_page"),
        (Placement(7, 20, 20), "seal.no_such_page"),
        (Placement(-1, 20, 20), "seal.no_such_page"),
        (Placement(0, float("nan"), 20), "seal.bad_placement"),
        (Placement(0, 20, float("inf")), "seal.bad_placement"),
    ],
)
def test_bad_placements_are_refused(stamp: Stamp, placement: Placement, code: str) -> None:
    with pytest.raises(InvalidInput) as info:
        stamp(make_pdf(), placement)
    assert info.value.code == code


def test_rotated_pages_are_refused(stamp: Stamp) -> None:
    with pytest.raises(InvalidInput) as info:
        stamp(make_pdf(rotate=90), Placement(0, 20, 20))
    assert info.value.code == "seal.page_rotated"


def test_signer_must_match_its_certificate(stamp: Stamp, signer: TestSm2Signer) -> None:
    other = make_test_signer()
    mismatched = TestSm2Signer(key=other.key, chain=signer.chain)
    with pytest.raises(InvalidInput) as info:
        stamp(make_pdf(), Placement(0, 20, 20), signer=mismatched)
    assert info.value.code == "seal.bad_certificate"
    with pytest.raises(InvalidInput):
        stamp(make_pdf(), Placement(0, 20, 20), signer=TestSm2Signer(key=other.key, chain=()))


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"seal_size_mm": (2, 2)}, "seal.bad_size"),
        ({"seal_image_png": b"\x89PNG\r\n\x1a\nbroken"}, "seal.bad_image"),
        ({"signing_time": datetime(2026, 1, 1)}, "seal.bad_time"),
        ({"field_name": "a.b"}, "seal.bad_field"),
    ],
)
def test_bad_arguments_are_refused(stamp: Stamp, kw: dict[str, object], code: str) -> None:
    with pytest.raises(InvalidInput) as info:
        stamp(make_pdf(), Placement(0, 20, 20), **kw)
    assert info.value.code == code


def _hostile() -> list[tuple[str, bytes]]:
    pdf = make_pdf()
    cases = [(f"truncated_{n}", pdf[:n]) for n in (0, 9, 200, len(pdf) // 2, len(pdf) - 40)]
    cases += [
        ("broken_xref", broken_xref(pdf)),
        ("garbage", garbage()),
        ("not_pdf", b"<html>hello</html>"),
    ]
    return cases


@pytest.mark.parametrize(("name", "data"), _hostile(), ids=[n for n, _ in _hostile()])
def test_hostile_pdfs_fail_quickly_with_a_clear_error(stamp: Stamp, name: str, data: bytes) -> None:
    start = time.monotonic()
    with pytest.raises(TrustError) as info:
        stamp(data, Placement(0, 20, 20))
    assert time.monotonic() - start < 5
    assert isinstance(info.value, PdfMalformed), (name, info.value)
    assert info.value.code == "seal.pdf_malformed"


def test_keyword_search_refuses_a_content_stream_bomb_quickly(stamp: Stamp) -> None:
    bomb = content_bomb(64)  # ~64 KiB that inflates to 64 MiB
    start = time.monotonic()
    with pytest.raises(PdfTooLarge) as info:
        find_keyword(bomb, "盖章")
    assert info.value.code == "seal.pdf_too_complex"
    assert time.monotonic() - start < 5
    # placing by position never decodes page content, so the same file can still be stamped
    out = stamp(bomb, Placement(0, 20, 20))
    assert verify_pdf_signatures(out).all_intact


def test_seal_image_decompression_bomb_is_refused(stamp: Stamp) -> None:
    buf = io.BytesIO()
    Image.new("L", (5_000, 5_000)).save(buf, "PNG")  # 25 Mpx in a few KiB
    start = time.monotonic()
    with pytest.raises(InvalidInput) as info:
        stamp(make_pdf(), Placement(0, 20, 20), seal_image_png=buf.getvalue())
    assert info.value.code == "seal.bad_image"
    assert time.monotonic() - start < 5
