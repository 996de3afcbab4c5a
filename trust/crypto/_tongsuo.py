"""SM2 backend over tongsuopy (Tongsuo, based on OpenSSL 1.1.1h).

tongsuopy's SM2 DigestSign/DigestVerify hashes SM3(Z_A || M) with the default distinguishing ID
1234567812345678 and offers no way to set another one (its cffi binding lacks
``EVP_PKEY_CTX_set1_id``). For any other ID this module computes e = SM3(Z_A || M)
(GB/T 32918.2 §6.1 A1-A2, ``trust.crypto.sm2.sm2_digest``) and hands e to the SM2 pkey method
through ``EVP_PKEY_sign``/``EVP_PKEY_verify``, which sign/verify a given digest (steps A3-A7,
B1-B7). The Annex A vector proves the path: e computed here verifies the annex signature.
"""

from __future__ import annotations

import functools
from typing import Any, Final

import tongsuopy
from tongsuopy.backends import _tongsuo as _ts_module  # the cffi module bundling Tongsuo
from tongsuopy.backends.tongsuo.backend import backend as _ts
from tongsuopy.crypto import exceptions as ts_exceptions
from tongsuopy.crypto import hashes, serialization
from tongsuopy.crypto.asymciphers import ec

from trust.crypto.backend import BackendError, BackendInfo
from trust.crypto.sm2 import DEFAULT_USER_ID, SM2PublicKey, sm2_digest
from trust.errors import InvalidInput, VerificationFailed

__all__ = ["TongsuoBackend"]

_SM2_SM3: Final = ec.ECDSA(hashes.SM3())  # on an SM2 key: SM2 signature with SM3 and Z_A


class _Digest:
    """SM2 sign/verify of a precomputed e through the pkey method (non-default IDs only)."""

    @staticmethod
    def _ctx(evp_pkey: Any, sign: bool) -> Any:
        lib, ffi = _ts._lib, _ts._ffi
        ctx = lib.EVP_PKEY_CTX_new(evp_pkey, ffi.NULL)
        if ctx == ffi.NULL:
            raise BackendError(f"Tongsuo EVP_PKEY_CTX_new failed: {_ts._consume_errors()}")
        ctx = ffi.gc(ctx, lib.EVP_PKEY_CTX_free)
        init = lib.EVP_PKEY_sign_init if sign else lib.EVP_PKEY_verify_init
        if init(ctx) != 1:
            raise BackendError(f"Tongsuo SM2 init failed: {_ts._consume_errors()}")
        return ctx

    @classmethod
    def sign(cls, evp_pkey: Any, e: bytes) -> bytes:
        lib, ffi = _ts._lib, _ts._ffi
        ctx = cls._ctx(evp_pkey, sign=True)
        size = ffi.new("size_t *", 80)
        buf = ffi.new("unsigned char[]", 80)
        if lib.EVP_PKEY_sign(ctx, buf, size, e, len(e)) != 1:
            raise BackendError(f"Tongsuo SM2 signing failed: {_ts._consume_errors()}")
        return bytes(ffi.buffer(buf, size[0]))

    @classmethod
    def verify(cls, evp_pkey: Any, der_signature: bytes, e: bytes) -> bool:
        ctx = cls._ctx(evp_pkey, sign=False)
        rc = _ts._lib.EVP_PKEY_verify(ctx, der_signature, len(der_signature), e, len(e))
        _ts._consume_errors()
        if rc < 0:
            raise VerificationFailed(
                "Tongsuo SM2 verification could not run", code="crypto.backend_error"
            )
        return bool(rc == 1)


class _PublicKey:
    __slots__ = ("_key", "_public")

    def __init__(self, key: Any, public: SM2PublicKey) -> None:
        self._key = key
        self._public = public

    def verify(self, data: bytes, der_signature: bytes, user_id: bytes) -> bool:
        if user_id != DEFAULT_USER_ID:
            e = sm2_digest(self._public, data, user_id)
            return _Digest.verify(self._key._evp_pkey, der_signature, e)
        try:
            self._key.verify(der_signature, data, _SM2_SM3)
        except ts_exceptions.InvalidSignature:
            return False
        except Exception as exc:  # tongsuopy raises InternalError for library faults
            raise VerificationFailed(
                f"Tongsuo SM2 verification could not run: {exc}", code="crypto.backend_error"
            ) from None
        return True


class _PrivateKey:
    __slots__ = ("_key", "_public", "_spki")

    def __init__(self, key: Any) -> None:
        self._key = key
        self._spki: bytes = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._public = SM2PublicKey.from_der(self._spki)

    def sign(self, data: bytes, user_id: bytes) -> bytes:
        if user_id != DEFAULT_USER_ID:
            return _Digest.sign(self._key._evp_pkey, sm2_digest(self._public, data, user_id))
        try:
            return bytes(self._key.sign(data, _SM2_SM3))
        except Exception as exc:
            raise BackendError(f"Tongsuo SM2 signing failed: {exc}") from None

    def pkcs8_der(self) -> bytes:
        return bytes(
            self._key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    def spki_der(self) -> bytes:
        return self._spki


def _is_sm2(key: Any) -> bool:
    return bool(getattr(key, "curve", None) is not None and key.curve.name == "SM2")


class TongsuoBackend:
    """``SM2Backend`` over tongsuopy."""

    def __init__(self) -> None:
        version = f"tongsuopy {tongsuopy.__version__} ({_ts.openssl_version_text()})"
        self._info = BackendInfo("tongsuopy", version, _library_file())
        # Parsing the SPKI twice (here and in Tongsuo) costs more than a verification: keep the
        # handles of recently used public keys (they are immutable and safe to share).
        self.load_public_key = functools.lru_cache(maxsize=256)(self._load_public_key)

    @property
    def info(self) -> BackendInfo:
        return self._info

    def _load_public_key(self, spki_der: bytes) -> _PublicKey:
        public = SM2PublicKey.from_der(spki_der)
        try:
            key = serialization.load_der_public_key(spki_der)
        except Exception as exc:
            raise InvalidInput(
                f"Tongsuo refuses the public key: {exc}", code="crypto.bad_public_key"
            ) from None
        if not _is_sm2(key):
            raise InvalidInput("public key is not an SM2 key", code="crypto.bad_public_key")
        return _PublicKey(key, public)

    def load_private_key(self, pkcs8_der: bytes) -> _PrivateKey:
        try:
            key = serialization.load_der_private_key(pkcs8_der, None)
        except Exception:
            _ts._consume_errors()
            raise InvalidInput(
                "not an SM2 PKCS#8 private key", code="crypto.bad_private_key"
            ) from None
        if not _is_sm2(key):
            raise InvalidInput("private key is not an SM2 key", code="crypto.bad_private_key")
        return _PrivateKey(key)

    def generate_private_key(self) -> _PrivateKey:
        try:
            return _PrivateKey(ec.generate_private_key(ec.SM2()))
        except Exception as exc:
            raise BackendError(f"Tongsuo SM2 key generation failed: {exc}") from None


def _library_file() -> str:
    """The compiled module that bundles Tongsuo (there is no separate shared library)."""
    return str(getattr(_ts_module, "__file__", "tongsuopy.backends._tongsuo"))
