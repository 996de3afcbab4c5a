"""Backend-independent SM2 pieces: signature encodings (eseal spec §2.4), public-key parsing and
validation, and the Z value (GB/T 32918.2 §5.5) against the Annex A intermediate values."""

from __future__ import annotations

import secrets

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.unit.crypto import _sm2_oracle as oracle
from tests.unit.crypto.conftest import vector, vector_der
from trust.crypto.sm2 import (
    InvalidSignature,
    SignatureEncoding,
    SM2PublicKey,
    decode_signature,
    encode_signature_der,
    sm2_digest,
    sm2_z,
)
from trust.errors import InvalidInput

N = oracle.N
# README of vectors/sm2_annexA and eseal spec §2.3.
ANNEX_X = 0x09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020
ANNEX_Y = 0xCCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13
ANNEX_D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
ANNEX_K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
ANNEX_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
ANNEX_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA
ANNEX_Z = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
ANNEX_E = "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640"


def annex_key() -> SM2PublicKey:
    return SM2PublicKey.from_pem(vector("sm2_annexA", "pub.pem"))


# --- signature encodings -----------------------------------------------------------------


def test_annex_signature_decodes_as_der() -> None:
    sig = vector("sm2_annexA", "sig.der")
    assert decode_signature(sig) == (ANNEX_R, ANNEX_S, SignatureEncoding.DER)
    assert encode_signature_der(ANNEX_R, ANNEX_S) == sig


def test_raw_form_is_accepted_and_reported() -> None:
    raw = ANNEX_R.to_bytes(32, "big") + ANNEX_S.to_bytes(32, "big")
    assert decode_signature(raw) == (ANNEX_R, ANNEX_S, SignatureEncoding.RAW)


def test_der_round_trip_for_small_and_high_bit_values() -> None:
    for r, s in [(1, 1), (0x80, 0x7F), (N - 1, 2**255), (2**248, N - 1)]:
        der = encode_signature_der(r, s)
        assert decode_signature(der) == (r, s, SignatureEncoding.DER)
    for _ in range(50):
        r, s = secrets.randbelow(N - 1) + 1, secrets.randbelow(N - 1) + 1
        assert decode_signature(encode_signature_der(r, s))[:2] == (r, s)


def _der(r_body: bytes, s_body: bytes) -> bytes:
    body = b"\x02" + bytes([len(r_body)]) + r_body + b"\x02" + bytes([len(s_body)]) + s_body
    return b"\x30" + bytes([len(body)]) + body


GOOD_R = ANNEX_R.to_bytes(32, "big")  # both have the top bit set, so DER needs a leading 00
GOOD_S = ANNEX_S.to_bytes(32, "big")
R_DER, S_DER = b"\x00" + GOOD_R, b"\x00" + GOOD_S

MALFORMED = {
    "empty": b"",
    "63 bytes": b"\x01" * 63,
    "65 bytes": b"\x01" * 65,
    "truncated DER": _der(R_DER, S_DER)[:-1],
    "trailing byte after DER": _der(R_DER, S_DER) + b"\x00",
    "r = 0 (DER)": _der(b"\x00", S_DER),
    "s = n (DER)": _der(R_DER, b"\x00" + N.to_bytes(32, "big")),
    "s > n (DER)": _der(R_DER, b"\x00" + (N + 5).to_bytes(32, "big")),
    "negative r": _der(GOOD_R, S_DER),
    "non-minimal integer": _der(b"\x00" + R_DER, S_DER),
    "empty integer": _der(b"", S_DER),
    "three integers": b"\x30\x09\x02\x01\x01\x02\x01\x01\x02\x01\x01",
    "wrong outer tag": b"\x31" + _der(R_DER, S_DER)[1:],
    "non-minimal length": b"\x30\x81\x06\x02\x01\x01\x02\x01\x01",
    "indefinite length": b"\x30\x80\x02\x01\x01\x02\x01\x01\x00\x00",
    "r = 0 (raw)": bytes(32) + GOOD_S,
    "s = 0 (raw)": GOOD_R + bytes(32),
    "r = n (raw)": N.to_bytes(32, "big") + GOOD_S,
    "s > n (raw)": GOOD_R + (2**256 - 1).to_bytes(32, "big"),
}


def test_hand_built_der_matches_the_annex_file() -> None:
    assert _der(R_DER, S_DER) == vector("sm2_annexA", "sig.der")


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_signatures_are_rejected(name: str) -> None:
    with pytest.raises(InvalidSignature) as info:
        decode_signature(MALFORMED[name])
    assert info.value.reason == "malformed"


def test_truncated_and_trailing_der_are_rejected() -> None:
    sig = vector("sm2_annexA", "sig.der")
    for bad in (sig[:-1], sig[:10], sig + b"\x00", sig + sig):
        with pytest.raises(InvalidSignature) as info:
            decode_signature(bad)
        assert info.value.reason == "malformed"


def test_encode_refuses_out_of_range_values() -> None:
    for r, s in [(0, 1), (1, 0), (N, 1), (1, N), (-1, 5)]:
        with pytest.raises(InvalidInput) as info:
            encode_signature_der(r, s)
        assert info.value.code == "crypto.bad_signature_value"


# --- public keys -------------------------------------------------------------------------


def test_annex_public_key_parses_and_round_trips() -> None:
    key = annex_key()
    assert (key.x, key.y) == (ANNEX_X, ANNEX_Y)
    der = vector_der("sm2_annexA", "pub.pem")
    assert key.to_der() == der
    assert SM2PublicKey.from_der(der) == key
    assert SM2PublicKey.from_pem(key.to_pem()) == key
    assert SM2PublicKey.from_pem(key.to_pem().encode()) == key


def test_compressed_point_is_normalised() -> None:
    key = annex_key()
    compressed = bytes([2 + (key.y & 1)]) + key.point[1:33]
    assert SM2PublicKey.from_point(compressed) == key
    flipped = bytes([compressed[0] ^ 1]) + compressed[1:]
    assert SM2PublicKey.from_point(flipped).y == oracle.P - key.y


@pytest.mark.parametrize(
    ("folder", "cert", "pub"),
    [
        ("gz_tax_invoice_2022", "signer_cert.der", "signer_pub.pem"),
        ("gz_tax_invoice_2022", "maker_cert.der", "maker_pub.pem"),
    ],
)
def test_key_from_real_certificate(folder: str, cert: str, pub: str) -> None:
    assert SM2PublicKey.from_certificate(vector(folder, cert)) == SM2PublicKey.from_pem(
        vector(folder, pub)
    )


def test_key_from_pem_certificate_chain() -> None:
    cert_der = vector_der("openssl_sm2_chain", "signer.pem")
    expected = SM2PublicKey.from_pem(vector("openssl_sm2_chain", "signer.pub.pem"))
    assert SM2PublicKey.from_certificate(cert_der) == expected


def _p256_spki() -> bytes:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _bad_keys() -> dict[str, tuple[str, bytes]]:
    good = annex_key()
    off_curve = good.point[:-1] + bytes([good.point[-1] ^ 1])
    big_x = b"\x04" + (2**256 - 1).to_bytes(32, "big") + good.point[33:]
    return {
        "off-curve point": ("point", off_curve),
        "x >= p": ("point", big_x),
        "infinity (single 00)": ("point", b"\x00"),
        "short point": ("point", good.point[:-1]),
        "hybrid prefix 06": ("point", b"\x06" + good.point[1:]),
        "compressed x not on curve": ("point", b"\x02" + bytes(31) + b"\x05"),
        "P-256 SPKI": ("der", _p256_spki()),
        "garbage DER": ("der", b"\x30\x03\x02\x01\x01"),
        "empty DER": ("der", b""),
        "trailing bytes": ("der", good.to_der() + b"\x00"),
        "off-curve SPKI": ("der", good.to_der()[:-1] + bytes([good.to_der()[-1] ^ 1])),
        "private key PEM": ("pem", vector("sm2_annexA", "priv.pem")),
        "not PEM": ("pem", b"hello"),
        "not a certificate": ("cert", b"\x30\x00"),
    }


_BAD_KEY_NAMES = (
    "off-curve point",
    "x >= p",
    "infinity (single 00)",
    "short point",
    "hybrid prefix 06",
    "compressed x not on curve",
    "P-256 SPKI",
    "garbage DER",
    "empty DER",
    "trailing bytes",
    "off-curve SPKI",
    "private key PEM",
    "not PEM",
    "not a certificate",
)


def test_the_bad_key_list_is_complete() -> None:
    assert sorted(_bad_keys()) == sorted(_BAD_KEY_NAMES)


# Names, not data, at collection time: the data comes from ../shared, which a fresh clone lacks
# (the test then skips with its reason instead of breaking the collection of the whole suite).
@pytest.mark.parametrize("name", _BAD_KEY_NAMES)
def test_bad_public_keys_raise_invalid_input(name: str) -> None:
    kind, data = _bad_keys()[name]
    loader = {
        "point": SM2PublicKey.from_point,
        "der": SM2PublicKey.from_der,
        "pem": SM2PublicKey.from_pem,
        "cert": SM2PublicKey.from_certificate,
    }[kind]
    with pytest.raises(InvalidInput) as info:
        loader(data)
    assert info.value.code == "crypto.bad_public_key"


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(InvalidInput):
        SM2PublicKey(b"\x04" + bytes(64))


# --- Z and e (GB/T 32918.2 §5.5, §6.1) ------------------------------------------------------


def test_annex_z_and_e() -> None:
    key = annex_key()
    message = vector("sm2_annexA", "msg.txt")
    assert sm2_z(key).hex().upper() == ANNEX_Z
    assert sm2_digest(key, message).hex().upper() == ANNEX_E
    # The independent oracle computes the same Z and, fed the annex k, reproduces r and s.
    assert oracle.z_value(ANNEX_X, ANNEX_Y, b"1234567812345678").hex().upper() == ANNEX_Z
    assert oracle.sign_with_k(ANNEX_D, bytes.fromhex(ANNEX_E), ANNEX_K) == (ANNEX_R, ANNEX_S)
    assert oracle.verify(ANNEX_X, ANNEX_Y, message, ANNEX_R, ANNEX_S, b"1234567812345678")
    assert not oracle.verify(ANNEX_X, ANNEX_Y, message, ANNEX_R, ANNEX_S, b"")


def test_z_depends_on_user_id_and_refuses_oversized_ids() -> None:
    key = annex_key()
    assert sm2_z(key, b"") != sm2_z(key)
    assert sm2_z(key, b"ALICE123@YAHOO.COM") == oracle.z_value(
        ANNEX_X, ANNEX_Y, b"ALICE123@YAHOO.COM"
    )
    assert len(sm2_z(key, b"x" * 8191)) == 32
    with pytest.raises(InvalidInput) as info:
        sm2_z(key, b"x" * 8192)
    assert info.value.code == "crypto.bad_user_id"
