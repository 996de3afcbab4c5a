"""``trust.db_batch`` fast paths: on PostgreSQL a handler's fast path serves what it can with
statements that commit on their own, before the batch's transaction, and leaves the rest to the
handler; what it raises fails its items without handing them on; its statements commit durably
after a relaxed batch. On SQLite the handler does all."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from tests.batch_support import one_batch
from tests.conftest import skip_or_fail
from tests.integration.db.test_db_batch import count_keys
from tests.integration.db.test_db_batch_durability import commit_mode
from trust.db_batch import BatchCommitter, BatchFailed
from trust.db_pipeline import AutocommitStatements

_ADD = (
    'INSERT INTO rate_limit_counter ("key", window_start, expires_at, count) '
    "VALUES (%(key)s, 0, 60, 1) RETURNING count"
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


class Recorder:
    """A handler and its fast path: keys starting with "f" are served fast (inserted, answered
    "fast"), the others counted by the handler, which also records what it was given and
    whether the fast rows were already committed when it ran."""

    def __init__(self, db: sessionmaker[Session]) -> None:
        self.db = db
        self.fast_calls: list[list[str]] = []
        self.handled: list[str] = []
        self.fast_rows_committed: list[bool] = []

    def fast(self, statements: AutocommitStatements, keys: Sequence[str]) -> list[str | None]:
        self.fast_calls.append(list(keys))
        out: list[str | None] = []
        for key in keys:
            if key.startswith("f"):
                assert statements.rows(_ADD, {"key": key}) == [(1,)]
                out.append("fast")
            else:
                out.append(None)
        return out

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
    outcomes = one_batch(committer, [(rec.handler, k, rec.fast) for k in keys])
    if db.kw["bind"].dialect.name != "postgresql":  # no fast path: the handler does all
        assert rec.fast_calls == []
        assert outcomes == [1, 1, 1, 1]
        assert committer.fast_items == 0
        return
    assert outcomes == [1, "fast", 1, "fast"]
    assert rec.fast_calls == [keys]  # one call for the batch's items
    assert rec.handled == ["s-1", "s-2"]  # in their order, the fast ones not again
    assert rec.fast_rows_committed == [True, True]  # committed before the handlers' transaction
    assert (committer.fast_items, committer.items) == (2, 5)  # 5: the gate's item too


@pytest.mark.postgres
def test_fast_statements_commit_durably_after_a_relaxed_batch(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    _postgresql(db)
    with db() as session:
        default = str(session.execute(text("SHOW synchronous_commit")).scalar_one())

    def show(statements: AutocommitStatements, items: Sequence[str]) -> list[str]:
        ((mode,),) = statements.rows("SHOW synchronous_commit", {})
        return [str(mode)] * len(items)

    assert committer.call(commit_mode, "a", durable=False) == "off"
    assert committer.call(commit_mode, "b", fast=show) == default
    assert committer.call(commit_mode, "c", durable=False) == "off"  # and relaxed again after


@pytest.mark.postgres
def test_a_fast_path_that_raises_fails_its_items_and_never_hands_them_on(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    _postgresql(db)
    rec = Recorder(db)

    def broken(statements: AutocommitStatements, keys: Sequence[str]) -> list[str | None]:
        for key in keys:
            statements.rows(_ADD, {"key": key})
        raise RuntimeError("after its statements")

    outcomes = one_batch(committer, [(rec.handler, "x-1", broken), (rec.handler, "s-1", rec.fast)])
    assert isinstance(outcomes[0], BatchFailed)
    assert outcomes[1] == 1  # the other fast path's item, left to the handler, unharmed
    assert rec.handled == ["s-1"]  # x-1 was never handed on: its statement had committed
    assert _stored(db, "x-1")
    assert committer.call(rec.handler, "f-9", fast=rec.fast) == "fast"  # still working


@pytest.mark.postgres
def test_a_lost_connection_fails_the_fast_items_and_the_next_batch_reconnects(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    _postgresql(db)
    rec = Recorder(db)

    def killed(statements: AutocommitStatements, keys: Sequence[str]) -> list[str | None]:
        statements.rows("SELECT pg_terminate_backend(pg_backend_pid())", {})
        return ["unreachable"] * len(keys)

    with pytest.raises(BatchFailed):
        committer.call(rec.handler, "k-1", fast=killed)
    assert committer.call(rec.handler, "f-1", fast=rec.fast) == "fast"
    assert committer.call(rec.handler, "s-1", fast=rec.fast) == 1
