"""Licence types of the GB/T 36902 catalogue (证照目录信息) and face-field validation (pure).

A type has the 21-character 证照类型代码 (the defining authority's 18-character unified social
credit code + 3 digits, elicence spec §2.1), a name, the holder kind (natural person: holder
code type ``111`` 公民身份号码, GB 11643; legal person or other organisation: ``001`` 统一社会
信用代码, GB 32100 — GB/T 36903 Appendix A, spec §5), the fields on the licence face with their
types and mandatory flags, a validity rule and a document template.

The GB/T 36902 text was not available: the element set follows the catalogue practice described
in spec §3 (reconstructed, [impl]).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, Final

from licences.service_errors import LicenceRequestInvalid
from trust.checkchars import validate_citizen_id, validate_uscc
from trust.errors import InvalidInput

__all__ = [
    "MAX_FIELDS",
    "FieldSpec",
    "FieldType",
    "HolderKind",
    "LicenceTypeSpec",
    "ValidityRule",
    "check_holder_code",
    "compute_validity",
    "field_rows",
    "mask_holder_code",
    "type_from_json",
    "type_to_json",
    "validate_fields",
]

MAX_FIELDS: Final = 30
_MAX_VALUE: Final = 500
_TYPE_CODE_RE: Final = re.compile(r"[0-9A-Z]{18}[0-9]{3}")
_FIELD_NAME_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,39}")
_INT_RE: Final = re.compile(r"-?[0-9]{1,15}")


class HolderKind(StrEnum):
    NATURAL = "natural"  # 自然人: 公民身份号码 (holder code type 111)
    LEGAL = "legal"  # 法人和其他组织: 统一社会信用代码 (holder code type 001)

    @property
    def holder_type_code(self) -> str:
        # GB/T 36903 Appendix A as reported in spec §5 ([impl]).
        return "111" if self is HolderKind.NATURAL else "001"

    @property
    def label(self) -> str:
        return "自然人" if self is HolderKind.NATURAL else "法人和其他组织"


class FieldType(StrEnum):
    TEXT = "text"
    DATE = "date"  # ISO 8601 calendar date YYYY-MM-DD
    INTEGER = "integer"
    USCC = "uscc"  # a unified social credit code (GB 32100)
    CITIZEN_ID = "citizen_id"  # a citizen ID number (GB 11643)
    CHOICE = "choice"


class ValidityRule(StrEnum):
    YEARS = "years"  # valid_from + N years − 1 day
    LONG_TERM = "long_term"  # 长期有效
    GIVEN = "given"  # the issuer states 有效期止 (at most ``max_years``)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str  # machine name, ``[a-z][a-z0-9_]*``
    label: str  # 照面 label in Chinese
    type: FieldType = FieldType.TEXT
    mandatory: bool = True
    max_length: int = 200
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LicenceTypeSpec:
    code: str
    name: str
    defining_authority_name: str
    holder_kind: HolderKind
    fields: tuple[FieldSpec, ...]
    validity: ValidityRule
    validity_years: int = 0  # for YEARS; the upper bound for GIVEN
    template: str = "standard-a4"
    number_prefix: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def defining_authority_code(self) -> str:
        return self.code[:18]

    def __post_init__(self) -> None:
        if not _TYPE_CODE_RE.fullmatch(self.code):
            raise _bad("证照类型代码应为 18 位统一社会信用代码加 3 位数字")
        try:
            validate_uscc(self.code[:18], check_org_code=False)
        except InvalidInput as exc:
            raise _bad(f"证照定义机构代码无效：{exc.detail}") from None
        if not 0 < len(self.name) <= 100 or not 0 < len(self.defining_authority_name) <= 100:
            raise _bad("证照名称和定义机构名称为 1 至 100 个字符")
        if not 0 < len(self.fields) <= MAX_FIELDS:
            raise _bad(f"照面字段为 1 至 {MAX_FIELDS} 个")
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names) or not all(_FIELD_NAME_RE.fullmatch(n) for n in names):
            raise _bad("字段名须唯一且为小写字母、数字和下划线")
        if self.validity is not ValidityRule.LONG_TERM and not 1 <= self.validity_years <= 50:
            raise _bad("有效期年限为 1 至 50 年")


def _bad(detail: str, code: str = "licence.request.invalid") -> LicenceRequestInvalid:
    return LicenceRequestInvalid(detail, code=code)


# --------------------------------------------------------------------------- JSON form


def type_to_json(spec: LicenceTypeSpec) -> str:
    """The stored ``definition`` (fields, validity, template, prefix)."""
    return json.dumps(
        {
            "fields": [
                {
                    "name": f.name,
                    "label": f.label,
                    "type": f.type.value,
                    "mandatory": f.mandatory,
                    "max_length": f.max_length,
                    "choices": list(f.choices),
                }
                for f in spec.fields
            ],
            "validity": spec.validity.value,
            "validity_years": spec.validity_years,
            "template": spec.template,
            "number_prefix": spec.number_prefix,
            "extra": dict(spec.extra),
        },
        ensure_ascii=False,
        sort_keys=True,
    )


def type_from_json(
    *, code: str, name: str, defining_authority_name: str, holder_kind: str, definition: str
) -> LicenceTypeSpec:
    d: dict[str, Any] = json.loads(definition)
    return LicenceTypeSpec(
        code=code,
        name=name,
        defining_authority_name=defining_authority_name,
        holder_kind=HolderKind(holder_kind),
        fields=tuple(
            FieldSpec(
                name=f["name"],
                label=f["label"],
                type=FieldType(f["type"]),
                mandatory=bool(f["mandatory"]),
                max_length=int(f["max_length"]),
                choices=tuple(f.get("choices", ())),
            )
            for f in d["fields"]
        ),
        validity=ValidityRule(d["validity"]),
        validity_years=int(d["validity_years"]),
        template=str(d["template"]),
        number_prefix=str(d.get("number_prefix", "")),
        extra=dict(d.get("extra", {})),
    )


# --------------------------------------------------------------------------- validation


def check_holder_code(kind: HolderKind, unverified_code: str, *, today: date) -> str:
    """Spec §5: a citizen ID number (GB 11643, real non-future birth date) for natural persons,
    a unified social credit code (GB 32100 check character) for legal persons. Returns the
    normalised code; raises ``LicenceRequestInvalid`` (``licence.request.bad_holder_code``)."""
    if not isinstance(unverified_code, str) or len(unverified_code) > 40:
        raise _bad("持证主体代码格式错误", "licence.request.bad_holder_code")
    try:
        if kind is HolderKind.NATURAL:
            return validate_citizen_id(unverified_code.strip(), today=today)
        # Spec §5.1 pitfall: early pilot codes fail the inner GB 11714 check; the GB 32100
        # check character is what we enforce.
        return validate_uscc(unverified_code.strip().upper(), check_org_code=False)
    except InvalidInput as exc:
        raise _bad(f"持证主体代码无效：{exc.detail}", "licence.request.bad_holder_code") from None


def mask_holder_code(code: str) -> str:
    """``1101**********002X`` style: the first 4 and last 4 characters."""
    if len(code) <= 8:
        return "*" * len(code)
    return code[:4] + "*" * (len(code) - 8) + code[-4:]


def _check_value(spec: FieldSpec, value: str, today: date) -> str:
    if spec.type is FieldType.TEXT:
        if not value.isprintable():
            raise _bad(f"字段「{spec.label}」含有不可打印字符", "licence.request.bad_field")
        return value
    if spec.type is FieldType.DATE:
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise _bad(
                f"字段「{spec.label}」应为日期 YYYY-MM-DD", "licence.request.bad_field"
            ) from None
    if spec.type is FieldType.INTEGER:
        if not _INT_RE.fullmatch(value):
            raise _bad(f"字段「{spec.label}」应为整数", "licence.request.bad_field")
        return str(int(value))
    if spec.type is FieldType.CHOICE:
        if value not in spec.choices:
            raise _bad(
                f"字段「{spec.label}」应为：{'、'.join(spec.choices)}", "licence.request.bad_field"
            )
        return value
    kind = HolderKind.LEGAL if spec.type is FieldType.USCC else HolderKind.NATURAL
    try:
        return check_holder_code(kind, value, today=today)
    except LicenceRequestInvalid:
        raise _bad(f"字段「{spec.label}」代码无效", "licence.request.bad_field") from None


def validate_fields(
    spec: LicenceTypeSpec, unverified: Mapping[str, Any], *, today: date
) -> dict[str, str]:
    """Face fields against the type: unknown names refused, mandatory ones present and
    non-empty, each value of its type and length. Returns the normalised values in the
    type's field order (optional fields left empty are omitted)."""
    if not isinstance(unverified, Mapping):
        raise _bad("fields 应为对象", "licence.request.bad_field")
    known = {f.name: f for f in spec.fields}
    unknown = sorted(set(unverified) - set(known))
    if unknown:
        raise _bad(f"证照类型没有这些字段：{', '.join(unknown)[:200]}", "licence.request.bad_field")
    out: dict[str, str] = {}
    for f in spec.fields:
        raw = unverified.get(f.name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if f.mandatory:
                raise _bad(f"缺少必填字段「{f.label}」", "licence.request.missing_field")
            continue
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise _bad(f"字段「{f.label}」应为文本", "licence.request.bad_field")
        value = " ".join(str(raw).split())
        if len(value) > min(f.max_length, _MAX_VALUE):
            raise _bad(f"字段「{f.label}」超过 {f.max_length} 个字符", "licence.request.bad_field")
        out[f.name] = _check_value(f, value, today)
    return out


def _add_years(start: date, years: int) -> date:
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February
        return start.replace(year=start.year + years, day=28)


def compute_validity(
    spec: LicenceTypeSpec, valid_from: date, requested_until: date | None
) -> date | None:
    """有效期止 by the type's rule (None = 长期有效)."""
    if spec.validity is ValidityRule.LONG_TERM:
        if requested_until is not None:
            raise _bad("该证照为长期有效，不能指定有效期止", "licence.request.bad_validity")
        return None
    limit = _add_years(valid_from, spec.validity_years) - timedelta(days=1)
    if spec.validity is ValidityRule.YEARS:
        if requested_until is not None and requested_until != limit:
            raise _bad(
                f"该证照有效期为 {spec.validity_years} 年，有效期止应为 {limit.isoformat()}",
                "licence.request.bad_validity",
            )
        return limit
    if requested_until is None:
        raise _bad("该证照须指定有效期止", "licence.request.bad_validity")
    if not valid_from <= requested_until <= limit:
        raise _bad(
            f"有效期止应在 {valid_from.isoformat()} 至 {limit.isoformat()} 之间",
            "licence.request.bad_validity",
        )
    return requested_until


def field_rows(spec: LicenceTypeSpec, values: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """(label, value) pairs for the licence face, in the type's order."""
    return tuple((f.label, values[f.name]) for f in spec.fields if f.name in values)
