"""``trust.web.ratelimit``: fixed windows in the database, atomic under concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from trust.clock import FixedClock
from trust.web.ratelimit import hit, hit_many, peek, purge_expired, sweep_expired

WINDOW = timedelta(seconds=60)
T0 = datetime(2026, 11, 22, 8, 0, 5, tzinfo=UTC)  # 5 s into a 60 s window


def test_hit_counts_up_to_the_limit(db: sessionmaker[Session]) -> None:
    with db() as session, session.begin():
        decisions = [
            hit(session=session, key="k", window=WINDOW, limit=3, now=T0) for _ in range(4)
        ]
    assert [d.count for d in decisions] == [1, 2, 3, 4]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[-1].retry_after == 55
    assert decisions[-1].reset_at == datetime(2026, 11, 22, 8, 1, 0, tzinfo=UTC)
    assert decisions[0].retry_after == 0


def test_peek_does_not_count(db: sessionmaker[Session]) -> None:
    with db() as session, session.begin():
        assert peek(session=session, key="k", window=WINDOW, limit=2, now=T0).count == 0
        hit(session=session, key="k", window=WINDOW, limit=2, now=T0)
        assert peek(session=session, key="k", window=WINDOW, limit=2, now=T0).allowed
        hit(session=session, key="k", window=WINDOW, limit=2, now=T0)
        seen = peek(session=session, key="k", window=WINDOW, limit=2, now=T0)
    assert seen.count == 2
    assert not seen.allowed  # one more event would pass the limit
    assert seen.retry_after == 55


def test_keys_and_windows_are_separate(db: sessionmaker[Session]) -> None:
    with db() as session, session.begin():
        hit(session=session, key="a", window=WINDOW, limit=1, now=T0)
        assert hit(session=session, key="b", window=WINDOW, limit=1, now=T0).count == 1
        later = T0 + timedelta(seconds=55)  # the next window
        assert hit(session=session, key="a", window=WINDOW, limit=1, now=later).count == 1


def test_purge_expired(db: sessionmaker[Session]) -> None:
    with db() as session, session.begin():
        hit(session=session, key="old", window=WINDOW, limit=1, now=T0)
        hit(session=session, key="new", window=WINDOW, limit=1, now=T0 + WINDOW)
        assert purge_expired(session=session, now=T0 + WINDOW) == 1
        assert peek(session=session, key="new", window=WINDOW, limit=1, now=T0 + WINDOW).count == 1


def test_window_must_be_positive(db: sessionmaker[Session]) -> None:
    with db() as session, pytest.raises(ValueError, match="window"):
        hit(session=session, key="k", window=timedelta(0), limit=1, now=T0)


def test_concurrent_hits_are_never_lost(db: sessionmaker[Session]) -> None:
    threads, per_thread = 4, 10
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(per_thread):
                with db() as session, session.begin():
                    hit(session=session, key="hot", window=WINDOW, limit=1000, now=T0)
        except BaseException as exc:  # reported below
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors
    with db() as session:
        assert peek(session=session, key="hot", window=WINDOW, limit=1000, now=T0).count == 40


def test_hit_many_counts_every_event_in_one_statement(db: sessionmaker[Session]) -> None:
    """Repeated keys are decided in order, exactly as successive ``hit`` calls would be."""
    with db() as session, session.begin():
        hit(session=session, key="a", window=WINDOW, limit=3, now=T0)
        decisions = hit_many(
            session=session,
            hits=[("a", 3), ("b", 1), ("a", 3), ("b", 1), ("a", 3)],
            window=WINDOW,
            now=T0,
        )
        assert [(d.count, d.allowed) for d in decisions] == [
            (2, True),
            (1, True),
            (3, True),
            (2, False),
            (4, False),
        ]
        assert decisions[3].retry_after == 55
        assert peek(session=session, key="a", window=WINDOW, limit=3, now=T0).count == 4
        assert peek(session=session, key="b", window=WINDOW, limit=1, now=T0).count == 2
        assert hit_many(session=session, hits=[], window=WINDOW, now=T0) == []


def test_hit_many_is_one_statement(db: sessionmaker[Session]) -> None:
    statements: list[str] = []
    with db() as session, session.begin():
        engine = session.get_bind()

        def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", seen)
        try:
            hit_many(
                session=session,
                hits=[(f"k{i % 7}", 10) for i in range(40)],
                window=WINDOW,
                now=T0,
            )
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    counted = [s for s in statements if "rate_limit_counter" in s]
    assert len(counted) == 1
    assert counted[0].count("ON CONFLICT") == 1


def test_concurrent_hit_many_from_threads_are_never_lost(db: sessionmaker[Session]) -> None:
    """Overlapping keys from concurrent transactions (sorted, so no deadlock on PostgreSQL)."""
    threads, rounds = 4, 8
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for _ in range(rounds):
                keys = ["x", "y", "z"] if n % 2 else ["z", "y", "x"]
                with db() as session, session.begin():
                    hit_many(
                        session=session,
                        hits=[(k, 1000) for k in keys],
                        window=WINDOW,
                        now=T0,
                    )
        except BaseException as exc:  # reported below
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors
    with db() as session:
        for key in ("x", "y", "z"):
            count = peek(session=session, key=key, window=WINDOW, limit=1000, now=T0).count
            assert count == threads * rounds


def test_sweep_expired_keeps_a_margin(db: sessionmaker[Session]) -> None:
    with db() as session, session.begin():
        hit(session=session, key="old", window=WINDOW, limit=1, now=T0)
        hit(session=session, key="recent", window=WINDOW, limit=1, now=T0 + timedelta(hours=1))
    later = FixedClock(T0 + timedelta(hours=1, minutes=2))
    assert sweep_expired(session_factory=db, clock=later) == 1
    with db() as session:
        assert peek(session=session, key="old", window=WINDOW, limit=1, now=T0).count == 0
        now = T0 + timedelta(hours=1)
        assert peek(session=session, key="recent", window=WINDOW, limit=1, now=now).count == 1
