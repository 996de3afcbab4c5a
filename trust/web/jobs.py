"""Periodic jobs of the web kernel (run by ``trust.jobs``): rate-limit counters whose window
ended are deleted (every verification and failed login leaves one row per key and window)."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from trust.jobs.schedule import JobContext, PeriodicJob
from trust.web.ratelimit import sweep_expired

__all__ = ["JOBS"]


def _sweep_rate_limits(ctx: JobContext) -> str:
    removed = sweep_expired(session_factory=ctx.session_factory, clock=ctx.clock)
    return f"counters_deleted={removed}"


JOBS: Final = (
    PeriodicJob(
        name="web.rate-limits",
        every=timedelta(hours=1),
        run=_sweep_rate_limits,
        description="删除窗口已结束的限流计数",
    ),
)
