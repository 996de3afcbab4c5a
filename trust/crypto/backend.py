"""Selection of the SM2 backend: system OpenSSL 3 libcrypto (ctypes) or tongsuopy.

One small interface (``SM2Backend``) with two implementations, chosen once at start-up by
``configure(settings.crypto_backend)``. ``auto`` prefers the system OpenSSL and falls back to
tongsuopy. Every backend must pass a known-answer self test (GB/T 32918.5 Annex A signature)
and a sign/verify round trip before it is used; otherwise it is refused as ``Misconfigured``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from trust.errors import Misconfigured, TrustError

__all__ = [
    "BACKEND_NAMES",
    "BackendError",
    "BackendInfo",
    "BackendName",
    "PrivateKeyHandle",
    "PublicKeyHandle",
    "SM2Backend",
    "active",
    "available_backends",
    "configure",
    "load_backend",
]

BackendName = Literal["openssl", "tongsuopy"]
BACKEND_NAMES: Final[tuple[BackendName, ...]] = ("openssl", "tongsuopy")


class BackendError(TrustError):
    """The cryptographic library failed an operation that should have succeeded."""

    code = "crypto.backend_error"
    http_status = 500
    title = "密码模块错误"


@dataclass(frozen=True, slots=True)
class BackendInfo:
    """What ``trustctl`` reports about the SM2 implementation in use."""

    name: BackendName
    version_text: str
    library_path: str


class PublicKeyHandle(Protocol):
    def verify(self, data: bytes, der_signature: bytes, user_id: bytes) -> bool:
        """SM2-with-SM3 over the message ``data``; ``der_signature`` is canonical DER with r, s
        already checked to lie in [1, n-1]. False when it does not verify."""
        ...


class PrivateKeyHandle(Protocol):
    def sign(self, data: bytes, user_id: bytes) -> bytes:
        """SM2-with-SM3 over the message ``data``; CSPRNG nonce; DER SEQUENCE { r, s }."""
        ...

    def pkcs8_der(self) -> bytes: ...

    def spki_der(self) -> bytes: ...


class SM2Backend(Protocol):
    @property
    def info(self) -> BackendInfo: ...

    def load_public_key(self, spki_der: bytes) -> PublicKeyHandle:
        """From SubjectPublicKeyInfo DER; implementations cache recently used keys."""
        ...

    def load_private_key(self, pkcs8_der: bytes) -> PrivateKeyHandle:
        """From unencrypted PKCS#8 DER; refuses keys that are not SM2."""
        ...

    def generate_private_key(self) -> PrivateKeyHandle: ...


# GB/T 32918.5 Annex A (eseal spec §2.3, vectors/sm2_annexA): public key and signature over
# b"message digest" with the default ID 1234567812345678.
_KAT_SPKI: Final = bytes.fromhex(
    "3059301306072a8648ce3d020106082a811ccf5501822d0342000409f9df311e5421a150dd7d161e4bc5c672"
    "179fad1833fc076bb08ff356f35020ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072d"
    "a9ad13"
)
_KAT_SIG: Final = bytes.fromhex(
    "3046022100f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3022100b1b6aa29"
    "df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa"
)
_KAT_MSG: Final = b"message digest"
_KAT_ID: Final = b"1234567812345678"  # = sm2.DEFAULT_USER_ID (not imported: sm2 imports us)

_lock = threading.Lock()
_loaded: dict[BackendName, SM2Backend] = {}
_active: SM2Backend | None = None


def _self_test(backend: SM2Backend) -> None:
    pub = backend.load_public_key(_KAT_SPKI)
    if not pub.verify(_KAT_MSG, _KAT_SIG, _KAT_ID):
        raise Misconfigured("SM2 known-answer test (GB/T 32918.5 Annex A) does not verify")
    if pub.verify(_KAT_MSG + b".", _KAT_SIG, _KAT_ID) or pub.verify(_KAT_MSG, _KAT_SIG, b""):
        raise Misconfigured("SM2 verification accepts a wrong message or user ID")
    key = backend.generate_private_key()
    for user_id in (_KAT_ID, b"ALICE123@YAHOO.COM"):
        own = backend.load_public_key(key.spki_der())
        if not own.verify(_KAT_MSG, key.sign(_KAT_MSG, user_id), user_id):
            raise Misconfigured("SM2 sign/verify round trip failed")


def _construct(name: BackendName) -> SM2Backend:
    # Imported here: a backend whose library is missing must not break importing the facade.
    if name == "openssl":
        from trust.crypto._openssl import OpenSSLBackend

        return OpenSSLBackend()
    from trust.crypto._tongsuo import TongsuoBackend

    return TongsuoBackend()


def load_backend(name: BackendName) -> SM2Backend:
    """The (cached) backend ``name``, self-tested; ``Misconfigured`` says why it is unusable."""
    if name not in BACKEND_NAMES:
        raise Misconfigured(f"unknown crypto backend {name!r}; expected one of {BACKEND_NAMES}")
    with _lock:
        backend = _loaded.get(name)
        if backend is None:
            try:
                backend = _construct(name)
                _self_test(backend)
            except Misconfigured as exc:
                raise Misconfigured(f"crypto backend {name!r} unusable: {exc.detail}") from exc
            except Exception as exc:  # ImportError, OSError, BackendError, ... all mean unusable
                raise Misconfigured(f"crypto backend {name!r} unusable: {exc}") from exc
            _loaded[name] = backend
        return backend


def _select(name: Literal["auto", "openssl", "tongsuopy"]) -> SM2Backend:
    global _active
    candidates: tuple[BackendName, ...] = BACKEND_NAMES if name == "auto" else (name,)
    failures: list[str] = []
    for candidate in candidates:
        try:
            backend = load_backend(candidate)
        except Misconfigured as exc:
            failures.append(exc.detail)
            continue
        _active = backend
        return backend
    raise Misconfigured("no usable SM2 crypto backend: " + "; ".join(failures))


def configure(name: Literal["auto", "openssl", "tongsuopy"]) -> BackendInfo:
    """Choose the SM2 backend for the process; ``auto`` = system OpenSSL, else tongsuopy.

    Keys already loaded stay bound to the backend that loaded them.
    """
    return _select(name).info


def active() -> SM2Backend:
    """The configured backend; configures ``auto`` on first use if nobody chose one."""
    backend = _active
    return backend if backend is not None else _select("auto")


def available_backends() -> dict[BackendName, BackendInfo | Misconfigured]:
    """Every known backend with its info, or the reason it cannot be used (for tests, trustctl)."""
    out: dict[BackendName, BackendInfo | Misconfigured] = {}
    for name in BACKEND_NAMES:
        try:
            out[name] = load_backend(name).info
        except Misconfigured as exc:
            out[name] = exc
    return out
