"""Appends from many sessions and two independent engines (as two server processes would have)
serialise on the head row: one contiguous index sequence, one tree, no fork."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from tests.unit.tlog._support import SM2TestSigner, naive_mth
from trust.clock import FixedClock
from trust.db import make_engine, session_factory
from trust.tlog import LogEvent, append, append_many, service
from trust.tlog.model import TlogEntry
from trust.tlog.replay import verify_stored_log

THREADS = 6
ROUNDS = 15


@pytest.fixture
def second_engine(engine: Engine, database_url: str) -> Iterator[Engine]:
    """An engine of its own on the same database (and PostgreSQL schema): another process."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        other = make_engine(database_url, search_path=schema)
    else:
        other = make_engine(database_url)
    yield other
    other.dispose()


def _worker(
    factory: sessionmaker[Session],
    clock: FixedClock,
    worker: int,
    barrier: threading.Barrier,
    got: list[int],
    errors: list[BaseException],
) -> None:
    try:
        barrier.wait()
        for r in range(ROUNDS):
            with factory() as s, s.begin():
                if r % 3 == 2:
                    events = [
                        LogEvent("test.batch", f"w{worker}-{r}-{k}", "system") for k in range(4)
                    ]
                    got.extend(a.index for a in append_many(session=s, clock=clock, events=events))
                else:
                    event = LogEvent("test.single", f"w{worker}-{r}", "system", {"w": worker})
                    got.append(append(session=s, clock=clock, event=event).index)
    except BaseException as exc:  # reported by the test thread
        errors.append(exc)


def test_concurrent_appends_from_two_engines(
    db: sessionmaker[Session], second_engine: Engine, clock: FixedClock
) -> None:
    factories = [db, session_factory(second_engine)]
    barrier = threading.Barrier(THREADS)
    results: list[list[int]] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []
    threads = [
        threading.Thread(
            target=_worker, args=(factories[w % 2], clock, w, barrier, results[w], errors)
        )
        for w in range(THREADS)
    ]
    signer = SM2TestSigner()
    for t in threads:
        t.start()
    for _ in range(5):  # checkpoints signed while appends run
        with db() as s, s.begin():
            service.create_checkpoint(session=s, clock=clock, signer=signer, origin="o.example/l")
    for t in threads:
        t.join()
    assert not errors, errors
    per_thread = ROUNDS // 3 * 4 + (ROUNDS - ROUNDS // 3)
    total = THREADS * per_thread
    indexes = sorted(i for r in results for i in r)
    assert indexes == list(range(total))  # contiguous, no duplicate
    for r in results:  # batches got consecutive indexes
        assert r == sorted(r)
    with db() as s:
        data = list(s.scalars(select(TlogEntry.data).order_by(TlogEntry.idx)))
        assert service.log_head(session=s) == (total, naive_mth(data))
        replay = verify_stored_log(session=s)
    assert replay.ok, replay
    assert replay.checkpoints_checked == 5
