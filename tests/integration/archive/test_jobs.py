"""The archive's periodic jobs, run through ``trust.jobs`` as the scheduler runs them: each
completes, records a one-line summary, and does its sweep (a due package is checked and sent to
appraisal, an abandoned upload expires)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from archive.model import ArchivePackage
from archive.service_tools import uploads_root
from archive.service_uploads import create_upload
from tests.integration.archive.conftest import ArchiveWorld
from trust.jobs.registry import load_jobs
from trust.jobs.schedule import JobContext, run_job


def test_every_archive_job_runs_and_does_its_sweep(world: ArchiveWorld) -> None:
    done = world.ingest(world.case().path)
    with world.db() as s, s.begin():
        row = s.get(ArchivePackage, done.package.id)
        assert row is not None
        row.retention_end = date(2020, 12, 31)
        create_upload(
            session=s,
            clock=world.clock,
            root=uploads_root(world.settings),
            owner="u",
            filename="c.zip",
            size=None,
        )
    world.clock.advance(timedelta(days=2))
    ctx = JobContext(
        settings=world.settings,
        session_factory=world.db,
        clock=world.clock,
        keystore=world.keystore,
    )
    jobs = {job.name: job for job in load_jobs(("archive.jobs",))}
    assert sorted(jobs) == [
        "archive.appraisal",
        "archive.fixity",
        "archive.inventory",
        "archive.uploads",
    ]
    details = {}
    for name, job in jobs.items():
        run = run_job(ctx, job, holder="test", force=True)
        assert run is not None
        assert run.outcome == "ok", (name, run.detail)
        details[name] = run.detail
    assert details["archive.fixity"].startswith("checked 1, failed 0")
    assert details["archive.appraisal"] == "flagged 1"
    assert details["archive.uploads"].startswith("expired 1")
    assert "missing 0" in details["archive.inventory"]
    with world.db() as s:
        row = s.scalars(select(ArchivePackage)).one()
    assert row.status == "appraisal"
    assert row.last_fixity_at == world.clock.now()
