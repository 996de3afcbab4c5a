"""``trust.db_batch``: a batch of only ``durable=False`` items commits without waiting for the
WAL flush on PostgreSQL; any durable item makes its batch durable; the mode follows the batches
through failures. The mode is read inside each batch's own transaction (``SHOW``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from tests.integration.db.test_db_batch import _count, count_keys
from trust.db_batch import BatchCommitter, BatchFailed

#: What a batch on SQLite answers (nothing to show there).
NOT_POSTGRES = "not postgresql"


def commit_mode(session: Session, items: Sequence[str]) -> list[str]:
    """A handler: each item's answer is the batch's ``synchronous_commit``; an item "fail"
    fails the batch after that setting was made."""
    if "fail" in items:
        raise RuntimeError("this batch fails")
    if session.get_bind().dialect.name != "postgresql":
        return [NOT_POSTGRES] * len(items)
    mode = str(session.execute(text("SHOW synchronous_commit")).scalar_one())
    return [mode] * len(items)


@pytest.fixture
def committer(db: sessionmaker[Session]) -> Iterator[BatchCommitter]:
    batch = BatchCommitter(db, idle_seconds=0.5)
    yield batch
    batch.close()


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def _server_default(db: sessionmaker[Session]) -> str:
    with db() as session:
        if session.get_bind().dialect.name != "postgresql":
            return NOT_POSTGRES
        return str(session.execute(text("SHOW synchronous_commit")).scalar_one())


def _relaxed_mode(db: sessionmaker[Session]) -> str:
    return "off" if _server_default(db) != NOT_POSTGRES else NOT_POSTGRES


def test_relaxed_batches_commit_without_the_flush_and_durable_ones_with_it(
    db: sessionmaker[Session], committer: BatchCommitter, statements: list[str]
) -> None:
    default, relaxed = _server_default(db), _relaxed_mode(db)
    assert committer.call(commit_mode, "a") == default
    assert committer.call(commit_mode, "b", durable=False) == relaxed
    assert committer.call(commit_mode, "c", durable=False) == relaxed
    assert committer.call(commit_mode, "d") == default  # back to the server's setting
    sets = [s for s in statements if s.startswith("SET synchronous_commit")]
    if default == NOT_POSTGRES:
        assert sets == []
    else:  # one SET per change of mode, none per batch
        assert sets == ["SET synchronous_commit TO off", "SET synchronous_commit TO DEFAULT"]


def test_one_durable_item_makes_its_batch_durable(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    entered, release = threading.Event(), threading.Event()

    def hold(session: Session, items: Sequence[str]) -> list[str]:
        entered.set()
        assert release.wait(10)
        return commit_mode(session, items)

    first = committer.submit(hold, "hold", durable=False)
    assert entered.wait(10)
    relaxed = committer.submit(commit_mode, "r", durable=False)
    durable = committer.submit(commit_mode, "d")
    release.set()
    assert first.result(10) == _relaxed_mode(db)
    assert relaxed.result(10) == durable.result(10) == _server_default(db)
    assert committer.batches == 2


def test_a_failed_batch_leaves_the_mode_as_the_last_commit_made_it(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    """The ``SET`` of a rolled-back batch is rolled back with it: the next batches still get
    the mode they asked for."""
    default, relaxed = _server_default(db), _relaxed_mode(db)
    with pytest.raises(BatchFailed):
        committer.call(commit_mode, "fail", durable=False)
    assert committer.call(commit_mode, "a") == default
    assert committer.call(commit_mode, "b", durable=False) == relaxed
    with pytest.raises(BatchFailed):
        committer.call(commit_mode, "fail")
    assert committer.call(commit_mode, "c", durable=False) == relaxed
    assert committer.call(commit_mode, "d") == default


def test_a_relaxed_batch_is_committed_when_its_waiter_wakes(
    db: sessionmaker[Session], committer: BatchCommitter
) -> None:
    """Seen at once from another connection (the batch's transaction is ended, not left open
    on the committer's connection)."""
    assert committer.call(count_keys, "relaxed-key", durable=False) == 1
    assert _count(db, "relaxed-key") == 1
    assert committer.call(count_keys, "relaxed-key", durable=False) == 2
    assert _count(db, "relaxed-key") == 2


def test_a_relaxed_connection_never_goes_back_to_the_pool(db: sessionmaker[Session]) -> None:
    """The committer's connection, relaxed by its last batch, is closed - not pooled - when
    the committer stops: a later business transaction on a pooled connection commits
    durably."""
    default = _server_default(db)
    committer = BatchCommitter(db, idle_seconds=0.5)
    assert committer.call(commit_mode, "r", durable=False) == _relaxed_mode(db)
    committer.close()
    sessions = [db() for _ in range(4)]  # more than the pool held: every pooled connection
    try:
        modes = {_mode_of(session) for session in sessions}
    finally:
        for session in sessions:
            session.close()
    assert modes == {default}


def _mode_of(session: Session) -> str:
    if session.get_bind().dialect.name != "postgresql":
        return NOT_POSTGRES
    return str(session.execute(text("SHOW synchronous_commit")).scalar_one())
