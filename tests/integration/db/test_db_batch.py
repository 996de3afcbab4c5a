"""``trust.db_batch``: group commit keeps every write and every error, on SQLite and PostgreSQL.

The writes are rate-limit counts (``trust.web.ratelimit``), a real table of the schema."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session, sessionmaker

from tests.asyncio_support import run_async
from trust.db_batch import BatchCommitter, BatchFailed
from trust.errors import RateLimited
from trust.web.ratelimit import hit, peek

WINDOW = timedelta(seconds=60)
T0 = datetime(2026, 11, 22, 8, 0, 5, tzinfo=UTC)


def _count(db: sessionmaker[Session], key: str) -> int:
    with db() as session:
        return peek(session=session, key=key, window=WINDOW, limit=10**6, now=T0).count


def count_keys(session: Session, keys: Sequence[str]) -> list[int]:
    """A handler: one count per item (a key), returning the count after it."""
    return [hit(session=session, key=k, window=WINDOW, limit=10**6, now=T0).count for k in keys]


class Gate:
    """A handler that holds its first batch until released (to let work queue up)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.sizes: list[int] = []

    def __call__(self, session: Session, keys: Sequence[str]) -> list[int]:
        self.sizes.append(len(keys))
        if len(self.sizes) == 1:
            self.entered.set()
            assert self.release.wait(10)
        return count_keys(session, keys)


@pytest.fixture
def committer(db: sessionmaker[Session]) -> Iterator[BatchCommitter]:
    batch = BatchCommitter(db, idle_seconds=0.5)
    yield batch
    batch.close()


def test_work_queued_during_a_commit_is_one_batch(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    gate = Gate()
    first = committer.submit(gate, "a")
    assert gate.entered.wait(10)
    queued = [committer.submit(gate, "b") for _ in range(5)]
    assert not any(f.done() for f in queued)
    gate.release.set()
    assert first.result(10) == 1
    assert sorted(f.result(10) for f in queued) == [1, 2, 3, 4, 5]
    assert gate.sizes == [1, 5]
    assert (committer.batches, committer.items) == (2, 6)
    assert _count(db, "b") == 5


def test_an_outcome_is_delivered_only_after_the_commit(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    seen_before_commit: list[int] = []

    def handler(session: Session, keys: Sequence[str]) -> list[int]:
        counts = count_keys(session, keys)
        seen_before_commit.append(_other_session_count(db, session))
        return counts

    assert committer.call(handler, "k") == 1
    assert _count(db, "k") == 1  # durable when the waiter wakes
    assert seen_before_commit in ([0], [-1])  # not visible to others before the commit


def _other_session_count(db: sessionmaker[Session], session: Session) -> int:
    if session.get_bind().dialect.name == "sqlite":
        return -1  # one writer: a reader in this thread would see the same snapshot rules
    return _count(db, "k")


def test_an_exception_outcome_is_raised_after_its_writes_commit(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    def refuse_odd(session: Session, keys: Sequence[str]) -> list[int | BaseException]:
        counts = count_keys(session, keys)
        return [RateLimited("slow down") if c % 2 else c for c in counts]

    with pytest.raises(RateLimited):
        committer.call(refuse_odd, "r")
    assert committer.call(refuse_odd, "r") == 2
    assert _count(db, "r") == 2  # the refused event was counted all the same


def test_a_poisonous_item_fails_alone(db: sessionmaker[Session], committer: BatchCommitter) -> None:
    gate = Gate()
    blocker = committer.submit(gate, "g")
    assert gate.entered.wait(10)

    def poison(session: Session, keys: Sequence[str]) -> list[int]:
        counts = count_keys(session, keys)
        if "bad" in keys:
            raise ValueError("a bug in one item")
        return counts

    good = [committer.submit(poison, "p") for _ in range(3)]
    bad = committer.submit(poison, "bad")
    gate.release.set()
    assert blocker.result(10) == 1
    assert sorted(f.result(10) for f in good) == [1, 2, 3]
    with pytest.raises(BatchFailed) as failed:
        bad.result(10)
    assert failed.value.code == "db.batch_failed"
    assert failed.value.http_status == 503
    assert isinstance(failed.value.__cause__, ValueError)
    assert _count(db, "p") == 3
    assert _count(db, "bad") == 0  # rolled back


def test_a_failed_commit_fails_every_waiter_and_keeps_nothing(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    gate = Gate()
    blocker = committer.submit(gate, "g")
    assert gate.entered.wait(10)
    waiting = [committer.submit(count_keys, "c") for _ in range(4)]
    armed = threading.Event()

    def fail_commit(_session: Session) -> None:
        if armed.is_set():
            raise RuntimeError("disk full")

    event.listen(db, "before_commit", fail_commit)
    try:
        armed.set()
        gate.release.set()
        for future in [blocker, *waiting]:
            with pytest.raises(BatchFailed) as failed:
                future.result(10)
            assert isinstance(failed.value.__cause__, RuntimeError)
    finally:
        event.remove(db, "before_commit", fail_commit)
    assert _count(db, "c") == 0
    assert _count(db, "g") == 0
    assert committer.call(count_keys, "c") == 1  # the committer carries on


def test_a_database_error_fails_the_whole_batch(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    def broken(session: Session, keys: Sequence[str]) -> list[int]:
        session.execute(text("SELECT * FROM no_such_table"))
        return [0] * len(keys)

    with pytest.raises(BatchFailed):
        committer.call(broken, "x")


def test_event_loop_waiters_of_one_iteration_share_a_batch(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    async def main() -> list[int]:
        return list(await asyncio.gather(*(committer.run(count_keys, "e") for _ in range(20))))

    counts = run_async(main())
    assert sorted(counts) == list(range(1, 21))
    assert committer.batches == 1
    assert _count(db, "e") == 20


def test_a_waiter_cancelled_before_its_batch_is_dropped(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    gate = Gate()
    blocker = committer.submit(gate, "g")
    assert gate.entered.wait(10)
    dropped = committer.submit(count_keys, "gone")
    kept = committer.submit(count_keys, "kept")
    assert dropped.cancel()
    gate.release.set()
    assert blocker.result(10) == 1
    assert kept.result(10) == 1
    assert _count(db, "gone") == 0


def test_the_thread_stops_when_idle_and_restarts(committer: BatchCommitter) -> None:
    assert committer.call(count_keys, "i") == 1
    deadline = threading.Event()
    for _ in range(50):
        if committer._thread is None:
            break
        deadline.wait(0.1)
    assert committer._thread is None
    assert committer.call(count_keys, "i") == 2


def test_close_finishes_queued_work_then_refuses(committer: BatchCommitter) -> None:
    gate = Gate()
    first = committer.submit(gate, "z")
    assert gate.entered.wait(10)
    queued = committer.submit(gate, "z")
    closer = threading.Thread(target=committer.close)
    closer.start()
    gate.release.set()
    closer.join(10)
    assert (first.result(1), queued.result(1)) == (1, 2)
    with pytest.raises(BatchFailed):
        committer.submit(count_keys, "z")


def test_waiting_in_a_thread_with_an_open_sqlite_transaction_is_refused(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    """SQLite has one writer: the batch could never begin, so waiting would hang. PostgreSQL
    locks rows: the batch commits while this transaction stays open."""
    with db() as session, session.begin():
        hit(session=session, key="held", window=WINDOW, limit=10, now=T0)
        if session.get_bind().dialect.name == "sqlite":
            with pytest.raises(RuntimeError, match="write lock"):
                committer.call(count_keys, "other")
        else:
            assert committer.call(count_keys, "other") == 1


def test_event_loop_waiters_never_hang_when_the_hand_over_fails(
    committer: BatchCommitter, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_thread(*_works: object) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(committer, "_put", no_thread)

    async def main() -> list[BaseException | int]:
        runs = (committer.run(count_keys, "h") for _ in range(3))
        return list(await asyncio.wait_for(asyncio.gather(*runs, return_exceptions=True), 10))

    outcomes = run_async(main())
    assert all(isinstance(o, BatchFailed) for o in outcomes)
    assert all(isinstance(o.__cause__, RuntimeError) for o in outcomes)  # type: ignore[union-attr]
