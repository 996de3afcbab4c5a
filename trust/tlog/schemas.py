"""API shapes of the transparency log (pydantic only; built from service records).

Every hash, signature, key and leaf is **standard base64** (RFC 4648 §4, with padding), the same
encoding as the root line of the checkpoint note.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from trust.tlog.records import ConsistencyProof, InclusionProof, LogEntry, StoredCheckpoint

__all__ = [
    "CheckpointRead",
    "ConsistencyProofRead",
    "EntryRead",
    "InclusionProofRead",
    "LogPublicKeyRead",
]

_B64 = "standard base64 (RFC 4648 §4)"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class CheckpointRead(BaseModel):
    origin: str
    tree_size: int
    root_hash: str = Field(description=f"SM3 Merkle tree root (RFC 9162 §2.1.1), {_B64}")
    timestamp: datetime | None
    note: str = Field(description="the signed note (C2SP signed-note / tlog-checkpoint)")
    key_id: str = Field(description="keystore id of the log key that signed")
    key_name: str
    key_hint: str = Field(description=f"4-byte signed-note key ID, {_B64}")
    algorithm: str

    @classmethod
    def of(cls, stored: StoredCheckpoint) -> CheckpointRead:
        cp = stored.checkpoint
        sig = stored.signed.signatures[0]
        return cls(
            origin=cp.origin,
            tree_size=cp.tree_size,
            root_hash=b64(cp.root_hash),
            timestamp=cp.timestamp,
            note=stored.note,
            key_id=stored.key_id,
            key_name=sig.key_name,
            key_hint=b64(sig.key_hint),
            algorithm=stored.algorithm,
        )


class EntryRead(BaseModel):
    index: int
    leaf_hash: str = Field(description=f"SM3(0x00 || data), {_B64}")
    data: str = Field(description=f"the exact leaf bytes (canonical JSON of the event), {_B64}")
    event: dict[str, Any] = Field(description="the same bytes parsed, for reading")
    kind: str
    subject: str
    logged_at: datetime

    @classmethod
    def of(cls, entry: LogEntry) -> EntryRead:
        return cls(
            index=entry.index,
            leaf_hash=b64(entry.leaf_hash),
            data=b64(entry.data),
            event=json.loads(entry.data),
            kind=entry.kind,
            subject=entry.subject,
            logged_at=entry.logged_at,
        )


class InclusionProofRead(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str = Field(description=_B64)
    path: list[str] = Field(description=f"RFC 9162 §2.1.3 inclusion path, leaf end first, {_B64}")
    checkpoint: CheckpointRead | None = Field(
        description="the signed checkpoint of tree_size, if one was signed: verify it first"
    )

    @classmethod
    def of(cls, proof: InclusionProof, checkpoint: StoredCheckpoint | None) -> InclusionProofRead:
        return cls(
            index=proof.index,
            tree_size=proof.tree_size,
            leaf_hash=b64(proof.leaf_hash),
            path=[b64(p) for p in proof.path],
            checkpoint=None if checkpoint is None else CheckpointRead.of(checkpoint),
        )


class ConsistencyProofRead(BaseModel):
    first: int
    second: int
    path: list[str] = Field(description=f"RFC 9162 §2.1.4 consistency path, {_B64}")
    first_checkpoint: CheckpointRead | None
    second_checkpoint: CheckpointRead | None

    @classmethod
    def of(
        cls,
        proof: ConsistencyProof,
        first: StoredCheckpoint | None,
        second: StoredCheckpoint | None,
    ) -> ConsistencyProofRead:
        return cls(
            first=proof.first,
            second=proof.second,
            path=[b64(p) for p in proof.path],
            first_checkpoint=None if first is None else CheckpointRead.of(first),
            second_checkpoint=None if second is None else CheckpointRead.of(second),
        )


class LogPublicKeyRead(BaseModel):
    key_id: str
    algorithm: str
    key_name: str = Field(description="the signed-note key name (the log origin)")
    key_hint: str = Field(description=f"4-byte signed-note key ID, {_B64}")
    public_key_der: str = Field(description=f"SubjectPublicKeyInfo DER, {_B64}")
    public_key_pem: str
