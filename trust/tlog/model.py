"""Tables of the transparency log (SQLAlchemy only).

- ``tlog_entries``: one row per leaf, the canonical event bytes stored verbatim with their leaf
  hash (RFC 9162 §2.1.1) and a few columns for look-ups;
- ``tlog_nodes``: every *complete* aligned subtree hash of level >= ``MIN_STORED_LEVEL``, written
  once when its last leaf is appended; smaller subtrees (at most 8 leaves) are recomputed from
  leaf hashes when a proof needs them, so that an append writes ~1/8 node row, not ~1;
- ``tlog_head``: the single row that appends lock (``SELECT ... FOR UPDATE``): size and the
  compact-range frontier (the perfect-subtree roots of the current tree, largest first);
- ``tlog_checkpoints``: every signed checkpoint, with the public key that verifies it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from trust.db import Base, UTCDateTime

__all__ = ["MIN_STORED_LEVEL", "TlogCheckpoint", "TlogEntry", "TlogHead", "TlogNode"]

#: Lowest level of subtree stored in ``tlog_nodes`` (subtrees of 2^4 = 16 leaves and up).
MIN_STORED_LEVEL: Final = 4

# INTEGER PRIMARY KEY is SQLite's rowid alias (64-bit): no separate index to maintain.
_Index = BigInteger().with_variant(Integer(), "sqlite")


class TlogEntry(Base):
    __tablename__ = "tlog_entries"

    idx: Mapped[int] = mapped_column(_Index, primary_key=True, autoincrement=False)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    #: Canonical JSON of the event (``trust.tlog.events.encode_event``): the leaf data.
    data: Mapped[bytes] = mapped_column(LargeBinary)
    kind: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(String(256))
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_tlog_entries_subject", "subject"),)


class TlogNode(Base):
    __tablename__ = "tlog_nodes"

    #: Height of the subtree (>= MIN_STORED_LEVEL); it covers [idx·2^level, (idx+1)·2^level).
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class TlogHead(Base):
    __tablename__ = "tlog_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    #: Concatenated 32-byte roots of the perfect subtrees of [0, size), largest first.
    frontier: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)


class TlogCheckpoint(Base):
    __tablename__ = "tlog_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, index=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    origin: Mapped[str] = mapped_column(String(255))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: The signed note body, verbatim.
    body: Mapped[bytes] = mapped_column(LargeBinary)
    key_name: Mapped[str] = mapped_column(String(255))
    key_hint: Mapped[bytes] = mapped_column(LargeBinary(4))
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(128))
    algorithm: Mapped[str] = mapped_column(String(32))
    public_key_der: Mapped[bytes] = mapped_column(LargeBinary)
