"""SM4-GCM at rest (RFC 8998 §3.1): known answer, round trip, and every tampering is refused."""

from __future__ import annotations

import os

import pytest

from trust.crypto import sm4_gcm_decrypt, sm4_gcm_encrypt
from trust.errors import IntegrityFailure, InvalidInput

# RFC 8998 Appendix A.1 (SM4-GCM test vector).
RFC8998_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
RFC8998_IV = bytes.fromhex("00001234567800000000ABCD")
RFC8998_AAD = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
RFC8998_PT = bytes.fromhex(
    "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
    "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
)
RFC8998_CT = bytes.fromhex(
    "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
    "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
)
RFC8998_TAG = bytes.fromhex("83DE3541E4C2B58177E065A9BF7B62EC")


def test_rfc8998_known_answer_decrypts() -> None:
    blob = b"\x01" + RFC8998_IV + RFC8998_CT + RFC8998_TAG
    assert sm4_gcm_decrypt(RFC8998_KEY, blob, aad=RFC8998_AAD) == RFC8998_PT


@pytest.mark.parametrize("size", [0, 1, 16, 1000])
def test_round_trip(size: int) -> None:
    key, plaintext, aad = os.urandom(16), os.urandom(size), b"key-id:42|usage:seal"
    blob = sm4_gcm_encrypt(key, plaintext, aad=aad)
    assert len(blob) == 1 + 12 + size + 16
    assert sm4_gcm_decrypt(key, blob, aad=aad) == plaintext


def test_nonce_is_fresh_each_time() -> None:
    key = os.urandom(16)
    assert sm4_gcm_encrypt(key, b"same") != sm4_gcm_encrypt(key, b"same")


def test_wrong_key_wrong_aad_and_every_flipped_byte_fail() -> None:
    key, aad = os.urandom(16), b"context"
    blob = sm4_gcm_encrypt(key, b"secret private key bytes", aad=aad)
    with pytest.raises(IntegrityFailure):
        sm4_gcm_decrypt(os.urandom(16), blob, aad=aad)
    with pytest.raises(IntegrityFailure):
        sm4_gcm_decrypt(key, blob, aad=b"other context")
    for i in range(len(blob)):
        tampered = bytearray(blob)
        tampered[i] ^= 0x01
        with pytest.raises(IntegrityFailure):
            sm4_gcm_decrypt(key, bytes(tampered), aad=aad)


def test_truncated_blob_and_bad_key_length() -> None:
    key = os.urandom(16)
    blob = sm4_gcm_encrypt(key, b"x")
    with pytest.raises(IntegrityFailure):
        sm4_gcm_decrypt(key, blob[:20])
    with pytest.raises(InvalidInput) as info:
        sm4_gcm_encrypt(b"short", b"x")
    assert info.value.code == "crypto.bad_key_length"
