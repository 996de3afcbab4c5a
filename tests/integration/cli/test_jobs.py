"""``trustctl jobs list|run`` with the jobs the capabilities declare."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.integration.cli.conftest import invoke
from trust.cli.context import CliContext
from trust.clock import FixedClock
from trust.jobs.registry import load_jobs


def test_list_shows_every_declared_job(ctx: CliContext) -> None:
    listed = {row["name"]: row for row in json.loads(invoke(ctx, "jobs", "list", "--json"))}
    declared = {job.name: job for job in load_jobs()}
    assert set(listed) == set(declared)
    assert {"identity.deliver-logouts", "identity.cleanup", "identity.prune-signing-keys"} <= set(
        listed
    )
    for name, job in declared.items():
        assert listed[name]["every_seconds"] == int(job.every.total_seconds())
        assert listed[name]["last_outcome"] == "never"


def test_run_due_runs_each_job_once_per_interval(ctx: CliContext, clock: FixedClock) -> None:
    first = json.loads(invoke(ctx, "jobs", "run", "--due", "--json"))
    assert {run["name"] for run in first} == {job.name for job in load_jobs()}
    assert all(run["outcome"] == "ok" for run in first), first
    assert json.loads(invoke(ctx, "jobs", "run", "--due", "--json")) == []
    clock.advance(timedelta(seconds=5))
    again = json.loads(invoke(ctx, "jobs", "run", "--due", "--json"))
    assert [run["name"] for run in again] == ["identity.deliver-logouts"]
    listed = {row["name"]: row for row in json.loads(invoke(ctx, "jobs", "list", "--json"))}
    assert listed["identity.deliver-logouts"]["runs"] == 2
    assert listed["identity.cleanup"]["runs"] == 1


def test_run_one_job_now_and_refuse_unknown_names(ctx: CliContext) -> None:
    out = invoke(ctx, "jobs", "run", "identity.cleanup")
    assert out.startswith("identity.cleanup: ok codes=0")
    invoke(ctx, "jobs", "run", "identity.typo", exit_code=1)
    invoke(ctx, "jobs", "run", exit_code=1)  # neither a name nor --due
