"""archive.case: the case.json model, its value sets and check characters; every problem is
reported at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from archive.case import (
    ApplicantKind,
    MaterialRole,
    NodeKind,
    Outcome,
    Retention,
    is_licence_identifier,
    load_case,
    parse_archival_code,
    parse_case,
)
from archive.errors import CaseMetadataInvalid
from tests.unit.archive.case_factory import (
    CaseFolder,
    fill_digests,
    licence_identifier,
    materials,
)
from tests.unit.archive.case_factory import case_dict as _bare_case
from trust.errors import InvalidInput


def case_dict() -> dict[str, Any]:
    case = _bare_case()
    fill_digests(case, materials().files)
    return case


def _raw(case: dict[str, Any]) -> bytes:
    return json.dumps(case, ensure_ascii=False).encode()


def _problems(case: dict[str, Any] | bytes) -> set[tuple[str, str]]:
    raw = case if isinstance(case, bytes) else _raw(case)
    with pytest.raises(CaseMetadataInvalid) as err:
        parse_case(raw)
    return {(p["path"], p["code"]) for p in err.value.extra.get("problems", [])}


def test_the_factory_case_parses(case_folder: CaseFolder) -> None:
    case = load_case(case_folder.path)
    assert case.case_number == "SP20260510-000123"
    assert case.retention is Retention.D30
    assert case.retention.label == "30年"
    assert case.applicant.kind is ApplicantKind.LEGAL
    assert case.applicant.masked_id() == "9135**********0Y43"
    assert next(n.node for n in case.nodes) is NodeKind.APPLY
    assert case.outcome is Outcome.APPROVED
    assert case.outcome.grants
    decision = case.material(case.decision.material_seq)  # type: ignore[union-attr]
    assert decision is not None
    assert decision.role is MaterialRole.DECISION
    assert decision.sealed
    assert case.file_names()[-1] == "0004-企业信息.xml.sig"
    assert case.register.file_count == 8


def test_every_problem_is_reported_at_once() -> None:
    case = case_dict()
    case["retention"] = "D20"
    case["applicant"]["id_number"] = "91350100M000100Y44"  # check character off by one
    case["agency"]["code"] = "not-a-code"
    case["nodes"][0]["time"] = "2026-05-10T09:00:00"  # no UTC offset
    case["materials"][1]["sm3"] = "XYZ"
    case["materials"][2]["format"] = "bmp"
    case["licences"][0]["identifier"] = licence_identifier()[:-1] + "0"
    case["surprise"] = 1
    del case["year"]
    assert _problems(case) >= {
        ("retention", "metadata.bad_value"),
        ("applicant.id_number", "metadata.uscc.bad_check_char"),
        ("agency.code", "metadata.uscc.malformed"),
        ("nodes[0].time", "metadata.bad_time"),
        ("materials[1].sm3", "metadata.bad_format"),
        ("materials[2].format", "metadata.bad_value"),
        ("licences[0].identifier", "metadata.licence_identifier"),
        ("surprise", "metadata.unknown_field"),
        ("year", "metadata.missing"),
    }


def test_natural_person_citizen_id_is_checked() -> None:
    case = case_dict()
    case["applicant"] = {
        "kind": "natural",
        "name": "张三",
        "id_type": "居民身份证",
        "id_number": "11010519491231002X",
    }
    assert parse_case(_raw(case)).applicant.id_number == "11010519491231002X"
    case["applicant"]["id_number"] = "110105194912310021"
    assert ("applicant.id_number", "metadata.citizen_id.bad_check_char") in _problems(case)
    case["applicant"]["id_type"] = "统一社会信用代码"
    assert ("applicant.id_type", "metadata.bad_value") in _problems(case)


@pytest.mark.parametrize(
    "raw",
    [
        b"\xef\xbb\xbf{}",  # BOM
        b'{"a": NaN}',
        b"\xff\xfe{}",
        b"[1,",
    ],
)
def test_unreadable_json_is_refused(raw: bytes) -> None:
    with pytest.raises(CaseMetadataInvalid):
        parse_case(raw)


def test_duplicate_keys_and_control_characters_are_refused() -> None:
    assert _problems(b'{"schema": "ywtb-case/1", "schema": "x"}') == {
        ("schema", "metadata.duplicate_key")
    }
    case = case_dict()
    case["applicant"]["name"] = "某某\x07公司"
    assert ("applicant.name", "metadata.special_character") in _problems(case)


def test_file_names_must_be_plain_and_unique() -> None:
    case = case_dict()
    case["materials"][0]["file"] = "../case.json"
    case["materials"][2]["file"] = case["materials"][1]["file"]
    case["materials"][4]["file"] = "100%.pdf"  # LoC bagit cannot read "%25" (see archive.bag)
    problems = _problems(case)
    assert ("materials[0].file", "metadata.bad_file_name") in problems
    assert ("materials[4].file", "metadata.bad_file_name") in problems
    assert ("materials(seq=3)", "metadata.duplicate") in problems


def test_missing_case_json(tmp_path: Path) -> None:
    with pytest.raises(CaseMetadataInvalid) as err:
        load_case(tmp_path)
    assert err.value.code == "archive.case_missing"


@pytest.mark.parametrize(
    ("code", "ok"),
    [
        ("A439-WS·2015·D30·003-005", True),
        ("Z008-WS·2019·Y-037", True),
        ("A439-WS·2026·D30·XK·ZC·01-005", True),
        ("A439-WS.2015.D30.003-005", False),  # ASCII dots instead of U+00B7
        ("A439-XX·2015·D30·003-005", False),  # unknown category
        ("A439-WS·2015·D20·003-005", False),
    ],
)
def test_archival_codes(code: str, ok: bool) -> None:
    if ok:
        parsed = parse_archival_code(code)
        assert parsed.category == "WS"
    else:
        with pytest.raises(InvalidInput):
            parse_archival_code(code)


@pytest.mark.parametrize(
    ("identifier", "ok"),
    [  # elicence spec §2.4
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U", True),
        ("1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0", True),
        ("1.2.156.3005.2.11100000MB03271699022.340100.000000016.001.9", True),
        (
            "1.2.156.3005.2.11100000000013661B006.113700000045046442."
            "209FA4E88F9E4C878F3E9BED2CE7EA49.001.M",
            False,
        ),
        ("1.2.156.3005.1.11100000000013338W011.11430000006122244L.20230000403.001.U", False),
    ],
)
def test_licence_identifiers(identifier: str, ok: bool) -> None:
    assert is_licence_identifier(identifier) is ok
