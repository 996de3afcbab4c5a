"""The raw material of each signature found at ingest, kept as evidence beside the verifier's
report (earchive spec §1, §7.2 ``evidence/seals/<file>/``: certificate chain, timestamp tokens):
the signer's and the seal maker's certificates, every certificate the signature carries, and
the timestamp tokens.

The seals verifiers return judgements, not bytes, so the bytes are read here with the same
parsers (``seals.ses``, ``seals.cms``) walking an OFD in the same order as
``seals.verify_ofd.verify_ofd`` (document bodies, then each ``Signatures.xml`` entry): the
n-th material belongs to the n-th verification result. Anything unreadable yields ``None``
(the verifier has already judged it); pure, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from seals.cms import parse_signed_data
from seals.ofd import read_doc_bodies, read_signature_xml, read_signatures_xml
from seals.ofd_package import OfdPackage, open_package
from seals.ses import SignedValueKind, classify_signed_value, parse_seal, parse_ses_signature
from seals.ses_types import SESeal
from trust.errors import TrustError

__all__ = ["SignatureMaterial", "detached_material", "ofd_material", "signed_value_material"]

_SIGNATURE: Final = "signature"
_SEAL: Final = "seal"


@dataclass(frozen=True, slots=True)
class SignatureMaterial:
    signer_certificate: bytes | None
    maker_certificate: bytes | None
    certificates: tuple[bytes, ...]  # every certificate carried, signer first
    timestamps: tuple[tuple[str, bytes], ...]  # ("signature" | "seal", token DER)


def _seal_parts(seal: SESeal) -> tuple[tuple[bytes, ...], tuple[tuple[str, bytes], ...]]:
    certs = (seal.maker_cert, *seal.property.certs)
    stamps = ((_SEAL, seal.timestamp),) if seal.timestamp else ()
    return certs, stamps


def _from_ses(value: bytes) -> SignatureMaterial:
    sig = parse_ses_signature(value)
    seal_certs, seal_stamps = _seal_parts(sig.seal)
    stamps = ((_SIGNATURE, sig.timestamp),) if sig.timestamp else ()
    return SignatureMaterial(
        signer_certificate=sig.signer_cert,
        maker_certificate=sig.seal.maker_cert,
        certificates=(sig.signer_cert, *seal_certs),
        timestamps=stamps + seal_stamps,
    )


def _from_cms(value: bytes) -> SignatureMaterial:
    sd = parse_signed_data(value)
    certs = tuple(c for c in sd.certificates if c != sd.signer_cert)
    lead = (sd.signer_cert,) if sd.signer_cert else ()
    return SignatureMaterial(sd.signer_cert, None, lead + certs, ())


def signed_value_material(value: bytes) -> SignatureMaterial | None:
    """An SES_Signature or a GB/T 35275 SignedData (an OFD ``SignedValue.dat``)."""
    try:
        kind = classify_signed_value(value)
        if kind is SignedValueKind.CMS:
            return _from_cms(value)
        if kind is SignedValueKind.SES:
            return _from_ses(value)
    except TrustError:
        return None
    return None


def detached_material(kind: str, data: bytes) -> SignatureMaterial | None:
    """A detached ``.sig`` (SES_Signature) or an ``.esl`` seal file (``kind == "seal"``)."""
    try:
        if kind == "seal":
            seal = parse_seal(data)
            certs, stamps = _seal_parts(seal)
            return SignatureMaterial(None, seal.maker_cert, certs, stamps)
        return _from_ses(data)
    except TrustError:
        return None


def _entries(pkg: OfdPackage) -> list[SignatureMaterial | None]:
    out: list[SignatureMaterial | None] = []
    findings: list[str] = []
    for body in read_doc_bodies(pkg, findings):
        if body.signatures is None:
            continue
        try:
            sig_file = read_signatures_xml(pkg, body.signatures, findings)
        except TrustError:
            out.append(None)  # verify_ofd reports one malformed result here
            continue
        for entry in sig_file.entries:
            out.append(_entry_material(pkg, entry.path, findings))
    return out


def _entry_material(
    pkg: OfdPackage, path: str | None, findings: list[str]
) -> SignatureMaterial | None:
    if path is None:
        return None
    try:
        desc = read_signature_xml(pkg, path, findings)
    except TrustError:
        return None
    value = pkg.get(desc.signed_value_path) if desc.signed_value_path else None
    return signed_value_material(value) if value is not None else None


def ofd_material(data: bytes) -> list[SignatureMaterial | None]:
    """One entry per signature of the OFD, in ``verify_ofd``'s order."""
    try:
        return _entries(open_package(data))
    except TrustError:
        return []
