"""Opening an OFD package (a ZIP, GB/T 33190-2016 §7) safely, resolving paths, parsing XML.

Hostile input is expected: the entry count is read from the end-of-central-directory record before
the central directory is parsed; each entry is decompressed in a streaming way with a per-entry
cap, a total cap and a compression-ratio cap (zip bombs); encrypted entries, unsafe or duplicate
names are refused. ZIP metadata (timestamps, directory entries) is ignored (eseal spec §7.3 step 1,
§9). XML is refused if it has a DTD or entity declaration, and must be UTF-8.
Paths resolve per eseal spec §7.4.
"""

from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from seals.errors import OfdError, OfdTooLarge

__all__ = [
    "DEFAULT_LIMITS",
    "OfdPackage",
    "PackageLimits",
    "dirname",
    "open_package",
    "parse_xml",
    "resolve_path",
]

_EOCD: Final = b"PK\x05\x06"
_ZIP64_EOCD: Final = b"PK\x06\x06"
_CHUNK: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class PackageLimits:
    max_package_bytes: int = 100 * 1024 * 1024
    max_entries: int = 10_000
    max_entry_bytes: int = 64 * 1024 * 1024
    max_total_bytes: int = 256 * 1024 * 1024
    max_ratio: int = 100  # uncompressed / compressed, applied above ``ratio_floor``
    ratio_floor: int = 1024 * 1024
    max_xml_bytes: int = 16 * 1024 * 1024


DEFAULT_LIMITS: Final = PackageLimits()


@dataclass(frozen=True, slots=True)
class OfdPackage:
    """The files of an OFD package by normalised path (no leading slash), in ZIP order."""

    entries: Mapping[str, bytes] = field(repr=False)
    names: tuple[str, ...]
    findings: tuple[str, ...]
    limits: PackageLimits = DEFAULT_LIMITS

    def get(self, path: str) -> bytes | None:
        return self.entries.get(path)


def _declared_entry_count(data: bytes) -> int | None:
    pos = data.rfind(_EOCD, max(0, len(data) - 65_557))
    if pos < 0 or pos + 22 > len(data):
        return None
    count: int = struct.unpack_from("<H", data, pos + 10)[0]
    if count != 0xFFFF:
        return count
    z64 = data.rfind(_ZIP64_EOCD, max(0, pos - 20 - 56 - 1024), pos)
    if z64 < 0 or z64 + 56 > len(data):
        return None
    total: int = struct.unpack_from("<Q", data, z64 + 32)[0]
    return total


def _safe_name(name: str) -> str:
    if "\\" in name or "\x00" in name or name.startswith("/"):
        raise OfdError(f"unsafe ZIP entry name {name!r}", code="ofd.unsafe_entry_name")
    try:
        normalised = resolve_path(name, "")
    except OfdError:
        normalised = ""
    if normalised != name:
        raise OfdError(f"unsafe ZIP entry name {name!r}", code="ofd.unsafe_entry_name")
    return normalised


def _read_entry(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int, limits: PackageLimits
) -> bytes:
    if info.flag_bits & 0x1:
        raise OfdError(f"encrypted entry {info.filename!r}", code="ofd.encrypted_entry")
    cap = min(
        limits.max_entry_bytes,
        budget,
        max(limits.ratio_floor, limits.max_ratio * max(info.compress_size, 1)),
    )
    if info.file_size > cap:
        raise OfdTooLarge(
            f"entry {info.filename!r} declares {info.file_size} bytes (cap {cap})",
            code="ofd.entry_too_large",
        )
    out = bytearray()
    with zf.open(info) as stream:
        while chunk := stream.read(_CHUNK):
            out += chunk
            if len(out) > cap:
                raise OfdTooLarge(
                    f"entry {info.filename!r} inflates beyond {cap} bytes", code="ofd.zip_bomb"
                )
    return bytes(out)


def open_package(data: bytes, *, limits: PackageLimits = DEFAULT_LIMITS) -> OfdPackage:
    """Read every file of the package within ``limits``; raises ``OfdError``/``OfdTooLarge``."""
    if len(data) > limits.max_package_bytes:
        raise OfdTooLarge(f"package of {len(data)} bytes exceeds {limits.max_package_bytes}")
    declared = _declared_entry_count(data)
    if declared is None:
        raise OfdError("not a ZIP file (no end-of-central-directory record)", code="ofd.not_a_zip")
    if declared > limits.max_entries:
        raise OfdTooLarge(
            f"{declared} ZIP entries exceed {limits.max_entries}", code="ofd.too_many_entries"
        )
    entries: dict[str, bytes] = {}
    findings: list[str] = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > limits.max_entries:
                raise OfdTooLarge(
                    f"{len(infos)} ZIP entries exceed {limits.max_entries}",
                    code="ofd.too_many_entries",
                )
            total = 0
            for info in infos:
                if info.filename.endswith("/"):
                    continue  # directory entries carry nothing (eseal spec §9)
                name = _safe_name(info.filename)
                if name in entries:
                    raise OfdError(f"duplicate ZIP entry {name!r}", code="ofd.duplicate_entry")
                content = _read_entry(zf, info, limits.max_total_bytes - total, limits)
                total += len(content)
                entries[name] = content
    except (OfdError, OfdTooLarge):
        raise
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        RuntimeError,
        ValueError,
        NotImplementedError,
        struct.error,
        UnicodeDecodeError,
        KeyError,
    ) as exc:
        raise OfdError(f"unreadable ZIP: {exc}", code="ofd.bad_zip") from None
    if "OFD.xml" not in entries:
        raise OfdError("the package has no OFD.xml", code="ofd.no_ofd_xml")
    return OfdPackage(MappingProxyType(entries), tuple(entries), tuple(findings), limits)


def dirname(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def resolve_path(ref: str, base_dir: str) -> str:
    """Resolve a package path (eseal spec §7.4): a leading ``/`` means the package root
    (repeated slashes collapse), otherwise relative to ``base_dir`` (the directory of the XML
    file containing it); ``.``/``..`` are resolved and escaping the root is refused."""
    ref = ref.strip()
    if not ref or "\\" in ref or "\x00" in ref:
        raise OfdError(f"unusable package path {ref!r}", code="ofd.bad_path")
    if len(ref) > 1024:
        raise OfdError("package path too long", code="ofd.bad_path")
    if ref.startswith("/"):
        segments: list[str] = []
    else:
        segments = [s for s in base_dir.split("/") if s]
    for part in ref.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not segments:
                raise OfdError(
                    f"path {ref!r} escapes the package root", code="ofd.path_escapes_root"
                )
            segments.pop()
            continue
        segments.append(part)
    if not segments:
        raise OfdError(f"path {ref!r} names the package root", code="ofd.bad_path")
    return "/".join(segments)


def parse_xml(
    data: bytes, what: str, *, max_bytes: int = DEFAULT_LIMITS.max_xml_bytes
) -> ET.Element:
    """Parse one XML file of the package; no DTD, no entities, UTF-8 only."""
    if len(data) > max_bytes:
        raise OfdTooLarge(
            f"{what}: XML of {len(data)} bytes exceeds {max_bytes}", code="ofd.xml_too_large"
        )
    if b"\x00" in data:
        raise OfdError(f"{what}: only UTF-8 XML is accepted", code="ofd.xml_encoding")
    lowered = data.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        raise OfdError(f"{what}: DTDs and entity declarations are refused", code="ofd.xml_doctype")
    try:
        return ET.fromstring(data)  # noqa: S314 - no DTD can reach the parser (checked above)
    except ET.ParseError as exc:
        raise OfdError(f"{what}: malformed XML ({exc})", code="ofd.malformed_xml") from None
