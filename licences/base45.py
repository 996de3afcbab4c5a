"""Base45 (RFC 9285): bytes as characters of the QR alphanumeric set.

RFC 9285 §4: every two bytes [a, b] give n = a·256 + b, written as three characters c d e with
n = c + 45·d + 45²·e (least significant first); a final single byte gives two characters c d
with n = c + 45·d. §4.2: a decoder rejects characters outside the alphabet, a length ≡ 1
(mod 3), a triplet above 65535 and a final pair above 255. With those checks every string has
at most one decoding and every byte string exactly one encoding.
"""

from __future__ import annotations

from typing import Final

from licences.errors import EnvelopeMalformed

__all__ = ["BASE45_ALPHABET", "b45decode", "b45encode"]

#: RFC 9285 §4, Table 1 (values 0…44).
BASE45_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUE: Final = {ch: i for i, ch in enumerate(BASE45_ALPHABET)}


def b45encode(data: bytes) -> str:
    """RFC 9285 §4.1 encoding."""
    out: list[str] = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        e, rest = divmod(n, 45 * 45)
        d, c = divmod(rest, 45)
        out.append(BASE45_ALPHABET[c] + BASE45_ALPHABET[d] + BASE45_ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out.append(BASE45_ALPHABET[c] + BASE45_ALPHABET[d])
    return "".join(out)


def _values(text: str) -> list[int]:
    try:
        return [_VALUE[ch] for ch in text]
    except KeyError:
        raise EnvelopeMalformed(
            "Base45 text contains a character outside RFC 9285 Table 1",
            code="licence.base45.bad_char",
        ) from None


def b45decode(text: str) -> bytes:
    """RFC 9285 §4.2 decoding; raises ``EnvelopeMalformed`` (code ``licence.base45.*``)."""
    if len(text) % 3 == 1:
        raise EnvelopeMalformed(
            "Base45 text length leaves a single character", code="licence.base45.bad_length"
        )
    values = _values(text)
    out = bytearray()
    full = len(values) - len(values) % 3
    for i in range(0, full, 3):
        n = values[i] + values[i + 1] * 45 + values[i + 2] * 45 * 45
        if n > 0xFFFF:
            raise EnvelopeMalformed(
                "Base45 triplet exceeds 65535", code="licence.base45.out_of_range"
            )
        out += n.to_bytes(2, "big")
    if full != len(values):
        n = values[full] + values[full + 1] * 45
        if n > 0xFF:
            raise EnvelopeMalformed(
                "Base45 final pair exceeds 255", code="licence.base45.out_of_range"
            )
        out.append(n)
    return bytes(out)
