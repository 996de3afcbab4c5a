"""GB/T 35275 SignedData as found in OFD ``SignedValue.dat`` for ``Type="Sign"`` (eseal spec §8).

The shape is PKCS#7 v1.5 with SM OIDs [recon]. Two forms occur [obs]:
form A: detached, with authenticatedAttributes; the SM2 signature covers the DER of the attributes
as a ``SET OF`` (the ``[0]`` tag byte A0 replaced by 31) and ``messageDigest`` = SM3 of the file;
form B: no attributes; the encapsulated content is SM3 of the file (32 bytes) and is itself the
signed message. Either way the signed file is the raw Signature.xml.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from seals.der import Element, Tags, parse, read_int, read_octets, read_oid, read_time
from seals.errors import MalformedDer, MalformedSeal
from seals.x509 import parse_certificate
from trust.crypto.algorithms import OID_GBT35275_DATA, OID_GBT35275_SIGNED_DATA
from trust.errors import TrustError

__all__ = ["SignedDataSignature", "parse_signed_data"]

_PKCS7_SIGNED_DATA: Final = "1.2.840.113549.1.7.2"
_PKCS7_DATA: Final = "1.2.840.113549.1.7.1"
_ATTR_CONTENT_TYPE: Final = "1.2.840.113549.1.9.3"
_ATTR_MESSAGE_DIGEST: Final = "1.2.840.113549.1.9.4"
_ATTR_SIGNING_TIME: Final = "1.2.840.113549.1.9.5"


@dataclass(frozen=True, slots=True)
class SignedDataSignature:
    form: str  # "A" (signed attributes) or "B" (attached digest)
    content_type: str
    inner_content_type: str
    certificates: tuple[bytes, ...]
    signer_cert: bytes | None  # found by issuer + serial; None if absent
    digest_algorithm: str
    signature_algorithm: str
    signature: bytes
    signed_message: bytes  # exactly what the SM2 signature covers
    covered_digest: bytes | None  # messageDigest (form A) or the content (form B)
    signing_time: datetime | None
    findings: tuple[str, ...]


def _bad(message: str) -> MalformedSeal:
    return MalformedSeal(f"SignedData: {message}", code="cms.malformed")


def _alg(el: Element, what: str) -> str:
    if not el.is_sequence or not el.children:
        raise _bad(f"{what} is not an AlgorithmIdentifier")
    return read_oid(el.children[0], what)


def _attributes(el: Element) -> dict[str, Element]:
    out: dict[str, Element] = {}
    for attr in el.children:
        if not attr.is_sequence or len(attr.children) != 2 or not attr.children[1].children:
            raise _bad("malformed Attribute")
        out[read_oid(attr.children[0], "attrType")] = attr.children[1].children[0]
    return out


def _signer_cert(certs: list[bytes], issuer_raw: bytes, serial: int) -> bytes | None:
    for der in certs:
        try:
            cert = parse_certificate(der)
        except TrustError:
            continue
        if cert.issuer_der == issuer_raw and cert.serial == serial:
            return der
    return None


def parse_signed_data(data: bytes) -> SignedDataSignature:
    """Decode a GB/T 35275 ContentInfo holding SignedData with exactly one SignerInfo."""
    try:
        parsed = parse(data, max_depth=24)
        return _parse(parsed.root, parsed.findings)
    except MalformedDer as exc:
        raise MalformedDer(f"SignedData: {exc.detail}", code=exc.code) from None
    except IndexError:
        raise _bad("missing fields") from None


def _parse(root: Element, der_findings: tuple[str, ...]) -> SignedDataSignature:
    findings = list(der_findings)
    if not root.is_sequence or len(root.children) != 2 or not root.children[1].is_context(0):
        raise _bad("not a ContentInfo { OID, [0] content }")
    content_type = read_oid(root.children[0], "contentType")
    if content_type not in (OID_GBT35275_SIGNED_DATA, _PKCS7_SIGNED_DATA):
        raise _bad(f"contentType {content_type} is not signedData")
    if content_type == _PKCS7_SIGNED_DATA:
        findings.append("cms.pkcs7_signed_data_oid")
    sd = root.children[1].children[0]
    fields = list(sd.children)
    read_int(fields.pop(0), "version")
    fields.pop(0)  # digestAlgorithms: the SignerInfo names the one used
    inner = fields.pop(0)
    if not inner.is_sequence or not inner.children:
        raise _bad("malformed encapContentInfo")
    inner_type = read_oid(inner.children[0], "eContentType")
    content: bytes | None = None
    if len(inner.children) > 1 and inner.children[1].is_context(0):
        content = read_octets(inner.children[1].children[0], "eContent")
    certs: list[bytes] = []
    while fields and not fields[0].is_universal(Tags.SET):
        tagged = fields.pop(0)
        if tagged.is_context(0):
            certs.extend(c.raw for c in tagged.children)
    if len(fields) != 1 or len(fields[0].children) != 1:
        raise _bad("exactly one SignerInfo is supported")
    return _signer_info(fields[0].children[0], content_type, inner_type, content, certs, findings)


def _signer_info(
    si: Element,
    content_type: str,
    inner_type: str,
    content: bytes | None,
    certs: list[bytes],
    findings: list[str],
) -> SignedDataSignature:
    parts = list(si.children)
    read_int(parts.pop(0), "SignerInfo.version")
    ias = parts.pop(0)
    if not ias.is_sequence or len(ias.children) != 2:
        raise _bad("malformed issuerAndSerialNumber")
    signer = _signer_cert(certs, ias.children[0].raw, read_int(ias.children[1], "serial"))
    digest_alg = _alg(parts.pop(0), "digestAlgorithm")
    signing_time: datetime | None = None
    covered: bytes | None
    if parts[0].is_context(0):
        attrs_el = parts.pop(0)
        attrs = _attributes(attrs_el)
        form, signed = "A", b"\x31" + attrs_el.raw[1:]  # §8: [0] IMPLICIT → SET OF for signing
        md = attrs.get(_ATTR_MESSAGE_DIGEST)
        covered = read_octets(md, "messageDigest") if md is not None else None
        if _ATTR_SIGNING_TIME in attrs:
            signing_time = read_time(attrs[_ATTR_SIGNING_TIME], "signingTime")[0]
        ct = attrs.get(_ATTR_CONTENT_TYPE)
        if ct is not None and read_oid(ct) not in (OID_GBT35275_DATA, _PKCS7_DATA):
            findings.append("cms.unexpected_content_type_attribute")
    else:
        if content is None:
            raise _bad("neither signed attributes nor encapsulated content")
        form, signed, covered = "B", content, content
    sig_alg = _alg(parts.pop(0), "digestEncryptionAlgorithm")
    signature = read_octets(parts.pop(0), "encryptedDigest")
    return SignedDataSignature(
        form=form,
        content_type=content_type,
        inner_content_type=inner_type,
        certificates=tuple(certs),
        signer_cert=signer,
        digest_algorithm=digest_alg,
        signature_algorithm=sig_alg,
        signature=signature,
        signed_message=signed,
        covered_digest=covered,
        signing_time=signing_time,
        findings=tuple(findings),
    )
