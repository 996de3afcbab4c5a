"""Upstream ID token checks (OIDC Core §3.1.3.7) with tokens signed by an independent joserfc
key: each check can fail on its own; proofing level from verified_claims / acr; settings."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from identity.federation import (
    FederationSettings,
    pkce_pair,
    upstream_proofing_level,
    validate_upstream_id_token,
)
from trust.errors import InvalidInput, VerificationFailed

ISS = "https://id.gjzwfw.example.gov.cn"
NOW = 1_795_000_000
KEY = ECKey.generate_key("P-256", parameters={"kid": "up-1"})
JWKS = {"keys": [KEY.as_dict(private=False)]}


def _token(key: Any = KEY, alg: str = "ES256", **over: Any) -> str:
    claims: dict[str, Any] = {
        "iss": ISS,
        "aud": "broker",
        "sub": "upstream-sub-1",
        "iat": NOW,
        "exp": NOW + 300,
        "nonce": "n-1",
        "acr": "urn:ywtb:loa:3",
        "amr": ["pwd", "face"],
    }
    claims.update(over)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": alg, "kid": "up-1"}, claims, key)


def _check(token: str, jwks: dict[str, Any] = JWKS, now: int = NOW) -> Any:
    return validate_upstream_id_token(
        unverified_token=token,
        jwks=jwks,
        issuer=ISS,
        client_id="broker",
        nonce="n-1",
        now=now,
        leeway=60,
    )


def test_valid_token() -> None:
    who = _check(_token())
    assert (who.sub, who.acr, who.amr) == ("upstream-sub-1", "urn:ywtb:loa:3", ("pwd", "face"))


def test_rsa_upstream_is_accepted() -> None:
    rsa = RSAKey.generate_key(2048, parameters={"kid": "up-1"})
    token = _token(rsa, "RS256")
    assert _check(token, {"keys": [rsa.as_dict(private=False)]}).sub == "upstream-sub-1"


@pytest.mark.parametrize(
    "over",
    [
        {"iss": "https://evil.example"},
        {"aud": "someone-else"},
        {"aud": ["broker", "other"]},  # several audiences without azp
        {"nonce": "n-2"},
        {"nonce": None},
        {"exp": NOW - 61},
        {"iat": NOW + 61},
        {"sub": None},
        {"exp": "later"},
    ],
)
def test_each_claim_check_can_fail(over: dict[str, Any]) -> None:
    with pytest.raises(VerificationFailed):
        _check(_token(**over))


def test_leeway_and_azp() -> None:
    assert _check(_token(exp=NOW - 59)).sub == "upstream-sub-1"
    assert _check(_token(aud=["broker", "other"], azp="broker")).sub == "upstream-sub-1"


def test_signature_other_key_and_hmac_refused() -> None:
    other = ECKey.generate_key("P-256", parameters={"kid": "up-1"})
    with pytest.raises(VerificationFailed):
        _check(_token(other))
    secret = OctKey.generate_key(256, parameters={"kid": "up-1"})
    hs = jwt.encode({"alg": "HS256"}, {"iss": ISS}, secret)
    with pytest.raises(VerificationFailed):
        _check(hs, {"keys": [secret.as_dict(private=True)]})
    header, payload, _sig = _token().split(".")
    with pytest.raises(VerificationFailed):
        _check(f"{header}.{payload}.")


def test_proofing_level() -> None:
    verified = {"verified_claims": {"verification": {"assurance_level": "P4"}}}
    assert upstream_proofing_level(verified, "urn:ywtb:loa:1") == 4
    assert upstream_proofing_level({}, "urn:ywtb:loa:3") == 3
    assert upstream_proofing_level({"verified_claims": "P4"}, None) == 1
    assert upstream_proofing_level({}, "urn:other:gold") == 1


def test_settings() -> None:
    assert FederationSettings.from_environ({}) is None
    fed = FederationSettings.from_environ(
        {
            "TRUST_FEDERATION_ISSUER": ISS + "/",
            "TRUST_FEDERATION_CLIENT_ID": "broker",
            "TRUST_FEDERATION_CLIENT_SECRET": "s3cret",
        }
    )
    assert fed is not None
    assert fed.issuer == ISS
    assert "s3cret" not in repr(fed)
    with pytest.raises(InvalidInput):
        FederationSettings.from_environ({"TRUST_FEDERATION_ISSUER": ISS})
    with pytest.raises(InvalidInput):
        FederationSettings.from_environ(
            {
                "TRUST_FEDERATION_ISSUER": "http://upstream.example",
                "TRUST_FEDERATION_CLIENT_ID": "b",
                "TRUST_FEDERATION_CLIENT_SECRET": "s",
            }
        )


def test_pkce_pair() -> None:
    import base64
    import hashlib

    verifier, challenge = pkce_pair()
    assert 43 <= len(verifier) <= 128
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert challenge == expected.decode()
