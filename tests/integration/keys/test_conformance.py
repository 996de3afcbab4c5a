"""The shared ``KeyStore`` conformance test, run against every implementation.

The software keystore must show the behaviour; the hardware seam (``HsmKeyStore``) is the same
protocol but has no device behind it, so for it every step must refuse with ``Unavailable``
(``keys.hsm_unavailable``) rather than do something half-way. Signature shapes are compared in
``tests/unit/keys/test_protocol.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from keys.hsm import HsmKeyStore
from keys.interfaces import KeyInfo, KeyStatus, KeyStore, KeyUsage
from keys.software import SoftwareKeyStore
from trust.clock import FixedClock
from trust.config import Settings
from trust.crypto import SM2PublicKey, sm2_verify
from trust.crypto.es256 import es256_verify
from trust.errors import Conflict, NotFound, Unavailable
from trust.signing import SignatureAlgorithm, Signer


@pytest.fixture(params=["software", "hsm"])
def store(request: pytest.FixtureRequest, settings: Settings) -> KeyStore:
    if request.param == "software":
        return SoftwareKeyStore.from_settings(settings)
    return HsmKeyStore(module="/usr/lib/libvendor-sdf.so", slot="0")


@pytest.fixture
def tx(db: sessionmaker[Session]) -> Iterator[Session]:
    with db() as s, s.begin():
        yield s


def conforms(store: KeyStore) -> AbstractContextManager[Any]:
    """The seam refuses clearly at the first step; a real keystore runs the whole block."""
    if isinstance(store, HsmKeyStore):
        return pytest.raises(Unavailable, match="PKCS#11")
    return nullcontext()


def _verify(signer: Signer, data: bytes, signature: bytes) -> None:
    if signer.algorithm is SignatureAlgorithm.SM2_SM3:
        sm2_verify(SM2PublicKey.from_der(signer.public_key_der()), data, signature)
    else:
        es256_verify(signer.public_key_der(), data, signature)


@pytest.mark.parametrize(
    ("usage", "algorithm"),
    [
        (KeyUsage.SEAL_HOLDER, SignatureAlgorithm.SM2_SM3),
        (KeyUsage.TOKEN_SIGNING, SignatureAlgorithm.ES256),
        (KeyUsage.TOKEN_SIGNING, SignatureAlgorithm.SM2_SM3),
    ],
)
def test_generate_get_list_and_sign(
    store: KeyStore,
    tx: Session,
    clock: FixedClock,
    usage: KeyUsage,
    algorithm: SignatureAlgorithm,
) -> None:
    with conforms(store):
        info = store.generate(
            session=tx, clock=clock, usage=usage, algorithm=algorithm, label="t", owner="org-1"
        )
        assert info.key_id.startswith("key_")
        assert (info.usage, info.algorithm, info.status) == (usage, algorithm, KeyStatus.ACTIVE)
        assert info.created_at == clock.now() == info.activated_at
        assert store.get(session=tx, key_id=info.key_id) == info
        assert [k.key_id for k in store.list(session=tx, usage=usage, owner="org-1")] == [
            info.key_id
        ]
        assert store.list(session=tx, usage=usage, owner="org-2") == []
        signer = store.signer(session=tx, key_id=info.key_id)
        assert isinstance(signer, Signer)
        assert (signer.key_id, signer.algorithm) == (info.key_id, algorithm)
        assert signer.public_key_der() == info.public_key_der
        _verify(signer, b"data", signer.sign(b"data"))
        active = store.active_signer(session=tx, usage=usage, owner="org-1", algorithm=algorithm)
        assert active.key_id == info.key_id


def test_pending_key_is_listed_but_does_not_sign(
    store: KeyStore, tx: Session, clock: FixedClock
) -> None:
    with conforms(store):
        info = store.generate(
            session=tx, clock=clock, usage=KeyUsage.ARCHIVE, label="next", activate=False
        )
        assert info.status is KeyStatus.PENDING
        assert info.activated_at is None
        with pytest.raises(Conflict) as refused:
            store.signer(session=tx, key_id=info.key_id)
        assert refused.value.code == "keys.not_active"
        with pytest.raises(NotFound) as none:
            store.active_signer(session=tx, usage=KeyUsage.ARCHIVE)
        assert none.value.code == "keys.no_active_key"


def test_rotation_publishes_next_key_before_it_signs(
    store: KeyStore, tx: Session, clock: FixedClock
) -> None:
    with conforms(store):
        first = store.rotate(session=tx, clock=clock, usage=KeyUsage.TIMESTAMP)
        states = _states(store.list(session=tx, usage=KeyUsage.TIMESTAMP))
        assert states == {first.key_id: KeyStatus.ACTIVE, **_pending_of(states)}
        (next_id,) = _pending_of(states)
        second = store.rotate(session=tx, clock=clock, usage=KeyUsage.TIMESTAMP)
        assert second.key_id == next_id  # the published key is the one that now signs
        states = _states(store.list(session=tx, usage=KeyUsage.TIMESTAMP))
        assert states[first.key_id] is KeyStatus.RETIRED
        assert states[second.key_id] is KeyStatus.ACTIVE
        assert len(_pending_of(states)) == 1
        assert store.active_signer(session=tx, usage=KeyUsage.TIMESTAMP).key_id == second.key_id


def test_destroy_keeps_public_metadata_and_stops_signing(
    store: KeyStore, tx: Session, clock: FixedClock
) -> None:
    with conforms(store):
        old = store.rotate(session=tx, clock=clock, usage=KeyUsage.LICENCE_ISSUER)
        store.rotate(session=tx, clock=clock, usage=KeyUsage.LICENCE_ISSUER)
        gone = store.destroy(session=tx, clock=clock, key_id=old.key_id, reason="end of life")
        assert gone.status is KeyStatus.DESTROYED
        assert gone.public_key_der == old.public_key_der
        assert gone.destroyed_at == clock.now()
        with pytest.raises(Conflict):
            store.signer(session=tx, key_id=old.key_id)


def test_unknown_key_is_not_found(store: KeyStore, tx: Session) -> None:
    with conforms(store), pytest.raises(NotFound) as info:
        store.get(session=tx, key_id="key_unknown")
    if not isinstance(store, HsmKeyStore):
        assert info.value.code == "keys.not_found"


def test_check_accepts_the_keystore_that_wrapped_the_keys(
    store: KeyStore, tx: Session, clock: FixedClock
) -> None:
    with conforms(store):
        store.check(session=tx)
        store.generate(session=tx, clock=clock, usage=KeyUsage.CA, label="root")
        store.check(session=tx)


def _states(infos: Any) -> dict[str, KeyStatus]:
    return {i.key_id: i.status for i in infos}


def _pending_of(states: dict[str, KeyStatus]) -> dict[str, KeyStatus]:
    return {k: s for k, s in states.items() if s is KeyStatus.PENDING}


_ = KeyInfo  # re-exported type used in annotations of helpers above
