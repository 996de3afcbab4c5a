"""Software keystore on a real database: wrapping, master-key binding, uniqueness, rotation,
destruction, events in the transparency log, and rollback."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from keys.interfaces import KeyStatus, KeyUsage
from keys.masterkey import MasterKey
from keys.model import KeyRecord, KeystoreMeta
from keys.software import SoftwareKeyStore
from tests.integration.keys.conftest import private_material, snapshot
from trust.clock import FixedClock
from trust.crypto import sm3_hex
from trust.crypto.private_keys import load_p256_pkcs8, load_sm2_pkcs8
from trust.errors import Conflict, IntegrityFailure, InvalidInput, Misconfigured, NotFound
from trust.migrations.registry import load_all_models
from trust.signing import SignatureAlgorithm
from trust.tlog import LogEvent


def _record(session: Session, key_id: str) -> KeyRecord:
    return session.scalars(select(KeyRecord).where(KeyRecord.key_id == key_id)).one()


# -- wrapping ---------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", list(SignatureAlgorithm))
def test_stored_blob_is_encrypted_pkcs8_that_matches_the_public_key(
    keystore: SoftwareKeyStore,
    session: Session,
    clock: FixedClock,
    algorithm: SignatureAlgorithm,
) -> None:
    info = keystore.generate(
        session=session, clock=clock, usage=KeyUsage.TOKEN_SIGNING, algorithm=algorithm, label="t"
    )
    blob = _record(session, info.key_id).wrapped_private
    assert blob is not None
    secret = private_material(keystore, session, info.key_id)
    assert blob[:1] == b"\x01"  # SM4-GCM blob version, not a DER SEQUENCE (0x30)
    assert len(blob) == 1 + 12 + len(secret.pkcs8) + 16
    for needle in secret.needles():
        assert needle not in blob
    if algorithm is SignatureAlgorithm.SM2_SM3:
        assert load_sm2_pkcs8(secret.pkcs8).public_key().to_der() == info.public_key_der
    else:
        assert load_p256_pkcs8(secret.pkcs8).public_key_der() == info.public_key_der


@pytest.mark.parametrize(
    ("column", "value"),
    [("usage", KeyUsage.SEAL_MAKER.value), ("owner", "org-other"), ("key_id", "key_moved")],
)
def test_blob_is_bound_to_its_record(
    keystore: SoftwareKeyStore,
    db: sessionmaker[Session],
    clock: FixedClock,
    column: str,
    value: str,
) -> None:
    with db() as s, s.begin():
        info = keystore.generate(
            session=s, clock=clock, usage=KeyUsage.SEAL_HOLDER, owner="org-1", label="t"
        )
    with db() as s, s.begin():  # an attacker with database access edits the row
        s.execute(update(KeyRecord).where(KeyRecord.key_id == info.key_id).values({column: value}))
    key_id = value if column == "key_id" else info.key_id
    fresh = SoftwareKeyStore(keystore._master_key)  # no cached key
    with db() as s, s.begin(), pytest.raises(IntegrityFailure) as refused:
        fresh.signer(session=s, key_id=key_id)
    assert refused.value.code == "keys.unwrap_failed"


def test_swapped_public_key_is_refused(
    keystore: SoftwareKeyStore, db: sessionmaker[Session], clock: FixedClock
) -> None:
    with db() as s, s.begin():
        a = keystore.generate(session=s, clock=clock, usage=KeyUsage.ARCHIVE, label="a")
        b = keystore.generate(
            session=s, clock=clock, usage=KeyUsage.ARCHIVE, label="b", activate=False
        )
        s.execute(
            update(KeyRecord)
            .where(KeyRecord.key_id == a.key_id)
            .values(public_key_der=b.public_key_der)
        )
    with db() as s, s.begin(), pytest.raises(IntegrityFailure):
        SoftwareKeyStore(keystore._master_key).signer(session=s, key_id=a.key_id)


# -- the master key belongs to the database ----------------------------------------------------


def test_first_write_records_the_check_value_not_the_key(
    keystore: SoftwareKeyStore, session: Session, clock: FixedClock, settings: object
) -> None:
    assert session.get(KeystoreMeta, "master_key_check") is None
    keystore.check(session=session)  # check alone writes nothing
    assert session.get(KeystoreMeta, "master_key_check") is None
    keystore.generate(session=session, clock=clock, usage=KeyUsage.CA, label="root")
    row = session.get(KeystoreMeta, "master_key_check")
    assert row is not None
    assert row.value == keystore._master_key.check_value
    assert bytes.fromhex("00112233445566778899aabbccddeeff" * 2) not in row.value


def test_wrong_master_key_is_refused_and_nothing_is_written(
    keystore: SoftwareKeyStore,
    wrong_keystore: SoftwareKeyStore,
    db: sessionmaker[Session],
    clock: FixedClock,
) -> None:
    with db() as s, s.begin():
        keystore.rotate(session=s, clock=clock, usage=KeyUsage.TIMESTAMP)
        retired = keystore.rotate(session=s, clock=clock, usage=KeyUsage.TIMESTAMP)
    before = snapshot(db)
    attempts: dict[str, Callable[[Session], object]] = {
        "check": lambda s: wrong_keystore.check(session=s),
        "generate": lambda s: wrong_keystore.generate(
            session=s, clock=clock, usage=KeyUsage.CA, label="x"
        ),
        "rotate": lambda s: wrong_keystore.rotate(session=s, clock=clock, usage=KeyUsage.TIMESTAMP),
        "destroy": lambda s: wrong_keystore.destroy(
            session=s, clock=clock, key_id=retired.key_id, reason="x"
        ),
        "signer": lambda s: wrong_keystore.active_signer(session=s, usage=KeyUsage.TIMESTAMP),
    }
    for name, attempt in attempts.items():
        with db() as s, s.begin():  # commits whatever the attempt left behind
            with pytest.raises(Misconfigured) as refused:
                attempt(s)
            assert refused.value.code == "keys.master_key_mismatch", name
            assert "master key does not match this database" in refused.value.detail
    assert snapshot(db) == before


def test_missing_check_value_is_rebuilt_only_by_the_right_key(
    keystore: SoftwareKeyStore,
    wrong_keystore: SoftwareKeyStore,
    db: sessionmaker[Session],
    clock: FixedClock,
) -> None:
    with db() as s, s.begin():
        keystore.generate(session=s, clock=clock, usage=KeyUsage.CA, label="root")
        s.delete(s.get(KeystoreMeta, "master_key_check"))
    with db() as s, s.begin(), pytest.raises(Misconfigured):
        wrong_keystore.generate(session=s, clock=clock, usage=KeyUsage.ARCHIVE, label="x")
    with db() as s:
        assert s.get(KeystoreMeta, "master_key_check") is None
    with db() as s, s.begin():
        keystore.generate(session=s, clock=clock, usage=KeyUsage.ARCHIVE, label="ok")
    with db() as s:
        row = s.get(KeystoreMeta, "master_key_check")
        assert row is not None
        assert row.value == keystore._master_key.check_value


# -- uniqueness --------------------------------------------------------------------------------


def test_second_active_or_pending_key_is_refused(
    keystore: SoftwareKeyStore, session: Session, clock: FixedClock
) -> None:
    kw = {"session": session, "clock": clock, "usage": KeyUsage.SEAL_HOLDER, "owner": "org-1"}
    keystore.generate(label="a", **kw)  # type: ignore[arg-type]
    keystore.generate(label="p", activate=False, **kw)  # type: ignore[arg-type]
    with pytest.raises(Conflict) as active:
        keystore.generate(label="b", **kw)  # type: ignore[arg-type]
    assert active.value.code == "keys.active_exists"
    with pytest.raises(Conflict) as pending:
        keystore.generate(label="q", activate=False, **kw)  # type: ignore[arg-type]
    assert pending.value.code == "keys.pending_exists"
    # other owners, and the service's own key (owner None), are separate slots
    keystore.generate(
        session=session, clock=clock, usage=KeyUsage.SEAL_HOLDER, label="c", owner="org-2"
    )
    keystore.generate(session=session, clock=clock, usage=KeyUsage.SEAL_HOLDER, label="d")
    with pytest.raises(Conflict):
        keystore.generate(session=session, clock=clock, usage=KeyUsage.SEAL_HOLDER, label="e")


def test_token_signing_runs_es256_and_sm2_side_by_side(
    keystore: SoftwareKeyStore, session: Session, clock: FixedClock
) -> None:
    es = keystore.generate(session=session, clock=clock, usage=KeyUsage.TOKEN_SIGNING, label="e")
    sm = keystore.generate(
        session=session,
        clock=clock,
        usage=KeyUsage.TOKEN_SIGNING,
        algorithm=SignatureAlgorithm.SM2_SM3,
        label="s",
    )
    assert es.algorithm is SignatureAlgorithm.ES256  # the usage's default
    default = keystore.active_signer(session=session, usage=KeyUsage.TOKEN_SIGNING)
    assert default.key_id == es.key_id
    sm2 = keystore.active_signer(
        session=session, usage=KeyUsage.TOKEN_SIGNING, algorithm=SignatureAlgorithm.SM2_SM3
    )
    assert sm2.key_id == sm.key_id


def test_es256_is_refused_for_seals(
    keystore: SoftwareKeyStore, session: Session, clock: FixedClock
) -> None:
    with pytest.raises(InvalidInput) as refused:
        keystore.generate(
            session=session,
            clock=clock,
            usage=KeyUsage.SEAL_HOLDER,
            algorithm=SignatureAlgorithm.ES256,
            label="x",
        )
    assert refused.value.code == "keys.algorithm_not_allowed"


@pytest.mark.parametrize(("label", "owner"), [("", None), ("x" * 201, None), ("ok", "a\nb")])
def test_bad_label_or_owner_is_invalid_input(
    keystore: SoftwareKeyStore, session: Session, clock: FixedClock, label: str, owner: str | None
) -> None:
    with pytest.raises(InvalidInput):
        keystore.generate(session=session, clock=clock, usage=KeyUsage.CA, label=label, owner=owner)


@pytest.mark.parametrize("state", ["active", "pending"])
def test_database_itself_refuses_a_second_key_in_the_state(
    keystore: SoftwareKeyStore, db: sessionmaker[Session], clock: FixedClock, state: str
) -> None:
    with db() as s, s.begin():
        first = keystore.generate(
            session=s, clock=clock, usage=KeyUsage.CA, label="a", activate=state == "active"
        )
    with db() as s, s.begin():  # bypassing the service
        row = _record(s, first.key_id)
        s.add(
            KeyRecord(
                key_id="key_dup",
                algorithm=row.algorithm,
                usage=row.usage,
                status=state,
                owner=None,
                label="dup",
                custody="software",
                public_key_der=b"\x30",
                wrapped_private=b"\x01",
                created_at=clock.now(),
            )
        )
        with pytest.raises(IntegrityError):
            s.flush()
        s.rollback()


def test_database_refuses_a_destroyed_key_that_keeps_its_blob(
    keystore: SoftwareKeyStore, db: sessionmaker[Session], clock: FixedClock
) -> None:
    with db() as s, s.begin():
        info = keystore.generate(session=s, clock=clock, usage=KeyUsage.CA, label="a")
    with db() as s, pytest.raises(IntegrityError), s.begin():
        s.execute(
            update(KeyRecord).where(KeyRecord.key_id == info.key_id).values(status="destroyed")
        )


def test_stale_view_of_a_concurrent_rotation_is_refused_by_the_database(
    keystore: SoftwareKeyStore,
    db: sessionmaker[Session],
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rotation that did not see the other transaction's new ACTIVE key (what READ COMMITTED
    can show two concurrent rotations) is stopped by the unique index, as a Conflict."""
    from keys import service

    with db() as s, s.begin():
        keystore.rotate(session=s, clock=clock, usage=KeyUsage.CA)
    before = snapshot(db)
    monkeypatch.setattr(service, "active_record", lambda *a, **k: None)  # the stale view
    with pytest.raises(Conflict) as refused, db() as s, s.begin():
        keystore.rotate(session=s, clock=clock, usage=KeyUsage.CA)
    assert refused.value.code == "keys.concurrent_change"
    assert snapshot(db) == before


# -- rotation and destruction ------------------------------------------------------------------


def test_rotation_sequence_and_refusal_to_sign_with_non_active_keys(
    keystore: SoftwareKeyStore, session: Session, clock: FixedClock, events: list[LogEvent]
) -> None:
    usage = KeyUsage.TRANSPARENCY_LOG
    a = keystore.rotate(session=session, clock=clock, usage=usage)
    (b,) = [k for k in keystore.list(session=session, usage=usage) if k.key_id != a.key_id]
    assert (a.status, b.status) == (KeyStatus.ACTIVE, KeyStatus.PENDING)
    clock.advance(timedelta(days=30))
    promoted = keystore.rotate(session=session, clock=clock, usage=usage)
    assert promoted.key_id == b.key_id
    assert promoted.activated_at == clock.now()
    after = {k.key_id: k for k in keystore.list(session=session, usage=usage)}
    assert after[a.key_id].status is KeyStatus.RETIRED
    assert after[a.key_id].retired_at == clock.now()
    (c,) = [k for k in after.values() if k.status is KeyStatus.PENDING]
    assert c.key_id not in {a.key_id, b.key_id}
    for key_id, status in ((a.key_id, "retired"), (c.key_id, "pending")):
        with pytest.raises(Conflict, match=status) as refused:
            keystore.signer(session=session, key_id=key_id)
        assert refused.value.code == "keys.not_active"
    with pytest.raises(Conflict) as active_destroy:
        keystore.destroy(session=session, clock=clock, key_id=b.key_id, reason="x")
    assert active_destroy.value.code == "keys.bad_transition"
    keystore.destroy(session=session, clock=clock, key_id=a.key_id, reason="compromised")
    assert _record(session, a.key_id).wrapped_private is None
    with pytest.raises(Conflict, match="destroyed"):
        keystore.signer(session=session, key_id=a.key_id)
    with pytest.raises(Conflict):
        keystore.destroy(session=session, clock=clock, key_id=a.key_id, reason="again")
    kinds = [(e.kind, e.subject) for e in events]
    assert kinds == [
        ("key.generated", a.key_id),
        ("key.activated", a.key_id),
        ("key.generated", b.key_id),
        ("key.retired", a.key_id),
        ("key.activated", b.key_id),
        ("key.generated", c.key_id),
        ("key.destroyed", a.key_id),
    ]


def test_events_carry_public_facts_only(
    keystore: SoftwareKeyStore, session: Session, clock: FixedClock, events: list[LogEvent]
) -> None:
    info = keystore.generate(
        session=session,
        clock=clock,
        usage=KeyUsage.SEAL_HOLDER,
        owner="org-9",
        label="stamp",
        actor="user:alice",
    )
    generated, activated = events
    assert generated.kind == "key.generated"
    assert activated.kind == "key.activated"
    assert generated.actor == "user:alice"
    assert dict(generated.payload) == {
        "key_id": info.key_id,
        "algorithm": "SM2-with-SM3",
        "usage": "seal_holder",
        "owner": "org-9",
        "status": "pending",
        "label": "stamp",
        "public_key_sm3": sm3_hex(info.public_key_der),
    }
    assert activated.payload["status"] == "active"


def test_a_cached_key_stops_signing_when_it_is_rotated_out(
    keystore: SoftwareKeyStore, session: Session, clock: FixedClock
) -> None:
    first = keystore.rotate(session=session, clock=clock, usage=KeyUsage.ARCHIVE)
    keystore.signer(session=session, key_id=first.key_id).sign(b"warm the cache")
    assert first.key_id in keystore._cache
    keystore.rotate(session=session, clock=clock, usage=KeyUsage.ARCHIVE)
    with pytest.raises(Conflict):
        keystore.signer(session=session, key_id=first.key_id)
    keystore.destroy(session=session, clock=clock, key_id=first.key_id, reason="done")
    assert first.key_id not in keystore._cache


def test_active_signer_without_a_key_is_not_found(
    keystore: SoftwareKeyStore, session: Session
) -> None:
    with pytest.raises(NotFound) as none:
        keystore.active_signer(session=session, usage=KeyUsage.SEAL_HOLDER, owner="org-x")
    assert none.value.code == "keys.no_active_key"
    assert "org-x" in none.value.detail


# -- transactions ------------------------------------------------------------------------------


def _all_rows(db: sessionmaker[Session]) -> int:
    with db() as s:
        return sum(
            s.scalar(select(func.count()).select_from(t)) or 0
            for t in load_all_models().sorted_tables
        )


def test_failure_after_generation_rolls_back_key_and_log_entry(
    keystore: SoftwareKeyStore, db: sessionmaker[Session], clock: FixedClock
) -> None:
    assert _all_rows(db) == 0

    def generate_then_fail() -> None:
        with db() as s, s.begin():
            keystore.generate(session=s, clock=clock, usage=KeyUsage.CA, label="root")
            assert s.scalar(select(func.count()).select_from(KeyRecord)) == 1
            raise RuntimeError("injected before commit")

    with pytest.raises(RuntimeError, match="injected"):
        generate_then_fail()
    assert _all_rows(db) == 0  # no key row, no meta row, no log entry


def test_failing_log_append_leaves_no_key(
    keystore: SoftwareKeyStore,
    db: sessionmaker[Session],
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from keys import service

    calls: list[str] = []

    def failing(*, session: Session, clock: object, event: LogEvent) -> None:
        calls.append(event.kind)
        if event.kind == "key.activated":
            raise RuntimeError("log unavailable")

    monkeypatch.setattr(service, "append", failing)
    with pytest.raises(RuntimeError), db() as s, s.begin():
        keystore.generate(session=s, clock=clock, usage=KeyUsage.CA, label="root")
    assert calls == ["key.generated", "key.activated"]
    assert _all_rows(db) == 0


def test_events_reach_the_transparency_log_in_the_same_transaction(
    keystore: SoftwareKeyStore, db: sessionmaker[Session], clock: FixedClock
) -> None:
    tables = [t for t in load_all_models().sorted_tables if t.name.startswith("tlog")]
    assert tables, "the transparency log defines no tables"
    with db() as s, s.begin():
        keystore.rotate(session=s, clock=clock, usage=KeyUsage.CA)
    with db() as s:
        logged = sum(s.scalar(select(func.count()).select_from(t)) or 0 for t in tables)
    assert logged >= 3  # generated + activated + generated(next), at least one row each


# -- certificate chain -------------------------------------------------------------------------


def test_signer_carries_the_chain_the_ca_reports(
    keystore: SoftwareKeyStore,
    session: Session,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    info = keystore.generate(session=session, clock=clock, usage=KeyUsage.SEAL_MAKER, label="m")
    asked: list[str] = []

    def chain_for_key(*, session: Session, key_id: str) -> list[bytes]:
        asked.append(key_id)
        return [b"leaf-der", b"root-der"]

    fake = types.ModuleType("trust.ca.service")
    fake.certificate_chain_for_key = chain_for_key  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "trust.ca.service", fake)
    signer = keystore.signer(session=session, key_id=info.key_id)
    assert list(signer.certificate_chain()) == [b"leaf-der", b"root-der"]
    assert asked == [info.key_id]


def test_signer_carries_the_chain_the_real_ca_issued(
    keystore: SoftwareKeyStore, session: Session, clock: FixedClock
) -> None:
    from trust.ca.service import init_ca, issue_certificate
    from trust.crypto import SM2PublicKey

    root = keystore.generate(
        session=session, clock=clock, usage=KeyUsage.CA, owner="root", label="root"
    )
    issuing = keystore.generate(
        session=session, clock=clock, usage=KeyUsage.CA, owner="issuing", label="issuing"
    )
    issuing_signer = keystore.signer(session=session, key_id=issuing.key_id)
    init_ca(
        session=session,
        clock=clock,
        name="测试信任服务",
        root_signer=keystore.signer(session=session, key_id=root.key_id),
        issuing_signer=issuing_signer,
    )
    seal = keystore.generate(
        session=session, clock=clock, usage=KeyUsage.SEAL_HOLDER, owner="org-1", label="stamp"
    )
    assert list(keystore.signer(session=session, key_id=seal.key_id).certificate_chain()) == []
    issue_certificate(
        session=session,
        clock=clock,
        issuer_signer=issuing_signer,
        subject_public_key_der=seal.public_key_der,
        subject={"CN": "某某局业务专用章"},
        profile="seal_holder",
        key_id=seal.key_id,
        actor="test",
    )
    chain = keystore.signer(session=session, key_id=seal.key_id).certificate_chain()
    assert len(chain) == 3  # leaf, issuing CA, root
    assert SM2PublicKey.from_certificate(chain[0]).to_der() == seal.public_key_der
    assert SM2PublicKey.from_certificate(chain[1]).to_der() == issuing.public_key_der
    assert SM2PublicKey.from_certificate(chain[2]).to_der() == root.public_key_der


def test_master_key_from_a_file_works_end_to_end(
    db: sessionmaker[Session], clock: FixedClock, tmp_path: object
) -> None:
    from pathlib import Path

    from keys.masterkey import create_master_key_file
    from trust.config import load_settings

    path = create_master_key_file(Path(str(tmp_path)) / "master.key")
    settings = load_settings(environ={}, overrides={"environment": "test", "master_key_file": path})
    store = SoftwareKeyStore.from_settings(settings)
    with db() as s, s.begin():
        info = store.generate(session=s, clock=clock, usage=KeyUsage.CA, label="root")
        assert store.signer(session=s, key_id=info.key_id).sign(b"x")
    assert MasterKey.from_file(path).check_value == store._master_key.check_value
