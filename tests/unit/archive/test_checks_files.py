"""archive.checks_files: format by magic bytes, page counts, PDF/A, OFD and image probes."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from archive.checks_files import examine, identify
from tests.unit.archive.case_factory import jpeg, png
from tests.unit.seals._ses_support import minimal_ofd
from tests.unit.seals.pdf_fixtures import make_pdf
from trust.crypto import sm3_hex


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (b"%PDF-1.7\n", "pdf"),
        (b"\xef\xbb\xbf  <?xml version='1.0'?>", "xml"),
        (b"<root/>", "xml"),
        (b"PK\x03\x04....", "zip"),
        (b"\xff\xd8\xff\xe0", "jpeg"),
        (b"\x89PNG\r\n\x1a\n", "png"),
        (b"II*\x00", "tiff"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "wav"),
        (b"\x00\x00\x00\x18ftypmp42", "mp4"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole2"),
        (b"\x30\x82\x01\x00", "der"),
        (b"MZ\x90\x00", "unknown"),
    ],
)
def test_identify_by_magic(head: bytes, fmt: str) -> None:
    assert identify(head) == fmt


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_pdf_pages_and_hashes(tmp_path: Path) -> None:
    data = make_pdf(pages=3)
    facts = examine(_write(tmp_path, "a.pdf", data), "a.pdf")
    assert (facts.probe.format, facts.probe.pages, facts.probe.opens) == ("pdf", 3, True)
    assert facts.sm3 == sm3_hex(data)
    assert facts.size == len(data)
    assert facts.probe.version == "1.7"


def _pdf(objects: list[bytes]) -> bytes:
    """A classic-xref PDF from object bodies (object 1 is the catalogue)."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_pdfa_is_recognised_from_xmp(tmp_path: Path) -> None:
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        b'22-rdf-syntax-ns#"><rdf:Description xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/" '
        b'pdfaid:part="2" pdfaid:conformance="B"/></rdf:RDF></x:xmpmeta>'
    )
    pdf = _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Metadata 4 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
            b"<< /Type /Metadata /Subtype /XML /Length %d >>\nstream\n" % len(xmp)
            + xmp
            + b"\nendstream",
        ]
    )
    facts = examine(_write(tmp_path, "a.pdf", pdf), "a.pdf")
    assert (facts.probe.format, facts.probe.version, facts.probe.pages) == ("pdfa", "PDF/A-2B", 1)


def test_a_pdf_without_pages_does_not_open(tmp_path: Path) -> None:
    pdf = _pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"])
    facts = examine(_write(tmp_path, "a.pdf", pdf), "a.pdf")
    assert (facts.probe.opens, facts.probe.reason) == (False, "pdf.no_pages")


def test_ofd_is_told_apart_from_zip(tmp_path: Path) -> None:
    ofd = examine(_write(tmp_path, "a.ofd", minimal_ofd(pages=2)), "a.ofd")
    assert (ofd.probe.format, ofd.probe.pages, ofd.probe.opens, ofd.probe.version) == (
        "ofd",
        2,
        True,
        "1.1",
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("word/document.xml", "<w/>")
    other = examine(_write(tmp_path, "a.docx", buf.getvalue()), "a.docx")
    assert other.probe.format == "zip"


def test_images_decode_and_tiff_frames_count_as_pages(tmp_path: Path) -> None:
    assert examine(_write(tmp_path, "a.jpg", jpeg()), "a.jpg").probe.opens is True
    assert examine(_write(tmp_path, "a.png", png()), "a.png").probe.pages == 1
    frames = [Image.new("L", (50, 50), v) for v in (0, 128, 255)]
    buf = io.BytesIO()
    frames[0].save(buf, format="TIFF", save_all=True, append_images=frames[1:])
    tiff = examine(_write(tmp_path, "a.tif", buf.getvalue()), "a.tif")
    assert (tiff.probe.format, tiff.probe.pages, tiff.probe.opens) == ("tiff", 3, True)
    broken = examine(_write(tmp_path, "b.png", png()[:60]), "b.png")
    assert (broken.probe.opens, broken.probe.reason) == (False, "image.undecodable")


def test_audio_is_identified_but_not_claimed_renderable(tmp_path: Path) -> None:
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40
    facts = examine(_write(tmp_path, "a.wav", wav), "a.wav")
    assert (facts.probe.format, facts.probe.opens, facts.probe.reason) == (
        "wav",
        None,
        "render.no_decoder",
    )
