"""A small, careful DER reader (ITU-T X.690 §8 and §10) that keeps exact bytes.

Signed structures are verified over the bytes *as they appear in the file* (eseal spec §1 fact 3),
so every parsed ``Element`` remembers its offset in the one shared input buffer and can hand back
its exact TLV (``raw``) and content bytes without re-encoding anything.

Safety limits (hostile input): definite lengths only, nesting depth bounded (``max_depth``), length
fields of at most 4 bytes, a bounded number of elements, every length checked against its parent.
Deviations that DER forbids but that real files contain (non-minimal lengths or integers,
BOOLEAN values other than 00/FF, unsorted SET OF, non-zero padding bits) are not errors: they are
reported as ``findings`` ("code@offset") so that verification can list them as non-conformities.
Encoders for what this service writes are in ``seals.der_build``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Final

from seals.errors import MalformedDer

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "Element",
    "ParsedDer",
    "TagClass",
    "Tags",
    "parse",
    "parse_time_text",
    "read_bits",
    "read_bool",
    "read_int",
    "read_octets",
    "read_oid",
    "read_text",
    "read_time",
]

DEFAULT_MAX_DEPTH: Final = 32
MAX_INPUT_BYTES: Final = 64 * 1024 * 1024
MAX_ELEMENTS: Final = 500_000
_MAX_OID_BYTES: Final = 64


class TagClass(IntEnum):
    UNIVERSAL = 0
    APPLICATION = 1
    CONTEXT = 2
    PRIVATE = 3


_TAG_CLASSES: Final = tuple(TagClass)  # indexed by the top two bits: no enum lookup per element


class Tags(IntEnum):
    """Universal tag numbers used here."""

    BOOLEAN = 1
    INTEGER = 2
    BIT_STRING = 3
    OCTET_STRING = 4
    NULL = 5
    OID = 6
    UTF8_STRING = 12
    SEQUENCE = 16
    SET = 17
    PRINTABLE_STRING = 19
    T61_STRING = 20
    IA5_STRING = 22
    UTC_TIME = 23
    GENERALIZED_TIME = 24
    VISIBLE_STRING = 26
    UNIVERSAL_STRING = 28
    BMP_STRING = 30


_STRING_TAGS: Final = frozenset(
    {
        Tags.UTF8_STRING,
        Tags.PRINTABLE_STRING,
        Tags.T61_STRING,
        Tags.IA5_STRING,
        Tags.VISIBLE_STRING,
        Tags.UNIVERSAL_STRING,
        Tags.BMP_STRING,
    }
)


@dataclass(frozen=True, slots=True)
class Element:
    """One TLV; ``raw`` and ``content`` are exact slices of the input buffer."""

    buffer: bytes = field(repr=False, compare=False)
    offset: int
    header_length: int
    length: int
    tag_class: TagClass
    constructed: bool
    tag: int
    children: tuple[Element, ...] = field(repr=False)

    @property
    def end(self) -> int:
        return self.offset + self.header_length + self.length

    @property
    def raw(self) -> bytes:
        return self.buffer[self.offset : self.end]

    @property
    def content(self) -> bytes:
        return self.buffer[self.offset + self.header_length : self.end]

    def is_universal(self, tag: int) -> bool:
        return self.tag_class is TagClass.UNIVERSAL and self.tag == tag

    def is_context(self, tag: int) -> bool:
        return self.tag_class is TagClass.CONTEXT and self.tag == tag

    @property
    def is_sequence(self) -> bool:
        return self.is_universal(Tags.SEQUENCE) and self.constructed

    def describe(self) -> str:
        return f"{self.tag_class.name.lower()} {self.tag} at offset {self.offset}"


@dataclass(frozen=True, slots=True)
class ParsedDer:
    root: Element
    findings: tuple[str, ...]


class _Reader:
    def __init__(self, data: bytes, max_depth: int) -> None:
        self.data = data
        self.max_depth = max_depth
        self.findings: list[str] = []
        self.count = 0

    def finding(self, code: str, offset: int) -> None:
        if len(self.findings) < 1000:
            self.findings.append(f"{code}@{offset}")

    def element(self, pos: int, limit: int, depth: int) -> Element:
        if depth > self.max_depth:
            raise MalformedDer(
                f"nesting deeper than {self.max_depth} at offset {pos}", code="seal.der_too_deep"
            )
        self.count += 1
        if self.count > MAX_ELEMENTS:
            raise MalformedDer("too many DER elements", code="seal.der_too_many_elements")
        data = self.data
        start = pos
        if pos >= limit:
            raise MalformedDer(f"truncated: tag expected at offset {pos}")
        first = data[pos]
        pos += 1
        tag_class = _TAG_CLASSES[first >> 6]
        constructed = bool(first & 0x20)
        tag = first & 0x1F
        if tag == 0x1F:
            tag, pos = self._high_tag(pos, limit)
        if pos >= limit:
            raise MalformedDer(f"truncated: length expected at offset {pos}")
        length, pos = self._length(pos, limit, start)
        header = pos - start
        if length > limit - pos:
            raise MalformedDer(
                f"truncated: element at offset {start} needs {length} bytes, {limit - pos} remain"
            )
        children: tuple[Element, ...] = ()
        if constructed:
            if tag_class is TagClass.UNIVERSAL and tag not in (Tags.SEQUENCE, Tags.SET):
                raise MalformedDer(f"constructed universal {tag} at offset {start} is not DER")
            children = self._children(pos, pos + length, depth + 1)
            if tag_class is TagClass.UNIVERSAL and tag == Tags.SET:
                self._check_set_order(children, start)
        else:
            self._check_primitive(tag_class, tag, pos, length, start)
        return Element(data, start, header, length, tag_class, constructed, tag, children)

    def _children(self, pos: int, end: int, depth: int) -> tuple[Element, ...]:
        out: list[Element] = []
        while pos < end:
            child = self.element(pos, end, depth)
            out.append(child)
            pos = child.end
        return tuple(out)

    def _high_tag(self, pos: int, limit: int) -> tuple[int, int]:
        start = pos
        value = 0
        for _ in range(4):
            if pos >= limit:
                raise MalformedDer(f"truncated tag at offset {start}")
            b = self.data[pos]
            pos += 1
            if pos - 1 == start and b == 0x80:
                self.finding("der.non_minimal_tag", start)
            value = (value << 7) | (b & 0x7F)
            if not b & 0x80:
                if value < 0x1F:
                    self.finding("der.non_minimal_tag", start)
                return value, pos
        raise MalformedDer(f"tag number too large at offset {start}")

    def _length(self, pos: int, limit: int, start: int) -> tuple[int, int]:
        b = self.data[pos]
        pos += 1
        if b < 0x80:
            return b, pos
        if b == 0x80:
            raise MalformedDer(
                f"indefinite length at offset {pos - 1} (DER needs definite)",
                code="seal.der_indefinite_length",
            )
        n = b & 0x7F
        if n > 4:
            raise MalformedDer(f"length field of {n} bytes at offset {pos - 1}")
        if n > limit - pos:
            raise MalformedDer(f"truncated length at offset {pos - 1}")
        raw = self.data[pos : pos + n]
        value = int.from_bytes(raw, "big")
        if raw[0] == 0 or value < 0x80:
            self.finding("der.non_minimal_length", start)
        return value, pos + n

    def _check_primitive(self, cls: TagClass, tag: int, pos: int, length: int, at: int) -> None:
        if cls is not TagClass.UNIVERSAL:
            return
        data = self.data
        if tag == Tags.INTEGER:
            if length == 0:
                raise MalformedDer(f"empty INTEGER at offset {at}")
            if length > 1 and (
                (data[pos] == 0 and data[pos + 1] < 0x80)
                or (data[pos] == 0xFF and data[pos + 1] >= 0x80)
            ):
                self.finding("der.non_minimal_integer", at)
        elif tag == Tags.BOOLEAN:
            if length != 1:
                raise MalformedDer(f"BOOLEAN of length {length} at offset {at}")
            if data[pos] not in (0x00, 0xFF):
                self.finding("der.boolean_not_00_ff", at)
        elif tag == Tags.BIT_STRING:
            if length == 0 or data[pos] > 7 or (length == 1 and data[pos] != 0):
                raise MalformedDer(f"malformed BIT STRING at offset {at}")
            unused = data[pos]
            if unused and data[pos + length - 1] & ((1 << unused) - 1):
                self.finding("der.bit_string_padding_not_zero", at)
        elif tag == Tags.NULL and length != 0:
            raise MalformedDer(f"NULL with content at offset {at}")

    def _check_set_order(self, children: tuple[Element, ...], at: int) -> None:
        raws = [c.raw for c in children]
        if raws != sorted(raws):
            self.finding("der.set_not_sorted", at)


def parse(
    data: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH, max_size: int = MAX_INPUT_BYTES
) -> ParsedDer:
    """Parse exactly one DER element that uses every byte of ``data``.

    Raises ``MalformedDer`` (and nothing else) for anything that is not acceptable DER.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedDer("DER input must be bytes")
    data = bytes(data)
    if len(data) > max_size:
        raise MalformedDer(
            f"DER input of {len(data)} bytes exceeds {max_size}", code="seal.der_too_large"
        )
    reader = _Reader(data, max_depth)
    root = reader.element(0, len(data), 0)
    if root.end != len(data):
        raise MalformedDer(
            f"{len(data) - root.end} trailing bytes after the DER element",
            code="seal.der_trailing_data",
        )
    return ParsedDer(root, tuple(reader.findings))


# --------------------------------------------------------------------------- value readers


def _expect(el: Element, tag: int, what: str) -> None:
    if not el.is_universal(tag) or el.constructed:
        raise MalformedDer(f"{what}: expected universal tag {tag}, found {el.describe()}")


def read_int(el: Element, what: str = "INTEGER") -> int:
    _expect(el, Tags.INTEGER, what)
    return int.from_bytes(el.content, "big", signed=True)


def read_bool(el: Element, what: str = "BOOLEAN") -> bool:
    _expect(el, Tags.BOOLEAN, what)
    return el.content != b"\x00"


def read_octets(el: Element, what: str = "OCTET STRING") -> bytes:
    _expect(el, Tags.OCTET_STRING, what)
    return el.content


def read_bits(el: Element, what: str = "BIT STRING") -> tuple[bytes, int]:
    """The BIT STRING's bytes and its unused-bit count (callers require 0 for signatures)."""
    _expect(el, Tags.BIT_STRING, what)
    content = el.content
    return content[1:], content[0]


def read_oid(el: Element, what: str = "OBJECT IDENTIFIER") -> str:
    _expect(el, Tags.OID, what)
    content = el.content
    if not content or len(content) > _MAX_OID_BYTES or content[-1] & 0x80:
        raise MalformedDer(f"{what}: malformed OBJECT IDENTIFIER at offset {el.offset}")
    arcs: list[int] = []
    value = 0
    fresh = True
    for b in content:
        if fresh and b == 0x80:
            raise MalformedDer(f"{what}: non-minimal OID arc at offset {el.offset}")
        value = (value << 7) | (b & 0x7F)
        fresh = not b & 0x80
        if fresh:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])


def read_text(el: Element, what: str = "string") -> tuple[str, Tags]:
    """A character string of any common type, decoded leniently; returns (text, type found)."""
    if el.tag_class is not TagClass.UNIVERSAL or el.constructed or el.tag not in _STRING_TAGS:
        raise MalformedDer(f"{what}: expected a character string, found {el.describe()}")
    tag = Tags(el.tag)
    raw = el.content
    codec = {Tags.BMP_STRING: "utf-16-be", Tags.UNIVERSAL_STRING: "utf-32-be"}.get(tag, "utf-8")
    try:
        return raw.decode(codec), tag
    except UnicodeDecodeError:
        if tag in (Tags.UTF8_STRING, Tags.BMP_STRING, Tags.UNIVERSAL_STRING):
            raise MalformedDer(f"{what}: undecodable {tag.name} at offset {el.offset}") from None
        return raw.decode("latin-1"), tag  # T61 / IA5 with 8-bit bytes (eseal spec §9)


def read_time(el: Element, what: str = "time") -> tuple[datetime, bool]:
    """UTCTime or GeneralizedTime as an aware UTC datetime; the flag is False when the form
    is not the canonical DER one (``Z`` suffix, seconds present, no fraction)."""
    if (
        el.tag_class is not TagClass.UNIVERSAL
        or el.constructed
        or el.tag not in (Tags.UTC_TIME, Tags.GENERALIZED_TIME)
    ):
        raise MalformedDer(f"{what}: expected UTCTime or GeneralizedTime, found {el.describe()}")
    try:
        text = el.content.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedDer(f"{what}: non-ASCII time at offset {el.offset}") from None
    parsed = parse_time_text(text, generalized=el.tag == Tags.GENERALIZED_TIME)
    if parsed is None:
        raise MalformedDer(f"{what}: unreadable time {text!r} at offset {el.offset}")
    return parsed


def parse_time_text(text: str, *, generalized: bool) -> tuple[datetime, bool] | None:
    """Parse ASN.1 time text; a missing zone is taken as UTC (flagged non-canonical)."""
    canonical = text.endswith("Z")
    body = text[:-1] if canonical else text
    frac = ""
    if "." in body:
        body, frac = body.split(".", 1)
        canonical = False
        if not frac.isdigit() or len(frac) > 9:
            return None
    if not body.isdigit():
        return None
    if not generalized:
        if len(body) not in (10, 12):
            return None
        year = int(body[:2])
        body = ("19" if year >= 50 else "20") + body
    if len(body) == 12:
        body += "00"
        canonical = False
    if len(body) != 14:
        return None
    try:  # by hand: datetime.strptime took a third of the time of parsing a whole SESeal
        value = datetime(
            int(body[0:4]),
            int(body[4:6]),
            int(body[6:8]),
            int(body[8:10]),
            int(body[10:12]),
            int(body[12:14]),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if frac:
        value = value.replace(microsecond=int(frac[:6].ljust(6, "0")))
    return value, canonical
