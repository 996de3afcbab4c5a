"""SESeal and SES_Signature, versions 1, 4 and 5: decoding into frozen values that keep raw bytes.

Standards: GM/T 0031-2014 §6.1-6.2 (v1, [text]); GB/T 38540-2020 (v4) and GM/T 0031-2025 (v5),
both [recon] as written up in eseal spec §3. The signed message of each signature (§3.5) is kept
as exact bytes from the input: a v4/v5 seal signs the raw ``SES_SealInfo`` TLV, a v1 seal signs a
new ``SEQUENCE`` around the raw ``SES_SealInfo``, ``cert`` and ``signatureAlgorithm`` TLVs, and
every seal signature signs the raw ``TBS_Sign`` TLV. Nothing is decoded and re-encoded.

Tolerated deviations (eseal spec §9) are recorded in ``findings``; deviations that make the
object unusable as a signed statement (unknown critical extension, signature BIT STRING with unused
bits) go to ``format_errors``, which verification reports as a failed ``format`` check.
Encoders for what this service produces live in ``seals.ses_build``.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

from seals.der import (
    Element,
    Tags,
    parse,
    read_bits,
    read_bool,
    read_int,
    read_octets,
    read_oid,
    read_text,
    read_time,
)
from seals.der_build import enc_tlv
from seals.errors import MalformedDer, MalformedSeal, UnsupportedVersion
from seals.ses_types import (
    CertDigest,
    ExtData,
    SealPicture,
    SealProperty,
    SealVersion,
    SESeal,
    SESSignature,
    SignedValueKind,
)

__all__ = [
    "CertDigest",
    "ExtData",
    "SESSignature",
    "SESeal",
    "SealPicture",
    "SealProperty",
    "SealVersion",
    "SignedValueKind",
    "classify_signed_value",
    "parse_seal",
    "parse_ses_signature",
]

_PICTURE_TYPES = frozenset({"PNG", "GIF", "JPG", "JPEG", "BMP", "OFD", "SVG"})
_SES_MAX_DEPTH = 16


class _Notes:
    def __init__(self, der_findings: tuple[str, ...]) -> None:
        self.findings: list[str] = list(der_findings)
        self.errors: list[str] = []


def _bad(message: str) -> MalformedSeal:
    return MalformedSeal(message)


def _seq(el: Element, what: str, sizes: tuple[int, ...]) -> tuple[Element, ...]:
    if not el.is_sequence or len(el.children) not in sizes:
        raise _bad(f"{what}: expected a SEQUENCE of {sizes} elements at offset {el.offset}")
    return el.children


def _parse_root(data: bytes, what: str) -> tuple[Element, tuple[str, ...]]:
    try:
        parsed = parse(data, max_depth=_SES_MAX_DEPTH)
    except MalformedDer as exc:
        raise MalformedDer(f"{what}: {exc.detail}", code=exc.code) from None
    if not parsed.root.is_sequence:
        raise _bad(f"{what}: not a SEQUENCE")
    return parsed.root, parsed.findings


def _text(el: Element, what: str, notes: _Notes, expected: Tags) -> str:
    value, found = read_text(el, what)
    if found is not expected:
        notes.findings.append(f"seal.{what}_not_{expected.name.lower().replace('_', '')}")
    return value


def _signature_bits(el: Element, what: str, notes: _Notes) -> bytes:
    value, unused = read_bits(el, what)
    if unused:
        notes.errors.append(f"seal.{what}_unused_bits")
    return value


def _algorithm(el: Element, what: str, notes: _Notes) -> str:
    if el.is_sequence and el.children:
        notes.findings.append(f"seal.{what}_as_algorithm_identifier")
        return read_oid(el.children[0], what)
    return read_oid(el, what)


def _ext_datas(el: Element, notes: _Notes, where: str) -> tuple[ExtData, ...]:
    items: tuple[Element, ...]
    if el.is_sequence:
        items = el.children
    elif el.is_context(0) and el.constructed:
        first = el.children[0] if el.children else None
        explicit = first is not None and first.is_sequence and bool(first.children)
        if explicit and first is not None and first.children[0].is_sequence:
            notes.findings.append(f"seal.{where}_extdatas_explicit_tag")
            if len(el.children) != 1:
                raise _bad(f"{where}: [0] extDatas holds more than one element")
            items = first.children
        else:
            notes.findings.append(f"seal.{where}_extdatas_implicit_tag")
            items = el.children
    else:
        raise _bad(f"{where}: unexpected element {el.describe()} where extDatas may stand")
    out: list[ExtData] = []
    for item in items:
        parts = _seq(item, "ExtData", (2, 3))
        critical = False
        if len(parts) == 3:
            critical = read_bool(parts[1], "ExtData.critical")
            if not critical:
                notes.findings.append("der.default_value_encoded@" + str(parts[1].offset))
        ext = ExtData(read_oid(parts[0], "extnID"), critical, read_octets(parts[-1], "extnValue"))
        if ext.critical:  # §3.6: no critical extension is understood here
            notes.errors.append(f"seal.unknown_critical_extension:{ext.oid}")
        out.append(ext)
    return tuple(out)


def _time(el: Element, what: str, notes: _Notes, generalized: bool) -> datetime:
    value, canonical = read_time(el, what)
    if el.is_universal(Tags.GENERALIZED_TIME) != generalized:
        notes.findings.append(f"seal.{what}_unexpected_time_type")
    if not canonical:
        notes.findings.append(f"seal.{what}_non_canonical_time")
    return value


def _property(el: Element, notes: _Notes, v1: bool) -> SealProperty:
    parts = list(_seq(el, "SES_ESPropertyInfo", (6, 7)))
    has_list_type = len(parts) == 7
    if has_list_type == v1:
        notes.findings.append("seal.property_layout_version_mismatch")
    seal_type = read_int(parts.pop(0), "property.type")
    name = _text(parts.pop(0), "name", notes, Tags.UTF8_STRING)
    list_type = read_int(parts.pop(0), "certListType") if has_list_type else 1
    cert_list = parts.pop(0)
    if not cert_list.is_sequence:
        raise _bad("certList is not a SEQUENCE OF")
    certs: list[bytes] = []
    digests: list[CertDigest] = []
    for item in cert_list.children:
        if list_type == 1:
            certs.append(read_octets(item, "certList entry"))
        elif list_type == 2:
            kind, value = _seq(item, "CertDigestObj", (2,))
            digests.append(
                CertDigest(
                    read_text(kind, "CertDigestObj.type")[0],
                    read_octets(value, "CertDigestObj.value"),
                )
            )
        else:
            raise _bad(f"certListType {list_type} is neither 1 nor 2")
    dates = [
        _time(p, n, notes, not v1)
        for p, n in zip(parts, ("createDate", "validStart", "validEnd"), strict=True)
    ]
    return SealProperty(seal_type, name, list_type, tuple(certs), tuple(digests), *dates)


_MAX_PICTURE_MM: Final = 1000  # a seal picture is a few centimetres; a metre is implausible


def _picture(el: Element, notes: _Notes) -> SealPicture:
    kind_el, data_el, width_el, height_el = _seq(el, "SES_ESPictrueInfo", (4,))
    kind = _text(kind_el, "picture_type", notes, Tags.IA5_STRING)
    if kind.upper() not in _PICTURE_TYPES:
        notes.findings.append("seal.picture_type_unknown")
    elif kind != kind.upper():
        notes.findings.append("seal.picture_type_not_uppercase")
    width, height = read_int(width_el, "picture.width"), read_int(height_el, "picture.height")
    if not (0 < width <= _MAX_PICTURE_MM and 0 < height <= _MAX_PICTURE_MM):
        # Reported, not decoded: verification never renders a foreign seal's picture.
        notes.findings.append("seal.picture_size_implausible")
    return SealPicture(kind, read_octets(data_el, "picture.data"), width, height)


def _seal_info(
    el: Element, notes: _Notes, v1: bool
) -> tuple[int, str, str, SealProperty, SealPicture, tuple[ExtData, ...]]:
    parts = _seq(el, "SES_SealInfo", (4, 5))
    header = _seq(parts[0], "SES_Header", (3,))
    if read_text(header[0], "header.ID")[0] != "ES":
        notes.findings.append("seal.header_id_not_es")
    header_version = read_int(header[1], "header.version")
    vid = _text(header[2], "vid", notes, Tags.IA5_STRING)
    es_id = _text(parts[1], "esid", notes, Tags.IA5_STRING)
    prop = _property(parts[2], notes, v1)
    picture = _picture(parts[3], notes)
    exts = _ext_datas(parts[4], notes, "seal") if len(parts) == 5 else ()
    return header_version, vid, es_id, prop, picture, exts


def _timestamp_field(el: Element, notes: _Notes, where: str) -> bytes:
    """``[0] BIT STRING``: explicit (A0 len 03 ...) as ofdrw writes it, or implicit (80 ...)."""
    if el.is_context(0) and el.constructed and len(el.children) == 1:
        return _signature_bits(el.children[0], f"{where}_timestamp", notes)
    if el.is_context(0) and not el.constructed:
        notes.findings.append(f"seal.{where}_timestamp_implicit_tag")
        content = el.content
        if not content or content[0] != 0:
            notes.errors.append(f"seal.{where}_timestamp_unused_bits")
        return content[1:]
    raise _bad(f"{where}: unexpected element {el.describe()} where timeStamp may stand")


def _seal_from(root: Element, der_findings: tuple[str, ...]) -> SESeal:
    notes = _Notes(der_findings)
    count = len(root.children)
    if count == 2 and root.children[1].is_sequence:
        info_el, sign_info = root.children
        cert_el, alg_el, sig_el = _seq(sign_info, "SES_SignInfo", (3,))
        header_version, vid, es_id, prop, pic, exts = _seal_info(info_el, notes, v1=True)
        if header_version != 1:
            notes.findings.append(f"seal.v1_layout_header_version_{header_version}")
        version = SealVersion.V1
        # §3.5: v1 signs DER(SEQUENCE { SES_SealInfo, cert, signatureAlgorithm }) from raw TLVs.
        signed = enc_tlv(0x30, info_el.raw + cert_el.raw + alg_el.raw)
        timestamp = None
    elif count in (4, 5):
        info_el, cert_el, alg_el, sig_el = root.children[:4]
        header_version, vid, es_id, prop, pic, exts = _seal_info(info_el, notes, v1=False)
        if count == 5:
            timestamp = _timestamp_field(root.children[4], notes, "seal")
            version = SealVersion.V5
            if header_version != 5:
                notes.findings.append("seal.header_version_mismatch")
        elif header_version in (4, 5):
            version, timestamp = SealVersion(header_version), None
        else:
            raise UnsupportedVersion(f"SESeal header version {header_version} is not supported")
        signed = info_el.raw  # §3.5: v4/v5 sign DER(SES_SealInfo) as it is in the file
    else:
        raise UnsupportedVersion(f"SESeal with {count} top-level elements is not a known version")
    return SESeal(
        version=version,
        header_version=header_version,
        vid=vid,
        es_id=es_id,
        property=prop,
        picture=pic,
        extensions=exts,
        maker_cert=read_octets(cert_el, "maker cert"),
        signature_algorithm=_algorithm(alg_el, "seal_sign_alg", notes),
        signed_value=_signature_bits(sig_el, "seal_signed_value", notes),
        timestamp=timestamp,
        raw=root.raw,
        seal_info_raw=info_el.raw,
        signed_bytes=signed,
        findings=tuple(notes.findings),
        format_errors=tuple(notes.errors),
    )


def parse_seal(data: bytes) -> SESeal:
    """Decode an SESeal (``.esl``) of version 1, 4 or 5 (eseal spec §3.4 decides the version).

    Raises ``MalformedDer``, ``MalformedSeal`` or ``UnsupportedVersion``. Results for seals up
    to ``_CACHED_SEAL_BYTES`` are cached (the result is immutable): stamping parses the same
    seal for every signature, which was a quarter of the time of an SES stamp over bytes.
    """
    if isinstance(data, bytes) and len(data) <= _CACHED_SEAL_BYTES:
        return _parse_seal_cached(data)
    return _parse_seal(data)


_CACHED_SEAL_BYTES: Final = 256 * 1024  # at most 64 entries: 16 MiB


def _parse_seal(data: bytes) -> SESeal:
    root, findings = _parse_root(data, "SESeal")
    return _seal_from(root, findings)


_parse_seal_cached = functools.lru_cache(maxsize=64)(_parse_seal)


_BEIJING = timezone(timedelta(hours=8))


def parse_v1_time_info(raw: bytes) -> tuple[datetime | None, str | None]:
    """v1 ``timeInfo`` is "a timestamp or a UTCTime time" inside a BIT STRING; real files put
    text there (eseal spec §3.1). A text time without a zone is read as Beijing time [recon]."""
    if raw[:1] in (b"\x17", b"\x18"):
        try:
            el = parse(raw, max_depth=1).root
            return read_time(el, "timeInfo")[0], "seal.v1_time_info_der_time"
        except MalformedDer:
            return None, "seal.v1_time_info_unreadable"
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return None, "seal.v1_time_info_unreadable"
    zoned = text.endswith("Z")
    body = text[:-1] if zoned else text
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y%m%d%H%M%S"):
        try:
            value = datetime.strptime(body.split(".")[0], fmt)
        except ValueError:
            continue
        if zoned:
            return value.replace(tzinfo=UTC), "seal.v1_time_info_text"
        return value.replace(tzinfo=_BEIJING).astimezone(UTC), "seal.v1_time_info_text_no_zone"
    return None, "seal.v1_time_info_unreadable"


def _tbs_v1(parts: tuple[Element, ...], notes: _Notes) -> tuple[datetime | None, bytes, str]:
    time_el = parts[2]
    time_info: datetime | None = None
    if time_el.is_universal(Tags.BIT_STRING) or time_el.is_universal(Tags.OCTET_STRING):
        raw_time = read_bits(time_el)[0] if time_el.tag == Tags.BIT_STRING else time_el.content
        time_info, note = parse_v1_time_info(raw_time)
        if note:
            notes.findings.append(note)
    else:
        time_info = _time(time_el, "time_info", notes, generalized=True)
        notes.findings.append("seal.v1_time_info_not_bit_string")
    cert = read_octets(parts[5], "TBS_Sign.cert")
    return time_info, cert, _algorithm(parts[6], "tbs_sign_alg", notes)


def parse_ses_signature(data: bytes) -> SESSignature:
    """Decode an SES_Signature (``SignedValue.dat``) of version 1, 4 or 5.

    Raises ``MalformedDer``, ``MalformedSeal`` or ``UnsupportedVersion``.
    """
    root, findings = _parse_root(data, "SES_Signature")
    notes = _Notes(findings)
    count = len(root.children)
    if count not in (2, 4, 5):
        raise UnsupportedVersion(f"SES_Signature with {count} top-level elements is not known")
    tbs = root.children[0]
    parts = _seq(tbs, "TBS_Sign", (7,) if count == 2 else (5, 6))
    tbs_version = read_int(parts[0], "TBS_Sign.version")
    seal_el = parts[1]
    if not seal_el.is_sequence:
        raise _bad("TBS_Sign.eseal is not a SEQUENCE")
    seal = _seal_from(seal_el, ())
    timestamp: bytes | None = None
    exts: tuple[ExtData, ...] = ()
    if count == 2:
        version = SealVersion.V1
        time_info, signer_cert, algorithm = _tbs_v1(parts, notes)
        signature = _signature_bits(root.children[1], "signature", notes)
    else:
        if tbs_version not in (4, 5):
            raise UnsupportedVersion(f"TBS_Sign version {tbs_version} is not supported")
        version = SealVersion(tbs_version)
        time_info = _time(parts[2], "time_info", notes, generalized=True)
        if len(parts) == 6:
            exts = _ext_datas(parts[5], notes, "tbs")
        signer_cert = read_octets(root.children[1], "SES_Signature.cert")
        algorithm = _algorithm(root.children[2], "signature_alg", notes)
        signature = _signature_bits(root.children[3], "signature", notes)
        if count == 5:
            timestamp = _timestamp_field(root.children[4], notes, "signature")
    if tbs_version != seal.header_version and version is not SealVersion.V1:
        notes.findings.append("seal.tbs_version_differs_from_seal_version")
    data_hash = _signature_bits(parts[3], "data_hash", notes)
    if len(data_hash) != 32:
        notes.findings.append("seal.data_hash_not_32_bytes")
    property_info = _text(parts[4], "property_info", notes, Tags.IA5_STRING)
    return SESSignature(
        version=version,
        tbs_version=tbs_version,
        seal=seal,
        time_info=time_info,
        data_hash=data_hash,
        property_info=property_info,
        signer_cert=signer_cert,
        signature_algorithm=algorithm,
        signature=signature,
        timestamp=timestamp,
        extensions=exts,
        raw=root.raw,
        tbs_raw=tbs.raw,
        findings=tuple(notes.findings) + seal.findings,
        format_errors=tuple(notes.errors) + seal.format_errors,
    )


def classify_signed_value(data: bytes) -> SignedValueKind:
    """Tell an SES_Signature from a GB/T 35275 ContentInfo or a bare SM2 signature (§3.4).

    Raises ``MalformedDer`` when the bytes are not one DER element at all.
    """
    root = parse(data, max_depth=_SES_MAX_DEPTH).root
    kids = root.children
    if root.is_sequence and kids and kids[0].is_universal(Tags.OID):
        return SignedValueKind.CMS
    if root.is_sequence and len(kids) == 2 and all(k.is_universal(Tags.INTEGER) for k in kids):
        return SignedValueKind.PLAIN_SM2
    return SignedValueKind.SES
