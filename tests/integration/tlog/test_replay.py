"""``verify_stored_log``: the whole stored log re-verified from raw rows; every kind of tampering
with entries, subtrees, head or checkpoints is found and named."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, insert, update
from sqlalchemy.orm import Session, sessionmaker

from tests.unit.tlog._support import SM2TestSigner
from trust.clock import FixedClock
from trust.tlog import LogEvent, append_many, service
from trust.tlog.merkle import leaf_hash
from trust.tlog.model import TlogCheckpoint, TlogEntry, TlogHead, TlogNode
from trust.tlog.replay import verify_stored_log

SIGNER = SM2TestSigner()
AT = datetime(2026, 11, 22, 8, 0, 0, tzinfo=UTC)


@pytest.fixture
def filled(db: sessionmaker[Session], clock: FixedClock) -> sessionmaker[Session]:
    """37 entries, checkpoints at 0, 10, 10 (again), 30 and 37."""
    with db() as s, s.begin():
        service.create_checkpoint(session=s, clock=clock, signer=SIGNER, origin="o.example/l")
    for size in (10, 10, 30, 37):
        with db() as s, s.begin():
            have = service.log_head(session=s)[0]
            events = [LogEvent("t.e", f"s{i}", "system", {"i": i}) for i in range(have, size)]
            append_many(session=s, clock=clock, events=events)
            clock.advance(timedelta(seconds=1))
            service.create_checkpoint(session=s, clock=clock, signer=SIGNER, origin="o.example/l")
    return db


def test_untouched_log_verifies(filled: sessionmaker[Session]) -> None:
    seen: list[int] = []
    with filled() as s:
        result = verify_stored_log(session=s, progress=seen.append, batch=8)
        trusted = verify_stored_log(
            session=s, trusted_keys={SIGNER.key_id: SIGNER.public_key_der()}
        )
    assert result.ok
    assert result.reason is None
    assert (result.entries_checked, result.checkpoints_checked) == (37, 5)
    assert sum(seen) == 37
    assert len(seen) == 5
    assert trusted.ok


def test_empty_log_verifies(db: sessionmaker[Session]) -> None:
    with db() as s:
        assert verify_stored_log(session=s).ok


def _other_signer_checkpoint(s: Session) -> None:
    s.execute(update(TlogCheckpoint).values(public_key_der=SM2TestSigner().public_key_der()))


TAMPERING: dict[str, tuple[Callable[[Session], object], str]] = {
    "event bytes": (
        lambda s: s.execute(
            update(TlogEntry).where(TlogEntry.idx == 17).values(data=b'{"forged":1}')
        ),
        "log.leaf_hash_mismatch",
    ),
    "event bytes and leaf hash": (  # found at the next checkpoint (30)
        lambda s: s.execute(
            update(TlogEntry)
            .where(TlogEntry.idx == 17)
            .values(data=b"x", leaf_hash=leaf_hash(b"x"))
        ),
        "log.checkpoint_root_mismatch",
    ),
    "a subtree": (
        lambda s: s.execute(
            update(TlogNode).where(TlogNode.level == 4, TlogNode.idx == 1).values(hash=bytes(32))
        ),
        "log.node_mismatch",
    ),
    "a deleted entry": (
        lambda s: s.execute(delete(TlogEntry).where(TlogEntry.idx == 5)),
        "log.entry_sequence_broken",
    ),
    "a truncated log": (
        lambda s: s.execute(delete(TlogEntry).where(TlogEntry.idx == 36)),
        "log.entry_sequence_broken",
    ),
    "an extra entry": (
        lambda s: s.execute(
            insert(TlogEntry).values(
                idx=37, leaf_hash=leaf_hash(b"x"), data=b"x", kind="k", subject="s", logged_at=AT
            )
        ),
        "log.entries_beyond_head",
    ),
    "an extra subtree": (
        lambda s: s.execute(insert(TlogNode).values(level=5, idx=7, hash=bytes(32))),
        "log.node_count_mismatch",
    ),
    "the head": (
        lambda s: s.execute(update(TlogHead).values(frontier=bytes(32 * 3))),
        "log.head_mismatch",
    ),
    "a checkpoint signature": (
        lambda s: s.execute(
            update(TlogCheckpoint)
            .where(TlogCheckpoint.tree_size == 30)
            .values(signature=SIGNER.sign(b"something else"))
        ),
        "log.checkpoint_signature_invalid",
    ),
    "a checkpoint public key": (_other_signer_checkpoint, "log.checkpoint_unknown_key"),
    "a garbled checkpoint public key": (
        lambda s: s.execute(update(TlogCheckpoint).values(public_key_der=b"\x30\x00")),
        "log.checkpoint_key_invalid",
    ),
    "a checkpoint column": (
        lambda s: s.execute(
            update(TlogCheckpoint).where(TlogCheckpoint.tree_size == 30).values(tree_size=31)
        ),
        "log.checkpoint_corrupt",
    ),
}


@pytest.mark.parametrize("what", list(TAMPERING))
def test_tampering_is_found(filled: sessionmaker[Session], what: str) -> None:
    tamper, reason = TAMPERING[what]
    with filled() as s, s.begin():
        tamper(s)
    with filled() as s:
        result = verify_stored_log(session=s, batch=8)
    assert not result.ok
    assert result.reason == reason, result


def test_a_resigned_fork_is_found(filled: sessionmaker[Session], clock: FixedClock) -> None:
    """Rewrite entry 3 with consistent hashes everywhere and a re-signed newest checkpoint: the
    older checkpoints (held by others) no longer match."""
    with filled() as s, s.begin():
        for table in (TlogNode, TlogEntry, TlogHead):
            s.execute(delete(table))
        s.execute(delete(TlogCheckpoint).where(TlogCheckpoint.tree_size == 37))
        events = [
            LogEvent("t.e", f"s{i}", "system", {"i": 333 if i == 3 else i}) for i in range(37)
        ]
        append_many(session=s, clock=clock, events=events)
        service.create_checkpoint(session=s, clock=clock, signer=SIGNER, origin="o.example/l")
    with filled() as s:
        result = verify_stored_log(session=s)
    assert result.reason == "log.checkpoint_root_mismatch"
    assert result.at == 10


def test_untrusted_key(filled: sessionmaker[Session]) -> None:
    with filled() as s:
        result = verify_stored_log(session=s, trusted_keys={"other": b"x"})
    assert result.reason == "log.checkpoint_key_untrusted"
