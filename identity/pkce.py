"""Proof Key for Code Exchange, RFC 7636, ``S256`` only (pure).

``plain`` is refused (RFC 7636 §4.2 allows it only when S256 is impossible; OAuth 2.0 Security
BCP, RFC 9700 §2.1.1: use S256). PKCE is mandatory for every client here, public or not.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Final

from trust.crypto import constant_time_equal

__all__ = ["challenge_s256", "is_valid_challenge", "is_valid_verifier", "verify_s256"]

#: RFC 7636 §4.1: code_verifier = 43*128unreserved; unreserved = ALPHA / DIGIT / "-" / "." /
#: "_" / "~".
_VERIFIER_RE: Final = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
#: §4.2: the S256 challenge is BASE64URL(SHA256(verifier)) without padding: 43 characters.
_CHALLENGE_RE: Final = re.compile(r"^[A-Za-z0-9\-_]{43}$")


def is_valid_verifier(value: object) -> bool:
    return isinstance(value, str) and _VERIFIER_RE.fullmatch(value) is not None


def is_valid_challenge(value: object) -> bool:
    return isinstance(value, str) and _CHALLENGE_RE.fullmatch(value) is not None


def challenge_s256(verifier: str) -> str:
    """§4.2: ``BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))``."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify_s256(*, unverified_verifier: object, challenge: str) -> bool:
    """§4.6: the server recomputes the challenge from the verifier and compares (constant
    time). A malformed verifier fails."""
    if not is_valid_verifier(unverified_verifier) or not is_valid_challenge(challenge):
        return False
    assert isinstance(unverified_verifier, str)
    return constant_time_equal(challenge_s256(unverified_verifier), challenge)
