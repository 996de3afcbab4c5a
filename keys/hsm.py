"""The seam for a hardware security module: PKCS#11 (OASIS PKCS #11 v2.40/3.0) or a cipher
machine behind the GM/T 0018-2012 SDF interface (密码设备应用接口). Documented, not built.

``HsmKeyStore`` has the exact ``KeyStore`` protocol of ``keys.interfaces`` (the shared
conformance test checks it) and every method raises ``trust.errors.Unavailable``
(``keys.hsm_unavailable``) explaining what is missing. To plug a device in:

1. **Session.** Open the library once per process (PKCS#11: ``C_Initialize``, ``C_OpenSession``
   on the configured slot, ``C_Login`` as user with a PIN from a secret store; SDF:
   ``SDF_OpenDevice``, ``SDF_OpenSession``, ``SDF_GetPrivateKeyAccessRight`` for the key index).
   Pass module path, slot/device and PIN source in the constructor; never read settings here.
2. **generate.** Create the key pair inside the device, non-extractable (PKCS#11:
   ``C_GenerateKeyPair`` with ``CKA_EXTRACTABLE=FALSE``, ``CKA_SENSITIVE=TRUE``, ``CKA_ID`` =
   our key id; SM2 via ``CKM_EC_KEY_PAIR_GEN`` with the SM2 curve OID 1.2.156.10197.1.301 where
   the vendor supports it, ES256 on P-256. SDF: keys live at fixed indexes, so ``generate``
   binds a free index - ``SDF_GenerateKeyPair_ECC`` with ``SGD_SM2_1`` for ephemeral use, or an
   index provisioned by the device's management tool). Read the public key
   (``CKA_EC_POINT`` / ``SDF_ExportSignPublicKey_ECC``), and record the key with
   ``keys.service.insert_key(..., wrapped_private=None, custody="hsm")``: the lifecycle,
   uniqueness rules and ``key.*`` log events are then the same as for software keys. The
   device reference (CKA_ID / key index) is the key id or a new column added by a migration.
3. **sign.** Return a ``Signer`` whose ``sign(data)`` computes what ``trust.signing`` specifies:
   for SM2, e = SM3(Z_A || data) with the default ID 1234567812345678 (either the device's
   ``CKM_SM2_SM3``-style mechanism hashes with Z_A itself, or compute Z_A with
   ``trust.crypto.sm2_z`` and sign the digest; SDF: ``SDF_InternalSign_ECC`` over the digest),
   then DER-encode r, s with ``trust.crypto.encode_signature_der``. ES256 returns raw r || s.
4. **destroy.** ``C_DestroyObject`` / zeroise the index, then ``keys.service.destroy``.
5. **check.** Confirm the device answers and holds the keys recorded with ``custody='hsm'``.
6. **Wire it in** at the two composition roots (``trust.cli.wiring.build_keystore`` and
   ``trust.web.app``), chosen by a settings enum (``keystore: software | hsm``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from sqlalchemy.orm import Session

from keys.interfaces import KeyInfo, KeyStore, KeyUsage
from trust.clock import Clock
from trust.errors import Unavailable
from trust.signing import SignatureAlgorithm, Signer

__all__ = ["HsmKeyStore"]


class HsmKeyStore:
    """``KeyStore`` for a hardware module: not implemented; every call raises ``Unavailable``."""

    def __init__(self, *, module: str = "", slot: str = "") -> None:
        #: PKCS#11 library path (e.g. ``/usr/lib/softhsm/libsofthsm2.so``) or SDF library.
        self.module = module
        #: Token label / slot id (PKCS#11) or device name (SDF).
        self.slot = slot

    def __repr__(self) -> str:
        return f"<HsmKeyStore module={self.module!r} slot={self.slot!r}>"

    def _unavailable(self, operation: str) -> NoReturn:
        raise Unavailable(
            f"hardware keystore: '{operation}' is not available - no PKCS#11 or GM/T 0018 (SDF) "
            "module is built into this service; use the software keystore, or implement "
            "keys.hsm.HsmKeyStore as its docstring describes",
            code="keys.hsm_unavailable",
        )

    def check(self, *, session: Session) -> None:
        self._unavailable("check")

    def generate(
        self,
        *,
        session: Session,
        clock: Clock,
        usage: KeyUsage,
        algorithm: SignatureAlgorithm | None = None,
        label: str,
        owner: str | None = None,
        activate: bool = True,
        actor: str = "system",
    ) -> KeyInfo:
        self._unavailable("generate")

    def get(self, *, session: Session, key_id: str) -> KeyInfo:
        self._unavailable("get")

    def signer(self, *, session: Session, key_id: str) -> Signer:
        self._unavailable("signer")

    def active_signer(
        self,
        *,
        session: Session,
        usage: KeyUsage,
        owner: str | None = None,
        algorithm: SignatureAlgorithm | None = None,
    ) -> Signer:
        self._unavailable("active_signer")

    def rotate(
        self,
        *,
        session: Session,
        clock: Clock,
        usage: KeyUsage,
        owner: str | None = None,
        algorithm: SignatureAlgorithm | None = None,
        actor: str = "system",
    ) -> KeyInfo:
        self._unavailable("rotate")

    def destroy(
        self, *, session: Session, clock: Clock, key_id: str, reason: str, actor: str = "system"
    ) -> KeyInfo:
        self._unavailable("destroy")

    def list(
        self, *, session: Session, usage: KeyUsage | None = None, owner: str | None = None
    ) -> Sequence[KeyInfo]:
        self._unavailable("list")


if TYPE_CHECKING:  # mypy proves the structural conformance

    def _conforms(store: HsmKeyStore) -> KeyStore:
        return store
