"""Catalogue rules (pure): type codes, holder codes (GB 11643 / GB 32100), face fields, validity."""

from __future__ import annotations

from datetime import date

import pytest

from licences.catalogue import (
    FieldSpec,
    FieldType,
    HolderKind,
    LicenceTypeSpec,
    ValidityRule,
    check_holder_code,
    compute_validity,
    mask_holder_code,
    type_from_json,
    type_to_json,
    validate_fields,
)
from licences.service_errors import LicenceRequestInvalid
from trust.cli.licence import DEMO_TYPES

TODAY = date(2026, 11, 22)


def _spec(**changes: object) -> LicenceTypeSpec:
    fields: dict[str, object] = {
        "code": "11100000000013338W011",  # spec §2.4: 住房和城乡建设部 + 011
        "name": "建筑业企业资质证书",
        "defining_authority_name": "住房和城乡建设部",
        "holder_kind": HolderKind.LEGAL,
        "fields": (
            FieldSpec("level", "资质等级", FieldType.CHOICE, choices=("一级", "二级")),
            FieldSpec("capital", "注册资本（万元）", FieldType.INTEGER),
            FieldSpec("since", "成立日期", FieldType.DATE),
            FieldSpec("note", "备注", mandatory=False, max_length=10),
        ),
        "validity": ValidityRule.YEARS,
        "validity_years": 5,
    }
    fields.update(changes)
    return LicenceTypeSpec(**fields)  # type: ignore[arg-type]


def test_demo_types_round_trip_through_json() -> None:
    assert len(DEMO_TYPES) == 5
    assert {t.holder_kind for t in DEMO_TYPES} == {HolderKind.LEGAL, HolderKind.NATURAL}
    for spec in DEMO_TYPES:
        back = type_from_json(
            code=spec.code,
            name=spec.name,
            defining_authority_name=spec.defining_authority_name,
            holder_kind=spec.holder_kind.value,
            definition=type_to_json(spec),
        )
        assert back == spec
        assert len(spec.code) == 21


@pytest.mark.parametrize(
    "code",
    [
        "11100000000013338X011",
        "11100000000013338W01A",
        "11100000000013338W0111",
        "lower00000000000W011",
    ],
)
def test_type_code_must_be_a_valid_uscc_plus_three_digits(code: str) -> None:
    with pytest.raises(LicenceRequestInvalid):
        _spec(code=code)


def test_holder_codes() -> None:
    assert check_holder_code(HolderKind.NATURAL, "11010519491231002x", today=TODAY) == (
        "11010519491231002X"
    )
    assert check_holder_code(HolderKind.LEGAL, "91350100m000100y43", today=TODAY) == (
        "91350100M000100Y43"
    )
    for kind, bad in (
        (HolderKind.NATURAL, "110105194912310021"),  # check digit
        (HolderKind.NATURAL, "110105204912310029"),  # future birth date
        (HolderKind.LEGAL, "91350100M000100Y44"),  # check character
        (HolderKind.LEGAL, "11010519491231002X"),  # a person's code for an organisation
    ):
        with pytest.raises(LicenceRequestInvalid) as info:
            check_holder_code(kind, bad, today=TODAY)
        assert info.value.code == "licence.request.bad_holder_code"
    assert mask_holder_code("11010519491231002X") == "1101**********002X"


def test_fields_are_checked_against_the_type() -> None:
    spec = _spec()
    good = {"level": "一级", "capital": " 0500 ", "since": "2001-02-03"}
    assert validate_fields(spec, good, today=TODAY) == {
        "level": "一级",
        "capital": "500",
        "since": "2001-02-03",
    }
    for bad, code in (
        ({**good, "level": "三级"}, "licence.request.bad_field"),
        ({**good, "capital": "5e2"}, "licence.request.bad_field"),
        ({**good, "since": "2001-02-30"}, "licence.request.bad_field"),
        ({**good, "note": "x" * 11}, "licence.request.bad_field"),
        ({**good, "extra": "x"}, "licence.request.bad_field"),
        ({"level": "一级", "capital": "1"}, "licence.request.missing_field"),
        ({**good, "level": "  "}, "licence.request.missing_field"),
    ):
        with pytest.raises(LicenceRequestInvalid) as info:
            validate_fields(spec, bad, today=TODAY)
        assert info.value.code == code, bad


def test_validity_rules() -> None:
    assert compute_validity(_spec(), date(2024, 2, 29), None) == date(2029, 2, 27)
    assert compute_validity(_spec(), date(2026, 1, 1), None) == date(2030, 12, 31)
    with pytest.raises(LicenceRequestInvalid):
        compute_validity(_spec(), date(2026, 1, 1), date(2031, 1, 1))
    long_term = _spec(validity=ValidityRule.LONG_TERM, validity_years=0)
    assert compute_validity(long_term, date(2026, 1, 1), None) is None
    with pytest.raises(LicenceRequestInvalid):
        compute_validity(long_term, date(2026, 1, 1), date(2027, 1, 1))
    given = _spec(validity=ValidityRule.GIVEN, validity_years=3)
    assert compute_validity(given, date(2026, 1, 1), date(2027, 6, 30)) == date(2027, 6, 30)
    for until in (None, date(2029, 1, 1), date(2025, 12, 31)):
        with pytest.raises(LicenceRequestInvalid):
            compute_validity(given, date(2026, 1, 1), until)
