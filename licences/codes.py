"""核验码 (licence verification code), elicence spec §9.1 item 2.

- 16 characters from the GB 32100 alphabet ``0123456789ABCDEFGHJKLMNPQRTUWXY`` (no I O S V Z),
  shown as four groups of four: ``7KQ4-M2XA-9PHT-D3WT``;
- 15 characters from a CSPRNG (31¹⁵ ≈ 2^74.3) + 1 check character;
- check: the GB 32100 rule generalised to 15 positions, wᵢ = 3^i mod 31 (i = 0…14),
  c = (31 − Σ vᵢ·wᵢ mod 31) mod 31. 31 is prime and the weights are non-zero and pairwise
  distinct in adjacent positions, so every single substitution and every adjacent transposition
  (including one with the check character, whose weight is 1) changes Σ mod 31;
- input normalisation: NFKC (full-width forms), upper case, drop spaces and hyphens/dashes, map
  the look-alikes O→0, I→1, Z→2, S→5; V is refused (it could be U or Y);
- the server stores only ``HMAC-SM3(k_server, code)`` and compares in constant time.
"""

from __future__ import annotations

import operator
import secrets
import unicodedata
from typing import Final, NewType

from licences.errors import CodeInvalid
from trust.checkchars import USCC_ALPHABET
from trust.crypto import constant_time_equal, hmac_sm3

__all__ = [
    "CODE_ALPHABET",
    "CODE_LENGTH",
    "MIN_KEY_BYTES",
    "VerificationCode",
    "code_check_char",
    "code_digest",
    "format_code",
    "matches",
    "new_code",
    "normalise_code",
]

#: A normalised 16-character 核验码 whose check character has been verified.
VerificationCode = NewType("VerificationCode", str)

CODE_ALPHABET: Final = USCC_ALPHABET
CODE_LENGTH: Final = 16
MIN_KEY_BYTES: Final = 16  # HMAC key for the stored form: at least 128 bits
_WEIGHTS: Final = tuple(pow(3, i, 31) for i in range(CODE_LENGTH - 1))
_VALUE: Final = {ch: i for i, ch in enumerate(CODE_ALPHABET)}
_MAX_RAW: Final = 64  # longer input is refused before any processing
# Spec §9.1: "map O→0, I→1, Z→2, S→5; reject V".
_LOOK_ALIKES: Final = str.maketrans({"O": "0", "I": "1", "Z": "2", "S": "5"})
# Separators people type or paste: hyphen-minus and the Unicode dashes NFKC leaves alone.
_SEPARATORS: Final = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\u00ad")
#: ASCII input (nearly all of it) in one C-level pass, with exactly the general path's effect
#: (NFKC leaves ASCII alone): drop ASCII whitespace and hyphens, map the look-alikes.
_ASCII_CLEAN: Final = {
    **{c: None for c in range(128) if chr(c).isspace() or chr(c) in _SEPARATORS},
    **_LOOK_ALIKES,
}
_ALPHABET_SET: Final = frozenset(CODE_ALPHABET)


def _malformed(detail: str) -> CodeInvalid:
    return CodeInvalid(detail, code="licence.code.malformed")


def code_check_char(first15: str) -> str:
    """The 16th character for 15 alphabet characters (spec §9.1)."""
    if len(first15) != CODE_LENGTH - 1 or not _ALPHABET_SET.issuperset(first15):
        raise _malformed("核验码 body must be 15 characters of the GB 32100 alphabet")
    total = sum(map(operator.mul, map(_VALUE.__getitem__, first15), _WEIGHTS))
    return CODE_ALPHABET[(31 - total % 31) % 31]


def new_code() -> VerificationCode:
    """15 CSPRNG characters + the check character."""
    body = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH - 1))
    return VerificationCode(body + code_check_char(body))


def normalise_code(raw: str) -> VerificationCode:
    """Normalise typed input and verify the check character.

    Raises ``CodeInvalid`` with code ``licence.code.malformed`` (characters, length) or
    ``licence.code.bad_check_char``.
    """
    if not isinstance(raw, str) or len(raw) > _MAX_RAW:
        raise _malformed(f"核验码 input must be a string of at most {_MAX_RAW} characters")
    if raw.isascii():
        code = raw.upper().translate(_ASCII_CLEAN)
    else:
        text = unicodedata.normalize("NFKC", raw).upper()
        kept = "".join(ch for ch in text if not ch.isspace() and ch not in _SEPARATORS)
        code = kept.translate(_LOOK_ALIKES)
    if "V" in code:
        raise _malformed("核验码 never contains V (did you mean U or Y?)")
    if len(code) != CODE_LENGTH or not _ALPHABET_SET.issuperset(code):
        raise _malformed("核验码 is 16 characters of 0-9 and A-Y without I O S V Z")
    # A check character is public; comparing it with == leaks nothing secret.
    if code_check_char(code[:-1]) != code[-1]:
        raise CodeInvalid(
            "核验码 check character does not match (typing error?)",
            code="licence.code.bad_check_char",
        )
    return VerificationCode(code)


def format_code(code: str) -> str:
    """Display form: four groups of four separated by hyphens (``7KQ4-M2XA-9PHT-D3WT``)."""
    normal = normalise_code(code)
    return "-".join(normal[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise CodeInvalid(
            f"the 核验码 HMAC key must be at least {MIN_KEY_BYTES} bytes",
            code="licence.code.bad_key",
        )


def code_digest(key: bytes, code: str) -> bytes:
    """Stored form (spec §9.1): HMAC-SM3(key, normalised code as ASCII), 32 bytes."""
    _check_key(key)
    return hmac_sm3(key, normalise_code(code).encode("ascii"))


def matches(key: bytes, raw_code: str, stored_digest: bytes) -> bool:
    """Whether typed ``raw_code`` is the code whose stored digest is ``stored_digest``.

    Malformed input or a wrong check character gives False; digests are compared in constant
    time. An unusable key still raises (a configuration fault must not look like "no match").
    """
    _check_key(key)
    try:
        code = normalise_code(raw_code)
    except CodeInvalid:
        return False
    return constant_time_equal(code_digest(key, code), stored_digest)
