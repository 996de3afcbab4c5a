"""Fixed-window rate limits kept in the database, so that several service processes sharing one
database enforce one limit (nothing is counted in process memory).

``hit`` is one atomic statement, ``INSERT … ON CONFLICT (key, window_start) DO UPDATE SET
count = count + 1 RETURNING count`` (PostgreSQL ≥ 9.5, SQLite ≥ 3.35), so concurrent requests
never lose an increment. ``hit_many`` counts several events (several keys of one request, or the
requests of one group-committed batch, ``trust.db_batch``) in ONE such multi-row statement; keys
are written in sorted order, so that concurrent statements lock the rows in one order (no
deadlock between server processes), and a key named n times is incremented by n and its events
are decided in order, exactly as n successive ``hit`` calls would be. Both run in the caller's
transaction: to count something that is about to fail (an authentication failure), commit the
hit in its own transaction before raising.
Reusable by any capability (licence verify-by-code limits per IP and per verifier, for example).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Table, TextClause, delete, select, text
from sqlalchemy.orm import Session, sessionmaker

from trust.clock import Clock
from trust.web.ratelimit_model import RateCounter

__all__ = [
    "PlannedHits",
    "RateDecision",
    "hit",
    "hit_many",
    "peek",
    "plan_hits",
    "purge_expired",
    "sweep_expired",
]

_COUNTERS = cast(Table, RateCounter.__table__)


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
    return hit_many(session=session, hits=((key, limit),), window=window, now=now)[0]


def hit_many(
    *,
    session: Session,
    hits: Sequence[tuple[str, int]],
    window: timedelta,
    now: datetime,
) -> list[RateDecision]:
    """Count one event per ``(key, limit)`` of ``hits`` in one statement; the decisions come
    back in the order of ``hits``, each allowed while its count ≤ its limit."""
    planned = plan_hits(hits=hits, window=window, now=now)
    if planned is None:
        return []
    rows = session.connection().execute(planned.statement, planned.params)
    return planned.decisions(rows)


@dataclass(frozen=True, slots=True)
class PlannedHits:
    """``hit_many`` in two halves, for a caller that sends the statement itself (with others,
    in one round trip: ``trust.db_pipeline``): the upsert and its parameters, then the
    decisions from the ``(key, count)`` rows it returned."""

    statement: TextClause
    params: dict[str, object]
    hits: tuple[tuple[str, int], ...]
    totals: Counter[str]
    now: datetime
    end: int

    def decisions(self, rows: Iterable[Sequence[object]]) -> list[RateDecision]:
        after = {str(row[0]): int(cast(int, row[1])) for row in rows}
        seen: Counter[str] = Counter()
        decisions = []
        for key, limit in self.hits:
            seen[key] += 1
            count = after[key] - self.totals[key] + seen[key]  # this event's place among the key's
            decisions.append(_decision(count, limit, count <= limit, self.now, self.end))
        return decisions


def plan_hits(
    *, hits: Sequence[tuple[str, int]], window: timedelta, now: datetime
) -> PlannedHits | None:
    """The statement counting ``hits`` (None for no hits); see ``PlannedHits``."""
    start, end = _window(now, window)
    if not hits:
        return None
    totals = Counter(key for key, _ in hits)
    keys = sorted(totals)
    params: dict[str, object] = {"start": start, "end": end}
    for i, key in enumerate(keys):
        params[f"k{i}"], params[f"n{i}"] = key, totals[key]
    return PlannedHits(_upsert(len(keys)), params, tuple(hits), totals, now, end)


@functools.lru_cache(maxsize=64)
def _upsert(n: int) -> TextClause:
    # Text, not ``insert().on_conflict_do_update()``: SQLAlchemy cannot cache the compiled form
    # of an upsert and compiled it anew on every call (~0.2 ms); this text is compiled once per
    # row count. The same statement on SQLite ≥ 3.35 and PostgreSQL ≥ 9.5.
    table = _COUNTERS.name
    values = ", ".join(f"(:k{i}, :start, :end, :n{i})" for i in range(n))
    # Only our table name and numbered placeholders are interpolated.
    return text(
        f'INSERT INTO {table} ("key", window_start, expires_at, count) VALUES {values} '  # noqa: S608
        f'ON CONFLICT ("key", window_start) DO UPDATE SET count = {table}.count + excluded.count '
        'RETURNING "key", count'
    )


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


def sweep_expired(
    *,
    session_factory: sessionmaker[Session],
    clock: Clock,
    margin: timedelta = timedelta(hours=1),
) -> int:
    """Periodic job: delete the counters of windows that ended more than ``margin`` ago (every
    verification and failed login leaves one row per key and window), in one transaction;
    returns how many rows went. The margin keeps a row that a process with a lagging clock may
    still be counting in."""
    with session_factory() as session, session.begin():
        return purge_expired(session=session, now=clock.now() - margin)
