"""The signing seam. Everything outside ``keys`` signs through a ``Signer`` and never sees a
private key; ``keys`` implements it (software keystore now, a PKCS#11 / GM/T 0018 device later).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol, runtime_checkable

__all__ = ["SignatureAlgorithm", "Signer"]


class SignatureAlgorithm(StrEnum):
    #: SM2 signature with SM3 (GB/T 32918.2, GB/T 35276), OID 1.2.156.10197.1.501.
    #: ``sign()`` hashes SM3(Z_A || data) with the default user ID and returns DER SEQUENCE{r, s}.
    SM2_SM3 = "SM2-with-SM3"
    #: ECDSA P-256 with SHA-256 (RFC 7518 §3.4); ``sign()`` returns raw r||s (64 bytes, JOSE form).
    ES256 = "ES256"


@runtime_checkable
class Signer(Protocol):
    @property
    def algorithm(self) -> SignatureAlgorithm: ...

    @property
    def key_id(self) -> str: ...

    def public_key_der(self) -> bytes:
        """SubjectPublicKeyInfo DER of the signing key."""
        ...

    def certificate_chain(self) -> Sequence[bytes]:
        """DER certificates, leaf first, up to and including the root; empty if none issued."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` (the message, not a digest) as ``algorithm`` describes."""
        ...
