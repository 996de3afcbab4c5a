"""``trust.db_batch`` fast paths (``trust.db_loop``): on PostgreSQL a handler's fast path serves
what it can with one statement sent from the event loop, committed on its own before anything
reaches the committer, and leaves the rest to the handler; what fails fails its items without
handing them on; its statements commit durably whatever the committer's mode; its connection
is closed when idle and reopened after a loss. On SQLite the handler does all."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from tests.asyncio_support import run_async
from tests.batch_support import run_together
from tests.conftest import skip_or_fail
from tests.integration.db.test_db_batch import count_keys
from tests.integration.db.test_db_batch_durability import commit_mode
from trust.db_batch import BatchCommitter, BatchFailed
from trust.db_loop import FastStatement

#: Inserts the keys given (one row each) and returns them.
_ADD = (
    'INSERT INTO rate_limit_counter ("key", window_start, expires_at, count) '
    'SELECT k, 0, 60, 1 FROM unnest(%(keys)s::text[]) AS k RETURNING "key"'
)


@pytest.fixture
def committer(db: sessionmaker[Session]) -> Iterator[BatchCommitter]:
    batch = BatchCommitter(db, idle_seconds=0.5)
    yield batch
    batch.close()


def _postgresql(db: sessionmaker[Session]) -> None:
    if db.kw["bind"].dialect.name != "postgresql":
        skip_or_fail("fast paths run on PostgreSQL (set TRUST_TEST_DATABASE_URL)")


def _stored(db: sessionmaker[Session], key: str) -> bool:
    """Whether ``key``'s row is committed (read on another connection)."""
    with db() as session:
        found = session.execute(
            text('SELECT count(*) FROM rate_limit_counter WHERE "key" = :key'), {"key": key}
        )
        return bool(found.scalar_one())


def _one(fast: Any, item: Any, committer: BatchCommitter, handler: Any = count_keys) -> Any:
    (outcome,) = run_together(committer, [(handler, item, fast)])
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


class Recorder:
    """A handler and its fast path: keys starting with "f" are served fast (inserted, answered
    "fast"), the others counted by the handler, which also records what it was given and
    whether the fast rows were already committed when it ran."""

    def __init__(self, db: sessionmaker[Session]) -> None:
        self.db = db
        self.fast_calls: list[list[str]] = []
        self.handled: list[str] = []
        self.fast_rows_committed: list[bool] = []

    def fast(self, keys: Sequence[str]) -> FastStatement[str]:
        self.fast_calls.append(list(keys))

        def finish(rows: list[tuple[Any, ...]]) -> list[str | None]:
            inserted = {key for (key,) in rows}
            return ["fast" if key in inserted else None for key in keys]

        wanted = [key for key in keys if key.startswith("f")]
        return FastStatement(sql=_ADD, params={"keys": wanted}, finish=finish)

    def handler(self, session: Session, keys: Sequence[str]) -> list[Any]:
        self.handled.extend(keys)
        served = [k for c in self.fast_calls for k in c if k.startswith("f")]
        self.fast_rows_committed.extend(_stored(self.db, k) for k in served)
        return list(count_keys(session, keys))


def test_a_fast_path_serves_first_and_leaves_the_rest_to_its_handler(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    rec = Recorder(db)
    keys = ["s-1", "f-1", "s-2", "f-2"]
    outcomes = run_together(committer, [(rec.handler, k, rec.fast) for k in keys])
    if db.kw["bind"].dialect.name != "postgresql":  # no fast path: the handler does all
        assert rec.fast_calls == []
        assert outcomes == [1, 1, 1, 1]
        assert (committer.fast_items, committer.batches) == (0, 1)
        return
    assert outcomes == [1, "fast", 1, "fast"]
    assert rec.fast_calls == [keys]  # one call for the loop iteration's items
    assert committer.fast_statements == 1
    assert rec.handled == ["s-1", "s-2"]  # in their order, the fast ones not again
    assert rec.fast_rows_committed == [True, True]  # committed before the handlers' transaction
    assert (committer.fast_items, committer.items, committer.batches) == (2, 2, 1)


@pytest.mark.postgres
def test_requests_arriving_while_a_statement_is_in_flight_share_the_next_one(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    """Group commit on the loop: the first request's statement goes out alone at once; the
    requests that come while it is in flight go together in the next statement."""
    _postgresql(db)
    rec = Recorder(db)

    async def scenario() -> list[Any]:
        first = asyncio.ensure_future(committer.run(rec.handler, "f-a", fast=rec.fast))
        await asyncio.sleep(0)  # the first statement is sent
        await asyncio.sleep(0)
        rest = [committer.run(rec.handler, f"f-{i}", fast=rec.fast) for i in range(5)]
        return [await first, *await asyncio.gather(*rest)]

    assert run_async(scenario()) == ["fast"] * 6
    assert rec.fast_calls == [["f-a"], [f"f-{i}" for i in range(5)]]
    assert committer.fast_statements == 2


@pytest.mark.postgres
def test_fast_statements_commit_durably_whatever_the_committers_mode(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    _postgresql(db)
    with db() as session:
        default = str(session.execute(text("SHOW synchronous_commit")).scalar_one())

    def show(items: Sequence[str]) -> FastStatement[str]:
        return FastStatement(
            sql="SHOW synchronous_commit",
            params={},
            finish=lambda rows: [str(rows[0][0])] * len(items),
        )

    assert committer.call(commit_mode, "a", durable=False) == "off"
    assert _one(show, "b", committer, commit_mode) == default
    assert committer.call(commit_mode, "c", durable=False) == "off"  # and relaxed again after


@pytest.mark.postgres
def test_a_fast_path_that_fails_fails_its_items_and_never_hands_them_on(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    _postgresql(db)
    rec = Recorder(db)

    def broken(keys: Sequence[str]) -> FastStatement[str]:
        def finish(rows: list[tuple[Any, ...]]) -> list[str | None]:
            raise RuntimeError("after its statement")

        return FastStatement(sql=_ADD, params={"keys": list(keys)}, finish=finish)

    def unplannable(keys: Sequence[str]) -> FastStatement[str]:
        raise RuntimeError("before any statement")

    outcomes = run_together(
        committer,
        [
            (rec.handler, "x-1", broken),
            (rec.handler, "s-1", rec.fast),
            (rec.handler, "y-1", unplannable),
        ],
    )
    assert isinstance(outcomes[0], BatchFailed)
    assert outcomes[1] == 1  # the other fast path's item, left to the handler, unharmed
    assert isinstance(outcomes[2], BatchFailed)
    assert rec.handled == ["s-1"]  # x-1 was never handed on: its statement had committed
    assert _stored(db, "x-1")
    assert not _stored(db, "y-1")
    assert _one(rec.fast, "f-9", committer, rec.handler) == "fast"  # still working


@pytest.mark.postgres
def test_a_wrong_number_of_outcomes_fails_the_items(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    _postgresql(db)

    def short(keys: Sequence[str]) -> FastStatement[str]:
        return FastStatement(sql="SELECT 1", params={}, finish=lambda rows: ["one"])

    outcomes = run_together(committer, [(count_keys, "a", short), (count_keys, "b", short)])
    assert [type(o) for o in outcomes] == [BatchFailed, BatchFailed]


@pytest.mark.postgres
def test_a_lost_connection_fails_the_fast_items_and_the_next_batch_reconnects(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    _postgresql(db)
    rec = Recorder(db)

    def killed(keys: Sequence[str]) -> FastStatement[str]:
        return FastStatement(
            sql="SELECT pg_terminate_backend(pg_backend_pid())",
            params={},
            finish=lambda rows: ["unreachable"] * len(keys),
        )

    async def scenario() -> list[Any]:
        # One loop throughout: the loss is met on the connection the loop keeps.
        outcomes: list[Any] = []
        for fast, key in ((rec.fast, "f-0"), (killed, "k-1"), (rec.fast, "f-1"), (rec.fast, "s-1")):
            try:
                outcomes.append(await committer.run(rec.handler, key, fast=fast))
            except BatchFailed as exc:
                outcomes.append(exc)
        return outcomes

    first, lost, *after = run_async(scenario())
    assert first == "fast"
    assert isinstance(lost, BatchFailed)
    assert after == ["fast", 1]


def _alive(db: sessionmaker[Session], pid: int) -> bool:
    with db() as session:
        found = session.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        )
        return bool(found.scalar_one())


def _gone(db: sessionmaker[Session], pid: int) -> bool:
    """Whether backend ``pid`` has ended (its exit follows the client's close closely)."""
    deadline = time.monotonic() + 5
    while _alive(db, pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.postgres
def test_the_fast_paths_connection_is_closed_when_idle_and_on_close(
    db: sessionmaker[Session],
) -> None:
    _postgresql(db)

    async def idle_then_pid(committer: BatchCommitter) -> tuple[int, bool, int]:
        first = await committer.run(count_keys, "p", fast=_pid_path)
        await asyncio.sleep(0.3)  # idle_seconds 0.2: closed meanwhile
        closed = _gone(db, first)
        second = await committer.run(count_keys, "p", fast=_pid_path)  # reopened
        return first, closed, second

    committer = BatchCommitter(db, idle_seconds=0.2)
    try:
        first, closed_when_idle, second = run_async(idle_then_pid(committer))
        assert closed_when_idle
        assert second != first
    finally:
        committer.close()
    assert _gone(db, second)  # closed with the committer
    with pytest.raises(BatchFailed):  # and no fast path after close
        _one(_pid_path, "p", committer)


def _pid_path(keys: Sequence[str]) -> FastStatement[int]:
    return FastStatement(
        sql="SELECT pg_backend_pid()", params={}, finish=lambda rows: [rows[0][0]] * len(keys)
    )


@pytest.mark.postgres
def test_event_loops_running_at_once_keep_their_own_connections(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    _postgresql(db)
    both_started = threading.Barrier(2)

    async def backends() -> tuple[int, int]:
        first = await committer.run(count_keys, "p", fast=_pid_path)
        await asyncio.to_thread(both_started.wait, 10)  # the other loop has its own meanwhile
        second = await committer.run(count_keys, "p", fast=_pid_path)
        return first, second

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(asyncio.run, backends()) for _ in range(2)]
        (a1, a2), (b1, b2) = (run.result(30) for run in runs)
    assert (a1, b1) == (a2, b2)  # each loop's connection kept
    assert a1 != b1  # and one per loop
