"""Tables of key custody: ``key`` (metadata, public key, wrapped private key) and
``keystore_meta`` (the master-key check value).

``key.wrapped_private`` is the SM4-GCM blob made by ``keys.masterkey.MasterKey.wrap``, never a
plain private key; it is NULL for a destroyed key (and, in future, for keys held in a hardware
module, ``custody = 'hsm'``, which would reference a device handle instead).

Partial unique indexes (SQLite and PostgreSQL both support ``CREATE UNIQUE INDEX … WHERE``) let
the database itself refuse a second ACTIVE or a second PENDING key per
``(usage, owner, algorithm)``; ``coalesce(owner, '')`` makes service keys (owner NULL) collide too,
since unique indexes treat NULLs as distinct.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Index,
    LargeBinary,
    String,
    func,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from trust.db import Base, UTCDateTime

__all__ = ["KeyRecord", "KeystoreMeta"]

_STATUSES = "('pending', 'active', 'retired', 'destroyed')"


class KeyRecord(Base):
    """One key. Rows are never deleted: a destroyed key keeps its public key for verification."""

    __tablename__ = "key"
    __table_args__ = (
        CheckConstraint(f"status IN {_STATUSES}", name="status"),
        CheckConstraint("custody IN ('software', 'hsm')", name="custody"),
        # A destroyed key has no private material left in the database.
        CheckConstraint(
            "status <> 'destroyed' OR wrapped_private IS NULL", name="destroyed_erased"
        ),
        Index("ix_key_usage_owner_status", "usage", "owner", "status"),
    )

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(32))
    usage: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    label: Mapped[str] = mapped_column(String(200))
    custody: Mapped[str] = mapped_column(String(16), default="software")
    public_key_der: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_private: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def __repr__(self) -> str:  # never the wrapped blob
        return f"<KeyRecord {self.key_id} {self.usage} {self.algorithm} {self.status}>"


def _one_per_state(state: str) -> Index:
    where = text(f"status = '{state}'")
    return Index(
        f"uq_key_one_{state}",
        KeyRecord.usage,
        func.coalesce(KeyRecord.owner, literal_column("''")),
        KeyRecord.algorithm,
        unique=True,
        sqlite_where=where,
        postgresql_where=where,
    )


_ONE_ACTIVE = _one_per_state("active")
_ONE_PENDING = _one_per_state("pending")


class KeystoreMeta(Base):
    """Facts about the keystore of this database; ``master_key_check`` is the HMAC-SM3 check
    value of the master key that wrapped its keys."""

    __tablename__ = "keystore_meta"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
