"""Periodic jobs claimed through the database: one run per interval across processes, leases
that expire, failures recorded without their messages, the in-process scheduler loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from keys.software import SoftwareKeyStore
from trust.clock import FixedClock
from trust.config import Settings
from trust.db import make_engine, session_factory
from trust.errors import Conflict, Misconfigured
from trust.jobs.model import ScheduledJob
from trust.jobs.schedule import (
    RETRY_AFTER,
    JobContext,
    PeriodicJob,
    check_intervals,
    job_states,
    run_due,
    run_job,
)
from trust.web.scheduler import run_scheduler


class Counter:
    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, _ctx: JobContext) -> str:
        with self.lock:
            self.calls += 1
        return f"did {self.calls}"


@pytest.fixture
def ctx(settings: Settings, db: sessionmaker[Session], clock: FixedClock) -> JobContext:
    return JobContext(
        settings=settings,
        session_factory=db,
        clock=clock,
        keystore=SoftwareKeyStore.from_settings(settings),
    )


def _row(ctx: JobContext, name: str) -> ScheduledJob:
    with ctx.session_factory() as session:
        return session.scalars(select(ScheduledJob).where(ScheduledJob.name == name)).one()


def test_a_due_job_runs_once_per_interval(ctx: JobContext, clock: FixedClock) -> None:
    counter = Counter()
    job = PeriodicJob("test.count", timedelta(minutes=10), counter, "counts")
    first = run_due(ctx, [job], holder="a")
    assert [(r.name, r.outcome, r.detail) for r in first] == [("test.count", "ok", "did 1")]
    assert run_due(ctx, [job], holder="b") == []  # not due again yet, whoever asks
    clock.advance(timedelta(minutes=9, seconds=59))
    assert run_due(ctx, [job], holder="b") == []
    clock.advance(timedelta(seconds=1))
    assert [r.detail for r in run_due(ctx, [job], holder="b")] == ["did 2"]
    row = _row(ctx, "test.count")
    assert (row.runs, row.failures, row.last_outcome) == (2, 0, "ok")
    assert row.lease_holder is None
    assert row.lease_until is None
    assert row.next_run_at == clock.now() + timedelta(minutes=10)


def test_a_held_job_is_not_run_twice_until_its_lease_expires(
    ctx: JobContext, clock: FixedClock
) -> None:
    started = threading.Event()
    release = threading.Event()

    def slow(_ctx: JobContext) -> str:
        started.set()
        assert release.wait(10)
        return "slow done"

    job = PeriodicJob("test.slow", timedelta(seconds=1), slow, "slow", lease=timedelta(minutes=5))
    worker = threading.Thread(target=run_job, args=(ctx, job), kwargs={"holder": "a"})
    worker.start()
    assert started.wait(10)
    clock.advance(timedelta(minutes=1))
    assert run_job(ctx, job, holder="b") is None  # due, but leased by a live run
    assert run_job(ctx, job, holder="b", force=True) is None  # not even by force
    clock.advance(timedelta(minutes=5))  # the lease ran out: "a" is taken to be dead
    taken = PeriodicJob("test.slow", timedelta(seconds=1), lambda _c: "taken over", "slow")
    run = run_job(ctx, taken, holder="b")
    assert run is not None
    assert run.detail == "taken over"
    release.set()
    worker.join(10)
    row = _row(ctx, "test.slow")
    # The late finish of "a" no longer holds the lease and records nothing over "b"'s outcome.
    assert (row.last_detail, row.runs) == ("taken over", 1)


def test_failures_are_recorded_by_code_never_by_message_and_retried_sooner(
    ctx: JobContext, clock: FixedClock
) -> None:
    def refuses(_ctx: JobContext) -> str:
        raise Conflict("the thing is busy", code="test.busy")

    def crashes(_ctx: JobContext) -> str:
        raise RuntimeError("password=hunter2 leaked into a message")

    daily = timedelta(days=1)
    first = run_due(ctx, [PeriodicJob("test.refuses", daily, refuses, "r")], holder="a")
    second = run_due(ctx, [PeriodicJob("test.crashes", daily, crashes, "c")], holder="a")
    assert first[0].outcome == "failed"
    assert first[0].detail.startswith("test.busy:")
    assert second[0].outcome == "failed"
    assert second[0].detail == "unexpected error: RuntimeError"
    row = _row(ctx, "test.crashes")
    assert "hunter2" not in row.last_detail
    assert (row.failures, row.runs) == (1, 1)
    assert row.next_run_at == clock.now() + RETRY_AFTER


def test_intervals_from_settings_override_and_disable(ctx: JobContext) -> None:
    counter = Counter()
    jobs = [
        PeriodicJob("test.off", timedelta(seconds=1), counter, "off"),
        PeriodicJob("test.fast", timedelta(days=1), counter, "fast"),
    ]
    settings = ctx.settings.model_copy(update={"job_intervals": {"test.off": 0, "test.fast": 30}})
    tuned = JobContext(settings, ctx.session_factory, ctx.clock, ctx.keystore)
    assert [r.name for r in run_due(tuned, jobs, holder="a")] == ["test.fast"]
    with tuned.session_factory() as session:
        states = {
            s.name: s for s in job_states(session, settings=settings, clock=tuned.clock, jobs=jobs)
        }
    assert states["test.off"].every_seconds is None
    assert states["test.fast"].every_seconds == 30
    assert states["test.fast"].next_run_at == tuned.clock.now() + timedelta(seconds=30)
    with pytest.raises(Misconfigured) as refused:
        check_intervals(ctx.settings.model_copy(update={"job_intervals": {"test.typo": 5}}), jobs)
    assert refused.value.code == "jobs.unknown_job"


@pytest.fixture
def second_engine(engine: Engine, database_url: str) -> Iterator[Engine]:
    """An engine of its own on the same database: another server process."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        other = make_engine(database_url, search_path=schema)
    else:
        other = make_engine(database_url)
    yield other
    other.dispose()


def test_racing_processes_run_a_due_job_once(
    ctx: JobContext, second_engine: Engine, clock: FixedClock
) -> None:
    counter = Counter()
    job = PeriodicJob("test.race", timedelta(hours=1), counter, "race")
    contexts = [
        ctx,
        JobContext(ctx.settings, session_factory(second_engine), clock, ctx.keystore),
    ] * 4
    barrier = threading.Barrier(len(contexts))

    def contend(job_ctx: JobContext, holder: str) -> None:
        barrier.wait(10)
        run_due(job_ctx, [job], holder=holder)

    threads = [threading.Thread(target=contend, args=(c, f"p{i}")) for i, c in enumerate(contexts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert counter.calls == 1
    assert _row(ctx, "test.race").runs == 1


def test_the_server_scheduler_runs_due_jobs_until_cancelled(
    settings: Settings, db: sessionmaker[Session]
) -> None:
    from trust.clock import SystemClock

    counter = Counter()
    ctx = JobContext(settings, db, SystemClock(), SoftwareKeyStore.from_settings(settings))
    job = PeriodicJob("test.tick", timedelta(milliseconds=100), counter, "ticks")

    async def scenario() -> None:
        task = asyncio.create_task(run_scheduler(ctx, [job], tick=0.02))
        for _ in range(200):
            await asyncio.sleep(0.02)
            if counter.calls >= 3:
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    # A thread of its own: the suite's session-wide Playwright browser may run a loop in this one.
    runner = threading.Thread(target=asyncio.run, args=(scenario(),))
    runner.start()
    runner.join(30)
    assert counter.calls >= 3
    assert _row(ctx, "test.tick").last_outcome == "ok"


def test_the_scheduler_waits_for_a_schema_that_is_not_there_yet(
    settings: Settings, tmp_path: Path
) -> None:
    """A server started before ``trustctl db upgrade`` must not crash its scheduler: it tries
    again every tick and runs the jobs once the table exists."""
    from trust.clock import SystemClock
    from trust.jobs.model import ScheduledJob as Table

    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    counter = Counter()
    ctx = JobContext(
        settings, session_factory(engine), SystemClock(), SoftwareKeyStore.from_settings(settings)
    )
    job = PeriodicJob("test.late", timedelta(hours=1), counter, "late")

    async def scenario() -> None:
        task = asyncio.create_task(run_scheduler(ctx, [job], tick=0.02))
        await asyncio.sleep(0.2)
        assert not task.done()  # still trying, not crashed
        assert counter.calls == 0
        Table.__table__.create(engine)
        for _ in range(200):
            await asyncio.sleep(0.02)
            if counter.calls:
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(scenario())
        except BaseException as exc:  # surfaced below, in the test's own thread
            errors.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    runner.join(30)
    engine.dispose()
    assert errors == []
    assert counter.calls == 1
