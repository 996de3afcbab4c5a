"""Producing a sealed OFD (eseal spec §7.5; GB/T 33190-2016 chapter 18).

Steps: find the next ``Sign_N`` folder and signature ID; write ``Seal.esl``; add
``DocBody/Signatures`` to OFD.xml when absent and (re)write ``Signatures.xml`` (``MaxSignId``, the
new ``Signature`` with ``ID``, ``Type="Seal"``, absolute ``BaseLoc``); write ``Signature.xml`` whose
References cover every file of the package except ``Signatures.xml`` (so that later signatures stay
possible); obtain ``SignedValue.dat`` from the caller's ``sign_ses`` callback (which builds TBS_Sign
with dataHash = SM3 of the exact Signature.xml bytes and propertyInfo = its absolute path, and signs
through a ``keys`` Signer); write the ZIP with a deterministic entry order and fixed timestamps.
Refuses when an existing signature protects Signatures.xml (§7.5 step 5).
"""

from __future__ import annotations

import base64
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from xml.sax.saxutils import escape, quoteattr

from seals.errors import OfdError
from seals.ofd import (
    NS_OFD,
    page_content_paths,
    read_doc_bodies,
    read_signature_xml,
    read_signatures_xml,
)
from seals.ofd_package import DEFAULT_LIMITS, OfdPackage, PackageLimits, open_package
from seals.ports import NoTrustAnchors
from seals.ses import parse_seal
from seals.ses_build import Sign, make_ses_signature_v4
from seals.verify_ofd import verify_ofd
from trust.crypto.algorithms import OID_SM2_WITH_SM3, OID_SM3
from trust.crypto.hashing import sm3
from trust.errors import Conflict, IntegrityFailure

__all__ = ["SealPlacement", "SignSes", "seal_ofd", "ses_signature_callback"]

#: ``sign_ses(signature_xml_bytes, signature_xml_absolute_path) -> SignedValue.dat bytes``.
SignSes = Callable[[bytes, str], bytes]

_ZIP_TIME: Final = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class SealPlacement:
    """Where the seal picture goes: page index (0-based, in Document.xml order) and the
    StampAnnot ``Boundary`` (x, y, width, height) in millimetres."""

    page_index: int
    x_mm: float
    y_mm: float
    width_mm: float
    height_mm: float

    def boundary(self) -> str:
        return " ".join(f"{v:g}" for v in (self.x_mm, self.y_mm, self.width_mm, self.height_mm))


def _next_sign_dir(pkg: OfdPackage, signs_dir: str) -> str:
    n = 0
    while any(name.startswith(f"{signs_dir}/Sign_{n}/") for name in pkg.names):
        n += 1
    return f"{signs_dir}/Sign_{n}"


def _insert_signatures_into_ofd_xml(ofd_xml: bytes, signatures_path: str) -> bytes:
    text = ofd_xml.decode("utf-8")
    match = re.search(r"</(\w+:)?DocBody\s*>", text)
    if match is None:
        raise OfdError("OFD.xml has no DocBody", code="ofd.unexpected_xml")
    prefix = match.group(1) or ""
    element = f"<{prefix}Signatures>{escape(signatures_path)}</{prefix}Signatures>"
    return (text[: match.start()] + element + text[match.start() :]).encode("utf-8")


def _signatures_xml(entries: list[tuple[str, str, str]], max_id: int) -> bytes:
    items = "".join(
        f"<ofd:Signature ID={quoteattr(i)} Type={quoteattr(t)} BaseLoc={quoteattr(loc)}/>"
        for i, t, loc in entries
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Signatures xmlns:ofd="{NS_OFD}">'
        f"<ofd:MaxSignId>{max_id}</ofd:MaxSignId>{items}</ofd:Signatures>"
    ).encode()


def _signature_xml(
    files: dict[str, bytes],
    *,
    sign_dir: str,
    page_id: str,
    placement: SealPlacement,
    when: datetime,
    provider: str,
) -> bytes:
    refs = "".join(
        f"<ofd:Reference FileRef={quoteattr('/' + name)}><ofd:CheckValue>"
        f"{base64.b64encode(sm3(data)).decode('ascii')}</ofd:CheckValue></ofd:Reference>"
        for name, data in sorted(files.items())
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Signature xmlns:ofd="{NS_OFD}">'
        f'<ofd:SignedInfo><ofd:Provider ProviderName={quoteattr(provider)} Version="1.0"/>'
        f"<ofd:SignatureMethod>{OID_SM2_WITH_SM3}</ofd:SignatureMethod>"
        f"<ofd:SignatureDateTime>{when.astimezone(UTC):%Y%m%d%H%M%SZ}</ofd:SignatureDateTime>"
        f'<ofd:References CheckMethod="{OID_SM3}">{refs}</ofd:References>'
        f'<ofd:StampAnnot ID="1" PageRef={quoteattr(page_id)} '
        f"Boundary={quoteattr(placement.boundary())}/>"
        f"<ofd:Seal><ofd:BaseLoc>/{escape(sign_dir)}/Seal.esl</ofd:BaseLoc></ofd:Seal>"
        f"</ofd:SignedInfo><ofd:SignedValue>/{escape(sign_dir)}/SignedValue.dat</ofd:SignedValue>"
        f"</ofd:Signature>"
    ).encode()


def _existing(pkg: OfdPackage, signatures_path: str) -> tuple[list[tuple[str, str, str]], int]:
    findings: list[str] = []
    current = read_signatures_xml(pkg, signatures_path, findings)
    entries: list[tuple[str, str, str]] = []
    max_text = current.max_sign_id or ""
    max_id = int(max_text) if max_text.isdigit() else 0
    for entry in current.entries:
        if entry.path is not None and pkg.get(entry.path) is not None:
            desc = read_signature_xml(pkg, entry.path, findings)
            if any(ref.path == signatures_path for ref in desc.references):
                raise Conflict(
                    "an existing signature protects Signatures.xml; adding a signature "
                    "would break it",
                    code="ofd.signatures_protected",
                )
        entries.append((entry.id or "", entry.type, entry.base_loc))
        if entry.id is not None and entry.id.isdigit():
            max_id = max(max_id, int(entry.id))
    return entries, max_id


def seal_ofd(
    document: bytes,
    *,
    seal_der: bytes,
    placement: SealPlacement,
    sign_ses: SignSes,
    signing_time: datetime,
    provider: str = "ywtb-trust",
    limits: PackageLimits = DEFAULT_LIMITS,
) -> bytes:
    """Return ``document`` with one more seal signature on its first DocBody (§7.5)."""
    parse_seal(seal_der)  # only a readable seal is embedded
    pkg = open_package(document, limits=limits)
    findings: list[str] = []
    bodies = read_doc_bodies(pkg, findings)
    body = bodies[0] if bodies else None
    doc_root = body.doc_root if body is not None else None
    if body is None or doc_root is None:
        raise OfdError("OFD.xml names no document", code="ofd.no_document")
    pages = list(page_content_paths(pkg, doc_root, findings))
    if not 0 <= placement.page_index < len(pages):
        raise OfdError(f"page {placement.page_index} does not exist", code="ofd.no_such_page")
    files = dict(pkg.entries)
    doc_dir = doc_root.rsplit("/", 1)[0] if "/" in doc_root else ""
    signatures_path = body.signatures or f"{doc_dir}/Signs/Signatures.xml".lstrip("/")
    entries: list[tuple[str, str, str]]
    if body.signatures is None:
        files["OFD.xml"] = _insert_signatures_into_ofd_xml(files["OFD.xml"], signatures_path)
        entries, max_id = [], 0
    elif pkg.get(signatures_path) is None:
        entries, max_id = [], 0
    else:
        entries, max_id = _existing(pkg, signatures_path)
    sign_dir = _next_sign_dir(pkg, signatures_path.rsplit("/", 1)[0])
    new_id = str(max_id + 1)
    entries.append((new_id, "Seal", f"/{sign_dir}/Signature.xml"))
    files[f"{sign_dir}/Seal.esl"] = seal_der
    protected = {k: v for k, v in files.items() if k != signatures_path}
    signature_xml = _signature_xml(
        protected,
        sign_dir=sign_dir,
        page_id=pages[placement.page_index],
        placement=placement,
        when=signing_time,
        provider=provider,
    )
    files[f"{sign_dir}/Signature.xml"] = signature_xml
    files[f"{sign_dir}/SignedValue.dat"] = sign_ses(signature_xml, f"/{sign_dir}/Signature.xml")
    files[signatures_path] = _signatures_xml(entries, int(new_id))
    sealed = _write_zip(files, list(pkg.names))
    _self_check(sealed, f"{sign_dir}/Signature.xml", limits)
    return sealed


_MUST_PASS: Final = (
    "format",
    "signer_signature",
    "seal_signature",
    "document_hash",
    "ofd_references",
    "seal_file",
)


def _self_check(sealed: bytes, signature_path: str, limits: PackageLimits) -> None:
    """§7.5 step 6: re-open the output and verify the new signature's integrity checks."""
    result = verify_ofd(sealed, trust=NoTrustAnchors(), now=None, limits=limits)
    mine = [s for s in result.signatures if s.signature_path == signature_path]
    failing = [n for n in _MUST_PASS if not mine or not getattr(mine[0], n).ok]
    if failing:
        raise IntegrityFailure(
            f"the sealed OFD does not verify: {', '.join(failing)}",
            code="ofd.sealed_output_does_not_verify",
        )


def ses_signature_callback(
    *,
    seal_der: bytes,
    signer_cert: bytes,
    sign: Sign,
    signing_time: datetime,
    timestamp: Callable[[bytes], bytes] | None = None,
) -> SignSes:
    """A ``sign_ses`` for ``seal_ofd``: a v4 SES_Signature with dataHash = SM3(Signature.xml)
    and propertyInfo = its absolute path (eseal spec §7.2), signed through ``sign``."""

    def sign_ses(signature_xml: bytes, path: str) -> bytes:
        return make_ses_signature_v4(
            seal_der=seal_der,
            signer_cert=signer_cert,
            time_info=signing_time,
            data_hash=sm3(signature_xml),
            property_info=path,
            sign=sign,
            timestamp=timestamp,
        )

    return sign_ses


def _write_zip(files: dict[str, bytes], original_order: list[str]) -> bytes:
    """Original entries in their original order, then new ones sorted; fixed timestamps."""
    order = [n for n in original_order if n in files] + sorted(set(files) - set(original_order))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in order:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, files[name])
    return out.getvalue()
