"""``trustctl jobs list|run``: the periodic maintenance jobs (``trust.jobs``).

``run --due`` runs what is due now and is meant for a timer (cron, systemd) where the servers do
not run the scheduler (``TRUST_SCHEDULER=false``); ``run NAME`` runs one job at once, whatever its
schedule (a run in progress elsewhere is not doubled: the claim refuses it). The exit status is 1
when a run failed.
"""

from __future__ import annotations

from typing import Any

import click

from trust.cli.context import CliContext, echo_json, fail, handle_errors, pass_ctx
from trust.jobs.registry import load_jobs
from trust.jobs.schedule import (
    JobContext,
    JobRun,
    PeriodicJob,
    check_intervals,
    job_states,
    new_holder,
    run_due,
    run_job,
)

__all__ = ["register"]


def _context(ctx: CliContext) -> tuple[JobContext, tuple[PeriodicJob, ...]]:
    jobs = load_jobs()
    check_intervals(ctx.settings, jobs)
    job_ctx = JobContext(
        settings=ctx.settings, session_factory=ctx.sessions, clock=ctx.clock, keystore=ctx.keystore
    )
    return job_ctx, jobs


def _run_json(run: JobRun) -> dict[str, Any]:
    return {
        "name": run.name,
        "outcome": run.outcome,
        "detail": run.detail,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
    }


@click.group("jobs")
def jobs_group() -> None:
    """Periodic maintenance: cleanup, delivery, expiry, fixity sweeps."""


@jobs_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def list_cmd(ctx: CliContext, as_json: bool) -> None:
    """Every job with its interval, next run and last outcome."""
    jobs = load_jobs()
    check_intervals(ctx.settings, jobs)
    with ctx.sessions() as session:
        states = job_states(session, settings=ctx.settings, clock=ctx.clock, jobs=jobs)
    if as_json:
        echo_json(
            [
                {
                    "name": s.name,
                    "description": s.description,
                    "every_seconds": s.every_seconds,
                    "next_run_at": s.next_run_at.isoformat() if s.next_run_at else None,
                    "running": s.running,
                    "last_outcome": s.last_outcome,
                    "last_detail": s.last_detail,
                    "last_finished_at": (
                        s.last_finished_at.isoformat() if s.last_finished_at else None
                    ),
                    "runs": s.runs,
                    "failures": s.failures,
                }
                for s in states
            ]
        )
        return
    for s in states:
        every = f"every {s.every_seconds}s" if s.every_seconds is not None else "disabled"
        last = s.last_outcome + (f" ({s.last_detail})" if s.last_detail else "")
        click.echo(f"{s.name:<32} {every:<16} last: {last}")


@jobs_group.command("run")
@click.argument("name", required=False)
@click.option("--due", is_flag=True, help="run every enabled job that is due now")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def run_cmd(ctx: CliContext, name: str | None, due: bool, as_json: bool) -> None:
    """Run job NAME now, or with --due every job whose time has come."""
    if (name is None) == (not due):
        fail("give a job NAME or --due (not both)")
    job_ctx, jobs = _context(ctx)
    holder = new_holder()
    if due:
        runs = run_due(job_ctx, jobs, holder=holder)
    else:
        by_name = {job.name: job for job in jobs}
        if name not in by_name:
            fail(f"no job named {name!r}; known: {', '.join(sorted(by_name))}")
        run = run_job(job_ctx, by_name[str(name)], holder=holder, force=True)
        if run is None:
            fail(f"job {name} is running elsewhere; try again when it has finished")
        runs = [run] if run is not None else []
    if as_json:
        echo_json([_run_json(run) for run in runs])
    else:
        for run in runs:
            click.echo(f"{run.name}: {run.outcome} {run.detail}".rstrip())
        if not runs:
            click.echo("nothing was due")
    if any(run.outcome == "failed" for run in runs):
        raise SystemExit(1)


def register(cli: click.Group) -> None:
    cli.add_command(jobs_group)
