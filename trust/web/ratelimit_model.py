"""Table of the fixed-window rate-limit counters (shared by every ``trustctl serve`` process)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from trust.db import Base

__all__ = ["RateCounter"]


class RateCounter(Base):
    __tablename__ = "rate_limit_counter"

    #: What is counted, e.g. ``auth:ip:203.0.113.7`` or ``auth:client:cli_…``.
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    # Whole seconds since the Unix epoch, not datetimes: the window start is part of the primary
    # key and must compare exactly on every database.
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    count: Mapped[int] = mapped_column(Integer)
