"""Subject names: a small checked set of attributes; the USCC as organizationIdentifier."""

from __future__ import annotations

import pytest
from asn1crypto import x509

from trust.ca.errors import BadSubject
from trust.ca.names import SubjectName, describe_name

USCC = "91350100M000100Y43"  # GB 32100 check characters valid


def test_mapping_with_uscc_builds_ntr_organization_identifier() -> None:
    name = SubjectName.from_mapping(
        {"CN": "某某市市场监督管理局", "O": "某某市人民政府", "uscc": USCC}
    )
    built = name.to_asn1()
    assert describe_name(built) == (
        f"C=CN, O=某某市人民政府, CN=某某市市场监督管理局, organizationIdentifier=NTRCN-{USCC}"
    )
    again = SubjectName.from_asn1(x509.Name.load(built.dump()))
    assert again == name


def test_uscc_check_character_is_enforced() -> None:
    with pytest.raises(BadSubject) as info:
        SubjectName.create(common_name="x", uscc="91350100M000100Y44")
    assert info.value.code == "ca.bad_subject"


@pytest.mark.parametrize(
    "values",
    [
        {"O": "no common name"},
        {"CN": ""},
        {"CN": "x" * 65},
        {"CN": "ok", "emailAddress": "a@b"},
        {"CN": "ok", "C": "CHN"},
        {"CN": "tab\there"},
        {"CN": 5},
    ],
)
def test_bad_subjects_are_refused(values: dict[str, object]) -> None:
    with pytest.raises(BadSubject):
        SubjectName.from_mapping(values)


def test_requested_name_with_unexpected_attribute_is_refused() -> None:
    requested = x509.Name.build({"common_name": "x", "email_address": "a@example.org"})
    with pytest.raises(BadSubject):
        SubjectName.from_asn1(requested)


def test_serial_number_attribute_is_read_as_uscc() -> None:
    requested = x509.Name.build({"common_name": "x", "serial_number": USCC})
    assert SubjectName.from_asn1(requested).uscc == USCC
