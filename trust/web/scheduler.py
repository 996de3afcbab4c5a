"""The scheduler inside a server process: every ``TICK`` it looks for due periodic jobs
(``trust.jobs``) and runs each in a worker thread, at most one run per job in this process;
the database claim makes it at most one run per job in the whole cluster."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Final

from fastapi.concurrency import run_in_threadpool

from trust.jobs.schedule import (
    JobContext,
    PeriodicJob,
    due_jobs,
    enabled_jobs,
    ensure_rows,
    new_holder,
    run_job,
)

__all__ = ["TICK", "run_scheduler"]

_log = logging.getLogger(__name__)

#: Seconds between looks at the schedule (one small read each).
TICK: Final = 2.0
#: On shutdown, how long to wait for runs in progress before leaving them to their lease.
_SHUTDOWN_GRACE: Final = 10.0


def _due(ctx: JobContext, jobs: Sequence[PeriodicJob]) -> list[PeriodicJob]:
    with ctx.session_factory() as session:
        return due_jobs(session, clock=ctx.clock, jobs=jobs)


def _prepare(ctx: JobContext, jobs: Sequence[PeriodicJob]) -> None:
    with ctx.session_factory() as session, session.begin():
        ensure_rows(session, clock=ctx.clock, jobs=jobs)


async def run_scheduler(
    ctx: JobContext, jobs: Sequence[PeriodicJob], *, tick: float = TICK
) -> None:
    """Run until cancelled. Failures of a look or a run are logged; the loop carries on."""
    enabled = enabled_jobs(ctx.settings, jobs)
    if not enabled:
        return
    holder = new_holder()
    running: dict[str, asyncio.Task[object]] = {}
    prepared = False
    try:
        while True:
            try:
                if not prepared:
                    await run_in_threadpool(_prepare, ctx, enabled)
                    prepared = True
                due = await run_in_threadpool(_due, ctx, enabled)
            except Exception:  # database briefly unavailable, or not migrated yet: next tick
                _log.warning("scheduler: cannot read the schedule; trying again", exc_info=True)
                due = []
            for job in due:
                task = running.get(job.name)
                if task is None or task.done():
                    running[job.name] = asyncio.create_task(
                        run_in_threadpool(run_job, ctx, job, holder=holder)
                    )
            await asyncio.sleep(tick)
    finally:
        pending = [task for task in running.values() if not task.done()]
        if pending:
            with contextlib.suppress(Exception):
                await asyncio.wait(pending, timeout=_SHUTDOWN_GRACE)
