"""The software keystore: private keys generated in process, stored only SM4-GCM-wrapped under
the master key (``keys.masterkey``), unwrapped on demand to sign.

For development, tests and installations without a cipher machine; a hardware module plugs in
behind the same ``KeyStore`` protocol (``keys.hsm``). Imported only by the composition roots
(``trust.cli.wiring``, ``trust.web.app``) and tests.

Wrapping: the blob in ``key.wrapped_private`` is ``MasterKey.wrap(PKCS#8 DER, aad)`` where the
associated data binds it to its record - key id, algorithm, usage, owner and SM3 of the public
key - so that a blob moved to another row, or a row whose usage, owner or public key was edited,
no longer opens (``keys.unwrap_failed``).

Signatures (``trust.signing.SignatureAlgorithm``): SM2 with SM3 over SM3(Z_A || data) with the
default user ID 1234567812345678 (GB/T 32918.2, GB/T 35276), DER SEQUENCE {r, s}; ES256 as raw
r || s (RFC 7518 §3.4).

Unwrapped keys are cached per keystore instance for ``cache_seconds`` (seals are stamped often);
the key's state is read from the database on every ``signer()`` call regardless, so a retired or
destroyed key stops signing at once. Private bytes never appear in a repr, log line, exception
or log event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from sqlalchemy.orm import Session

from keys import rotation, service
from keys.interfaces import KeyInfo, KeyStatus, KeyStore, KeyUsage
from keys.masterkey import MasterKey
from keys.model import KeyRecord
from trust.clock import Clock
from trust.config import Settings
from trust.crypto import sm3
from trust.crypto.private_keys import (
    P256PrivateKey,
    SM2PrivateKey,
    generate_p256,
    generate_sm2,
    load_p256_pkcs8,
    load_sm2_pkcs8,
)
from trust.errors import IntegrityFailure, NotFound, TrustError, Unavailable
from trust.ids import new_id
from trust.signing import SignatureAlgorithm, Signer

__all__ = ["SoftwareKeyStore", "SoftwareSigner"]

_PrivateKey = SM2PrivateKey | P256PrivateKey
_CUSTODY: Final = "software"
_AAD_LABEL: Final = b"ywtb-trust/keys/wrap/v1"
_CACHE_MAX: Final = 256


@dataclass(frozen=True, slots=True)
class _NewKey:
    """A generated key, already wrapped (``wrapped_private`` is ciphertext), not yet stored."""

    key_id: str
    usage: KeyUsage
    algorithm: SignatureAlgorithm
    owner: str | None
    public_key_der: bytes
    wrapped_private: bytes


class SoftwareSigner:
    """``trust.signing.Signer`` over an unwrapped software key."""

    __slots__ = ("_algorithm", "_chain", "_key_id", "_private", "_public_der")

    def __init__(
        self,
        *,
        key_id: str,
        algorithm: SignatureAlgorithm,
        public_key_der: bytes,
        certificate_chain: Sequence[bytes],
        private: _PrivateKey,
    ) -> None:
        self._key_id = key_id
        self._algorithm = algorithm
        self._public_der = public_key_der
        self._chain = tuple(certificate_chain)
        self._private = private

    @property
    def algorithm(self) -> SignatureAlgorithm:
        return self._algorithm

    @property
    def key_id(self) -> str:
        return self._key_id

    def public_key_der(self) -> bytes:
        return self._public_der

    def certificate_chain(self) -> Sequence[bytes]:
        return self._chain

    def sign(self, data: bytes) -> bytes:
        """SM2: DER signature over SM3(Z_A || data), default ID; ES256: raw r || s."""
        if isinstance(self._private, SM2PrivateKey):
            return self._private.sign(data)
        return self._private.sign_es256(data)

    def __repr__(self) -> str:
        return f"<SoftwareSigner {self._key_id} {self._algorithm.value}>"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a signer holds a private key and cannot be pickled")


class SoftwareKeyStore:
    """``KeyStore`` with private keys wrapped under a ``MasterKey`` in the ``key`` table."""

    def __init__(self, master_key: MasterKey, *, cache_seconds: float = 300.0) -> None:
        self._master_key = master_key
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, _PrivateKey]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> SoftwareKeyStore:
        """Load the master key from settings or its 0600 file; ``Misconfigured`` if unusable."""
        return cls(MasterKey.from_settings(settings))

    def __repr__(self) -> str:
        return "<SoftwareKeyStore>"

    # -- KeyStore ---------------------------------------------------------------------------

    def check(self, *, session: Session) -> None:
        self._match(session, register=False)

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
        chosen = rotation.resolve_algorithm(usage, algorithm)
        service.check_text("label", label, max_len=200)
        if owner is not None:
            service.check_text("owner", owner, max_len=128)
        self._match(session, register=True)
        record = self._create(
            session,
            clock,
            usage=usage,
            algorithm=chosen,
            owner=owner,
            label=label,
            activate=activate,
            actor=actor,
        )
        return service.to_info(record)

    def get(self, *, session: Session, key_id: str) -> KeyInfo:
        return service.to_info(service.get_record(session=session, key_id=key_id))

    def signer(self, *, session: Session, key_id: str) -> Signer:
        return self._signer_for(session, service.get_record(session=session, key_id=key_id))

    def active_signer(
        self,
        *,
        session: Session,
        usage: KeyUsage,
        owner: str | None = None,
        algorithm: SignatureAlgorithm | None = None,
    ) -> Signer:
        chosen = rotation.resolve_algorithm(usage, algorithm)
        record = service.active_record(session=session, usage=usage, owner=owner, algorithm=chosen)
        if record is None:
            raise _no_active(usage, owner, chosen)
        return self._signer_for(session, record)

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
        chosen = rotation.resolve_algorithm(usage, algorithm)
        if owner is not None:
            service.check_text("owner", owner, max_len=128)
        self._match(session, register=True)
        active = service.active_record(
            session=session, usage=usage, owner=owner, algorithm=chosen, for_update=True
        )
        pending = service.pending_record(
            session=session, usage=usage, owner=owner, algorithm=chosen, for_update=True
        )
        plan = rotation.plan_rotation(
            active=active.key_id if active else None, pending=pending.key_id if pending else None
        )
        # Key generation is CPU work: do it before the first write (and log append) takes locks.
        incoming = pending if pending is not None else self._make(usage, chosen, owner)
        following = self._make(usage, chosen, owner) if plan.create_next else None
        label = _rotation_label(usage, owner, clock)
        if active is not None:
            service.retire(session=session, clock=clock, record=active, actor=actor)
        if isinstance(incoming, KeyRecord):
            service.activate_record(session=session, clock=clock, record=incoming, actor=actor)
            new_active = incoming
        else:
            new_active = self._store(
                session, clock, incoming, label=label, activate=True, actor=actor
            )
        if following is not None:
            self._store(session, clock, following, label=label, activate=False, actor=actor)
        return service.to_info(new_active)

    def destroy(
        self, *, session: Session, clock: Clock, key_id: str, reason: str, actor: str = "system"
    ) -> KeyInfo:
        self._match(session, register=True)
        record = service.get_record(session=session, key_id=key_id, for_update=True)
        service.destroy(session=session, clock=clock, record=record, reason=reason, actor=actor)
        with self._lock:
            self._cache.pop(key_id, None)
        return service.to_info(record)

    def list(
        self, *, session: Session, usage: KeyUsage | None = None, owner: str | None = None
    ) -> Sequence[KeyInfo]:
        return service.list_infos(session=session, usage=usage, owner=owner)

    # -- internals --------------------------------------------------------------------------

    def _match(self, session: Session, *, register: bool) -> None:
        service.match_fingerprint(
            session=session,
            value=self._master_key.check_value,
            register=register,
            probe=self._opens,
        )

    def _opens(self, record: KeyRecord) -> bool:
        try:
            self._unwrap(record)
        except TrustError:
            return False
        return True

    def _create(
        self,
        session: Session,
        clock: Clock,
        *,
        usage: KeyUsage,
        algorithm: SignatureAlgorithm,
        owner: str | None,
        label: str,
        activate: bool,
        actor: str,
    ) -> KeyRecord:
        new = self._make(usage, algorithm, owner)
        return self._store(session, clock, new, label=label, activate=activate, actor=actor)

    def _make(self, usage: KeyUsage, algorithm: SignatureAlgorithm, owner: str | None) -> _NewKey:
        """Generate a key and wrap it; touches no database."""
        key_id = new_id("key")
        private = _generate(algorithm)
        public_der = _public_der(private)
        aad = _aad(key_id, algorithm.value, usage.value, owner, public_der)
        wrapped = self._master_key.wrap(private.to_pkcs8_der(), aad=aad)
        return _NewKey(key_id, usage, algorithm, owner, public_der, wrapped)

    def _store(
        self,
        session: Session,
        clock: Clock,
        new: _NewKey,
        *,
        label: str,
        activate: bool,
        actor: str,
    ) -> KeyRecord:
        return service.insert_key(
            session=session,
            clock=clock,
            key_id=new.key_id,
            usage=new.usage,
            algorithm=new.algorithm,
            owner=new.owner,
            label=label,
            public_key_der=new.public_key_der,
            wrapped_private=new.wrapped_private,
            custody=_CUSTODY,
            activate=activate,
            actor=actor,
        )

    def _signer_for(self, session: Session, record: KeyRecord) -> Signer:
        rotation.require_signable(record.key_id, KeyStatus(record.status))
        if record.custody != _CUSTODY:
            raise Unavailable(
                f"key {record.key_id} is held by '{record.custody}' custody, "
                "not by this software keystore",
                code="keys.wrong_custody",
            )
        self._match(session, register=False)
        private = self._cached_private(record)
        return SoftwareSigner(
            key_id=record.key_id,
            algorithm=SignatureAlgorithm(record.algorithm),
            public_key_der=record.public_key_der,
            certificate_chain=_certificate_chain(session, record.key_id),
            private=private,
        )

    def _cached_private(self, record: KeyRecord) -> _PrivateKey:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(record.key_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        private = self._unwrap(record)
        if self._cache_seconds > 0:
            with self._lock:
                if len(self._cache) >= _CACHE_MAX:
                    self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                    if len(self._cache) >= _CACHE_MAX:
                        self._cache.clear()
                self._cache[record.key_id] = (now + self._cache_seconds, private)
        return private

    def _unwrap(self, record: KeyRecord) -> _PrivateKey:
        if record.wrapped_private is None:
            raise IntegrityFailure(
                f"key {record.key_id} has no private material", code="keys.no_private_material"
            )
        aad = _aad(
            record.key_id, record.algorithm, record.usage, record.owner, record.public_key_der
        )
        pkcs8 = self._master_key.unwrap(record.wrapped_private, aad=aad)
        try:
            if record.algorithm == SignatureAlgorithm.SM2_SM3.value:
                return load_sm2_pkcs8(pkcs8)
            return load_p256_pkcs8(pkcs8)
        except (TrustError, ValueError):
            # Never chain: the underlying message could quote the bytes it choked on.
            raise IntegrityFailure(
                f"key {record.key_id} unwrapped to an unusable private key",
                code="keys.unwrap_failed",
            ) from None


def _generate(algorithm: SignatureAlgorithm) -> _PrivateKey:
    if algorithm is SignatureAlgorithm.SM2_SM3:
        return generate_sm2()
    return generate_p256()


def _public_der(private: _PrivateKey) -> bytes:
    if isinstance(private, SM2PrivateKey):
        return private.public_key().to_der()
    return private.public_key_der()


def _aad(key_id: str, algorithm: str, usage: str, owner: str | None, public_der: bytes) -> bytes:
    """Length-prefixed fields, so that no two different records share associated data."""
    fields = [
        _AAD_LABEL,
        key_id.encode(),
        algorithm.encode(),
        usage.encode(),
        (owner or "").encode(),
        sm3(public_der),
    ]
    return b"".join(len(f).to_bytes(4, "big") + f for f in fields)


def _rotation_label(usage: KeyUsage, owner: str | None, clock: Clock) -> str:
    who = f" {owner}" if owner else ""
    return f"{usage.value}{who} {clock.now():%Y-%m-%d}"[:200]


def _no_active(usage: KeyUsage, owner: str | None, algorithm: SignatureAlgorithm) -> NotFound:
    who = f" for {owner}" if owner else ""
    return NotFound(
        f"no active {algorithm.value} key for {usage.value}{who}", code="keys.no_active_key"
    )


def _certificate_chain(session: Session, key_id: str) -> tuple[bytes, ...]:
    """The key's certificate chain from the CA (DER, leaf first, up to the root), or empty
    when no certificate was issued for it.

    Imported here, not at module level: ``trust.ca`` is a heavier module that ``keys`` needs
    only when a signer is built, and the lazy import keeps ``keys`` importable on its own.
    """
    from trust.ca.service import certificate_chain_for_key

    return tuple(bytes(cert) for cert in certificate_chain_for_key(session=session, key_id=key_id))


if TYPE_CHECKING:  # mypy proves the structural conformance to both protocols

    def _conforms(store: SoftwareKeyStore, signer: SoftwareSigner) -> tuple[KeyStore, Signer]:
        return store, signer
