"""The log in the database (SQLite by default; PostgreSQL with TRUST_TEST_DATABASE_URL): appends
in the caller's transaction, stored subtrees, proofs for any tree size, checkpoints."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.unit.tlog._support import SM2TestSigner, naive_mth, naive_path, naive_proof
from trust.clock import FixedClock
from trust.crypto import SM2PublicKey
from trust.errors import InvalidInput, NotFound
from trust.tlog import LogEvent, append, append_many, service
from trust.tlog.merkle import leaf_hash, root_from_consistency_proof, root_from_inclusion_proof
from trust.tlog.model import MIN_STORED_LEVEL, TlogEntry, TlogHead, TlogNode
from trust.tlog.verify import verify_checkpoint, verify_inclusion

ORIGIN = "ywtb-trust.example/log"


def _event(i: int) -> LogEvent:
    return LogEvent(kind="key.generated", subject=f"key-{i}", actor="system", payload={"n": i})


def _all_data(session: Session) -> list[bytes]:
    return list(session.scalars(select(TlogEntry.data).order_by(TlogEntry.idx)))


def test_append_stores_canonical_bytes(db: sessionmaker[Session], clock: FixedClock) -> None:
    event = LogEvent(
        kind="ca.certificate_issued",
        subject="serial:01",
        actor="user:张三",
        payload={"z": 1, "a": [1, "二"], "m": {"y": None, "b": True}},
    )
    with db() as s, s.begin():
        appended = append(session=s, clock=clock, event=event)
    assert appended.index == 0
    assert appended.logged_at == clock.now()
    with db() as s:
        entry = service.get_entry(session=s, index=0)
    expected = (
        '{"actor":"user:张三","kind":"ca.certificate_issued",'
        '"logged_at":"2026-11-22T08:00:00.000000Z",'
        '"payload":{"a":[1,"二"],"m":{"b":true,"y":null},"z":1},"subject":"serial:01"}'
    ).encode()
    assert entry.data == expected
    assert entry.leaf_hash == appended.leaf_hash == leaf_hash(expected)
    assert (entry.kind, entry.subject, entry.logged_at) == (event.kind, event.subject, clock.now())
    assert json.loads(entry.data)["payload"]["a"] == [1, "二"]


def test_roots_and_proofs_for_every_size(db: sessionmaker[Session], clock: FixedClock) -> None:
    n = 37
    with db() as s, s.begin():
        for i in range(n):
            append(session=s, clock=clock, event=_event(i))
            clock.advance(timedelta(milliseconds=1))
    with db() as s:
        data = _all_data(s)
        assert service.log_head(session=s) == (n, naive_mth(data))
        for size in range(1, n + 1):
            root = naive_mth(data[:size])
            assert service.root_at(session=s, tree_size=size) == root
            for index in range(size):
                proof = service.inclusion_proof(session=s, index=index, tree_size=size)
                assert list(proof.path) == naive_path(index, data[:size])
                assert root_from_inclusion_proof(index, size, proof.leaf_hash, proof.path) == root
            for first in range(1, size + 1):
                cons = service.consistency_proof(session=s, first=first, second=size)
                assert list(cons.path) == naive_proof(first, data[:size])
                old_root = naive_mth(data[:first])
                linked = root_from_consistency_proof(first, size, old_root, cons.path)
                assert linked == (old_root, root)
        # Stored interior nodes: exactly the complete subtrees.
        expected_nodes = sum(n >> level for level in range(MIN_STORED_LEVEL, n.bit_length()))
        assert s.scalar(select(func.count()).select_from(TlogNode)) == expected_nodes


def test_proofs_in_a_larger_log(db: sessionmaker[Session], clock: FixedClock) -> None:
    """Stored subtrees up to level 8, small ones rebuilt: sampled sizes, indexes and pairs."""
    n = 300
    with db() as s, s.begin():
        for start in range(0, n, 37):
            events = [_event(i) for i in range(start, min(start + 37, n))]
            append_many(session=s, clock=clock, events=events)
    with db() as s:
        data = _all_data(s)
        for size in (1, 16, 17, 31, 64, 65, 127, 128, 129, 255, 256, 257, 299, 300):
            root = naive_mth(data[:size])
            assert service.root_at(session=s, tree_size=size) == root
            for index in {0, 1, 15, 16, size // 2, size - 2, size - 1} - {-1}:
                if index < size:
                    proof = service.inclusion_proof(session=s, index=index, tree_size=size)
                    assert list(proof.path) == naive_path(index, data[:size]), (index, size)
            for first in {1, 7, 16, 17, 64, size // 3, size - 1, size} - {0}:
                if first <= size:
                    cons = service.consistency_proof(session=s, first=first, second=size)
                    assert list(cons.path) == naive_proof(first, data[:size]), (first, size)


def test_append_many_equals_single_appends(db: sessionmaker[Session], clock: FixedClock) -> None:
    with db() as s, s.begin():
        first = append_many(session=s, clock=clock, events=[_event(i) for i in range(10)])
        assert append_many(session=s, clock=clock, events=[]) == []
        second = append_many(session=s, clock=clock, events=[_event(i) for i in range(10, 23)])
    assert [a.index for a in first + second] == list(range(23))
    with db() as s:
        data = _all_data(s)
        assert [leaf_hash(d) for d in data] == [a.leaf_hash for a in first + second]
        assert service.log_head(session=s)[1] == naive_mth(data)


def test_rollback_leaves_nothing(db: sessionmaker[Session], clock: FixedClock) -> None:
    with db() as s, s.begin():
        append_many(session=s, clock=clock, events=[_event(i) for i in range(40)])
    with db() as s:
        head_before = s.execute(select(TlogHead.size, TlogHead.frontier)).one()

    class ChangeFailedError(Exception):
        pass

    def failing_change() -> None:
        with db() as s, s.begin():
            append(session=s, clock=clock, event=_event(99))
            append_many(session=s, clock=clock, events=[_event(i) for i in range(100, 111)])
            raise ChangeFailedError  # the change the events record fails: no event either

    with pytest.raises(ChangeFailedError):
        failing_change()

    with db() as s:
        assert s.execute(select(TlogHead.size, TlogHead.frontier)).one() == head_before
        assert s.scalar(select(func.count()).select_from(TlogEntry)) == 40
        # Stored subtrees (4, 0), (4, 1), (5, 0); (4, 2) of the rolled-back appends is gone.
        assert s.scalar(select(func.count()).select_from(TlogNode)) == 3
    with db() as s, s.begin():
        assert append(session=s, clock=clock, event=_event(40)).index == 40


@pytest.mark.parametrize(
    "event",
    [
        LogEvent(kind="", subject="s", actor="a"),
        LogEvent(kind="k", subject="", actor="a"),
        LogEvent(kind="k", subject="s", actor="a" * 257),
        LogEvent(kind="k" * 129, subject="s", actor="a"),
        LogEvent(kind="k", subject="s", actor="a", payload={"x": float("nan")}),
        LogEvent(kind="k", subject="s", actor="a", payload={"x": object()}),
        LogEvent(kind="k", subject="s", actor="a", payload={1: "x", "b": 2}),  # type: ignore[dict-item]
    ],
)
def test_bad_events_are_refused_before_anything_is_written(
    db: sessionmaker[Session], clock: FixedClock, event: LogEvent
) -> None:
    with db() as s, s.begin():
        with pytest.raises(InvalidInput) as exc:
            append_many(session=s, clock=clock, events=[_event(0), event])
        assert exc.value.code == "log.bad_event"
        assert service.log_head(session=s)[0] == 0


def test_proof_requests_out_of_range(db: sessionmaker[Session], clock: FixedClock) -> None:
    with db() as s, s.begin():
        append_many(session=s, clock=clock, events=[_event(i) for i in range(4)])
    bad = [
        ("inclusion", {"index": 0, "tree_size": 0}),
        ("inclusion", {"index": 0, "tree_size": 5}),
        ("inclusion", {"index": 4, "tree_size": 4}),
        ("inclusion", {"index": -1, "tree_size": 4}),
        ("inclusion", {"index": 2**70, "tree_size": 2**71}),
        ("consistency", {"first": 3, "second": 2}),
        ("consistency", {"first": 1, "second": 5}),
        ("consistency", {"first": -1, "second": 2}),
        ("consistency", {"first": 1, "second": 2**64}),
    ]
    with db() as s:
        for kind, kwargs in bad:
            fn = service.inclusion_proof if kind == "inclusion" else service.consistency_proof
            with pytest.raises(InvalidInput) as exc:
                fn(session=s, **kwargs)
            assert exc.value.code == "log.bad_proof_request"
        for index in (4, -1, 2**80):
            with pytest.raises(NotFound) as nf:
                service.get_entry(session=s, index=index)
            assert nf.value.code == "log.entry_not_found"
        assert service.consistency_proof(session=s, first=0, second=4).path == ()
        assert service.consistency_proof(session=s, first=4, second=4).path == ()


def test_checkpoints(db: sessionmaker[Session], clock: FixedClock) -> None:
    signer = SM2TestSigner()
    key = SM2PublicKey.from_der(signer.public_key_der())
    with db() as s, s.begin():
        assert service.latest_checkpoint(session=s) is None
        empty = service.create_checkpoint(session=s, clock=clock, signer=signer, origin=ORIGIN)
        assert empty.checkpoint.tree_size == 0
        append_many(session=s, clock=clock, events=[_event(i) for i in range(11)])
        clock.advance(timedelta(seconds=1, microseconds=5))
        cp = service.create_checkpoint(session=s, clock=clock, signer=signer, origin=ORIGIN)
    assert cp.checkpoint.timestamp == clock.now().replace(microsecond=0)
    assert (cp.key_id, cp.algorithm) == (signer.key_id, "SM2-with-SM3")
    with db() as s:
        latest = service.latest_checkpoint(session=s)
        assert latest == cp
        assert service.checkpoint_for_size(session=s, tree_size=0) == empty
        assert service.checkpoint_for_size(session=s, tree_size=5) is None
        assert service.checkpoint_for_size(session=s, tree_size=-1) is None
        assert [c.id for c in service.iter_checkpoints(session=s)] == [empty.id, cp.id]
        data = _all_data(s)
        assert cp.checkpoint.root_hash == naive_mth(data)
        result = verify_checkpoint(
            unverified_note=cp.note,
            public_key=SM2PublicKey.from_der(cp.public_key_der),
            origin=ORIGIN,
        )
        assert result.ok
        proof = service.inclusion_proof(session=s, index=7, tree_size=11)
    inclusion = verify_inclusion(
        unverified_note=cp.note,
        public_key=key,
        origin=ORIGIN,
        index=7,
        tree_size=11,
        path=proof.path,
        leaf_data=data[7],
    )
    assert inclusion.ok
