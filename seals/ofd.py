"""OFD signature descriptions (GB/T 33190-2016 chapter 18; eseal spec §7): OFD.xml → DocBody →
Signatures.xml → each Signature.xml (References, StampAnnot, Seal BaseLoc, SignedValue), the
per-file digest check of the References and the list of files no Reference covers.

Pure: takes an ``OfdPackage`` (bytes already read within limits), returns frozen values.
Namespaces ``http://www.ofdspec.org/2016`` and ``http://www.ofdspec.org`` are both accepted (§9).
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from seals.errors import OfdError
from seals.ofd_package import OfdPackage, dirname, parse_xml, resolve_path
from seals.results import ReferenceResult, ReferenceStatus
from trust.crypto.compare import constant_time_equal
from trust.crypto.hashing import sha256, sm3

__all__ = [
    "NS_OFD",
    "NS_OFD_LEGACY",
    "DocBody",
    "Reference",
    "SignatureDescription",
    "SignatureEntry",
    "SignaturesFile",
    "StampAnnot",
    "check_references",
    "page_content_paths",
    "read_doc_bodies",
    "read_signature_xml",
    "read_signatures_xml",
    "uncovered",
]

NS_OFD: Final = "http://www.ofdspec.org/2016"
NS_OFD_LEGACY: Final = "http://www.ofdspec.org"
_NAMESPACES: Final = frozenset({NS_OFD, NS_OFD_LEGACY, ""})
_SM3_METHODS: Final = frozenset({"1.2.156.10197.1.401", "sm3"})
_SHA256_METHODS: Final = frozenset({"2.16.840.1.101.3.4.2.1", "sha256", "sha-256"})


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def _is(el: ET.Element, name: str) -> bool:
    ns, local = _split(el.tag)
    return local == name and ns in _NAMESPACES


def _children(el: ET.Element, name: str) -> Iterator[ET.Element]:
    return (c for c in el if _is(c, name))


def _child(el: ET.Element, name: str) -> ET.Element | None:
    return next(_children(el, name), None)


def _text(el: ET.Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def _root(pkg: OfdPackage, path: str, name: str, findings: list[str]) -> ET.Element:
    data = pkg.get(path)
    if data is None:
        raise OfdError(f"{path} is missing from the package", code="ofd.missing_file")
    root = parse_xml(data, path, max_bytes=pkg.limits.max_xml_bytes)
    if not _is(root, name):
        raise OfdError(
            f"{path}: root element is {root.tag}, expected {name}", code="ofd.unexpected_xml"
        )
    if _split(root.tag)[0] == NS_OFD_LEGACY:
        findings.append(f"ofd.legacy_namespace:{path}")
    return root


@dataclass(frozen=True, slots=True)
class DocBody:
    doc_root: str | None  # resolved path of Document.xml
    signatures: str | None  # resolved path of Signatures.xml


def read_doc_bodies(pkg: OfdPackage, findings: list[str]) -> tuple[DocBody, ...]:
    """OFD.xml: each DocBody's DocRoot and Signatures (paths relative to the root, §7.4)."""
    root = _root(pkg, "OFD.xml", "OFD", findings)
    out: list[DocBody] = []
    for body in _children(root, "DocBody"):
        doc_root, signatures = _text(_child(body, "DocRoot")), _text(_child(body, "Signatures"))
        out.append(
            DocBody(
                resolve_path(doc_root, "") if doc_root else None,
                resolve_path(signatures, "") if signatures else None,
            )
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class SignatureEntry:
    id: str | None
    type: str  # "Seal" (default when absent, §7.1) or "Sign"
    base_loc: str
    path: str | None  # resolved Signature.xml path
    error: str | None  # reason code when BaseLoc does not resolve


@dataclass(frozen=True, slots=True)
class SignaturesFile:
    path: str
    max_sign_id: str | None
    entries: tuple[SignatureEntry, ...]


def read_signatures_xml(pkg: OfdPackage, path: str, findings: list[str]) -> SignaturesFile:
    root = _root(pkg, path, "Signatures", findings)
    entries: list[SignatureEntry] = []
    for el in _children(root, "Signature"):
        base_loc = el.get("BaseLoc", "")
        kind = el.get("Type")
        if kind is None:
            findings.append("ofd.signature_type_absent")
        resolved: str | None = None
        error: str | None = None
        try:
            resolved = resolve_path(base_loc, dirname(path))
        except OfdError as exc:
            error = exc.code
        entries.append(SignatureEntry(el.get("ID"), kind or "Seal", base_loc, resolved, error))
    return SignaturesFile(path, _text(_child(root, "MaxSignId")), tuple(entries))


@dataclass(frozen=True, slots=True)
class Reference:
    file_ref: str
    path: str | None
    check_value: bytes | None  # None when the base64 text is unusable
    error: str | None


@dataclass(frozen=True, slots=True)
class StampAnnot:
    id: str | None
    page_ref: str | None
    boundary: str | None


@dataclass(frozen=True, slots=True)
class SignatureDescription:
    """One Signature.xml; ``raw`` is its exact bytes (what ``dataHash`` covers, §7.2)."""

    path: str
    raw: bytes
    id: str | None
    signature_method: str | None
    signature_date_time: str | None  # informational only (§7.2)
    check_method: str | None
    references: tuple[Reference, ...]
    stamp_annots: tuple[StampAnnot, ...]
    seal_path: str | None
    signed_value_path: str | None
    provider: str | None


def _decode_b64(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _resolve_or_none(ref: str | None, base: str) -> tuple[str | None, str | None]:
    if ref is None:
        return None, None
    try:
        return resolve_path(ref, base), None
    except OfdError as exc:
        return None, exc.code


def read_signature_xml(pkg: OfdPackage, path: str, findings: list[str]) -> SignatureDescription:
    root = _root(pkg, path, "Signature", findings)
    base = dirname(path)
    info = _child(root, "SignedInfo")
    if info is None:
        raise OfdError(f"{path}: no SignedInfo", code="ofd.malformed_signature_xml")
    refs_el = _child(info, "References")
    refs: list[Reference] = []
    for el in _children(refs_el, "Reference") if refs_el is not None else ():
        file_ref = el.get("FileRef", "")
        resolved, error = _resolve_or_none(file_ref, base)
        refs.append(
            Reference(file_ref, resolved, _decode_b64(_text(_child(el, "CheckValue"))), error)
        )
    seal_el = _child(info, "Seal")
    seal_path, _ = _resolve_or_none(_text(_child(seal_el, "BaseLoc")) if seal_el else None, base)
    signed_value, sv_error = _resolve_or_none(_text(_child(root, "SignedValue")), base)
    if sv_error:
        findings.append(f"{sv_error}:SignedValue")
    provider = _child(info, "Provider")
    return SignatureDescription(
        path=path,
        raw=pkg.get(path) or b"",
        id=root.get("ID"),
        signature_method=_text(_child(info, "SignatureMethod")),
        signature_date_time=_text(_child(info, "SignatureDateTime")),
        check_method=refs_el.get("CheckMethod") if refs_el is not None else None,
        references=tuple(refs),
        stamp_annots=tuple(
            StampAnnot(a.get("ID"), a.get("PageRef"), a.get("Boundary"))
            for a in _children(info, "StampAnnot")
        ),
        seal_path=seal_path,
        signed_value_path=signed_value,
        provider=provider.get("ProviderName") if provider is not None else None,
    )


def _digest(method: str | None) -> str | None:
    key = (method or "1.2.156.10197.1.401").strip().lower()
    if key in _SM3_METHODS:
        return "sm3"
    if key in _SHA256_METHODS:
        return "sha256"
    return None


def check_references(pkg: OfdPackage, desc: SignatureDescription) -> tuple[ReferenceResult, ...]:
    """Each Reference: digest of the stored bytes vs CheckValue (§7.3 step 4)."""
    algorithm = _digest(desc.check_method)
    out: list[ReferenceResult] = []
    for ref in desc.references:
        if ref.path is None:
            status = ReferenceStatus.INVALID_PATH
        elif algorithm is None:
            status = ReferenceStatus.UNSUPPORTED_METHOD
        elif (data := pkg.get(ref.path)) is None:
            status = ReferenceStatus.MISSING
        elif ref.check_value is None:
            status = ReferenceStatus.BAD_CHECK_VALUE
        else:
            actual = sm3(data) if algorithm == "sm3" else sha256(data)
            status = (
                ReferenceStatus.OK
                if constant_time_equal(actual, ref.check_value)
                else ReferenceStatus.MISMATCH
            )
        out.append(ReferenceResult(ref.file_ref, ref.path, status))
    return tuple(out)


def page_content_paths(
    pkg: OfdPackage, doc_root: str | None, findings: list[str]
) -> dict[str, str]:
    """Page ID → resolved page Content.xml path, from Document.xml's Pages (for StampAnnot)."""
    if doc_root is None or pkg.get(doc_root) is None:
        return {}
    root = _root(pkg, doc_root, "Document", findings)
    pages = _child(root, "Pages")
    out: dict[str, str] = {}
    for page in _children(pages, "Page") if pages is not None else ():
        page_id, loc = page.get("ID"), page.get("BaseLoc")
        if page_id and loc:
            resolved, _ = _resolve_or_none(loc, dirname(doc_root))
            if resolved is not None:
                out[page_id] = resolved
    return out


def uncovered(names: Iterable[str], covered: Iterable[str], own: Iterable[str]) -> tuple[str, ...]:
    """Package files covered by no Reference, leaving out the signatures' own files."""
    skip = set(covered) | set(own)
    return tuple(sorted(n for n in names if n not in skip))
