"""GB/T 36904 identifiers: the spec's real identifiers (elicence spec §2.4) and exhaustive
single-character changes."""

from __future__ import annotations

import re

import pytest

from licences.errors import IdentifierInvalid
from licences.identifiers import (
    IDENTIFIER_ROOT,
    SERIAL_LENGTH,
    LicenceIdentifier,
    build_identifier,
    identifier_check_char,
    new_serial,
    next_version,
    parse_identifier,
)

# elicence spec §2.4 [computed]: real identifiers whose check characters verify.
VALID = (
    "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
)
# §2.4: local variant with a 6-digit region code as issuer.
VALID_REGION = "1.2.156.3005.2.11100000MB03271699022.340100.000000016.001.9"
# §2.4: an API documentation example whose check character is wrong (computed: D).
NEGATIVE = (
    "1.2.156.3005.2.11100000000013661B006.113700000045046442.209FA4E88F9E4C878F3E9BED2CE7EA49.001.M"
)
CHANGE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ."


@pytest.mark.parametrize("text", VALID)
def test_spec_identifiers_validate(text: str) -> None:
    ident = parse_identifier(text)
    assert ident.text == text
    assert str(ident) == text
    assert len(ident.type_code) == 21
    assert len(ident.issuer_code) == 18


def test_worked_example_segments() -> None:
    ident = parse_identifier(VALID[0])
    assert ident == LicenceIdentifier(
        "11100000000013338W011", "11430000006122244L", "20230000403", 1, "U"
    )
    # §2.3: the 53-character input ends with P = 7, so c = (37 - 7) mod 36 = 30 -> U.
    assert identifier_check_char(*VALID[0].split(".")[5:9]) == "U"


def test_region_variant_needs_opt_in() -> None:
    assert parse_identifier(VALID_REGION, allow_region_issuer=True).issuer_code == "340100"
    with pytest.raises(IdentifierInvalid) as err:
        parse_identifier(VALID_REGION)
    assert err.value.code == "licence.identifier.malformed"


def test_spec_negative_example_fails_on_the_check_character() -> None:
    with pytest.raises(IdentifierInvalid) as err:
        parse_identifier(NEGATIVE)
    assert err.value.code == "licence.identifier.bad_check_char"
    fixed = NEGATIVE[:-1] + "D"  # the character the spec computes
    assert parse_identifier(fixed).check_char == "D"


def _single_changes(text: str) -> list[str]:
    return [
        text[:i] + ch + text[i + 1 :]
        for i in range(len(text))
        for ch in CHANGE_ALPHABET
        if ch != text[i]
    ]


@pytest.mark.parametrize(("text", "region"), [(VALID[0], False), (VALID[1], False),
                                              (VALID_REGION, True)])  # fmt: skip
def test_every_single_character_change_is_rejected(text: str, region: bool) -> None:
    changed = _single_changes(text)
    assert len(changed) == len(text) * (len(CHANGE_ALPHABET) - 1)
    accepted = []
    for candidate in changed:
        try:
            parse_identifier(candidate, allow_region_issuer=region)
        except IdentifierInvalid:
            continue
        accepted.append(candidate)
    assert accepted == []


@pytest.mark.parametrize(
    "text",
    [
        "",
        VALID[0].lower(),
        " " + VALID[0],
        VALID[0] + ".",
        VALID[0].replace(".001.", ".000."),
        VALID[0].replace(".001.", ".01."),
        VALID[0].replace("1.2.156.3005.2", "1.2.156.3005.3"),
        VALID[0].replace("20230000403", ""),
        VALID[0].replace("20230000403", "2023-0000403"),
        "1.2.156.3005.2." + "A" * 200,
        "１.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
    ],
)
def test_malformed_identifiers(text: str) -> None:
    with pytest.raises(IdentifierInvalid):
        parse_identifier(text)


def test_build_uses_a_random_20_character_serial() -> None:
    ident = build_identifier("11100000000013338W011", "11430000006122244L")
    assert re.fullmatch(r"[0-9A-Z]{20}", ident.serial)
    assert ident.version == 1
    assert ident.version_text == "001"
    assert ident.text.startswith(IDENTIFIER_ROOT + ".11100000000013338W011.11430000006122244L.")
    assert parse_identifier(ident.text) == ident
    serials = {new_serial() for _ in range(2000)}
    assert len(serials) == 2000
    assert all(len(s) == SERIAL_LENGTH for s in serials)
    # Every character of the alphabet turns up (a CSPRNG over all 36, not a hex/digit subset).
    assert set("".join(serials)) == set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def test_build_reproduces_the_spec_example() -> None:
    ident = build_identifier("11100000000013338W011", "11430000006122244L", serial="20230000403")
    assert ident.text == VALID[0]


@pytest.mark.parametrize(
    ("type_code", "issuer"),
    [
        ("11100000000013338X011", "11430000006122244L"),  # definer USCC check fails
        ("11100000000013338W011", "11430000006122244M"),  # issuer USCC check fails
        ("11100000000013338W01A", "11430000006122244L"),
        ("11100000000013338W011", "340100"),  # region codes are read, never issued
    ],
)
def test_build_refuses_bad_codes(type_code: str, issuer: str) -> None:
    with pytest.raises(IdentifierInvalid):
        build_identifier(type_code, issuer)


def test_build_refuses_bad_serial_and_version() -> None:
    for kwargs in ({"serial": "abc"}, {"serial": ""}, {"serial": "A" * 70}, {"version": 0},
                   {"version": 1000}, {"version": True}):  # fmt: skip
        with pytest.raises(IdentifierInvalid):
            build_identifier("11100000000013338W011", "11430000006122244L", **kwargs)


def test_next_version() -> None:
    second = next_version(VALID[0])
    assert second.text.startswith(VALID[0][:-5] + "002.")
    assert parse_identifier(second.text) == second
    assert next_version(second).version == 3
    assert next_version(VALID[1]).version_text == "003"
    region = next_version(VALID_REGION, allow_region_issuer=True)
    assert region.issuer_code == "340100"
    assert region.version == 2
    last = build_identifier("11100000000013338W011", "11430000006122244L", version=999)
    with pytest.raises(IdentifierInvalid) as err:
        next_version(last)
    assert err.value.code == "licence.identifier.version_exhausted"


def test_next_version_rechecks_a_hand_built_identifier() -> None:
    forged = LicenceIdentifier("11100000000013338W011", "11430000006122244L", "X", 1, "0")
    with pytest.raises(IdentifierInvalid):
        next_version(forged)
