"""DER encoders (ITU-T X.690 §10) for the structures this service writes: definite, minimal
lengths; minimal INTEGERs; SET OF sorted; GeneralizedTime ``YYYYMMDDHHMMSSZ`` in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

__all__ = [
    "enc_bits",
    "enc_boolean",
    "enc_explicit",
    "enc_generalized_time",
    "enc_ia5",
    "enc_integer",
    "enc_octets",
    "enc_oid",
    "enc_seq",
    "enc_set_of",
    "enc_tlv",
    "enc_utf8",
]


def _enc_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def enc_tlv(tag_byte: int, content: bytes) -> bytes:
    """One TLV with a single-byte identifier (class, constructed bit and tag number < 31)."""
    return bytes([tag_byte]) + _enc_length(len(content)) + content


def enc_seq(*parts: bytes) -> bytes:
    return enc_tlv(0x30, b"".join(parts))


def enc_set_of(parts: Iterable[bytes]) -> bytes:
    return enc_tlv(0x31, b"".join(sorted(parts)))  # X.690 §11.6: SET OF sorted


def enc_integer(value: int) -> bytes:
    length = max(1, (value + (value < 0)).bit_length() // 8 + 1)
    return enc_tlv(0x02, value.to_bytes(length, "big", signed=True))


def enc_boolean(value: bool) -> bytes:
    return enc_tlv(0x01, b"\xff" if value else b"\x00")


def enc_octets(value: bytes) -> bytes:
    return enc_tlv(0x04, value)


def enc_bits(value: bytes) -> bytes:
    return enc_tlv(0x03, b"\x00" + value)


def enc_oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] >= 40):
        raise ValueError(f"not an OID: {dotted}")
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return enc_tlv(0x06, bytes(out))


def enc_ia5(text: str) -> bytes:
    return enc_tlv(0x16, text.encode("ascii"))


def enc_utf8(text: str) -> bytes:
    return enc_tlv(0x0C, text.encode("utf-8"))


def enc_generalized_time(value: datetime) -> bytes:
    """GeneralizedTime ``YYYYMMDDHHMMSSZ`` in UTC, no fraction (eseal spec §3.6)."""
    if value.tzinfo is None:
        raise ValueError("an aware datetime is required")
    return enc_tlv(0x18, value.astimezone(UTC).strftime("%Y%m%d%H%M%SZ").encode("ascii"))


def enc_explicit(number: int, inner: bytes) -> bytes:
    """``[number] EXPLICIT`` (context-specific, constructed) around an encoded element."""
    if not 0 <= number < 31:
        raise ValueError("tag number out of range")
    return enc_tlv(0xA0 | number, inner)
