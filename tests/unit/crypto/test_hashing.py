"""SM3 (GB/T 32905-2016) and HMAC-SM3 through the facade, against the standard's examples and
against independent implementations (OpenSSL via hashlib; gmssl's pure-Python SM3)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os

import pytest
from gmssl import sm3 as gm_sm3

from tests.unit.crypto.conftest import vector
from trust.crypto import SM3, hmac_sm3, sha256, sm3, sm3_hex


def _sm3_vectors() -> list[dict[str, str]]:
    vectors: list[dict[str, str]] = json.loads(vector("sm3.json"))["vectors"]
    return vectors


def test_sm3_known_answers() -> None:
    cases = _sm3_vectors()
    assert len(cases) == 3
    for case in cases:
        message = bytes.fromhex(case["message_hex"])
        assert sm3_hex(message) == case["digest_hex"], case["name"]
        assert sm3(message) == bytes.fromhex(case["digest_hex"])
        assert SM3(message).hexdigest() == case["digest_hex"]


@pytest.mark.parametrize("chunk", [1, 7, 63, 64, 65, 4096])
def test_sm3_streaming_equals_one_shot(chunk: int) -> None:
    data = os.urandom(10_000)
    streaming = SM3()
    for start in range(0, len(data), chunk):
        streaming.update(data[start : start + chunk])
    assert streaming.digest() == sm3(data)
    assert sm3(data) == hashlib.new("sm3", data).digest()


def test_sm3_copy_forks_the_state() -> None:
    base = SM3(b"prefix-")
    twin = base.copy()
    base.update(b"a")
    twin.update(b"b")
    assert base.digest() == sm3(b"prefix-a")
    assert twin.digest() == sm3(b"prefix-b")


def test_sm3_agrees_with_gmssl() -> None:
    for size in (0, 1, 55, 56, 64, 1000):
        data = os.urandom(size)
        assert sm3(data).hex() == gm_sm3.sm3_hash(list(data))


def _hmac_by_hand(key: bytes, data: bytes) -> bytes:
    """RFC 2104 over gmssl's SM3 (block size 64)."""

    def h(m: bytes) -> bytes:
        return bytes.fromhex(gm_sm3.sm3_hash(list(m)))

    if len(key) > 64:
        key = h(key)
    key = key.ljust(64, b"\0")
    inner = h(bytes(b ^ 0x36 for b in key) + data)
    return h(bytes(b ^ 0x5C for b in key) + inner)


@pytest.mark.parametrize("key_len", [0, 16, 32, 64, 65, 100])
def test_hmac_sm3_independent(key_len: int) -> None:
    key, data = os.urandom(key_len), os.urandom(300)
    mac = hmac_sm3(key, data)
    assert mac == hmac.new(key, data, "sm3").digest()
    assert mac == _hmac_by_hand(key, data)


def test_sha256() -> None:
    assert sha256(b"abc").hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2 B.1
    )
