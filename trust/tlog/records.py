"""What the log service returns: entries, stored checkpoints and proofs (frozen, no ORM)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from trust.tlog.checkpoint import Checkpoint, SignedCheckpoint

__all__ = ["ConsistencyProof", "InclusionProof", "LogEntry", "StoredCheckpoint"]


@dataclass(frozen=True, slots=True)
class LogEntry:
    index: int
    leaf_hash: bytes
    #: The leaf data: canonical JSON bytes of the event, exactly as hashed.
    data: bytes
    kind: str
    subject: str
    logged_at: datetime


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    #: Sequence number of the checkpoint in this log (ascending with tree size).
    id: int
    signed: SignedCheckpoint
    #: The keystore's id of the log key that signed it, its algorithm and public key (SPKI DER).
    key_id: str
    algorithm: str
    public_key_der: bytes

    @property
    def checkpoint(self) -> Checkpoint:
        return self.signed.checkpoint

    @property
    def note(self) -> str:
        return self.signed.note()


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """RFC 9162 §2.1.3 audit path for ``index`` in the tree of ``tree_size`` leaves."""

    index: int
    tree_size: int
    leaf_hash: bytes
    path: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """RFC 9162 §2.1.4 proof that the tree of ``second`` leaves extends that of ``first``."""

    first: int
    second: int
    path: tuple[bytes, ...]
