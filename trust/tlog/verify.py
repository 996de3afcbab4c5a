"""Verifying checkpoints and proofs: frozen results with reason codes, never a bare bool.

A proof is only trusted against a checkpoint whose signature verified (C2SP signed-note, then
RFC 9162 §2.1.3.2 inclusion or §2.1.4.2 consistency against that checkpoint's root). Every check
fails closed: a malformed note, a note without a signature from the given key, a proof for another
tree size or any malformed hash is a failure with its reason. Only being *unable* to verify
(no leaf given) raises ``VerificationFailed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from trust.crypto import (
    InvalidSignature,
    SignatureEncoding,
    SM2PublicKey,
    constant_time_equal,
    sm2_verify,
)
from trust.errors import VerificationFailed
from trust.tlog.checkpoint import Checkpoint, MalformedCheckpoint, key_hint, parse_note
from trust.tlog.merkle import (
    MalformedProof,
    empty_root,
    leaf_hash,
    root_from_consistency_proof,
    root_from_inclusion_proof,
)

__all__ = [
    "CheckpointVerification",
    "ConsistencyVerification",
    "InclusionVerification",
    "LogReason",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
]


class LogReason(StrEnum):
    """Why a verification said no (stable codes, part of the public contract)."""

    CHECKPOINT_MALFORMED = "log.checkpoint_malformed"
    ORIGIN_MISMATCH = "log.origin_mismatch"
    #: No signature line by the given key (name and key hint): C2SP "MUST reject the note".
    UNKNOWN_KEY = "log.checkpoint_unknown_key"
    SIGNATURE_INVALID = "log.checkpoint_signature_invalid"
    TREE_SIZE_MISMATCH = "log.tree_size_mismatch"
    INDEX_OUT_OF_RANGE = "log.index_out_of_range"
    BAD_SIZES = "log.bad_sizes"
    PROOF_MALFORMED = "log.proof_malformed"
    PROOF_BAD_HASH_SIZE = "log.proof_bad_hash_size"
    PROOF_WRONG_LENGTH = "log.proof_wrong_length"
    ROOT_MISMATCH = "log.root_mismatch"


@dataclass(frozen=True, slots=True)
class CheckpointVerification:
    #: The note parsed, names the expected origin and bears a valid SM2 signature by the key.
    signature_valid: bool
    #: The verified checkpoint; ``None`` unless ``signature_valid``.
    checkpoint: Checkpoint | None
    reason: LogReason | None

    @property
    def ok(self) -> bool:
        return self.signature_valid


@dataclass(frozen=True, slots=True)
class InclusionVerification:
    #: The checkpoint's signature verified (see ``CheckpointVerification``).
    checkpoint_signature: bool
    #: The leaf is at ``index`` in the tree the checkpoint commits to.
    included: bool
    checkpoint: Checkpoint | None
    reason: LogReason | None

    @property
    def ok(self) -> bool:
        return self.checkpoint_signature and self.included


@dataclass(frozen=True, slots=True)
class ConsistencyVerification:
    first_signature: bool
    second_signature: bool
    #: The second checkpoint's tree extends the first's (append-only, no fork).
    consistent: bool
    reason: LogReason | None

    @property
    def ok(self) -> bool:
        return self.first_signature and self.second_signature and self.consistent


def verify_checkpoint(
    *,
    unverified_note: str | bytes,
    public_key: SM2PublicKey,
    origin: str,
    key_name: str | None = None,
) -> CheckpointVerification:
    """Check the note's format, origin and the signature by ``public_key`` under ``key_name``
    (default: the origin, as this log signs)."""
    try:
        signed = parse_note(unverified_note)
    except MalformedCheckpoint:
        return CheckpointVerification(False, None, LogReason.CHECKPOINT_MALFORMED)
    if signed.checkpoint.origin != origin:
        return CheckpointVerification(False, None, LogReason.ORIGIN_MISMATCH)
    name = origin if key_name is None else key_name
    hint = key_hint(name, public_key.point)
    # C2SP signed-note: signatures from unknown keys are ignored; a known key's must verify.
    ours = [s for s in signed.signatures if s.key_name == name and s.key_hint == hint]
    if not ours:
        return CheckpointVerification(False, None, LogReason.UNKNOWN_KEY)
    for sig in ours:
        try:
            encoding = sm2_verify(public_key, signed.body, sig.signature)
        except InvalidSignature:
            return CheckpointVerification(False, None, LogReason.SIGNATURE_INVALID)
        # Our notes carry DER (GB/T 35276); a raw r||s form would be a second encoding.
        if encoding is not SignatureEncoding.DER:
            return CheckpointVerification(False, None, LogReason.SIGNATURE_INVALID)
    return CheckpointVerification(True, signed.checkpoint, None)


def verify_inclusion(
    *,
    unverified_note: str | bytes,
    public_key: SM2PublicKey,
    origin: str,
    index: int,
    tree_size: int,
    path: Sequence[bytes],
    leaf_data: bytes | None = None,
    leaf_hash_value: bytes | None = None,
) -> InclusionVerification:
    """RFC 9162 §2.1.3.2 against a verified checkpoint. Give the leaf as its data (preferred: the
    hash is recomputed) or as its leaf hash."""
    if leaf_data is not None and leaf_hash_value is None:
        leaf = leaf_hash(leaf_data)
    elif leaf_hash_value is not None and leaf_data is None:
        leaf = leaf_hash_value
    else:
        raise VerificationFailed(
            "give exactly one of leaf_data and leaf_hash_value", code="log.no_leaf"
        )
    cp = verify_checkpoint(unverified_note=unverified_note, public_key=public_key, origin=origin)
    if cp.checkpoint is None:
        return InclusionVerification(False, False, None, cp.reason)
    checkpoint = cp.checkpoint
    if tree_size != checkpoint.tree_size:
        return InclusionVerification(True, False, checkpoint, LogReason.TREE_SIZE_MISMATCH)
    try:
        root = root_from_inclusion_proof(index, tree_size, leaf, path)
    except MalformedProof as exc:
        return InclusionVerification(True, False, checkpoint, LogReason(exc.code))
    if not constant_time_equal(root, checkpoint.root_hash):
        return InclusionVerification(True, False, checkpoint, LogReason.ROOT_MISMATCH)
    return InclusionVerification(True, True, checkpoint, None)


def verify_consistency(
    *,
    first_note: str | bytes,
    second_note: str | bytes,
    public_key: SM2PublicKey,
    origin: str,
    path: Sequence[bytes],
    second_public_key: SM2PublicKey | None = None,
) -> ConsistencyVerification:
    """RFC 9162 §2.1.4.2 between two verified checkpoints (``second_public_key`` when the log
    key was rotated in between)."""
    first = verify_checkpoint(unverified_note=first_note, public_key=public_key, origin=origin)
    second = verify_checkpoint(
        unverified_note=second_note, public_key=second_public_key or public_key, origin=origin
    )
    if first.checkpoint is None or second.checkpoint is None:
        reason = first.reason if first.checkpoint is None else second.reason
        return ConsistencyVerification(first.ok, second.ok, False, reason)
    a, b = first.checkpoint, second.checkpoint
    if a.tree_size == 0:
        # RFC 9162 §2.1.4 proves 0 < first only: the empty tree is a prefix of every tree, so the
        # proof must be empty and the first root the empty root.
        if path:
            return ConsistencyVerification(True, True, False, LogReason.PROOF_WRONG_LENGTH)
        if not constant_time_equal(a.root_hash, empty_root()):
            return ConsistencyVerification(True, True, False, LogReason.ROOT_MISMATCH)
        return ConsistencyVerification(True, True, True, None)
    try:
        fr, sr = root_from_consistency_proof(a.tree_size, b.tree_size, a.root_hash, path)
    except MalformedProof as exc:
        return ConsistencyVerification(True, True, False, LogReason(exc.code))
    if not (constant_time_equal(fr, a.root_hash) and constant_time_equal(sr, b.root_hash)):
        return ConsistencyVerification(True, True, False, LogReason.ROOT_MISMATCH)
    return ConsistencyVerification(True, True, True, None)
