"""Transparency log: one append-only Merkle log (RFC 9162 tree hashing with SM3) of every
evidence event, with SM2-signed checkpoints and inclusion/consistency proofs.

``append`` runs inside the caller's transaction: the event commits or rolls back with the change
it records (no change without its event, no event without its change).
"""

from trust.tlog.events import AppendedEvent, LogEvent
from trust.tlog.service import append, append_many

__all__ = ["AppendedEvent", "LogEvent", "append", "append_many"]
