"""The ``scheduled_job`` table: one row per periodic job, shared by every server process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from trust.db import Base, UTCDateTime

__all__ = ["ScheduledJob"]


class ScheduledJob(Base):
    __tablename__ = "scheduled_job"
    __table_args__ = (
        CheckConstraint(
            "last_outcome IN ('never', 'running', 'ok', 'failed')", name="last_outcome_known"
        ),
    )

    #: ``<capability>.<job>``, e.g. ``archive.fixity-sweep``.
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: Not claimed before this time.
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True))
    #: While a run holds the job: who (``host:pid:random``) and until when. A process that dies
    #: mid-run leaves the lease to expire, then another process takes the job over.
    lease_holder: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(timezone=True))
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(timezone=True))
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(timezone=True))
    last_outcome: Mapped[str] = mapped_column(String(16), default="never")
    #: One line: the job's own summary, or the error code and title of a failure.
    last_detail: Mapped[str] = mapped_column(String(500), default="")
    runs: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
