"""A lenient X.509 v3 reader (RFC 5280 §4.1) for the certificates carried inside seals.

Government certificates break strict parsers (UTF-8 bytes in IA5String, unusual string types,
AlgorithmIdentifier with or without NULL: eseal spec §9), so only the fields the seal verifier needs
are read, names are decoded leniently for display, and the raw DER of ``tbsCertificate``, issuer and
subject is kept for signature checks and byte-exact comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from seals.der import (
    Element,
    Tags,
    parse,
    read_bits,
    read_bool,
    read_int,
    read_oid,
    read_text,
    read_time,
)
from seals.errors import MalformedDer, MalformedSeal

__all__ = ["Certificate", "parse_certificate"]

_ATTR_NAMES: Final = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.5": "serialNumber",
    "1.2.840.113549.1.9.1": "emailAddress",
    "2.5.4.45": "x500UniqueIdentifier",
}
_KEY_USAGE_BITS: Final = (
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
)
_OID_BASIC_CONSTRAINTS: Final = "2.5.29.19"
_OID_KEY_USAGE: Final = "2.5.29.15"
_OID_EXT_KEY_USAGE: Final = "2.5.29.37"
#: Extensions whose semantics this reader knows or that do not restrict signature use.
_KNOWN_EXTENSIONS: Final = frozenset(
    {
        _OID_BASIC_CONSTRAINTS,
        _OID_KEY_USAGE,
        _OID_EXT_KEY_USAGE,
        "2.5.29.14",
        "2.5.29.35",
        "2.5.29.17",
        "2.5.29.18",
        "2.5.29.31",
        "2.5.29.32",
        "1.3.6.1.5.5.7.1.1",
    }
)


@dataclass(frozen=True, slots=True)
class Certificate:
    """The fields of one certificate that seal verification uses; ``der`` is the exact input."""

    der: bytes
    tbs: bytes  # exact tbsCertificate TLV: the bytes the issuer signed
    signature_algorithm: str
    signature: bytes
    serial: int
    issuer_der: bytes
    subject_der: bytes
    issuer: tuple[tuple[str, str], ...]
    subject: tuple[tuple[str, str], ...]
    not_before: datetime
    not_after: datetime
    is_ca: bool | None  # None: no basicConstraints extension
    path_length: int | None
    key_usage: frozenset[str] | None  # None: no keyUsage extension
    extended_key_usage: tuple[str, ...] | None
    unknown_critical_extensions: tuple[str, ...]

    def _first(self, names: tuple[tuple[str, str], ...], attr: str) -> str | None:
        return next((value for key, value in names if key == attr), None)

    @property
    def common_name(self) -> str | None:
        return self._first(self.subject, "CN")

    @property
    def organisation(self) -> str | None:
        return self._first(self.subject, "O")

    @property
    def issuer_common_name(self) -> str | None:
        return self._first(self.issuer, "CN")

    def subject_text(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.subject)

    def issuer_text(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.issuer)

    def valid_at(self, at: datetime) -> bool:
        return self.not_before <= at <= self.not_after


def parse_certificate(der: bytes) -> Certificate:
    """Read a DER certificate; raises ``MalformedSeal`` (code seal.malformed_certificate)."""
    try:
        root = parse(der, max_depth=24).root
        return _certificate(root, der)
    except MalformedDer as exc:
        raise _bad(exc.detail) from exc


def _bad(message: str) -> MalformedSeal:
    return MalformedSeal(f"certificate: {message}", code="seal.malformed_certificate")


def _certificate(root: Element, der: bytes) -> Certificate:
    if not root.is_sequence or len(root.children) != 3:
        raise _bad("not a SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }")
    tbs, alg, sig = root.children
    if not tbs.is_sequence or not alg.is_sequence or not alg.children:
        raise _bad("malformed tbsCertificate or signatureAlgorithm")
    signature, unused = read_bits(sig, "signatureValue")
    if unused:
        raise _bad("signatureValue has unused bits")
    fields = list(tbs.children)
    if fields and fields[0].is_context(0):
        fields.pop(0)
    if len(fields) < 6:
        raise _bad("tbsCertificate has too few fields")
    serial_el, _sig_alg, issuer, validity, subject, _spki = fields[:6]
    if not validity.is_sequence or len(validity.children) != 2:
        raise _bad("malformed validity")
    extensions = next((f for f in fields[6:] if f.is_context(3) and f.constructed), None)
    is_ca, path_len, usage, eku, unknown = _extensions(extensions)
    return Certificate(
        der=der,
        tbs=tbs.raw,
        signature_algorithm=read_oid(alg.children[0], "signatureAlgorithm"),
        signature=signature,
        serial=read_int(serial_el, "serialNumber"),
        issuer_der=issuer.raw,
        subject_der=subject.raw,
        issuer=_name(issuer),
        subject=_name(subject),
        not_before=read_time(validity.children[0], "notBefore")[0],
        not_after=read_time(validity.children[1], "notAfter")[0],
        is_ca=is_ca,
        path_length=path_len,
        key_usage=usage,
        extended_key_usage=eku,
        unknown_critical_extensions=unknown,
    )


def _name(name: Element) -> tuple[tuple[str, str], ...]:
    if not name.is_sequence:
        raise _bad("Name is not a SEQUENCE")
    out: list[tuple[str, str]] = []
    for rdn in name.children:
        for atv in rdn.children:
            if not atv.is_sequence or len(atv.children) != 2:
                raise _bad("malformed AttributeTypeAndValue")
            oid = read_oid(atv.children[0], "attribute type")
            value_el = atv.children[1]
            try:
                value = read_text(value_el, "attribute value")[0]
            except MalformedDer:
                value = "#" + value_el.raw.hex()
            out.append((_ATTR_NAMES.get(oid, oid), value))
    return tuple(out)


def _extensions(
    wrapper: Element | None,
) -> tuple[bool | None, int | None, frozenset[str] | None, tuple[str, ...] | None, tuple[str, ...]]:
    is_ca: bool | None = None
    path_len: int | None = None
    usage: frozenset[str] | None = None
    eku: tuple[str, ...] | None = None
    unknown: list[str] = []
    if wrapper is None:
        return is_ca, path_len, usage, eku, ()
    if len(wrapper.children) != 1 or not wrapper.children[0].is_sequence:
        raise _bad("malformed extensions")
    for ext in wrapper.children[0].children:
        parts = list(ext.children)
        if not ext.is_sequence or len(parts) not in (2, 3):
            raise _bad("malformed Extension")
        oid = read_oid(parts[0], "extnID")
        critical = read_bool(parts[1], "critical") if len(parts) == 3 else False
        value_el = parts[-1]
        if not value_el.is_universal(Tags.OCTET_STRING):
            raise _bad("extnValue is not an OCTET STRING")
        inner = (
            parse(value_el.content, max_depth=8).root
            if oid in (_OID_BASIC_CONSTRAINTS, _OID_KEY_USAGE, _OID_EXT_KEY_USAGE)
            else None
        )
        if oid == _OID_BASIC_CONSTRAINTS and inner is not None:
            items = list(inner.children)
            is_ca = bool(items and items[0].is_universal(Tags.BOOLEAN) and read_bool(items[0]))
            ints = [i for i in items if i.is_universal(Tags.INTEGER)]
            path_len = read_int(ints[0]) if ints else None
        elif oid == _OID_KEY_USAGE and inner is not None:
            bits, _unused = read_bits(inner, "keyUsage")
            usage = frozenset(
                name
                for i, name in enumerate(_KEY_USAGE_BITS)
                if i // 8 < len(bits) and bits[i // 8] & (0x80 >> (i % 8))
            )
        elif oid == _OID_EXT_KEY_USAGE and inner is not None:
            eku = tuple(read_oid(c, "KeyPurposeId") for c in inner.children)
        elif critical and oid not in _KNOWN_EXTENSIONS:
            unknown.append(oid)
    return is_ca, path_len, usage, eku, tuple(unknown)
