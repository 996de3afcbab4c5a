"""Upstream ID token checks (OIDC Core §3.1.3.7) with tokens signed by an independent joserfc
key: each check can fail on its own; proofing level from verified_claims / acr; settings."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from identity.federation import (
    FederationSettings,
    federation_login_link,
    fresh_login_needed,
    link_refusal,
    pkce_pair,
    read_upstream_assertion,
    upstream_authenticated_since,
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
        {"auth_time": "earlier"},
        {"auth_time": True},
        {"auth_time": NOW + 61},  # authenticated in the future
    ],
)
def test_each_claim_check_can_fail(over: dict[str, Any]) -> None:
    with pytest.raises(VerificationFailed):
        _check(_token(**over))


def test_auth_time_and_freshness() -> None:
    """A broker login counts as fresh only when the upstream says the person authenticated
    after it began (less the leeway); no ``auth_time`` is not fresh."""
    assert _check(_token()).auth_time is None
    who = _check(_token(auth_time=NOW - 100))
    assert who.auth_time == NOW - 100
    assert upstream_authenticated_since(who, since=NOW - 160, leeway=60)
    assert upstream_authenticated_since(who, since=NOW - 40, leeway=60)
    assert not upstream_authenticated_since(who, since=NOW - 39, leeway=60)
    assert not upstream_authenticated_since(_check(_token()), since=0, leeway=60)


@pytest.mark.parametrize(
    ("prompt", "max_age", "step_up", "hard", "needed"),
    [
        ((), None, False, False, False),
        (("consent",), None, False, False, False),
        (("login",), None, False, False, True),
        ((), 0, False, False, True),
        ((), 3600, False, False, True),
        ((), None, True, False, True),
        ((), None, False, True, True),
    ],
)
def test_fresh_login_needed(
    prompt: tuple[str, ...], max_age: int | None, step_up: bool, hard: bool, needed: bool
) -> None:
    assert (
        fresh_login_needed(prompt=prompt, max_age=max_age, step_up=step_up, hard_acr_minimum=hard)
        is needed
    )


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
    assert read_upstream_assertion(verified, "urn:ywtb:loa:1").asserted_level == 4
    assert read_upstream_assertion({}, "urn:ywtb:loa:3").asserted_level == 3
    assert read_upstream_assertion({"verified_claims": "P4"}, None).asserted_level == 1
    assert read_upstream_assertion({}, "urn:other:gold").asserted_level == 1


NAME, ID_NUMBER = "王五", "11010519491231002x"


def _info(level: str = "P3", **verified: str) -> dict[str, Any]:
    return {
        "sub": "s",
        "name": NAME,
        "cn_citizen_id": ID_NUMBER,
        "verified_claims": {
            "verification": {"trust_framework": "cn_gov_realname", "assurance_level": level},
            "claims": verified,
        },
    }


def test_only_values_inside_verified_claims_count_as_verified() -> None:
    both = read_upstream_assertion(_info(name=NAME, cn_citizen_id=ID_NUMBER.upper()), None)
    assert (both.name_verified, both.id_number_verified) == (True, True)
    assert both.id_number == ID_NUMBER.upper()
    assert both.proofing_level == 3
    name_only = read_upstream_assertion(_info(name=NAME), None)
    assert (name_only.name_verified, name_only.id_number_verified) == (True, False)
    assert name_only.proofing_level == 1  # unverified identity data earns nothing
    other = read_upstream_assertion(_info(name="李四", cn_citizen_id=ID_NUMBER), None)
    assert (other.name_verified, other.id_number_verified) == (False, True)
    assert "王五" not in repr(both)
    assert ID_NUMBER not in repr(both).lower()


@pytest.mark.parametrize(
    ("info", "min_level", "code"),
    [
        (_info("P3", name=NAME, cn_citizen_id=ID_NUMBER), 2, None),
        (_info("P2", name=NAME, cn_citizen_id=ID_NUMBER), 2, None),
        (_info("P2", name=NAME, cn_citizen_id=ID_NUMBER), 3, "identity.federation_level_too_low"),
        (_info("P1", name=NAME, cn_citizen_id=ID_NUMBER), 2, "identity.federation_level_too_low"),
        (_info("P4", name=NAME), 2, "identity.federation_id_unverified"),
        (_info("P4", cn_citizen_id=ID_NUMBER), 2, "identity.federation_name_unverified"),
        ({"name": NAME, "cn_citizen_id": ID_NUMBER}, 2, "identity.federation_name_unverified"),
    ],
)
def test_link_refusal(info: dict[str, Any], min_level: int, code: str | None) -> None:
    refusal = link_refusal(read_upstream_assertion(info, "urn:ywtb:loa:4"), min_level=min_level)
    assert (refusal.code if refusal else None) == code


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


def test_min_link_level_setting_and_login_link() -> None:
    env = {
        "TRUST_FEDERATION_ISSUER": ISS,
        "TRUST_FEDERATION_CLIENT_ID": "broker",
        "TRUST_FEDERATION_CLIENT_SECRET": "s3cret",
    }
    fed = FederationSettings.from_environ(env)
    assert fed is not None
    assert fed.min_link_level == 2
    strict = FederationSettings.from_environ(env | {"TRUST_FEDERATION_MIN_LINK_LEVEL": "4"})
    assert strict is not None
    assert strict.min_link_level == 4
    for bad in ("1", "5", "x"):
        with pytest.raises(InvalidInput):
            FederationSettings.from_environ(env | {"TRUST_FEDERATION_MIN_LINK_LEVEL": bad})
    link = federation_login_link(env, interaction_id="oix_ABC123")
    assert link is not None
    assert link.url == "/oidc/federation/start?return_to=%2Foidc%2Finteraction%2Foix_ABC123"
    assert link.label == "使用国家政务服务平台账号登录"
    assert federation_login_link({}, interaction_id="oix_ABC123") is None
    assert federation_login_link(env, interaction_id="../evil") is None


@pytest.mark.parametrize(("level", "expected"), [(1, 1), (2, 2), (3, 3), (4, 4), (True, 1)])
def test_federation_evidence_earns_the_upstream_level(level: Any, expected: int) -> None:
    from identity.evidence import EvidenceKind, Outcome
    from identity.proofing import EvidenceFact, derive_proofing_level

    fact = EvidenceFact("evd_1", EvidenceKind.FEDERATION, Outcome.MATCH, {"level": level})
    assert int(derive_proofing_level([fact]).level) == expected
    miss = EvidenceFact("evd_2", EvidenceKind.FEDERATION, Outcome.MISMATCH, {"level": 4})
    assert int(derive_proofing_level([miss]).level) == 1
