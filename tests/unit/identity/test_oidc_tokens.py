"""Token formats: pairwise sub, at_hash, ES256 JWS minting (verified independently with
pyca/cryptography through joserfc), access-token verification, refresh-token MACs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jwt
from joserfc.jwk import KeySet

from identity.oidc_errors import InvalidToken
from identity.tokens import (
    at_hash,
    mint_access_token,
    mint_id_token,
    pairwise_sub,
    parse_refresh_token,
    refresh_token_value,
    sign_jwt,
    verify_access_token,
)
from trust.crypto import p256_public_jwk
from trust.signing import SignatureAlgorithm

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


class _TestSigner:
    """A test-only ES256 signer (the keystore's signers are tested in tests/unit/keys)."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())

    @property
    def algorithm(self) -> SignatureAlgorithm:
        return SignatureAlgorithm.ES256

    @property
    def key_id(self) -> str:
        return "key_test"

    def public_key_der(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def certificate_chain(self) -> Sequence[bytes]:
        return ()

    def sign(self, data: bytes) -> bytes:
        r, s = decode_dss_signature(self._key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def jwks(self) -> dict[str, object]:
        jwk = p256_public_jwk(self.public_key_der()) | {"kid": self.key_id, "alg": "ES256"}
        return {"keys": [jwk]}


@pytest.fixture
def signer() -> _TestSigner:
    return _TestSigner()


def test_pairwise_sub_per_sector_and_not_the_id() -> None:
    key = bytes(32)
    a = pairwise_sub(key, "gov.example", "psn_1")
    assert a == pairwise_sub(key, "gov.example", "psn_1")
    assert a != pairwise_sub(key, "bank.example", "psn_1")
    assert a != pairwise_sub(key, "gov.example", "psn_2")
    assert a != pairwise_sub(bytes([1]) * 32, "gov.example", "psn_1")
    assert len(a) == 43
    assert "psn" not in a


def test_at_hash_known_answer() -> None:
    # OIDC Core §3.1.3.6 construction, checked against hashlib by hand.
    import base64
    import hashlib

    digest = hashlib.sha256(b"jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y").digest()[:16]
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y") == expected


def test_id_token_verifies_with_joserfc(signer: _TestSigner) -> None:
    token = mint_id_token(
        signer=signer,
        issuer="https://op.example",
        sub="abc",
        client_id="rp_1",
        now=NOW,
        lifetime_seconds=600,
        auth_time=NOW,
        acr="urn:ywtb:loa:2",
        amr=["pwd", "sms"],
        sid="sid_1",
        nonce="n-0S6_WzA2Mj",
        access_token="at",
        extra_claims={"iss": "forged", "legal_person": {"uscc": "x"}},
    )
    decoded = jwt.decode(token, KeySet.import_key_set(signer.jwks()), algorithms=["ES256"])
    assert decoded.header == {"alg": "ES256", "kid": "key_test", "typ": "JWT"}
    c = decoded.claims
    assert c["iss"] == "https://op.example"  # registered claims win over extras
    assert c["exp"] - c["iat"] == 600
    assert c["nonce"] == "n-0S6_WzA2Mj"
    assert c["sid"] == "sid_1"
    assert c["at_hash"] == at_hash("at")
    assert c["legal_person"] == {"uscc": "x"}


def test_sign_jwt_refuses_a_non_es256_signer(signer: _TestSigner) -> None:
    class Sm2(_TestSigner):
        @property
        def algorithm(self) -> SignatureAlgorithm:
            return SignatureAlgorithm.SM2_SM3

    with pytest.raises(Exception, match="ES256"):
        sign_jwt(Sm2(), {"a": 1}, typ="JWT")


def test_access_token_roundtrip_and_failures(signer: _TestSigner) -> None:
    token, jti = mint_access_token(
        signer=signer,
        issuer="https://op.example",
        sub="abc",
        client_id="rp_1",
        scope="openid profile",
        now=NOW,
        lifetime_seconds=600,
        grant_id="grt_1",
    )
    now = int(NOW.timestamp())
    args = {"jwks": signer.jwks(), "issuer": "https://op.example", "leeway": 0}
    ok = verify_access_token(unverified_token=token, now=now, **args)  # type: ignore[arg-type]
    assert ok.jti == jti
    assert ok.grant_id == "grt_1"
    assert ok.scope == ("openid", "profile")
    with pytest.raises(InvalidToken):
        verify_access_token(unverified_token=token, now=now + 600, **args)  # type: ignore[arg-type]
    with pytest.raises(InvalidToken):
        verify_access_token(
            unverified_token=token, now=now, jwks=signer.jwks(), issuer="https://x", leeway=0
        )
    id_token = mint_id_token(
        signer=signer,
        issuer="https://op.example",
        sub="abc",
        client_id="rp_1",
        now=NOW,
        lifetime_seconds=60,
        auth_time=NOW,
        acr="urn:ywtb:loa:1",
        amr=["pwd"],
        sid=None,
    )
    with pytest.raises(InvalidToken):  # an ID token is not an access token (typ)
        verify_access_token(unverified_token=id_token, now=now, **args)  # type: ignore[arg-type]
    other = _TestSigner()
    forged, _ = mint_access_token(
        signer=other,
        issuer="https://op.example",
        sub="abc",
        client_id="rp_1",
        scope="",
        now=NOW,
        lifetime_seconds=600,
    )
    with pytest.raises(InvalidToken):
        verify_access_token(unverified_token=forged, now=now, **args)  # type: ignore[arg-type]
    _header, payload, _sig = token.split(".")
    none_alg = "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + payload + "."
    with pytest.raises(InvalidToken):
        verify_access_token(unverified_token=none_alg, now=now, **args)  # type: ignore[arg-type]


def test_refresh_token_mac() -> None:
    key = bytes(range(32))
    value = refresh_token_value(key, "ort_abc")
    assert parse_refresh_token(key, value) == "ort_abc"
    assert parse_refresh_token(bytes(32), value) is None
    assert parse_refresh_token(key, value[:-1] + ("A" if value[-1] != "A" else "B")) is None
    assert parse_refresh_token(key, "ort_abc") is None
    assert parse_refresh_token(key, "x" * 300) is None
