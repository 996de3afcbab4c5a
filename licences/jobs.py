"""Periodic jobs of the licences capability (run by ``trust.jobs``): expiry. A licence whose
有效期止 (a calendar day in China Standard Time) has passed becomes EXPIRED, in the database,
the transparency log and the issuer's signed status list; live verification already answers
EXPIRED from the dates alone, this makes the offline status lists agree within the hour."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from licences.service_lifecycle import expire_due_licences
from trust.jobs.schedule import JobContext, PeriodicJob

__all__ = ["JOBS"]


def _expire(ctx: JobContext) -> str:
    return str(
        expire_due_licences(session_factory=ctx.session_factory, clock=ctx.clock, actor="job")
    )


JOBS: Final = (
    PeriodicJob(
        name="licences.expire",
        every=timedelta(hours=1),
        run=_expire,
        description="将超过有效期的证照标记为已过期并更新状态列表",
    ),
)
