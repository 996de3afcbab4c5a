"""RFC 7636 PKCE, S256 only."""

from __future__ import annotations

from identity.pkce import challenge_s256, is_valid_challenge, is_valid_verifier, verify_s256

# RFC 7636 Appendix B.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_rfc7636_appendix_b() -> None:
    assert challenge_s256(VERIFIER) == CHALLENGE
    assert verify_s256(unverified_verifier=VERIFIER, challenge=CHALLENGE)


def test_wrong_or_malformed_verifier_fails() -> None:
    assert not verify_s256(unverified_verifier=VERIFIER[:-1] + "l", challenge=CHALLENGE)
    assert not verify_s256(unverified_verifier="short", challenge=CHALLENGE)
    assert not verify_s256(unverified_verifier=None, challenge=CHALLENGE)
    # "plain": the verifier equal to the challenge is not accepted.
    assert not verify_s256(unverified_verifier=CHALLENGE, challenge=CHALLENGE)


def test_shapes() -> None:
    assert is_valid_verifier("a" * 43)
    assert is_valid_verifier("~._-" * 32)
    assert not is_valid_verifier("a" * 42)
    assert not is_valid_verifier("a" * 129)
    assert not is_valid_verifier("a" * 42 + "=")
    assert is_valid_challenge(CHALLENGE)
    assert not is_valid_challenge(CHALLENGE + "=")
