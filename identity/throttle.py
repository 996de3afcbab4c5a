"""Backoff against password guessing, kept in the database (``identity_login_throttle``) so that
every service process sharing the database sees one count.

Per key (``acct:<person id>`` or ``ip:<address>``): after ``threshold`` consecutive failures each
further failure locks the key for ``base * 2^(failures - threshold)`` seconds, capped at
``max_seconds``. A success resets the account key. A key untouched for a day starts afresh.

``trust.web.ratelimit`` (fixed windows) is not used: it lives in the web layer, which services may
not import, and it has no exponential lockout.

Concurrency: the row is created if missing (``INSERT … ON CONFLICT DO NOTHING``) and then read
``FOR UPDATE`` (PostgreSQL); SQLite writers are serialised by ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from identity.model import LoginThrottle

__all__ = ["Lockout", "ThrottleState", "lockout_seconds", "record_failure", "reset", "state"]

_FORGET_AFTER: Final = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Lockout:
    threshold: int
    base_seconds: int
    max_seconds: int


@dataclass(frozen=True, slots=True)
class ThrottleState:
    failures: int
    locked_until: datetime | None

    def locked_at(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


def lockout_seconds(failures: int, policy: Lockout) -> int:
    """0 below the threshold; then base, 2·base, 4·base … capped (pure)."""
    if failures < policy.threshold:
        return 0
    exponent = min(failures - policy.threshold, 30)
    return int(min(policy.base_seconds * (2**exponent), policy.max_seconds))


def _row(session: Session, key: str, now: datetime) -> LoginThrottle:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(LoginThrottle).values(key=key, failures=0, locked_until=None, updated_at=now)
    session.execute(stmt.on_conflict_do_nothing(index_elements=[LoginThrottle.key]))
    row = session.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if now - row.updated_at > _FORGET_AFTER and not (row.locked_until and row.locked_until > now):
        row.failures, row.locked_until = 0, None
    return row


def state(session: Session, key: str, now: datetime) -> ThrottleState:
    """Read without creating a row."""
    row = session.get(LoginThrottle, key, populate_existing=True)
    if row is None or now - row.updated_at > _FORGET_AFTER:
        return ThrottleState(0, None)
    return ThrottleState(row.failures, row.locked_until)


def record_failure(session: Session, key: str, now: datetime, policy: Lockout) -> ThrottleState:
    row = _row(session, key, now)
    row.failures += 1
    row.updated_at = now
    wait = lockout_seconds(row.failures, policy)
    if wait:
        row.locked_until = now + timedelta(seconds=wait)
    session.flush()
    return ThrottleState(row.failures, row.locked_until)


def reset(session: Session, key: str, now: datetime) -> None:
    row = session.get(LoginThrottle, key)
    if row is not None:
        row.failures, row.locked_until, row.updated_at = 0, None, now
