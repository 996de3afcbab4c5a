"""Fixed-window rate limits kept in the database, so that several service processes sharing one
database enforce one limit (nothing is counted in process memory).

``hit`` is one atomic statement, ``INSERT … ON CONFLICT (key, window_start) DO UPDATE SET
count = count + 1 RETURNING count`` (PostgreSQL ≥ 9.5, SQLite ≥ 3.35), so concurrent requests
never lose an increment. It runs in the caller's transaction: to count something that is about to
fail (an authentication failure), commit the hit in its own transaction before raising.
Reusable by any capability (licence verify-by-code limits per IP and per verifier, for example).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from trust.web.ratelimit_model import RateCounter

__all__ = ["RateDecision", "hit", "peek", "purge_expired"]


@dataclass(frozen=True, slots=True)
class RateDecision:
    #: For ``hit``: this event is within the limit. For ``peek``: one more event would be.
    allowed: bool
    #: Events counted in the current window (after the increment, for ``hit``).
    count: int
    limit: int
    #: When the current window ends and the count starts again from zero.
    reset_at: datetime
    #: Whole seconds until ``reset_at`` (at least 1) when not allowed, else 0; for Retry-After.
    retry_after: int


def _window(now: datetime, window: timedelta) -> tuple[int, int]:
    length = int(window.total_seconds())
    if length < 1:
        raise ValueError("rate-limit window must be at least one second")
    epoch = now.timestamp()
    start = int(epoch // length) * length
    return start, start + length


def _decision(count: int, limit: int, allowed: bool, now: datetime, end: int) -> RateDecision:
    reset_at = datetime.fromtimestamp(end, UTC)
    wait = 0 if allowed else max(1, math.ceil(end - now.timestamp()))
    return RateDecision(
        allowed=allowed, count=count, limit=limit, reset_at=reset_at, retry_after=wait
    )


def hit(
    *, session: Session, key: str, window: timedelta, limit: int, now: datetime
) -> RateDecision:
    """Count one event for ``key`` in the current window; allowed while count ≤ ``limit``."""
    start, end = _window(now, window)
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
    values = insert(RateCounter).values(key=key, window_start=start, expires_at=end, count=1)
    stmt = values.on_conflict_do_update(
        index_elements=[RateCounter.key, RateCounter.window_start],
        set_={"count": RateCounter.count + 1},
    ).returning(RateCounter.count)
    count = int(session.execute(stmt).scalar_one())
    return _decision(count, limit, count <= limit, now, end)


def peek(
    *, session: Session, key: str, window: timedelta, limit: int, now: datetime
) -> RateDecision:
    """The current count for ``key`` without counting; allowed while count < ``limit``."""
    start, end = _window(now, window)
    count = session.scalar(
        select(RateCounter.count).where(RateCounter.key == key, RateCounter.window_start == start)
    )
    current = int(count or 0)
    return _decision(current, limit, current < limit, now, end)


def purge_expired(*, session: Session, now: datetime) -> int:
    """Delete counters of windows that have ended; returns how many rows went."""
    result = session.execute(delete(RateCounter).where(RateCounter.expires_at <= now.timestamp()))
    return int(getattr(result, "rowcount", 0) or 0)
