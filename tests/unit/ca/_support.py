"""Test PKI helpers shared by the CA and TSA tests: an in-memory SM2 signer and certificate
builders that need no database. Private keys come from ``trust.crypto.private_keys``
(allowed in tests only)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from tests.conftest import skip_or_fail
from trust.ca.names import SubjectName
from trust.ca.profiles import Profile, ProfileSpec, spec_for
from trust.ca.x509 import (
    assemble_certificate,
    build_extensions,
    build_tbs_certificate,
    new_serial_number,
    parse_certificate,
)
from trust.crypto.private_keys import SM2PrivateKey, generate_sm2
from trust.ids import new_id
from trust.signing import SignatureAlgorithm

ID_OPT = "distid:1234567812345678"


class SM2TestSigner:
    """A ``trust.signing.Signer`` over an in-memory SM2 key."""

    def __init__(self, key: SM2PrivateKey | None = None, *, key_id: str | None = None) -> None:
        self._key = key or generate_sm2()
        self._key_id = key_id or new_id("key")
        self.chain: tuple[bytes, ...] = ()
        self.signed: int = 0

    @property
    def algorithm(self) -> SignatureAlgorithm:
        return SignatureAlgorithm.SM2_SM3

    @property
    def key_id(self) -> str:
        return self._key_id

    def public_key_der(self) -> bytes:
        return self._key.public_key().to_der()

    def certificate_chain(self) -> Sequence[bytes]:
        return self.chain

    def sign(self, data: bytes) -> bytes:
        self.signed += 1
        return self._key.sign(data)

    def private_pem(self) -> bytes:
        import base64

        body = base64.encodebytes(self._key.to_pkcs8_der()).replace(b"\n", b"")
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return (
            b"-----BEGIN PRIVATE KEY-----\n" + b"\n".join(lines) + b"\n-----END PRIVATE KEY-----\n"
        )


@dataclass
class PureCert:
    der: bytes
    signer: SM2TestSigner
    name: object = field(repr=False)


def make_cert(
    *,
    subject_cn: str,
    profile: Profile,
    issuer: PureCert | None,
    not_before: datetime,
    days: int,
    signer: SM2TestSigner | None = None,
    spec: ProfileSpec | None = None,
    sign_with: SM2TestSigner | None = None,
) -> PureCert:
    """Build a certificate without a database; ``issuer=None`` makes it self-signed.
    ``spec`` overrides the profile (to build deliberately broken CAs); ``sign_with`` signs with
    a key other than the issuer's (a wrong link)."""
    subject_signer = signer or SM2TestSigner()
    name = SubjectName.create(common_name=subject_cn, organization="测试").to_asn1()
    issuer_signer = issuer.signer if issuer else subject_signer
    issuer_name = parse_certificate(issuer.der).subject_name if issuer else name
    chosen = spec or spec_for(profile)
    exts = build_extensions(
        spec=chosen,
        subject_spki_der=subject_signer.public_key_der(),
        issuer_spki_der=issuer_signer.public_key_der(),
        crl_url="http://127.0.0.1:8000/ca/crl",
    )
    tbs = build_tbs_certificate(
        serial_number=new_serial_number(),
        issuer=issuer_name,
        subject=name,
        spki_der=subject_signer.public_key_der(),
        not_before=not_before,
        not_after=not_before + timedelta(days=days),
        extensions=exts,
    )
    der = assemble_certificate(tbs, (sign_with or issuer_signer).sign(tbs.dump()))
    return PureCert(der, subject_signer, name)


def openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        skip_or_fail("OpenSSL CLI not available")
    assert path is not None
    return path


def run_openssl(
    *args: str, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [openssl(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def pem(der: bytes, label: str = "CERTIFICATE") -> str:
    import base64

    body = base64.b64encode(der).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"
