"""Re-verify the whole stored log from its raw rows (``trustctl log verify``).

Recomputes every leaf hash from the stored event bytes (RFC 9162 §2.1.1), every stored subtree
hash and the head's frontier, the root at every checkpoint's size, every checkpoint's SM2
signature (C2SP signed-note), and the consistency (RFC 9162 §2.1.4) of each checkpoint with the
next, using proofs built from the stored subtrees. The first failure ends the run with a reason.

Without ``trusted_keys`` the public key stored beside each checkpoint is used, which only shows
that the database is self-consistent; with them (key id -> SPKI DER, e.g. from the keystore) each
checkpoint must be signed by one of those keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import pairwise

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from trust.crypto import SM2PublicKey
from trust.errors import IntegrityFailure, InvalidInput
from trust.tlog.merkle import empty_root, frontier_append, frontier_root, leaf_hash
from trust.tlog.model import MIN_STORED_LEVEL, TlogEntry, TlogHead, TlogNode
from trust.tlog.records import StoredCheckpoint
from trust.tlog.service import consistency_proof, iter_checkpoints
from trust.tlog.verify import verify_checkpoint, verify_consistency

__all__ = ["LogReplay", "verify_stored_log"]

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class LogReplay:
    #: Every check passed.
    ok: bool
    #: Entries whose leaf hash was recomputed from their stored bytes (all of them when ``ok``;
    #: 0 when a failure was found before the end; see ``at``).
    entries_checked: int
    #: Checkpoints whose signature and root were checked.
    checkpoints_checked: int
    #: Stable code of the first failure (``log.*``), ``None`` when ``ok``.
    reason: str | None = None
    #: Entry index or checkpoint tree size where it was found.
    at: int | None = None
    detail: str = ""


class _BadError(Exception):
    def __init__(self, reason: str, at: int | None, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.at, self.detail = reason, at, detail


def _public_key(cp: StoredCheckpoint) -> SM2PublicKey:
    try:
        return SM2PublicKey.from_der(cp.public_key_der)
    except InvalidInput as exc:
        raise _BadError("log.checkpoint_key_invalid", cp.checkpoint.tree_size, exc.detail) from exc


def _check_signature(cp: StoredCheckpoint, trusted_keys: Mapping[str, bytes] | None) -> None:
    size = cp.checkpoint.tree_size
    if trusted_keys is not None and trusted_keys.get(cp.key_id) != cp.public_key_der:
        raise _BadError("log.checkpoint_key_untrusted", size, f"key {cp.key_id} is not trusted")
    result = verify_checkpoint(
        unverified_note=cp.note,
        public_key=_public_key(cp),
        origin=cp.checkpoint.origin,
        key_name=cp.signed.signatures[0].key_name,
    )
    if not result.ok:
        raise _BadError(str(result.reason), size, f"checkpoint {cp.id} does not verify")


def _stored_nodes(session: Session, start: int, end: int) -> dict[tuple[int, int], bytes]:
    """Subtrees completed by leaves [start, end): (level, i) completes at leaf (i+1)·2^level - 1."""
    terms = []
    level = MIN_STORED_LEVEL
    while 1 << level <= end:
        lo, hi = ((start + (1 << level)) >> level) - 1, (end >> level) - 1
        if lo <= hi:
            terms.append(and_(TlogNode.level == level, TlogNode.idx.between(lo, hi)))
        level += 1
    if not terms:
        return {}
    rows = session.execute(select(TlogNode.level, TlogNode.idx, TlogNode.hash).where(or_(*terms)))
    return {(r.level, r.idx): r.hash for r in rows}


def _replay_entries(
    session: Session,
    size: int,
    roots: Mapping[int, set[bytes]],
    progress: Progress | None,
    batch: int,
) -> list[bytes]:
    frontier: list[bytes] = []
    n = 0
    while True:
        rows = session.execute(
            select(TlogEntry.idx, TlogEntry.leaf_hash, TlogEntry.data)
            .where(TlogEntry.idx >= n)
            .order_by(TlogEntry.idx)
            .limit(batch)
        ).all()
        if not rows:
            break
        stored = _stored_nodes(session, n, min(n + len(rows), size))
        for row in rows:
            if n >= size:
                raise _BadError("log.entries_beyond_head", n, f"entry {row.idx} beyond the head")
            if row.idx != n:
                raise _BadError("log.entry_sequence_broken", n, f"entry {row.idx} where {n} due")
            leaf = leaf_hash(row.data)
            if leaf != row.leaf_hash:
                raise _BadError("log.leaf_hash_mismatch", n, "stored bytes do not hash to the leaf")
            for level, idx, h in frontier_append(n, frontier, leaf):
                if level >= MIN_STORED_LEVEL and stored.get((level, idx)) != h:
                    raise _BadError("log.node_mismatch", n, f"subtree ({level}, {idx}) differs")
            n += 1
            if n in roots and roots[n] != {frontier_root(frontier)}:
                raise _BadError("log.checkpoint_root_mismatch", n, "checkpoint root differs")
        if progress is not None:
            progress(len(rows))
    if n != size:
        raise _BadError("log.entry_sequence_broken", n, f"log ends at {n}, head says {size}")
    return frontier


def _check_head(session: Session, size: int, frontier: list[bytes]) -> None:
    blob = session.scalar(select(TlogHead.frontier).where(TlogHead.id == 1))
    if (blob or b"") != b"".join(frontier):
        raise _BadError("log.head_mismatch", size, "stored head frontier differs")
    expected = sum(size >> level for level in range(MIN_STORED_LEVEL, size.bit_length()))
    if session.scalar(select(func.count()).select_from(TlogNode)) != expected:
        raise _BadError("log.node_count_mismatch", size, "unexpected stored subtrees")


def _check_consistency(session: Session, a: StoredCheckpoint, b: StoredCheckpoint) -> None:
    first, second = a.checkpoint.tree_size, b.checkpoint.tree_size
    proof = consistency_proof(session=session, first=first, second=second)
    result = verify_consistency(
        first_note=a.note,
        second_note=b.note,
        public_key=_public_key(a),
        second_public_key=_public_key(b),
        origin=a.checkpoint.origin,
        path=proof.path,
    )
    if not result.ok:
        raise _BadError("log.checkpoints_inconsistent", b.checkpoint.tree_size, str(result.reason))


def verify_stored_log(
    *,
    session: Session,
    trusted_keys: Mapping[str, bytes] | None = None,
    progress: Progress | None = None,
    batch: int = 5000,
) -> LogReplay:
    """Re-verify everything stored (module docstring); ``progress`` gets entry counts."""
    size = session.scalar(select(TlogHead.size).where(TlogHead.id == 1)) or 0
    done = 0
    checked = 0
    try:
        checkpoints = list(iter_checkpoints(session=session))
        roots: dict[int, set[bytes]] = {}
        for cp in checkpoints:
            _check_signature(cp, trusted_keys)
            if cp.checkpoint.tree_size > size:
                raise _BadError("log.checkpoint_beyond_log", cp.checkpoint.tree_size, "too large")
            if cp.checkpoint.tree_size == 0 and cp.checkpoint.root_hash != empty_root():
                raise _BadError("log.checkpoint_root_mismatch", 0, "empty tree, wrong root")
            roots.setdefault(cp.checkpoint.tree_size, set()).add(cp.checkpoint.root_hash)
            checked += 1
        frontier = _replay_entries(session, size, roots, progress, batch)
        done = size
        _check_head(session, size, frontier)
        for a, b in pairwise(checkpoints):
            _check_consistency(session, a, b)
    except _BadError as exc:
        return LogReplay(False, done, checked, exc.reason, exc.at, exc.detail)
    except IntegrityFailure as exc:
        return LogReplay(False, done, checked, exc.code, None, exc.detail)
    return LogReplay(True, size, checked)
