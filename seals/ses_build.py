"""Producing GB/T 38540-2020 (v4) SESeal and SES_Signature DER (eseal spec §3.2, §6).

What we write (eseal spec §6): header ``ES`` / 4 / our Vid; ``name`` UTF8String; ``certListType`` 1
with full DER certificates; dates GeneralizedTime UTC ``YYYYMMDDHHMMSSZ``; picture type uppercase;
``signAlgID`` 1.2.156.10197.1.501; signature values DER ``SEQUENCE { r, s }``; TBS_Sign ``extDatas``
and the ``timeStamp`` as ``[0]`` EXPLICIT (as ofdrw writes them, §3.2 tagging notes).

No private key reaches this module: callers pass ``sign``, a ``keys`` Signer's ``sign`` (SM2 with
SM3 and the default user ID over the message, DER result). Every output is re-parsed by
``seals.ses`` before it is returned, and the signed bytes are checked to be the ones just built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from seals.der_build import (
    enc_bits,
    enc_boolean,
    enc_explicit,
    enc_generalized_time,
    enc_ia5,
    enc_integer,
    enc_octets,
    enc_oid,
    enc_seq,
    enc_utf8,
)
from seals.errors import MalformedSeal
from seals.ses import ExtData, SealVersion, parse_seal, parse_ses_signature
from trust.crypto.algorithms import OID_SM2_WITH_SM3
from trust.crypto.sm2 import InvalidSignature, SignatureEncoding, decode_signature
from trust.errors import InvalidInput

__all__ = [
    "SealSpec",
    "Sign",
    "encode_seal_info_v4",
    "encode_tbs_sign_v4",
    "make_seal_v4",
    "make_ses_signature_v4",
]

#: ``sign(message) -> DER SEQUENCE { r, s }``: SM2 with SM3 and the default user ID.
Sign = Callable[[bytes], bytes]


@dataclass(frozen=True, slots=True)
class SealSpec:
    """The content of a seal to be made (GB/T 38540 SES_SealInfo)."""

    vid: str
    es_id: str
    seal_type: int
    name: str
    signer_certs: Sequence[bytes]
    create_date: datetime
    valid_start: datetime
    valid_end: datetime
    picture: bytes
    picture_width_mm: int
    picture_height_mm: int
    picture_type: str = "PNG"
    extensions: Sequence[ExtData] = field(default_factory=tuple)


def _ext_datas(extensions: Sequence[ExtData]) -> bytes:
    return enc_seq(
        *(
            enc_seq(
                enc_oid(e.oid), *((enc_boolean(True),) if e.critical else ()), enc_octets(e.value)
            )
            for e in extensions
        )
    )


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidInput(message, code="seal.invalid_request")


def encode_seal_info_v4(spec: SealSpec) -> bytes:
    """DER of SES_SealInfo (v4) for ``spec``; this is the message the maker signs."""
    _require(spec.vid.isascii() and spec.es_id.isascii(), "vid and esID must be ASCII (IA5String)")
    _require(len(spec.signer_certs) > 0, "a seal lists at least one signer certificate")
    _require(spec.valid_start < spec.valid_end, "validStart must be before validEnd")
    _require(spec.picture_width_mm > 0 and spec.picture_height_mm > 0, "picture size in mm > 0")
    for when in (spec.create_date, spec.valid_start, spec.valid_end):
        _require(when.tzinfo is not None, "seal dates must be timezone-aware")
    header = enc_seq(enc_ia5("ES"), enc_integer(4), enc_ia5(spec.vid))
    prop = enc_seq(
        enc_integer(spec.seal_type),
        enc_utf8(spec.name),
        enc_integer(1),  # certListType 1: full certificates (eseal spec §6)
        enc_seq(*(enc_octets(c) for c in spec.signer_certs)),
        enc_generalized_time(spec.create_date),
        enc_generalized_time(spec.valid_start),
        enc_generalized_time(spec.valid_end),
    )
    picture = enc_seq(
        enc_ia5(spec.picture_type.upper()),
        enc_octets(spec.picture),
        enc_integer(spec.picture_width_mm),
        enc_integer(spec.picture_height_mm),
    )
    parts = [header, enc_ia5(spec.es_id), prop, picture]
    if spec.extensions:
        parts.append(_ext_datas(spec.extensions))
    return enc_seq(*parts)


def _checked_signature(sign: Sign, message: bytes) -> bytes:
    value = sign(message)
    try:
        encoding = decode_signature(value)[2]
    except InvalidSignature:
        raise InvalidInput(
            "signer returned a malformed SM2 signature", code="seal.signer_output_malformed"
        ) from None
    _require(encoding is SignatureEncoding.DER, "signer must return DER SEQUENCE { r, s }")
    return value


def make_seal_v4(spec: SealSpec, *, maker_cert: bytes, sign: Sign) -> bytes:
    """A complete v4 SESeal: SES_SealInfo, maker certificate, SM2-with-SM3, signedValue."""
    seal_info = encode_seal_info_v4(spec)
    signature = _checked_signature(sign, seal_info)
    der = enc_seq(seal_info, enc_octets(maker_cert), enc_oid(OID_SM2_WITH_SM3), enc_bits(signature))
    parsed = parse_seal(der)
    if parsed.version is not SealVersion.V4 or parsed.signed_bytes != seal_info:
        raise MalformedSeal("produced seal does not re-parse to what was signed")
    return der


def encode_tbs_sign_v4(
    *,
    seal_der: bytes,
    time_info: datetime,
    data_hash: bytes,
    property_info: str,
    extensions: Sequence[ExtData] = (),
) -> bytes:
    """DER of TBS_Sign (v4): the message the signer signs. ``seal_der`` is embedded as is."""
    seal = parse_seal(seal_der)  # refuse to embed anything that is not a seal
    _require(seal.raw == seal_der, "seal DER must be exactly one SESeal")
    _require(len(data_hash) == 32, "dataHash must be the 32-byte SM3 digest")
    _require(property_info.isascii(), "propertyInfo must be ASCII (IA5String)")
    _require(time_info.tzinfo is not None, "timeInfo must be timezone-aware")
    parts = [
        enc_integer(4),
        seal_der,
        enc_generalized_time(time_info),
        enc_bits(data_hash),
        enc_ia5(property_info),
    ]
    if extensions:
        parts.append(enc_explicit(0, _ext_datas(extensions)))
    return enc_seq(*parts)


def make_ses_signature_v4(
    *,
    seal_der: bytes,
    signer_cert: bytes,
    time_info: datetime,
    data_hash: bytes,
    property_info: str,
    sign: Sign,
    timestamp: Callable[[bytes], bytes] | None = None,
    extensions: Sequence[ExtData] = (),
) -> bytes:
    """A complete v4 SES_Signature. ``timestamp(signature) -> token DER`` is optional; the token
    is stored as ``[0] EXPLICIT BIT STRING`` after the signature it covers."""
    tbs = encode_tbs_sign_v4(
        seal_der=seal_der,
        time_info=time_info,
        data_hash=data_hash,
        property_info=property_info,
        extensions=extensions,
    )
    signature = _checked_signature(sign, tbs)
    parts = [tbs, enc_octets(signer_cert), enc_oid(OID_SM2_WITH_SM3), enc_bits(signature)]
    if timestamp is not None:
        parts.append(enc_explicit(0, enc_bits(timestamp(signature))))
    der = enc_seq(*parts)
    parsed = parse_ses_signature(der)
    if parsed.tbs_raw != tbs or parsed.seal.raw != seal_der or parsed.signature != signature:
        raise MalformedSeal("produced seal signature does not re-parse to what was signed")
    return der
