"""PKCS#10 requests (RFC 2986): a request made by the OpenSSL CLI with SM2/SM3 and the default
distinguishing ID is accepted; tampered, foreign-algorithm and malformed ones are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.ca._support import ID_OPT, run_openssl
from trust.ca.csr import verify_csr
from trust.ca.errors import BadCsr, CsrSignatureInvalid, UnsupportedAlgorithm
from trust.ca.names import SubjectName
from trust.ca.x509 import pem_to_der_list
from trust.crypto import SM2PublicKey
from trust.errors import InvalidInput

SUBJ = "/C=CN/O=Test Agency/CN=Agency Seal Holder"


@pytest.fixture(scope="module")
def openssl_csr(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """(CSR PEM, public key PEM) made entirely by the OpenSSL CLI."""
    d: Path = tmp_path_factory.mktemp("csr")
    run_openssl("genpkey", "-algorithm", "SM2", "-out", "k.pem", cwd=d)
    run_openssl("pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem", cwd=d)
    run_openssl(
        "req",
        "-new",
        "-key",
        "k.pem",
        "-sm3",
        "-sigopt",
        ID_OPT,
        "-subj",
        SUBJ,
        "-out",
        "r.csr",
        cwd=d,
    )
    return (d / "r.csr").read_bytes(), (d / "pub.pem").read_bytes()


def test_openssl_sm2_request_is_accepted(openssl_csr: tuple[bytes, bytes]) -> None:
    csr, pub = openssl_csr
    verified = verify_csr(csr)
    assert SM2PublicKey.from_der(verified.spki_der) == SM2PublicKey.from_pem(pub)
    subject = SubjectName.from_asn1(verified.requested_subject)
    assert subject.common_name == "Agency Seal Holder"
    assert subject.organization == "Test Agency"
    # DER input is accepted too.
    assert verify_csr(pem_to_der_list(csr, label="CERTIFICATE REQUEST")[0]) == verified


def test_tampered_request_is_refused(openssl_csr: tuple[bytes, bytes]) -> None:
    (der,) = pem_to_der_list(openssl_csr[0], label="CERTIFICATE REQUEST")
    at = der.index(b"Agency Seal Holder")
    tampered = der[:at] + b"B" + der[at + 1 :]  # "Bgency ...": same length, other name
    with pytest.raises(CsrSignatureInvalid) as info:
        verify_csr(tampered)
    assert info.value.code == "ca.csr_signature_invalid"
    assert isinstance(info.value, InvalidInput)


def test_request_signed_without_the_default_id_is_refused(tmp_path: Path) -> None:
    run_openssl("genpkey", "-algorithm", "SM2", "-out", "k.pem", cwd=tmp_path)
    # No -sigopt distid: OpenSSL 3.0 uses an empty ID (eseal spec §10 pitfall 1).
    run_openssl(
        "req", "-new", "-key", "k.pem", "-sm3", "-subj", SUBJ, "-out", "r.csr", cwd=tmp_path
    )
    with pytest.raises(CsrSignatureInvalid):
        verify_csr((tmp_path / "r.csr").read_bytes())


def test_p256_request_is_unsupported(tmp_path: Path) -> None:
    run_openssl(
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "k.pem",
        "-subj",
        SUBJ,
        "-out",
        "r.csr",
        cwd=tmp_path,
    )
    with pytest.raises(UnsupportedAlgorithm) as info:
        verify_csr((tmp_path / "r.csr").read_bytes())
    assert info.value.http_status == 400


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"not a csr",
        b"-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n",
        b"\x30\x03\x02\x01\x00",
        b"\x30\x80" + b"\x00" * 10,
    ],
)
def test_malformed_requests_are_bad_csr(blob: bytes) -> None:
    with pytest.raises(InvalidInput) as info:
        verify_csr(blob)
    assert info.value.code == "ca.bad_csr"


def test_two_requests_in_one_pem_are_refused(openssl_csr: tuple[bytes, bytes]) -> None:
    with pytest.raises(BadCsr):
        verify_csr(openssl_csr[0] + openssl_csr[0])
