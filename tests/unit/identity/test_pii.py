"""Check characters at the edges (GB 11643, GB 32100), login classification, masking, and the
keyed hash / encryption of the citizen ID number."""

from __future__ import annotations

from datetime import date

import pytest

from identity.keying import IdentityKeys
from identity.pii import (
    classify_login,
    decrypt_id_number,
    encrypt_id_number,
    id_number_lookup_hash,
    mask_id_number,
    mask_phone,
    normalise_name,
    normalise_phone,
    validate_id_number,
    validate_uscc_code,
)
from identity.sim_data import load_sim_registry
from trust.errors import IntegrityFailure, InvalidInput


@pytest.mark.parametrize("good", ["11010519491231002X", "11010519491231002x", "440524188001010014"])
def test_gb11643_valid(good: str) -> None:
    assert validate_id_number(good) == good.upper()


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        ("110105194912310021", "citizen_id.bad_check_char"),
        ("11010519491231002", "citizen_id.malformed"),
        ("1101051949123100211", "citizen_id.malformed"),
        ("110105194902300023", "citizen_id.bad_birth_date"),  # 30 February
        ("11010518791231002X", "citizen_id.bad_birth_date"),  # before 1880
        ("A1010519491231002X", "citizen_id.malformed"),
        ("", "citizen_id.malformed"),
    ],
)
def test_gb11643_invalid(bad: str, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_id_number(bad)
    assert caught.value.code == code


def test_future_birth_date_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_id_number("110105203012310028", today=date(2026, 11, 22))
    assert caught.value.code in {"citizen_id.bad_birth_date", "citizen_id.bad_check_char"}


def test_non_string_refused() -> None:
    with pytest.raises(InvalidInput):
        validate_id_number(11010519491231002)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        validate_uscc_code(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        ("91350100M000100Y44", "uscc.bad_check_char"),
        ("91350100M000100Y4", "uscc.malformed"),
        ("9I350100M000100Y43", "uscc.malformed"),
        ("91350100M0001TGQXM", "uscc.bad_check_char"),
    ],
)
def test_gb32100_invalid(bad: str, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_uscc_code(bad)
    assert caught.value.code == code


def test_every_simulated_record_has_valid_check_characters() -> None:
    data = load_sim_registry()
    assert len(data.citizens) >= 20
    assert len(data.enterprises) >= 8
    for c in data.citizens:
        assert validate_id_number(c.id_number) == c.id_number
        assert normalise_phone(c.phone) == c.phone
    for e in data.enterprises:
        assert validate_uscc_code(e.uscc) == e.uscc
        assert data.citizen(e.legal_rep_id_number) is not None
    assert any(c.id_number.endswith("X") for c in data.citizens)


def test_classify_login() -> None:
    assert classify_login(" +86 138-0000-0000 ") == ("phone", "13800000000")
    assert classify_login("11010519491231002x") == ("citizen_id", "11010519491231002X")
    assert classify_login("Zhang.XM") == ("username", "zhang.xm")
    with pytest.raises(InvalidInput) as caught:
        classify_login("110105194912310021")
    assert caught.value.code == "citizen_id.bad_check_char"
    with pytest.raises(InvalidInput):
        classify_login("x")


def test_masks_and_names() -> None:
    assert mask_id_number("11010519491231002X") == "110*************2X"
    assert mask_phone("13800001234") == "138****1234"
    assert normalise_name(" 阿依古丽•买买提 ") == "阿依古丽·买买提"
    for bad in ("", "<script>", "a" * 51):
        with pytest.raises(InvalidInput):
            normalise_name(bad)
    for bad in ("12800000000", "1380000000", "phone"):
        with pytest.raises(InvalidInput):
            normalise_phone(bad)


def test_lookup_hash_and_encryption() -> None:
    keys = IdentityKeys.derive(bytes(32))
    other = IdentityKeys.derive(bytes([1]) * 32)
    number = "11010519491231002X"
    assert id_number_lookup_hash(keys.id_lookup, number) != id_number_lookup_hash(
        other.id_lookup, number
    )
    blob = encrypt_id_number(keys.id_encryption, number, account_id="psn_a")
    assert number.encode() not in blob
    assert decrypt_id_number(keys.id_encryption, blob, account_id="psn_a") == number
    with pytest.raises(IntegrityFailure):
        decrypt_id_number(keys.id_encryption, blob, account_id="psn_b")  # bound to its account
    assert "hidden" in repr(keys)
