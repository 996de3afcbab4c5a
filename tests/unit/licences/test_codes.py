"""核验码: the spec's example (elicence spec §9.1, §11), check-character error detection,
normalisation and the stored HMAC-SM3 form."""

from __future__ import annotations

import contextlib
import secrets

import pytest

from licences.codes import (
    CODE_ALPHABET,
    code_check_char,
    code_digest,
    format_code,
    matches,
    new_code,
    normalise_code,
)
from licences.errors import CodeInvalid
from trust.crypto import sm3

SPEC_CODE = "7KQ4M2XA9PHTD3WT"  # §9.1: 7KQ4M2XA9PHTD3W -> Σ = 3539 -> check T
KEY = b"k" * 32


def _independent_check(body: str) -> str:
    """Spec §9.1 rule written out again: weights 3^i mod 31, c = (31 - Σ mod 31) mod 31."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10]
    total = sum(alphabet.index(c) * w for c, w in zip(body, weights, strict=True))
    return alphabet[(31 - total % 31) % 31]


def test_spec_example() -> None:
    assert code_check_char(SPEC_CODE[:15]) == "T"
    weights = [pow(3, i, 31) for i in range(15)]
    assert (
        sum(CODE_ALPHABET.index(c) * w for c, w in zip(SPEC_CODE[:15], weights, strict=False))
        == 3539
    )
    assert normalise_code(SPEC_CODE) == SPEC_CODE
    assert normalise_code("7kq4-m2xa-9pht-d3wt") == SPEC_CODE  # §11
    assert format_code(SPEC_CODE) == "7KQ4-M2XA-9PHT-D3WT"


def test_alphabet_is_gb32100() -> None:
    assert CODE_ALPHABET == "0123456789ABCDEFGHJKLMNPQRTUWXY"
    assert len(CODE_ALPHABET) == 31
    assert not set("IOSVZ") & set(CODE_ALPHABET)


def test_round_trip_of_new_codes() -> None:
    codes = [new_code() for _ in range(500)]
    assert len(set(codes)) == 500
    for code in codes:
        assert len(code) == 16
        assert set(code) <= set(CODE_ALPHABET)
        assert code[-1] == _independent_check(code[:15])
        assert normalise_code(code) == code
        assert normalise_code(format_code(code).lower()) == code
    # The 15 random positions use the whole alphabet.
    assert set("".join(c[:15] for c in codes)) == set(CODE_ALPHABET)


def _samples() -> list[str]:
    return [SPEC_CODE] + [new_code() for _ in range(40)]


def test_every_single_substitution_is_caught() -> None:
    for code in _samples():
        for i in range(16):
            for ch in CODE_ALPHABET:
                if ch == code[i]:
                    continue
                typo = code[:i] + ch + code[i + 1 :]
                with pytest.raises(CodeInvalid) as err:
                    normalise_code(typo)
                assert err.value.code == "licence.code.bad_check_char"


def test_every_adjacent_transposition_is_caught() -> None:
    for code in _samples():
        for i in range(15):
            if code[i] == code[i + 1]:
                continue
            swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
            with pytest.raises(CodeInvalid):
                normalise_code(swapped)


@pytest.mark.parametrize(
    "typed",
    [
        "7KQ4 M2XA 9PHT D3WT",
        " 7kq4m2xa9phtd3wt\n",
        "7KQ4—M2XA–9PHT−D3WT",  # em dash, en dash, minus sign
        "７ＫＱ４－Ｍ２ＸＡ－９ＰＨＴ－Ｄ３ＷＴ",  # full-width forms (IME input)
        "7KQ4\u3000M2XA\u30009PHT\u3000D3WT",  # ideographic spaces
    ],
)
def test_normalisation_of_typed_forms(typed: str) -> None:
    assert normalise_code(typed) == SPEC_CODE


def test_look_alikes_map_to_digits() -> None:
    # Build a code whose body contains 0, 1, 2 and 5, then type them as O, I, Z and S.
    body = "0125" + SPEC_CODE[4:15]
    code = body + code_check_char(body)
    assert normalise_code("OIZS" + code[4:]) == code
    assert normalise_code("oizs" + code[4:]) == code


def _outcome(typed: str) -> str:
    try:
        return normalise_code(typed)
    except CodeInvalid as exc:
        return f"error {exc.code}"


def test_ascii_input_normalises_as_the_unicode_path_does() -> None:
    """ASCII input takes a one-pass shortcut; an ideographic space in front (dropped by the
    rules) sends the same input through NFKC and the character filter: same outcome, for
    every ASCII character anywhere in a code, and for random ASCII strings."""
    typed = [SPEC_CODE[:i] + chr(c) + SPEC_CODE[i:] for c in range(128) for i in (0, 7, 16)]
    typed += ["".join(chr(secrets.randbelow(128)) for _ in range(20)) for _ in range(2000)]
    typed += ["7kq4-m2xa-9pht-d3wt", "OIZS" + SPEC_CODE[4:], "7KQ4\tM2XA\x1f9PHT\x0bD3WT"]
    for text in typed:
        assert _outcome(text) == _outcome("\u3000" + text), repr(text)
    assert _outcome("7KQ4\x1cM2XA9PHTD3WT") == SPEC_CODE  # str.isspace() counts \x1c-\x1f


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("7KQ4M2XA9PHTD3W", "licence.code.malformed"),  # 15 characters
        ("7KQ4M2XA9PHTD3WTT", "licence.code.malformed"),  # 17 characters
        ("7KQ4M2XA9PHTD3WV", "licence.code.malformed"),  # V is refused, not guessed
        ("7KQ4M2XA9PHTD3W!", "licence.code.malformed"),
        ("7KQ4M2XA9PHTD3W中", "licence.code.malformed"),
        ("", "licence.code.malformed"),
        ("7" * 100, "licence.code.malformed"),
        ("7KQ4M2XA9PHTD3WU", "licence.code.bad_check_char"),
    ],
)
def test_rejections(typed: str, reason: str) -> None:
    with pytest.raises(CodeInvalid) as err:
        normalise_code(typed)
    assert err.value.code == reason


def _rfc2104_hmac_sm3(key: bytes, message: bytes) -> bytes:
    """HMAC written out from RFC 2104 over the SM3 primitive (block size 64 bytes)."""
    block = key.ljust(64, b"\x00")
    inner = sm3(bytes(b ^ 0x36 for b in block) + message)
    return sm3(bytes(b ^ 0x5C for b in block) + inner)


def test_stored_digest_is_hmac_sm3_of_the_normalised_code() -> None:
    digest = code_digest(KEY, "7kq4-m2xa-9pht-d3wt")
    assert digest == _rfc2104_hmac_sm3(KEY, SPEC_CODE.encode())
    assert len(digest) == 32
    assert code_digest(KEY, SPEC_CODE) == digest
    assert code_digest(b"j" * 32, SPEC_CODE) != digest


def test_matches() -> None:
    digest = code_digest(KEY, SPEC_CODE)
    assert matches(KEY, "7KQ4 M2XA 9PHT D3WT", digest)
    assert not matches(KEY, new_code(), digest)
    assert not matches(KEY, "7KQ4M2XA9PHTD3WU", digest)  # typo: False, not an exception
    assert not matches(KEY, "garbage", digest)
    assert not matches(KEY, SPEC_CODE, digest[:-1] + bytes([digest[-1] ^ 1]))
    assert not matches(b"j" * 32, SPEC_CODE, digest)


def test_short_keys_are_refused() -> None:
    for key in (b"", b"short", "a string key" * 3):
        with pytest.raises(CodeInvalid) as err:
            code_digest(key, SPEC_CODE)  # type: ignore[arg-type]
        assert err.value.code == "licence.code.bad_key"
        with pytest.raises(CodeInvalid):
            matches(key, SPEC_CODE, b"")  # type: ignore[arg-type]


def test_random_input_raises_only_code_invalid() -> None:
    for _ in range(2000):
        raw = "".join(chr(secrets.randbelow(0x3000)) for _ in range(secrets.randbelow(24)))
        with contextlib.suppress(CodeInvalid):
            normalise_code(raw)
