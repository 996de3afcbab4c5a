"""Independent helpers for the log tests: a naive recursive RFC 9162 §2.1 reference (written
straight from the RFC's definitions, sharing no code with ``trust.tlog.merkle``) and a small SM2
test signer (tests may hold private keys; production code signs through ``keys``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from trust.crypto import sm3
from trust.crypto.private_keys import SM2PrivateKey, generate_sm2
from trust.signing import SignatureAlgorithm


def naive_mth(data: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH over leaf *data*."""
    n = len(data)
    if n == 0:
        return sm3(b"")
    if n == 1:
        return sm3(b"\x00" + data[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return sm3(b"\x01" + naive_mth(data[:k]) + naive_mth(data[k:]))


def naive_path(m: int, data: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n])."""
    n = len(data)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*naive_path(m, data[:k]), naive_mth(data[k:])]
    return [*naive_path(m - k, data[k:]), naive_mth(data[:k])]


def _subproof(m: int, data: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(data)
    if m == n:
        return [] if b else [naive_mth(data)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*_subproof(m, data[:k], b), naive_mth(data[k:])]
    return [*_subproof(m - k, data[k:], False), naive_mth(data[:k])]


def naive_proof(m: int, data: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true), 0 < m <= n."""
    return _subproof(m, data, True)


@dataclass
class SM2TestSigner:
    """A ``trust.signing.Signer`` over a throw-away SM2 key."""

    key_id: str = "tlog-test-key"
    _key: SM2PrivateKey = field(default_factory=generate_sm2)
    signed: int = 0

    @property
    def algorithm(self) -> SignatureAlgorithm:
        return SignatureAlgorithm.SM2_SM3

    def public_key_der(self) -> bytes:
        return self._key.public_key().to_der()

    def certificate_chain(self) -> Sequence[bytes]:
        return ()

    def sign(self, data: bytes) -> bytes:
        self.signed += 1
        return self._key.sign(data)
