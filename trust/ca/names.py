"""Subject names of the certificates this CA issues (RFC 5280 §4.1.2.6, GB/T 20518-2018 §6) (pure).

Only a small, checked set of attributes is accepted: CN, O, OU, L, ST, C (always two letters,
``CN`` by default) and the organisation's 统一社会信用代码 (USCC, GB 32100). The USCC is written as
``organizationIdentifier`` with the ETSI EN 319 412-1 §5.1.4 semantics ``NTRCN-<USCC>``; on input
it is also recognised in ``serialNumber``. Upper bounds follow RFC 5280 Appendix A (ub-* = 64).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from asn1crypto import x509

from trust.ca.errors import BadSubject
from trust.checkchars import validate_uscc
from trust.errors import InvalidInput

__all__ = ["SubjectName", "describe_name"]

_UB: Final = 64
_NTR_PREFIX: Final = "NTRCN-"
#: Input keys accepted by ``SubjectName.from_mapping`` (short and long forms).
_KEYS: Final = {
    "cn": "common_name",
    "common_name": "common_name",
    "o": "organization",
    "organization": "organization",
    "ou": "organizational_unit",
    "organizational_unit": "organizational_unit",
    "c": "country",
    "country": "country",
    "l": "locality",
    "locality": "locality",
    "st": "state_or_province",
    "state_or_province": "state_or_province",
    "uscc": "uscc",
    "organization_identifier": "uscc",
    "organizationidentifier": "uscc",
    "serial_number": "uscc",
    "serialnumber": "uscc",
}
_ASN1_TO_FIELD: Final = {
    "common_name": "common_name",
    "organization_name": "organization",
    "organizational_unit_name": "organizational_unit",
    "country_name": "country",
    "locality_name": "locality",
    "state_or_province_name": "state_or_province",
    "organization_identifier": "uscc",
    "serial_number": "uscc",
}
_SHORT: Final = {
    "country_name": "C",
    "state_or_province_name": "ST",
    "locality_name": "L",
    "organization_name": "O",
    "organizational_unit_name": "OU",
    "common_name": "CN",
    "organization_identifier": "organizationIdentifier",
    "serial_number": "serialNumber",
}


def _text(field: str, value: Any, *, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise BadSubject(f"subject {field} is required")
        return None
    if not isinstance(value, str):
        raise BadSubject(f"subject {field} must be text")
    text: str = value.strip()
    if len(text) > _UB or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise BadSubject(f"subject {field} must be 1..{_UB} printable characters")
    return text


@dataclass(frozen=True, slots=True)
class SubjectName:
    """A checked subject name. Construct with ``create`` / ``from_mapping`` / ``from_asn1``."""

    common_name: str
    organization: str | None
    organizational_unit: str | None
    country: str
    uscc: str | None
    locality: str | None
    state_or_province: str | None

    @classmethod
    def create(
        cls,
        *,
        common_name: str,
        organization: str | None = None,
        organizational_unit: str | None = None,
        country: str = "CN",
        uscc: str | None = None,
        locality: str | None = None,
        state_or_province: str | None = None,
    ) -> SubjectName:
        cn = _text("CN", common_name, required=True)
        assert cn is not None
        c = (_text("C", country) or "CN").upper()
        if len(c) != 2 or not c.isascii() or not c.isalpha():
            raise BadSubject("subject C must be a two-letter country code (ISO 3166)")
        checked_uscc: str | None = None
        raw_uscc = _text("USCC", uscc)
        if raw_uscc is not None:
            if raw_uscc.upper().startswith(_NTR_PREFIX):
                raw_uscc = raw_uscc[len(_NTR_PREFIX) :]
            try:
                checked_uscc = validate_uscc(raw_uscc)
            except InvalidInput as exc:
                raise BadSubject(f"subject USCC is not valid: {exc.detail}") from exc
        return cls(
            common_name=cn,
            organization=_text("O", organization),
            organizational_unit=_text("OU", organizational_unit),
            country=c,
            uscc=checked_uscc,
            locality=_text("L", locality),
            state_or_province=_text("ST", state_or_province),
        )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> SubjectName:
        """From ``{"CN": ..., "O": ..., "uscc": ...}``; unknown keys are refused."""
        fields: dict[str, Any] = {}
        for key, value in values.items():
            name = _KEYS.get(str(key).strip().lower())
            if name is None:
                raise BadSubject(f"subject attribute {key!r} is not allowed")
            if name in fields and value != fields[name]:
                raise BadSubject(f"subject attribute {key!r} given twice")
            fields[name] = value
        if "common_name" not in fields:
            raise BadSubject("subject CN is required")
        return cls.create(**fields)

    @classmethod
    def from_asn1(cls, name: x509.Name) -> SubjectName:
        """From a requested name (a CSR subject): one value per attribute, known types only."""
        fields: dict[str, Any] = {}
        try:
            for rdn in name.chosen:
                for atv in rdn:
                    kind = atv["type"].native
                    field = _ASN1_TO_FIELD.get(kind)
                    if field is None or field in fields:
                        raise BadSubject(f"subject attribute {kind!r} is not allowed here")
                    fields[field] = atv["value"].native
        except (ValueError, TypeError, KeyError) as exc:
            raise BadSubject(f"subject name cannot be read: {exc}") from exc
        if "common_name" not in fields:
            raise BadSubject("subject CN is required")
        return cls.create(**fields)

    def to_asn1(self) -> x509.Name:
        """The DER name: C, ST, L, O, OU, CN, organizationIdentifier, one attribute per RDN."""
        values: dict[str, str] = {"country_name": self.country, "common_name": self.common_name}
        for key, value in (
            ("state_or_province_name", self.state_or_province),
            ("locality_name", self.locality),
            ("organization_name", self.organization),
            ("organizational_unit_name", self.organizational_unit),
            ("organization_identifier", f"{_NTR_PREFIX}{self.uscc}" if self.uscc else None),
        ):
            if value is not None:
                values[key] = value
        return x509.Name.build(values)


def describe_name(name: x509.Name) -> str:
    """A readable one-line form (``C=CN, O=..., CN=...``) for records and logs; never compared."""
    parts: list[str] = []
    try:
        for rdn in name.chosen:
            for atv in rdn:
                kind = atv["type"].native
                label = _SHORT.get(kind, atv["type"].dotted)
                try:
                    value = atv["value"].native
                except (ValueError, TypeError):
                    value = "?"
                parts.append(f"{label}={value}")
    except (ValueError, TypeError, KeyError):
        return "<unreadable name>"
    return ", ".join(parts)
