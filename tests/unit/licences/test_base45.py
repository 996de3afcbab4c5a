"""Base45: RFC 9285 §4.3 examples (also in elicence spec §8, §11) and the §4.2 rejections."""

from __future__ import annotations

import os

import pytest

from licences.base45 import BASE45_ALPHABET, b45decode, b45encode
from licences.errors import EnvelopeMalformed

# RFC 9285 §4.3 (encoding examples) and §4.4 (decoding example).
RFC_EXAMPLES = [
    (b"AB", "BB8"),
    (b"Hello!!", "%69 VD92EX0"),
    (b"base-45", "UJCLQE7W581"),
    (b"ietf!", "QED8WEX0"),
]


@pytest.mark.parametrize(("raw", "text"), RFC_EXAMPLES)
def test_rfc_9285_examples(raw: bytes, text: str) -> None:
    assert b45encode(raw) == text
    assert b45decode(text) == raw


def test_alphabet_is_the_qr_alphanumeric_set() -> None:
    assert len(BASE45_ALPHABET) == 45
    assert set(BASE45_ALPHABET) == set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def test_edges() -> None:
    assert b45encode(b"") == ""
    assert b45decode("") == b""
    assert b45encode(b"\x00") == "00"
    assert b45encode(b"\xff") == "U5"  # 255 = 30 + 5·45
    assert b45encode(b"\xff\xff") == "FGW"  # 65535 = 15 + 16·45 + 32·45²
    assert b45decode("FGW") == b"\xff\xff"


def test_round_trip_random() -> None:
    for n in range(0, 200):
        data = os.urandom(n)
        text = b45encode(data)
        assert len(text) == 3 * (n // 2) + 2 * (n % 2)
        assert b45decode(text) == data


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("GGW", "licence.base45.out_of_range"),  # 65536
        (":::", "licence.base45.out_of_range"),  # 44 + 44·45 + 44·45² = 91124
        ("BB8V6", "licence.base45.out_of_range"),  # final pair 31 + 6·45 = 301 > 255
        ("BB8A", "licence.base45.bad_length"),
        ("A", "licence.base45.bad_length"),
        ("bb8", "licence.base45.bad_char"),  # lower case is not in the alphabet
        ("BB#", "licence.base45.bad_char"),
        ("BB８", "licence.base45.bad_char"),
    ],
)
def test_rejections(text: str, code: str) -> None:
    with pytest.raises(EnvelopeMalformed) as err:
        b45decode(text)
    assert err.value.code == code
