"""``trust.db`` on SQLite: the threads of one engine queue on an in-process FIFO writer lock
before ``BEGIN IMMEDIATE``, so they never meet SQLite's sleeping busy handler; the lock is
released however the transaction ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import OperationalError

from trust import db as trust_db
from trust.db import holds_sqlite_writer_lock, make_engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    yield eng
    eng.dispose()


def _no_busy_wait(engine: Engine) -> None:
    """SQLite's busy handler off: any lock conflict inside this process would now fail."""

    @event.listens_for(engine, "connect")
    def _zero(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")  # type: ignore[attr-defined]

    engine.dispose()  # new connections get the pragma


def test_threads_of_one_engine_never_meet_the_busy_handler(engine: Engine) -> None:
    _no_busy_wait(engine)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(25):
                with engine.begin() as conn:
                    conn.execute(text("INSERT INTO t (n) VALUES (1)"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 200


def test_the_lock_is_held_for_the_transaction_only(engine: Engine) -> None:
    assert not holds_sqlite_writer_lock(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t (n) VALUES (1)"))
        assert holds_sqlite_writer_lock(engine)
    assert not holds_sqlite_writer_lock(engine)

    def failing_transaction() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t (n) VALUES (2)"))
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        failing_transaction()
    assert not holds_sqlite_writer_lock(engine)
    conn = engine.connect()
    conn.execute(text("INSERT INTO t (n) VALUES (3)"))
    assert holds_sqlite_writer_lock(engine)
    conn.invalidate()  # the connection is thrown away mid-transaction
    assert not holds_sqlite_writer_lock(engine)
    with engine.begin() as again:  # and the lock is free for the next one
        assert again.execute(text("SELECT count(*) FROM t")).scalar_one() == 1


def test_another_thread_waits_for_the_commit(engine: Engine) -> None:
    order: list[str] = []
    started = threading.Event()

    def second() -> None:
        started.set()
        with engine.begin() as conn:
            order.append("second")
            conn.execute(text("INSERT INTO t (n) VALUES (2)"))

    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t (n) VALUES (1)"))
        thread = threading.Thread(target=second)
        thread.start()
        assert started.wait(5)
        time.sleep(0.2)
        order.append("first commits")
    thread.join(5)
    assert order == ["first commits", "second"]


def test_waiters_are_served_in_arrival_order() -> None:
    lock = trust_db._FairLock()
    assert lock.acquire(1)
    served: list[int] = []
    threads = []
    for n in range(5):

        def waiter(n: int = n) -> None:
            assert lock.acquire(5)
            served.append(n)
            lock.release()

        thread = threading.Thread(target=waiter)
        thread.start()
        threads.append(thread)
        while len(lock._waiters) < n + 1:  # queued before the next one starts
            time.sleep(0.001)
    lock.release()
    for thread in threads:
        thread.join(5)
    assert served == [0, 1, 2, 3, 4]


def test_a_waiter_that_times_out_leaves_the_queue() -> None:
    lock = trust_db._FairLock()
    assert lock.acquire(1)
    assert not lock.acquire(0.05)
    assert not lock._waiters
    lock.release()
    assert lock.acquire(0.05)


def test_a_timed_out_waiter_falls_back_to_sqlite_locking(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the busy timeout, BEGIN IMMEDIATE runs anyway and SQLite says 'locked'."""
    monkeypatch.setattr(trust_db, "SQLITE_BUSY_SECONDS", 0.05)
    _no_busy_wait(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t (n) VALUES (1)"))
        errors: list[BaseException] = []

        def other() -> None:
            try:
                with engine.begin() as other_conn:
                    other_conn.execute(text("INSERT INTO t (n) VALUES (2)"))
            except BaseException as exc:  # reported below
                errors.append(exc)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(5)
    assert len(errors) == 1
    assert isinstance(errors[0], OperationalError)
    assert "locked" in str(errors[0])
