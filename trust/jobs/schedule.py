"""Declaring periodic jobs, claiming them in the database and running them.

A job is claimed with one conditional ``UPDATE`` (due, and not leased by a live run), so of
several processes that look at the same moment exactly one runs it. The run itself opens its
own transactions through ``JobContext.session_factory``; the claim and the outcome are short
transactions of their own, so a long sweep never holds a lock on ``scheduled_job``. A process
that dies mid-run leaves its lease to expire (``PeriodicJob.lease``), then another takes over.
A failed run is retried after ``RETRY_AFTER`` (or its interval, if shorter).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from keys.interfaces import KeyStore
from trust.clock import Clock
from trust.config import Settings
from trust.errors import Misconfigured, TrustError
from trust.jobs.model import ScheduledJob

__all__ = [
    "RETRY_AFTER",
    "JobContext",
    "JobRun",
    "JobState",
    "PeriodicJob",
    "check_intervals",
    "due_jobs",
    "enabled_jobs",
    "ensure_rows",
    "interval_of",
    "job_states",
    "new_holder",
    "run_due",
    "run_job",
]

_log = logging.getLogger(__name__)

#: A failed run is tried again this long afterwards (or after its interval, if shorter).
RETRY_AFTER: Final = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a job receives: the collaborators a composition root built (never module state)."""

    settings: Settings
    session_factory: sessionmaker[Session]
    clock: Clock
    keystore: KeyStore


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    #: ``<capability>.<job>``; also the key of ``Settings.job_intervals``.
    name: str
    #: Default interval; ``Settings.job_intervals[name]`` overrides it (0 disables the job).
    every: timedelta
    #: Does the work in its own transactions and returns a one-line summary for the record.
    run: Callable[[JobContext], str]
    description: str
    #: How long a run may hold the job before another process may take it over.
    lease: timedelta = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class JobRun:
    name: str
    outcome: Literal["ok", "failed"]
    detail: str
    started_at: datetime
    finished_at: datetime


@dataclass(frozen=True, slots=True)
class JobState:
    name: str
    description: str
    every_seconds: int | None  # None: disabled by configuration
    next_run_at: datetime | None
    running: bool
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_outcome: str
    last_detail: str
    runs: int
    failures: int


def new_holder() -> str:
    """A lease holder name unique to this process and start: ``host:pid:random``."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


def check_intervals(settings: Settings, jobs: Sequence[PeriodicJob]) -> None:
    """Refuse ``job_intervals`` entries that name no job: a typo must not silently keep the
    default schedule."""
    unknown = sorted(set(settings.job_intervals) - {job.name for job in jobs})
    if unknown:
        known = ", ".join(sorted(job.name for job in jobs))
        raise Misconfigured(
            f"job_intervals names unknown jobs {unknown}; known jobs: {known}",
            code="jobs.unknown_job",
        )


def interval_of(job: PeriodicJob, settings: Settings) -> timedelta | None:
    seconds = settings.job_intervals.get(job.name)
    if seconds is None:
        return job.every
    return timedelta(seconds=seconds) if seconds > 0 else None


def enabled_jobs(settings: Settings, jobs: Iterable[PeriodicJob]) -> list[PeriodicJob]:
    return [job for job in jobs if interval_of(job, settings) is not None]


def ensure_rows(session: Session, *, clock: Clock, jobs: Iterable[PeriodicJob]) -> None:
    """Create the row of every job that has none yet (first run: now). Concurrent callers in
    other processes are harmless (``ON CONFLICT DO NOTHING``)."""
    rows = [{"name": job.name, "next_run_at": clock.now()} for job in jobs]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(ScheduledJob).values(
        [
            {**row, "last_outcome": "never", "last_detail": "", "runs": 0, "failures": 0}
            for row in rows
        ]
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))


def due_jobs(session: Session, *, clock: Clock, jobs: Sequence[PeriodicJob]) -> list[PeriodicJob]:
    """The jobs whose time has come and that no live run holds (a read; claiming decides)."""
    now = clock.now()
    names = session.scalars(
        select(ScheduledJob.name).where(
            ScheduledJob.name.in_([job.name for job in jobs]),
            ScheduledJob.next_run_at <= now,
            or_(ScheduledJob.lease_until.is_(None), ScheduledJob.lease_until < now),
        )
    ).all()
    due = set(names)
    return [job for job in jobs if job.name in due]


def _claim(session: Session, *, clock: Clock, job: PeriodicJob, holder: str, force: bool) -> bool:
    now = clock.now()
    conditions = [
        ScheduledJob.name == job.name,
        or_(ScheduledJob.lease_until.is_(None), ScheduledJob.lease_until < now),
    ]
    if not force:
        conditions.append(ScheduledJob.next_run_at <= now)
    result = session.execute(
        update(ScheduledJob)
        .where(*conditions)
        .values(
            lease_holder=holder,
            lease_until=now + job.lease,
            last_started_at=now,
            last_outcome="running",
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def _finish(
    session: Session,
    *,
    clock: Clock,
    job: PeriodicJob,
    holder: str,
    interval: timedelta,
    outcome: Literal["ok", "failed"],
    detail: str,
) -> None:
    now = clock.now()
    wait = interval if outcome == "ok" else min(interval, RETRY_AFTER)
    session.execute(
        update(ScheduledJob)
        .where(ScheduledJob.name == job.name, ScheduledJob.lease_holder == holder)
        .values(
            lease_holder=None,
            lease_until=None,
            last_finished_at=now,
            last_outcome=outcome,
            last_detail=detail[:500],
            next_run_at=now + wait,
            runs=ScheduledJob.runs + 1,
            failures=ScheduledJob.failures + (1 if outcome == "failed" else 0),
        )
        .execution_options(synchronize_session=False)
    )


def run_job(
    ctx: JobContext, job: PeriodicJob, *, holder: str, force: bool = False
) -> JobRun | None:
    """Claim ``job`` and run it; ``None`` if another run holds it or (unless ``force``) it is
    not due. The outcome is recorded whatever happens; the error detail is the stable code and
    title of a ``TrustError`` or the exception's class name (never its message, which may hold
    data)."""
    interval = interval_of(job, ctx.settings) or job.every
    with ctx.session_factory() as session, session.begin():
        ensure_rows(session, clock=ctx.clock, jobs=[job])
    with ctx.session_factory() as session, session.begin():
        if not _claim(session, clock=ctx.clock, job=job, holder=holder, force=force):
            return None
    started = ctx.clock.now()
    outcome: Literal["ok", "failed"]
    try:
        detail = job.run(ctx)
        outcome = "ok"
    except TrustError as exc:
        _log.warning("job %s failed: %s (%s)", job.name, exc.title, exc.code)
        detail, outcome = f"{exc.code}: {exc.title}", "failed"
    except Exception as exc:  # a job bug must not stop the scheduler; it is logged and retried
        _log.exception("job %s failed", job.name)
        detail, outcome = f"unexpected error: {type(exc).__name__}", "failed"
    with ctx.session_factory() as session, session.begin():
        _finish(
            session,
            clock=ctx.clock,
            job=job,
            holder=holder,
            interval=interval,
            outcome=outcome,
            detail=detail,
        )
    return JobRun(job.name, outcome, detail, started, ctx.clock.now())


def run_due(ctx: JobContext, jobs: Sequence[PeriodicJob], *, holder: str) -> list[JobRun]:
    """Run, one after another, every enabled job that is due now."""
    enabled = enabled_jobs(ctx.settings, jobs)
    with ctx.session_factory() as session, session.begin():
        ensure_rows(session, clock=ctx.clock, jobs=enabled)
    with ctx.session_factory() as session:
        due = due_jobs(session, clock=ctx.clock, jobs=enabled)
    runs = [run_job(ctx, job, holder=holder) for job in due]
    return [run for run in runs if run is not None]


def job_states(
    session: Session, *, settings: Settings, clock: Clock, jobs: Sequence[PeriodicJob]
) -> list[JobState]:
    rows: Mapping[str, ScheduledJob] = {
        row.name: row for row in session.scalars(select(ScheduledJob))
    }
    now = clock.now()
    states: list[JobState] = []
    for job in jobs:
        row = rows.get(job.name)
        interval = interval_of(job, settings)
        lease_until = row.lease_until if row is not None else None
        states.append(
            JobState(
                name=job.name,
                description=job.description,
                every_seconds=int(interval.total_seconds()) if interval is not None else None,
                next_run_at=row.next_run_at if row is not None else None,
                running=lease_until is not None and lease_until > now,
                last_started_at=row.last_started_at if row is not None else None,
                last_finished_at=row.last_finished_at if row is not None else None,
                last_outcome=row.last_outcome if row is not None else "never",
                last_detail=row.last_detail if row is not None else "",
                runs=row.runs if row is not None else 0,
                failures=row.failures if row is not None else 0,
            )
        )
    return states
