"""Fixtures for principals on a real database (SQLite, or PostgreSQL with
``TRUST_TEST_DATABASE_URL``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from trust.principals import service
from trust.tlog import LogEvent


@pytest.fixture
def session(db: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction, committed at the end of the test (like a request)."""
    with db() as s, s.begin():
        yield s


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[LogEvent]:
    """Every event the principals service appends, in order (the real ``append`` still runs)."""
    seen: list[LogEvent] = []
    real = service.append

    def recording(*, session: Session, clock: Any, event: LogEvent) -> Any:
        seen.append(event)
        return real(session=session, clock=clock, event=event)

    monkeypatch.setattr(service, "append", recording)
    return seen
