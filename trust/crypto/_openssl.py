"""SM2 backend over the system OpenSSL 3 ``libcrypto`` through a minimal ctypes binding.

SM2 signature with SM3 (GB/T 32918.2-2016, GB/T 35276-2017) via EVP_DigestSign/EVP_DigestVerify.
The distinguishing identifier is always set explicitly with ``EVP_PKEY_CTX_set1_id`` on a
per-call pkey context attached with ``EVP_MD_CTX_set_pkey_ctx``: OpenSSL 3.0 otherwise uses an
empty ID (eseal spec §10, pitfall 1). Every object is freed; every return code is checked.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import weakref
from ctypes import POINTER, byref, c_char_p, c_int, c_long, c_size_t, c_ulong, c_void_p
from typing import Any, Final

from trust.crypto.backend import BackendError, BackendInfo
from trust.errors import InvalidInput, Misconfigured, VerificationFailed

__all__ = ["OpenSSLBackend"]

_MIN_VERSION: Final = 0x30000000
_CANDIDATES: Final = ("libcrypto.so.3", "libcrypto.3.dylib")
_SIG_MAX: Final = 80  # SM2 DER signature is at most 72 bytes

# (name, restype, argtypes); pointers are c_void_p so that 64-bit addresses are never truncated.
_PROTOTYPES: Final[tuple[tuple[str, Any, tuple[Any, ...]], ...]] = (
    ("OpenSSL_version_num", c_ulong, ()),
    ("OpenSSL_version", c_char_p, (c_int,)),
    ("ERR_get_error", c_ulong, ()),
    ("ERR_clear_error", None, ()),
    ("ERR_error_string_n", None, (c_ulong, c_char_p, c_size_t)),
    ("EVP_sm3", c_void_p, ()),
    ("EVP_MD_CTX_new", c_void_p, ()),
    ("EVP_MD_CTX_free", None, (c_void_p,)),
    ("EVP_MD_CTX_set_pkey_ctx", None, (c_void_p, c_void_p)),
    ("EVP_PKEY_CTX_new_from_pkey", c_void_p, (c_void_p, c_void_p, c_char_p)),
    ("EVP_PKEY_CTX_new_from_name", c_void_p, (c_void_p, c_char_p, c_char_p)),
    ("EVP_PKEY_CTX_free", None, (c_void_p,)),
    ("EVP_PKEY_CTX_set1_id", c_int, (c_void_p, c_char_p, c_int)),
    ("EVP_PKEY_keygen_init", c_int, (c_void_p,)),
    ("EVP_PKEY_generate", c_int, (c_void_p, POINTER(c_void_p))),
    ("EVP_DigestSignInit", c_int, (c_void_p, c_void_p, c_void_p, c_void_p, c_void_p)),
    ("EVP_DigestSign", c_int, (c_void_p, c_char_p, POINTER(c_size_t), c_char_p, c_size_t)),
    ("EVP_DigestVerifyInit", c_int, (c_void_p, c_void_p, c_void_p, c_void_p, c_void_p)),
    ("EVP_DigestVerify", c_int, (c_void_p, c_char_p, c_size_t, c_char_p, c_size_t)),
    ("EVP_PKEY_is_a", c_int, (c_void_p, c_char_p)),
    ("EVP_PKEY_free", None, (c_void_p,)),
    ("d2i_PUBKEY", c_void_p, (c_void_p, POINTER(c_char_p), c_long)),
    ("d2i_AutoPrivateKey", c_void_p, (c_void_p, POINTER(c_char_p), c_long)),
    ("i2d_PUBKEY", c_int, (c_void_p, POINTER(c_void_p))),
    ("EVP_PKEY2PKCS8", c_void_p, (c_void_p,)),
    ("i2d_PKCS8_PRIV_KEY_INFO", c_int, (c_void_p, POINTER(c_void_p))),
    ("PKCS8_PRIV_KEY_INFO_free", None, (c_void_p,)),
    ("OPENSSL_cleanse", None, (c_void_p, c_size_t)),
)


class _DlInfo(ctypes.Structure):
    _fields_ = (
        ("dli_fname", c_char_p),
        ("dli_fbase", c_void_p),
        ("dli_sname", c_char_p),
        ("dli_saddr", c_void_p),
    )


def _library_path(lib: ctypes.CDLL, fallback: str) -> str:
    """Absolute path of the loaded libcrypto (dladdr), for ``trustctl`` to report."""
    try:
        dladdr = ctypes.CDLL(None).dladdr
        dladdr.argtypes = (c_void_p, POINTER(_DlInfo))
        dladdr.restype = c_int
        info = _DlInfo()
        address = ctypes.cast(lib.OpenSSL_version_num, c_void_p).value
        if dladdr(address, byref(info)) and info.dli_fname:
            path: bytes = info.dli_fname
            return path.decode("utf-8", "replace")
    except (AttributeError, OSError):  # pragma: no cover - platform without dladdr
        pass
    return fallback


def _open_libcrypto() -> tuple[ctypes.CDLL, str]:
    names = [n for n in (ctypes.util.find_library("crypto"), *_CANDIDATES) if n]
    problems: list[str] = []
    for name in dict.fromkeys(names):
        try:
            lib = ctypes.CDLL(name)
        except OSError as exc:
            problems.append(f"{name}: {exc}")
            continue
        try:
            for fn_name, restype, argtypes in _PROTOTYPES:
                fn = getattr(lib, fn_name)
                fn.restype = restype
                fn.argtypes = argtypes
        except AttributeError as exc:
            problems.append(f"{name}: not OpenSSL 3 ({exc})")
            continue
        if lib.OpenSSL_version_num() < _MIN_VERSION:
            problems.append(f"{name}: {lib.OpenSSL_version(0)!r} is older than 3.0")
            continue
        return lib, name
    raise Misconfigured("no OpenSSL 3 libcrypto found (" + "; ".join(problems or names) + ")")


class _Lib:
    """The loaded libcrypto and the error-queue helper shared by all key handles."""

    def __init__(self) -> None:
        self.c, name = _open_libcrypto()
        self.path = _library_path(self.c, name)
        self.sm3 = self.c.EVP_sm3()
        if not self.sm3:
            raise Misconfigured(f"{self.path} has no SM3")

    def errors(self) -> str:
        """Drain this thread's OpenSSL error queue into one readable string."""
        texts: list[str] = []
        buf = ctypes.create_string_buffer(256)
        while code := self.c.ERR_get_error():
            self.c.ERR_error_string_n(code, buf, len(buf))
            texts.append(buf.value.decode("ascii", "replace"))
        return "; ".join(texts) or "no OpenSSL error recorded"

    def fail(self, what: str) -> BackendError:
        return BackendError(f"OpenSSL {what} failed: {self.errors()}")

    def i2d(self, fn: Any, obj: int) -> bytes:
        """Run an i2d_* encoder into a buffer we own; wipe the buffer afterwards."""
        size = fn(obj, None)
        if size <= 0:
            raise self.fail(fn.__name__)
        buf = ctypes.create_string_buffer(size)
        out = c_void_p(ctypes.addressof(buf))
        if fn(obj, byref(out)) != size:
            raise self.fail(fn.__name__)
        data = buf.raw
        self.c.OPENSSL_cleanse(buf, size)
        return data


class _PKey:
    """Owns one EVP_PKEY; freed by a finalizer when the handle is garbage."""

    __slots__ = ("__weakref__", "_lib", "_ptr")

    def __init__(self, lib: _Lib, ptr: int) -> None:
        self._lib = lib
        self._ptr = ptr
        weakref.finalize(self, lib.c.EVP_PKEY_free, ptr)

    def _digest_ctx(self, user_id: bytes, sign: bool) -> tuple[int, int]:
        """A fresh EVP_MD_CTX with an SM2 pkey ctx carrying ``user_id``, initialised for SM3."""
        c = self._lib.c
        md_ctx = c.EVP_MD_CTX_new()
        pkey_ctx = c.EVP_PKEY_CTX_new_from_pkey(None, self._ptr, None)
        if not md_ctx or not pkey_ctx:
            c.EVP_MD_CTX_free(md_ctx)
            c.EVP_PKEY_CTX_free(pkey_ctx)
            raise self._lib.fail("context allocation")
        # GB/T 35276 §5 / GM/T 0009: the ID enters Z_A; it is never left to the library default.
        ok = c.EVP_PKEY_CTX_set1_id(pkey_ctx, user_id, len(user_id)) == 1
        if ok:
            c.EVP_MD_CTX_set_pkey_ctx(md_ctx, pkey_ctx)
            init = c.EVP_DigestSignInit if sign else c.EVP_DigestVerifyInit
            ok = init(md_ctx, None, self._lib.sm3, None, self._ptr) == 1
        if not ok:
            err = self._lib.fail("SM2 context set-up")
            c.EVP_MD_CTX_free(md_ctx)
            c.EVP_PKEY_CTX_free(pkey_ctx)
            raise err
        return md_ctx, pkey_ctx

    def spki_der(self) -> bytes:
        return self._lib.i2d(self._lib.c.i2d_PUBKEY, self._ptr)


class _PublicKey(_PKey):
    __slots__ = ()

    def verify(self, data: bytes, der_signature: bytes, user_id: bytes) -> bool:
        c = self._lib.c
        md_ctx, pkey_ctx = self._digest_ctx(user_id, sign=False)
        try:
            rc = c.EVP_DigestVerify(md_ctx, der_signature, len(der_signature), data, len(data))
        finally:
            c.EVP_MD_CTX_free(md_ctx)
            c.EVP_PKEY_CTX_free(pkey_ctx)
        if rc == 1:
            return True
        if rc == 0:
            c.ERR_clear_error()
            return False
        # The facade only passes canonical in-range DER, so a negative result is a library fault.
        raise VerificationFailed(
            f"OpenSSL SM2 verification could not run: {self._lib.errors()}",
            code="crypto.backend_error",
        )


class _PrivateKey(_PKey):
    __slots__ = ()

    def sign(self, data: bytes, user_id: bytes) -> bytes:
        c = self._lib.c
        md_ctx, pkey_ctx = self._digest_ctx(user_id, sign=True)
        sig = ctypes.create_string_buffer(_SIG_MAX)
        size = c_size_t(_SIG_MAX)
        try:
            rc = c.EVP_DigestSign(md_ctx, sig, byref(size), data, len(data))
        finally:
            c.EVP_MD_CTX_free(md_ctx)
            c.EVP_PKEY_CTX_free(pkey_ctx)
        if rc != 1:
            raise self._lib.fail("SM2 signing")
        return sig.raw[: size.value]

    def pkcs8_der(self) -> bytes:
        c = self._lib.c
        p8 = c.EVP_PKEY2PKCS8(self._ptr)
        if not p8:
            raise self._lib.fail("PKCS#8 export")
        try:
            return self._lib.i2d(c.i2d_PKCS8_PRIV_KEY_INFO, p8)
        finally:
            c.PKCS8_PRIV_KEY_INFO_free(p8)


class OpenSSLBackend:
    """``SM2Backend`` over the system libcrypto (>= 3.0)."""

    def __init__(self) -> None:
        self._lib = _Lib()
        version = self._lib.c.OpenSSL_version(0) or b"OpenSSL (unknown version)"
        self._info = BackendInfo("openssl", version.decode("ascii", "replace"), self._lib.path)
        # Parsing an SPKI through OpenSSL 3 decoders costs more than a verification: keep the
        # handles of recently used public keys (they are immutable and safe to share).
        self.load_public_key = functools.lru_cache(maxsize=256)(self._load_public_key)

    @property
    def info(self) -> BackendInfo:
        return self._info

    def _require_sm2(self, ptr: int, what: str, code: str) -> None:
        if not self._lib.c.EVP_PKEY_is_a(ptr, b"SM2"):
            self._lib.c.EVP_PKEY_free(ptr)
            raise InvalidInput(f"{what} is not an SM2 key", code=code)

    def _load_public_key(self, spki_der: bytes) -> _PublicKey:
        cursor = c_char_p(spki_der)
        ptr = self._lib.c.d2i_PUBKEY(None, byref(cursor), len(spki_der))
        if not ptr:
            raise InvalidInput(
                f"OpenSSL refuses the public key: {self._lib.errors()}",
                code="crypto.bad_public_key",
            )
        self._require_sm2(ptr, "public key", "crypto.bad_public_key")
        return _PublicKey(self._lib, ptr)

    def load_private_key(self, pkcs8_der: bytes) -> _PrivateKey:
        cursor = c_char_p(pkcs8_der)
        ptr = self._lib.c.d2i_AutoPrivateKey(None, byref(cursor), len(pkcs8_der))
        if not ptr:
            self._lib.c.ERR_clear_error()  # the queue may quote key bytes: not in messages
            raise InvalidInput("not an SM2 PKCS#8 private key", code="crypto.bad_private_key")
        self._require_sm2(ptr, "private key", "crypto.bad_private_key")
        return _PrivateKey(self._lib, ptr)

    def generate_private_key(self) -> _PrivateKey:
        c = self._lib.c
        ctx = c.EVP_PKEY_CTX_new_from_name(None, b"SM2", None)
        if not ctx:
            raise self._lib.fail("SM2 key generation context")
        pkey = c_void_p()
        try:
            if c.EVP_PKEY_keygen_init(ctx) != 1 or c.EVP_PKEY_generate(ctx, byref(pkey)) != 1:
                raise self._lib.fail("SM2 key generation")
        finally:
            c.EVP_PKEY_CTX_free(ctx)
        assert pkey.value is not None  # guaranteed by the return code 1
        return _PrivateKey(self._lib, pkey.value)
