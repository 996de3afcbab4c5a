"""Signatures from software signers verify with independent verifiers: the crypto facade, the
OpenSSL command line (SM2 with SM3, default distinguishing ID) and joserfc (ES256 JWS)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session

from keys.interfaces import KeyUsage
from keys.jwks import jwks_for
from keys.software import SoftwareKeyStore
from tests.conftest import skip_or_fail
from trust.clock import FixedClock
from trust.crypto import DEFAULT_USER_ID, InvalidSignature, SM2PublicKey, sm2_verify
from trust.crypto.es256 import es256_verify
from trust.signing import SignatureAlgorithm

DATA = "一网通办 electronic seal payload".encode()


@pytest.fixture
def openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        skip_or_fail("openssl command line not installed")
    assert path is not None
    return path


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def test_sm2_signer_verifies_with_the_facade_and_is_der(
    keystore: SoftwareKeyStore, session: Session, clock: FixedClock
) -> None:
    info = keystore.generate(session=session, clock=clock, usage=KeyUsage.SEAL_HOLDER, label="s")
    signer = keystore.signer(session=session, key_id=info.key_id)
    signature = signer.sign(DATA)
    assert signature[0] == 0x30  # DER SEQUENCE { r, s }
    public = SM2PublicKey.from_der(signer.public_key_der())
    assert sm2_verify(public, DATA, signature).value == "der"
    assert signer.sign(DATA) != signature  # fresh nonce
    with pytest.raises(InvalidSignature):
        sm2_verify(public, DATA + b".", signature)
    with pytest.raises(InvalidSignature):  # the default ID is part of what was signed
        sm2_verify(public, DATA, signature, user_id=b"ALICE123@YAHOO.COM")


def test_sm2_signer_verifies_with_the_openssl_command_line(
    keystore: SoftwareKeyStore, session: Session, clock: FixedClock, tmp_path: Path, openssl: str
) -> None:
    info = keystore.generate(session=session, clock=clock, usage=KeyUsage.SEAL_MAKER, label="m")
    signer = keystore.signer(session=session, key_id=info.key_id)
    (tmp_path / "pub.pem").write_text(SM2PublicKey.from_der(info.public_key_der).to_pem())
    (tmp_path / "data").write_bytes(DATA)
    (tmp_path / "sig").write_bytes(signer.sign(DATA))
    (tmp_path / "other").write_bytes(DATA + b"!")

    def verify(data_file: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                openssl,
                "dgst",
                "-sm3",
                "-verify",
                "pub.pem",
                "-sigopt",
                f"distid:{DEFAULT_USER_ID.decode()}",
                "-signature",
                "sig",
                data_file,
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )

    good = verify("data")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Verified OK" in good.stdout
    bad = verify("other")
    assert bad.returncode != 0
    assert "Verification failure" in bad.stdout + bad.stderr


def test_es256_signer_returns_raw_r_s_that_verifies(
    keystore: SoftwareKeyStore, session: Session, clock: FixedClock
) -> None:
    info = keystore.generate(session=session, clock=clock, usage=KeyUsage.TOKEN_SIGNING, label="t")
    signer = keystore.signer(session=session, key_id=info.key_id)
    assert signer.algorithm is SignatureAlgorithm.ES256
    signature = signer.sign(DATA)
    assert len(signature) == 64
    es256_verify(signer.public_key_der(), DATA, signature)
    with pytest.raises(InvalidSignature):
        es256_verify(signer.public_key_der(), DATA + b".", signature)


def test_es256_jws_verifies_with_joserfc_against_our_jwks(
    keystore: SoftwareKeyStore, session: Session, clock: FixedClock
) -> None:
    keystore.rotate(session=session, clock=clock, usage=KeyUsage.TOKEN_SIGNING)
    signer = keystore.active_signer(session=session, usage=KeyUsage.TOKEN_SIGNING)
    header = _b64url(json.dumps({"alg": "ES256", "kid": signer.key_id}).encode())
    payload = _b64url(b'{"sub":"citizen-1"}')
    signing_input = f"{header}.{payload}".encode("ascii")
    token = f"{header}.{payload}.{_b64url(signer.sign(signing_input))}"
    key_set = KeySet.import_key_set(jwks_for(keystore=keystore, session=session))  # type: ignore[arg-type]
    verified = jws.deserialize_compact(token, key_set, algorithms=["ES256"])
    assert verified.payload == b'{"sub":"citizen-1"}'
    assert verified.headers()["kid"] == signer.key_id
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(BadSignatureError):
        jws.deserialize_compact(tampered, key_set, algorithms=["ES256"])
