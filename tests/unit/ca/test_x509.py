"""Certificate parsing and building (RFC 5280 §4.1): malformed input is InvalidInput, never a
crash; SM2 keys only; times switch to GeneralizedTime in 2050."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import shared_path
from tests.unit.ca._support import make_cert, run_openssl
from trust.ca.errors import BadCertificate, BadPublicKey
from trust.ca.profiles import Profile
from trust.ca.x509 import (
    certificate_to_pem,
    key_identifier,
    new_serial_number,
    parse_certificate,
    pem_to_der_list,
    sm2_spki,
    to_asn1_time,
)
from trust.errors import InvalidInput

AT = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def test_vector_certificate_facts() -> None:
    (der,) = pem_to_der_list(shared_path("vectors", "openssl_sm2_chain", "subca.pem").read_bytes())
    facts = parse_certificate(der)
    assert facts.serial_number == 0x55A4C6595B1FFAD33A528430237981384ED75263
    assert facts.subject == "C=CN, O=Test Gov CA, CN=Test SM2 Sub CA"
    assert facts.issuer == "C=CN, O=Test Gov CA, CN=Test SM2 Root CA"
    assert facts.is_ca is True
    assert facts.path_len == 0
    assert facts.key_usage == frozenset({"key_cert_sign", "crl_sign"})
    assert facts.signature_algorithm_oid == "1.2.156.10197.1.501"
    assert facts.subject_key_identifier == bytes.fromhex("55676691EF2EC7030A6616D5CEEFDFB3D337ECA6")
    assert facts.der[4 : 4 + len(facts.tbs_der)] == facts.tbs_der  # exact slice, not re-encoded
    assert not facts.self_issued


@pytest.mark.parametrize(
    "blob",
    [b"", b"\x30\x00", b"\x30\x03\x02\x01\x01", b"\x04\x02ab", b"\xff" * 40],
)
def test_malformed_certificates_are_bad_certificate(blob: bytes) -> None:
    with pytest.raises(BadCertificate) as info:
        parse_certificate(blob)
    assert isinstance(info.value, InvalidInput)


def test_trailing_bytes_are_refused() -> None:
    cert = make_cert(subject_cn="x", profile=Profile.ROOT_CA, issuer=None, not_before=AT, days=1)
    with pytest.raises(BadCertificate):
        parse_certificate(cert.der + b"\x00")


def test_pem_round_trip() -> None:
    cert = make_cert(subject_cn="x", profile=Profile.ROOT_CA, issuer=None, not_before=AT, days=1)
    assert pem_to_der_list(certificate_to_pem(cert.der) * 2) == [cert.der, cert.der]


def test_non_sm2_public_keys_are_refused(tmp_path: Path) -> None:
    run_openssl(
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "k.pem",
        cwd=tmp_path,
    )
    run_openssl(
        "pkey", "-in", "k.pem", "-pubout", "-outform", "DER", "-out", "pub.der", cwd=tmp_path
    )
    with pytest.raises(BadPublicKey):
        sm2_spki((tmp_path / "pub.der").read_bytes())
    with pytest.raises(BadPublicKey):
        sm2_spki(b"\x30\x03\x02\x01\x01")


def test_point_off_the_curve_is_refused() -> None:
    good = make_cert(subject_cn="x", profile=Profile.ROOT_CA, issuer=None, not_before=AT, days=1)
    spki = bytearray(parse_certificate(good.der).spki_der)
    spki[-1] ^= 1
    with pytest.raises(BadPublicKey):
        sm2_spki(bytes(spki))


def test_key_identifier_is_160_bits_of_sm3() -> None:
    cert = make_cert(subject_cn="x", profile=Profile.ROOT_CA, issuer=None, not_before=AT, days=1)
    facts = parse_certificate(cert.der)
    assert facts.subject_key_identifier == key_identifier(facts.spki_der)
    assert len(key_identifier(facts.spki_der)) == 20
    assert facts.authority_key_identifier == facts.subject_key_identifier


def test_time_encoding_switches_in_2050() -> None:
    assert to_asn1_time(datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)).name == "utc_time"
    assert to_asn1_time(datetime(2050, 1, 1, tzinfo=UTC)).name == "general_time"


def test_serial_numbers_are_positive_and_at_most_20_octets() -> None:
    serials = {new_serial_number() for _ in range(200)}
    assert len(serials) == 200
    assert all(0 < s < 2**127 for s in serials)
    assert max(s.bit_length() for s in serials) > 100
