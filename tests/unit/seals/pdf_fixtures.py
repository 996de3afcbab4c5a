"""Test material for the PDF seal tests, made at test time (no binary fixtures in git).

* ``make_pdf``: a small multi-page A4 PDF with Chinese text (Type0 font STSong-Light,
  UniGB-UCS2-H, not embedded: poppler substitutes a CJK font, text extraction works everywhere),
  optionally a keyword at a known position and a block of incompressible padding.
* ``make_test_signer``: an SM2 key (trust.crypto.private_keys) with a two-certificate chain
  (root -> leaf, SM2-with-SM3, built with asn1crypto) behind the ``trust.signing.Signer`` API.
* hostile variants: truncated, broken xref, garbage.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import core, keys, x509

from trust.crypto import decode_signature
from trust.crypto.algorithms import OID_SM2_WITH_SM3
from trust.crypto.private_keys import SM2PrivateKey, generate_sm2
from trust.signing import SignatureAlgorithm

A4 = (595.28, 841.89)
PT_PER_MM = 72 / 25.4
FONT_SIZE = 14.0


def _utf16(text: str) -> str:
    return text.encode("utf-16-be").hex().upper()


@dataclass(frozen=True)
class TextRun:
    page: int
    x: float  # PDF points, bottom-left origin
    y: float
    text: str
    size: float = FONT_SIZE


def _fullwidth(n: int) -> str:
    return "".join(chr(0xFF10 + int(d)) for d in str(n))


def _default_runs(pages: int) -> list[TextRun]:
    runs: list[TextRun] = []
    body = [
        "行政许可决定书",
        "申请人：某某科技有限公司",
        "经审查，你单位提交的申请材料齐全、符合法定形式。",
        "根据有关规定，决定准予行政许可。",
    ]
    for p in range(pages):
        runs.append(TextRun(p, 72, 780, "第" + _fullwidth(p + 1) + "页", 10))
        for i, line in enumerate(body):
            runs.append(TextRun(p, 72, 720 - i * 28, line))
    return runs


def make_pdf(
    *,
    pages: int = 3,
    keyword: str | None = "（盖章）",
    keyword_page: int = -1,
    keyword_at: tuple[float, float] = (400.0, 180.0),
    padding_bytes: int = 0,
    media_box: tuple[float, float] = A4,
    rotate: int = 0,
) -> bytes:
    """A classic-xref PDF; the keyword (if any) is drawn at ``keyword_at`` (points, baseline
    start) on ``keyword_page``. ``padding_bytes`` adds an incompressible grey image."""
    runs = _default_runs(pages)
    if keyword:
        runs.append(TextRun(keyword_page % pages, *keyword_at, keyword))
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in at the end
    pages_obj = add(b"")
    descendant = add(
        b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 4 >> "
        b"/FontDescriptor << /Type /FontDescriptor /FontName /STSong-Light /Flags 6 "
        b"/FontBBox [-25 -254 1000 880] /ItalicAngle 0 /Ascent 880 /Descent -120 "
        b"/CapHeight 880 /StemV 93 >> /DW 1000 >>"
    )
    font = add(
        b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light-UniGB-UCS2-H "
        b"/Encoding /UniGB-UCS2-H /DescendantFonts [%d 0 R] >>" % descendant
    )
    image = None
    if padding_bytes:
        side = max(1, int(padding_bytes**0.5))
        data = random.Random(1234).randbytes(side * side)
        image = add(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
            b"/BitsPerComponent 8 /Length %d >>\nstream\n"
            % (side, side, len(data))
            + data
            + b"\nendstream"
        )
    page_ids = []
    for p in range(pages):
        ops = [
            b"BT /F1 %g Tf %g %g Td <%s> Tj ET" % (r.size, r.x, r.y, _utf16(r.text).encode())
            for r in runs
            if r.page == p
        ]
        if image is not None and p == 0:
            ops.append(b"q 20 0 0 20 20 20 cm /Im1 Do Q")
        stream = b"\n".join(ops)
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        xobj = b" /XObject << /Im1 %d 0 R >>" % image if image is not None and p == 0 else b""
        page_ids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %g %g] /Rotate %d "
                b"/Resources << /Font << /F1 %d 0 R >>%s >> /Contents %d 0 R >>"
                % (pages_obj, media_box[0], media_box[1], rotate, font, xobj, content)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    kids = b" ".join(b"%d 0 R" % i for i in page_ids)
    objects[pages_obj - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages)
    return _serialise(objects, catalog)


def _serialise(objects: Sequence[bytes], root: int) -> bytes:
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        root,
        xref,
    )
    return bytes(out)


# --------------------------------------------------------------------------- hostile inputs


def broken_xref(pdf: bytes) -> bytes:
    """Every xref offset points at the wrong place and startxref at garbage."""
    head, _, _ = pdf.rpartition(b"startxref")
    return head.replace(b" 00000 n ", b" 00000 x ") + b"startxref\n999999999\n%%EOF\n"


def content_bomb(decoded_mib: int = 200) -> bytes:
    """One page whose Flate content stream inflates to ``decoded_mib`` MiB of spaces."""
    import zlib

    comp = zlib.compressobj(9)
    chunk = b" " * (1 << 20)
    data = b"".join(comp.compress(chunk) for _ in range(decoded_mib)) + comp.flush()
    return _serialise(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
            b"<< /Filter /FlateDecode /Length %d >>\nstream\n" % len(data) + data + b"\nendstream",
        ],
        1,
    )


def garbage(n: int = 4096) -> bytes:
    return b"%PDF-1.7\n" + random.Random(7).randbytes(n)


def signature_holes(pdf: bytes) -> list[tuple[int, int]]:
    """(start, end) of every /ByteRange hole, read from the /ByteRange arrays in the file."""
    import re

    holes = []
    for m in re.finditer(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf):
        holes.append((int(m.group(2)), int(m.group(3))))
    return holes


def cms_of(pdf: bytes, index: int = -1) -> bytes:
    """The DER CMS in signature ``index`` (zero padding removed)."""
    start, end = signature_holes(pdf)[index]
    raw = bytes.fromhex(pdf[start + 1 : end - 1].decode())
    from asn1crypto import cms

    return bytes(cms.ContentInfo.load(raw, strict=False).dump())


def replace_cms(pdf: bytes, new_der: bytes, index: int = -1) -> bytes:
    """Write ``new_der`` (zero padded) into the /Contents hole of signature ``index``."""
    start, end = signature_holes(pdf)[index]
    room = (end - start - 2) // 2
    assert len(new_der) <= room, "replacement CMS does not fit the reserved space"
    hexed = (new_der + bytes(room - len(new_der))).hex().encode()
    return pdf[: start + 1] + hexed + pdf[end - 1 :]


# --------------------------------------------------------------------------- test signer


def _name(cn: str) -> x509.Name:
    return x509.Name.build(
        {"country_name": "CN", "organization_name": "测试单位", "common_name": cn}
    )


def _sm2_alg() -> dict[str, object]:
    return {"algorithm": OID_SM2_WITH_SM3}


def _certificate(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    spki_der: bytes,
    issuer_key: SM2PrivateKey,
    serial: int,
    ca: bool,
) -> bytes:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    usage = {"key_cert_sign", "crl_sign"} if ca else {"digital_signature", "non_repudiation"}
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": _sm2_alg(),
            "issuer": issuer,
            "validity": {
                "not_before": x509.Time(name="utc_time", value=now),
                "not_after": x509.Time(name="utc_time", value=now + timedelta(days=3650)),
            },
            "subject": subject,
            "subject_public_key_info": keys.PublicKeyInfo.load(spki_der),
            "extensions": [
                {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": ca}},
                {"extn_id": "key_usage", "critical": True, "extn_value": usage},
            ],
        }
    )
    signature = issuer_key.sign(tbs.dump())
    cert = x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": _sm2_alg(),
            "signature_value": core.OctetBitString(signature),
        }
    )
    return bytes(cert.dump())


@dataclass
class TestSm2Signer:
    """``trust.signing.Signer`` over an in-memory SM2 key; tests only."""

    key: SM2PrivateKey
    chain: tuple[bytes, ...]
    calls: list[bytes] = field(default_factory=list)
    __test__ = False  # not a pytest class

    @property
    def algorithm(self) -> SignatureAlgorithm:
        return SignatureAlgorithm.SM2_SM3

    @property
    def key_id(self) -> str:
        return "test-sm2"

    def public_key_der(self) -> bytes:
        return self.key.public_key().to_der()

    def certificate_chain(self) -> Sequence[bytes]:
        return self.chain

    raw_signatures: bool = False  # emit 64-byte r||s, as some vendors do (eseal spec §2.4)

    def sign(self, data: bytes) -> bytes:
        self.calls.append(data)
        der = self.key.sign(data)
        if not self.raw_signatures:
            return der
        r, s, _ = decode_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def make_test_signer(cn: str = "某某市行政审批服务局") -> TestSm2Signer:
    root_key, leaf_key = generate_sm2(), generate_sm2()
    root_name = _name("Test SM2 Root")
    root = _certificate(
        subject=root_name,
        issuer=root_name,
        spki_der=root_key.public_key().to_der(),
        issuer_key=root_key,
        serial=1,
        ca=True,
    )
    leaf = _certificate(
        subject=_name(cn),
        issuer=root_name,
        spki_der=leaf_key.public_key().to_der(),
        issuer_key=root_key,
        serial=2,
        ca=False,
    )
    return TestSm2Signer(key=leaf_key, chain=(leaf, root))


# --------------------------------------------------------------------------- poppler helpers


@dataclass(frozen=True)
class Word:
    page: int
    text: str
    x_min: float  # points, top-left origin (poppler's convention)
    y_min: float
    x_max: float
    y_max: float


def pdftotext_words(pdf_path: Path) -> list[Word]:
    """Words with boxes from ``pdftotext -bbox`` (tests only: an independent oracle)."""
    html = subprocess.run(
        ["pdftotext", "-bbox", str(pdf_path), "-"], check=True, capture_output=True, timeout=60
    ).stdout.decode()
    import re

    words: list[Word] = []
    page = -1
    for line in html.splitlines():
        if "<page " in line:
            page += 1
        m = re.search(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*)</word>',
            line,
        )
        if m:
            words.append(Word(page, m.group(5), *(float(m.group(i)) for i in range(1, 5))))
    return words


def render_pages(pdf_path: Path, out_dir: Path, dpi: int = 50) -> list[Path]:
    """``pdftoppm -r dpi -png``; returns the page PNGs in page order."""
    prefix = out_dir / pdf_path.stem
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-png", str(pdf_path), str(prefix)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return sorted(out_dir.glob(f"{pdf_path.stem}-*.png"))
