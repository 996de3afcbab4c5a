"""File properties read from the bytes (DA/T 70-2018 真实性 电子属性一致性, 可用性 可读/可呈现).

``examine(path)`` hashes a file in one streaming pass (size, SM3, SHA-256) unless the digests
are given (computed while the file was staged: ``archive.submission``), identifies its format
**by magic bytes** (never by name), then probes it:

- PDF: pyHanko's reader over the open file (objects read on demand, pyHanko's decode limits),
  refused when encrypted; pages counted by walking the page tree; the first page's content
  streams decoded; PDF/A recognised by ``pdfaid:part`` in the catalogue's XMP metadata;
- OFD (GB/T 33190-2016): a ZIP whose ``OFD.xml`` is in the ``http://www.ofdspec.org/2016``
  namespace with ``DocType="OFD"`` (FIDO/PRONOM only see ``x-fmt/263`` ZIP: earchive spec §4.1),
  read with ``seals.ofd_package`` (zip-bomb limits, encrypted entries refused, no DTDs); pages
  from Document.xml; the first page's Content.xml parsed;
- PNG: every chunk, CRC, the header and the whole zlib stream of the image data checked in one
  pass under a pixel limit (``archive.png_check``: a decoder's checks, without the pixels);
- JPEG/TIFF: Pillow ``verify()``, then the first frame decoded under a pixel limit;
- XML: parsed incrementally, DTDs and entity declarations refused;
- MP4/MP3/WAV: identified only (no decoder here): "cannot check", never "renders".
"""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from archive.png_check import PngInvalid, PngTooLarge, check_png
from archive.storage import Digests, hash_stream
from seals.errors import OfdError, OfdTooLarge
from seals.ofd import page_content_paths, read_doc_bodies
from seals.ofd_package import DEFAULT_LIMITS, open_package, parse_xml
from trust.errors import TrustError

__all__ = ["FileFacts", "Probe", "examine", "identify", "read_capped"]

NS_OFD: Final = "http://www.ofdspec.org/2016"
MAX_PIXELS: Final = 200_000_000
_MAX_PAGES: Final = 100_000
_MAX_TREE_DEPTH: Final = 64
_XML_CHUNK: Final = 1024 * 1024
_PDFAID = re.compile(rb"pdfaid:part\s*(?:=\s*[\"']|>)\s*(\d)", re.IGNORECASE)
_PDFAID_CONF = re.compile(rb"pdfaid:conformance\s*(?:=\s*[\"']|>)\s*([ABUabu])", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Probe:
    """What opening the file found. ``opens``: True = opened and the first page (or image
    frame, or document) decoded; False = it did not; None = no probe exists for the format."""

    format: str  # pdf, pdfa, ofd, zip, jpeg, png, tiff, xml, mp4, mp3, wav, der, ole2, rar, unknown
    opens: bool | None
    reason: str  # stable code: "ok", "pdf.encrypted", "ofd.malformed_xml", ...
    pages: int | None = None
    encrypted: bool = False
    version: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FileFacts:
    name: str
    size: int
    sm3: str
    sha256: str
    probe: Probe

    def to_dict(self) -> dict[str, object]:
        p = self.probe
        return {
            "name": self.name,
            "size": self.size,
            "sm3": self.sm3,
            "sha256": self.sha256,
            "format": p.format,
            "format_version": p.version,
            "pages": p.pages,
            "opens": p.opens,
            "encrypted": p.encrypted,
            "reason": p.reason,
        }


def identify(head: bytes) -> str:
    """Format from the first bytes (at least 16, ideally 4 KiB)."""
    if b"%PDF-" in head[:1024]:
        return "pdf"
    magic = {
        b"PK\x03\x04": "zip",
        b"\xff\xd8\xff": "jpeg",
        b"\x89PNG\r\n\x1a\n": "png",
        b"II*\x00": "tiff",
        b"MM\x00*": "tiff",
        b"\xd0\xcf\x11\xe0": "ole2",
        b"Rar!": "rar",
        b"ID3": "mp3",
    }
    for prefix, fmt in magic.items():
        if head.startswith(prefix):
            return fmt
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[4:8] == b"ftyp":
        return "mp4"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "mp3"
    if len(head) > 1 and head[0] == 0x30 and head[1] in (0x80, 0x81, 0x82, 0x83, 0x84):
        return "der"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<?xml") or re.match(rb"<[A-Za-z_]", text):
        return "xml"
    return "unknown"


def examine(
    path: Path,
    name: str,
    *,
    digests: Digests | None = None,
    max_ofd_bytes: int = DEFAULT_LIMITS.max_package_bytes,
) -> FileFacts:
    """Probe one file; hash it (one pass) unless its ``digests`` are known."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
        if digests is None:
            fh.seek(0)
            digests = hash_stream(fh)
    fmt = identify(head)
    if fmt == "pdf":
        probe = _probe_pdf(path)
    elif fmt == "zip":
        probe = _probe_zip(path, digests.size, max_ofd_bytes)
    elif fmt in ("jpeg", "png", "tiff"):
        probe = _probe_image(path, fmt)
    elif fmt == "xml":
        probe = _probe_xml(path)
    elif fmt in ("mp4", "mp3", "wav"):
        probe = Probe(fmt, None, "render.no_decoder", detail="音视频解码检测不可用")
    else:
        probe = Probe(fmt, False if fmt == "unknown" else None, f"format.{fmt}")
    return FileFacts(name, digests.size, digests.sm3, digests.sha256, probe)


# --------------------------------------------------------------------------- PDF


def _leaves(node: Any, depth: int, out: list[Any]) -> None:
    if depth > _MAX_TREE_DEPTH or len(out) > _MAX_PAGES:
        raise ValueError("page tree too deep or too large")
    node = node.get_object() if hasattr(node, "get_object") else node
    if node.get("/Type") == "/Page" or "/Kids" not in node:
        out.append(node)
        return
    for kid in node["/Kids"]:
        _leaves(kid, depth + 1, out)


def _decode_contents(page: Any) -> int:
    contents = page.get("/Contents")
    if contents is None:
        return 0
    contents = contents.get_object() if hasattr(contents, "get_object") else contents
    streams = list(contents) if isinstance(contents, generic.ArrayObject) else [contents]
    total = 0
    for stream in streams:
        obj = stream.get_object() if hasattr(stream, "get_object") else stream
        if not isinstance(obj, generic.StreamObject):
            raise ValueError("page content is not a stream")
        total += len(obj.data)  # applies every filter, within pyHanko's decode limits
    return total


def _pdfa(reader: PdfFileReader) -> str | None:
    meta = reader.root.get("/Metadata")
    if meta is None:
        return None
    try:
        xmp = bytes(meta.get_object().data)
    except Exception:
        return None
    part, conf = _PDFAID.search(xmp), _PDFAID_CONF.search(xmp)
    if part is None:
        return None
    return part.group(1).decode() + (conf.group(1).decode().upper() if conf else "")


def _probe_pdf(path: Path) -> Probe:
    with open(path, "rb") as fh:
        head = fh.read(1024)
        m = re.search(rb"%PDF-(\d\.\d)", head)
        version = m.group(1).decode() if m else None
        fh.seek(0)
        try:
            reader = PdfFileReader(fh, strict=False)
            if reader.encrypted:
                return Probe("pdf", False, "pdf.encrypted", encrypted=True, version=version)
            pages: list[Any] = []
            _leaves(reader.root["/Pages"], 0, pages)
            if not pages:
                return Probe("pdf", False, "pdf.no_pages", pages=0, version=version)
            _decode_contents(pages[0])
            pdfa = _pdfa(reader)
        except TrustError as exc:
            return Probe("pdf", False, exc.code, version=version, detail=exc.detail[:200])
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"[:200]
            return Probe("pdf", False, "pdf.unreadable", version=version, detail=detail)
    if pdfa is not None:
        return Probe("pdfa", True, "ok", pages=len(pages), version=f"PDF/A-{pdfa}")
    return Probe("pdf", True, "ok", pages=len(pages), version=version)


# --------------------------------------------------------------------------- OFD / ZIP


def _probe_zip(path: Path, size: int, max_bytes: int) -> Probe:
    if size > max_bytes:
        return Probe("zip", None, "ofd.too_large_to_probe", detail=f"{size} > {max_bytes}")
    data = path.read_bytes()
    try:
        pkg = open_package(data)
    except (OfdError, OfdTooLarge) as exc:
        if exc.code == "ofd.no_ofd_xml":
            return Probe("zip", False, "format.zip")
        encrypted = "encrypt" in exc.detail.lower()
        return Probe("ofd", False, exc.code, encrypted=encrypted, detail=exc.detail[:200])
    try:
        root = parse_xml(pkg.entries["OFD.xml"], "OFD.xml")
        if root.tag != f"{{{NS_OFD}}}OFD" or root.get("DocType") != "OFD":
            return Probe("zip", False, "ofd.not_ofd_namespace")
        version = root.get("Version")
        findings: list[str] = []
        bodies = read_doc_bodies(pkg, findings)
        doc_root = bodies[0].doc_root if bodies else None
        pages = list(page_content_paths(pkg, doc_root, findings).values())
        if not pages:
            return Probe("ofd", False, "ofd.no_pages", pages=0, version=version)
        first = pkg.get(pages[0])
        if first is None:
            return Probe("ofd", False, "ofd.first_page_missing", pages=len(pages), version=version)
        parse_xml(first, pages[0])
    except (OfdError, OfdTooLarge) as exc:
        return Probe("ofd", False, exc.code, detail=exc.detail[:200])
    return Probe("ofd", True, "ok", pages=len(pages), version=version)


# --------------------------------------------------------------------------- images


def _probe_png(path: Path) -> Probe:
    try:
        with open(path, "rb") as fh:
            facts = check_png(fh, max_pixels=MAX_PIXELS)
    except PngTooLarge as exc:
        return Probe("png", False, "image.too_many_pixels", detail=str(exc)[:200])
    except PngInvalid as exc:
        return Probe("png", False, "image.undecodable", detail=str(exc)[:200])
    return Probe("png", True, "ok", pages=facts.frames)


def _probe_image(path: Path, fmt: str) -> Probe:
    if fmt == "png":
        return _probe_png(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.verify()
            with Image.open(path) as im:
                width, height = im.size
                if width * height > MAX_PIXELS:
                    return Probe(fmt, False, "image.too_many_pixels", detail=f"{width}x{height}")
                frames = int(getattr(im, "n_frames", 1))
                im.seek(0)
                im.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return Probe(fmt, False, "image.undecodable", detail=f"{type(exc).__name__}: {exc}"[:200])
    return Probe(fmt, True, "ok", pages=frames)


# --------------------------------------------------------------------------- XML


def _probe_xml(path: Path) -> Probe:
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start",))
    tail = b""
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_XML_CHUNK):
                window = (tail + chunk).lower()
                if b"<!doctype" in window or b"<!entity" in window:
                    return Probe("xml", False, "xml.doctype_refused")
                tail = window[-16:]
                parser.feed(chunk)
                for _ in parser.read_events():
                    pass
        parser.close()
    except ET.ParseError as exc:
        return Probe("xml", False, "xml.malformed", detail=str(exc)[:200])
    return Probe("xml", True, "ok", pages=None)


def read_capped(path: Path, limit: int) -> bytes | None:
    """The whole file when it is at most ``limit`` bytes, else None (for the verifiers, which
    take bytes)."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    return data if len(data) <= limit else None
