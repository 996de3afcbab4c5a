"""The modules that declare periodic jobs (each defines ``JOBS: tuple[PeriodicJob, ...]``).

Imported by the composition roots (``trust.web.app``, ``trust.cli``), like the routers and
command modules: the kernel itself never imports a capability.
"""

from __future__ import annotations

import importlib
from typing import Final

from trust.jobs.schedule import PeriodicJob

__all__ = ["JOB_MODULES", "load_jobs"]

JOB_MODULES: Final[tuple[str, ...]] = (
    "trust.web.jobs",
    "identity.jobs",
    "licences.jobs",
    "archive.jobs",
)


def load_jobs(modules: tuple[str, ...] = JOB_MODULES) -> tuple[PeriodicJob, ...]:
    jobs: list[PeriodicJob] = []
    for name in modules:
        declared = importlib.import_module(name).JOBS
        if not all(isinstance(job, PeriodicJob) for job in declared):
            raise TypeError(f"{name}.JOBS must hold PeriodicJob values")
        jobs.extend(declared)
    names = [job.name for job in jobs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise TypeError(f"periodic jobs declared twice: {duplicates}")
    return tuple(jobs)
