"""The transparency log in the database: append, checkpoints, entries and proofs.

Appends run inside the caller's transaction and never commit: the event commits or rolls back
with the change it records. Every append locks the single head row (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite writers are already serialised by ``BEGIN IMMEDIATE``), so appends from any
number of sessions and processes get contiguous indexes and one tree, never a fork. The lock is
held until the caller commits: append late in a transaction.

An append is O(log n) hashing with one head update (``merkle.frontier_append``); the subtrees it
completes are stored (from ``MIN_STORED_LEVEL`` up; smaller ones are rebuilt from at most 8 leaf
hashes), so any RFC 9162 §2.1.3 / §2.1.4 proof for any tree size up to the current one is two
batched lookups (leaf hashes, subtree hashes) of O(log^2 n) rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

from sqlalchemy import Connection, Table, bindparam, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from trust.clock import Clock
from trust.errors import IntegrityFailure, InvalidInput, NotFound
from trust.signing import Signer
from trust.tlog.checkpoint import (
    Checkpoint,
    MalformedCheckpoint,
    NoteSignature,
    SignedCheckpoint,
    parse_body,
)
from trust.tlog.checkpoint import sign_checkpoint as _sign
from trust.tlog.events import AppendedEvent, LogEvent, encode_event, format_logged_at
from trust.tlog.merkle import (
    HASH_SIZE,
    Node,
    consistency_ranges,
    frontier_append,
    frontier_root,
    hash_ranges,
    inclusion_ranges,
    leaf_hash,
    range_pieces,
    root_from_leaves,
)
from trust.tlog.model import MIN_STORED_LEVEL, TlogCheckpoint, TlogEntry, TlogHead, TlogNode
from trust.tlog.records import ConsistencyProof, InclusionProof, LogEntry, StoredCheckpoint

__all__ = [
    "append",
    "append_many",
    "checkpoint_for_size",
    "consistency_proof",
    "create_checkpoint",
    "get_entry",
    "inclusion_proof",
    "iter_checkpoints",
    "latest_checkpoint",
    "log_head",
    "root_at",
]

_HEAD_ID = 1
_CORRUPT = "log.checkpoint_corrupt"

# Core statements built once: an append is on every evidence-producing transaction's path, and
# building ORM statements per call cost more than the database work (bench/tlog_bench.py).
_ENTRIES = cast(Table, TlogEntry.__table__)
_NODES = cast(Table, TlogNode.__table__)
_HEAD = cast(Table, TlogHead.__table__)
_READ_HEAD = select(_HEAD.c.size, _HEAD.c.frontier).where(_HEAD.c.id == _HEAD_ID)
_LOCK_HEAD = _READ_HEAD.with_for_update()
_INSERT_ENTRIES = insert(_ENTRIES)
_INSERT_NODES = insert(_NODES)
_UPDATE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == _HEAD_ID)
    .values(size=bindparam("new_size"), frontier=bindparam("new_frontier"))
)
_NEW_HEAD = {"id": _HEAD_ID, "size": 0, "frontier": b""}


def _split_frontier(size: int, blob: bytes) -> list[bytes]:
    if len(blob) != HASH_SIZE * size.bit_count():
        raise IntegrityFailure("transparency-log head is corrupt", code="log.head_corrupt")
    return [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]


def _lock_head(conn: Connection) -> tuple[int, list[bytes]]:
    """Lock the head row for the rest of the transaction, creating it on first use."""
    row = conn.execute(_LOCK_HEAD).one_or_none()
    if row is None:
        dialect = conn.dialect.name
        if dialect == "postgresql":
            conn.execute(postgresql.insert(_HEAD).values(_NEW_HEAD).on_conflict_do_nothing())
        elif dialect == "sqlite":
            conn.execute(sqlite.insert(_HEAD).values(_NEW_HEAD).on_conflict_do_nothing())
        else:  # pragma: no cover - only the two supported databases
            conn.execute(insert(_HEAD).values(_NEW_HEAD))
        row = conn.execute(_LOCK_HEAD).one()
    return row.size, _split_frontier(row.size, row.frontier)


def _size(session: Session) -> int:
    size = session.scalar(select(TlogHead.size).where(TlogHead.id == _HEAD_ID))
    return 0 if size is None else size


def log_head(*, session: Session) -> tuple[int, bytes]:
    """Current ``(size, root hash)``, read without locking."""
    row = session.connection().execute(_READ_HEAD).one_or_none()
    if row is None:
        return 0, frontier_root([])
    return row.size, frontier_root(_split_frontier(row.size, row.frontier))


def append(*, session: Session, clock: Clock, event: LogEvent) -> AppendedEvent:
    """Append ``event`` in the caller's transaction and return its index and leaf hash."""
    return append_many(session=session, clock=clock, events=(event,))[0]


def append_many(
    *, session: Session, clock: Clock, events: Sequence[LogEvent]
) -> list[AppendedEvent]:
    """Append ``events`` in order, in the caller's transaction, under one head lock."""
    if not events:
        return []
    logged_at = clock.now()
    # Encoding and leaf hashing need no index: done before the lock, to keep it short.
    logged_at_text = format_logged_at(logged_at)
    encoded = [encode_event(event, logged_at_text) for event in events]
    leaves = [leaf_hash(data) for data in encoded]
    conn = session.connection()
    size, frontier = _lock_head(conn)
    entries: list[dict[str, object]] = []
    nodes: list[dict[str, object]] = []
    appended: list[AppendedEvent] = []
    for event, data, leaf in zip(events, encoded, leaves, strict=True):
        for level, idx, h in frontier_append(size, frontier, leaf):
            if level >= MIN_STORED_LEVEL:
                nodes.append({"level": level, "idx": idx, "hash": h})
        entries.append(
            {
                "idx": size,
                "leaf_hash": leaf,
                "data": data,
                "kind": event.kind,
                "subject": event.subject,
                "logged_at": logged_at,
            }
        )
        appended.append(AppendedEvent(size, leaf, logged_at))
        size += 1
    conn.execute(_INSERT_ENTRIES, entries)
    if nodes:
        conn.execute(_INSERT_NODES, nodes)
    conn.execute(_UPDATE_HEAD, {"new_size": size, "new_frontier": b"".join(frontier)})
    return appended


# --- checkpoints ---------------------------------------------------------------------------------


def create_checkpoint(
    *, session: Session, clock: Clock, signer: Signer, origin: str
) -> StoredCheckpoint:
    """Sign and store a checkpoint of the current tree with the log key ``signer``.

    The head stays locked until the caller commits, so checkpoints are stored in tree order.
    """
    size, frontier = _lock_head(session.connection())
    signed_at = clock.now().replace(microsecond=0)
    checkpoint = Checkpoint(origin, size, frontier_root(frontier), signed_at)
    signed = _sign(checkpoint, key_name=origin, signer=signer)
    sig = signed.signatures[0]
    row = TlogCheckpoint(
        tree_size=size,
        root_hash=checkpoint.root_hash,
        origin=origin,
        signed_at=signed_at,
        body=signed.body,
        key_name=sig.key_name,
        key_hint=sig.key_hint,
        signature=sig.signature,
        key_id=signer.key_id,
        algorithm=str(signer.algorithm),
        public_key_der=signer.public_key_der(),
    )
    session.add(row)
    session.flush()
    return _stored(row)


def _stored(row: TlogCheckpoint) -> StoredCheckpoint:
    try:
        checkpoint = parse_body(row.body)
    except MalformedCheckpoint as exc:
        raise IntegrityFailure(f"checkpoint {row.id} is corrupt", code=_CORRUPT) from exc
    if (checkpoint.tree_size, checkpoint.root_hash, checkpoint.origin) != (
        row.tree_size,
        row.root_hash,
        row.origin,
    ):
        raise IntegrityFailure(f"checkpoint {row.id} does not match its body", code=_CORRUPT)
    signature = NoteSignature(row.key_name, row.key_hint, row.signature)
    signed = SignedCheckpoint(checkpoint, row.body, (signature,))
    return StoredCheckpoint(row.id, signed, row.key_id, row.algorithm, row.public_key_der)


def latest_checkpoint(*, session: Session) -> StoredCheckpoint | None:
    """The most recent checkpoint (largest tree, then latest signed), or ``None``."""
    stmt = select(TlogCheckpoint).order_by(
        TlogCheckpoint.tree_size.desc(), TlogCheckpoint.id.desc()
    )
    row = session.scalars(stmt.limit(1)).first()
    return None if row is None else _stored(row)


def checkpoint_for_size(*, session: Session, tree_size: int) -> StoredCheckpoint | None:
    """The latest checkpoint of exactly ``tree_size`` leaves, if one was signed."""
    if not 0 <= tree_size < 1 << 63:
        return None
    stmt = (
        select(TlogCheckpoint)
        .where(TlogCheckpoint.tree_size == tree_size)
        .order_by(TlogCheckpoint.id.desc())
    )
    row = session.scalars(stmt.limit(1)).first()
    return None if row is None else _stored(row)


def iter_checkpoints(*, session: Session) -> Iterable[StoredCheckpoint]:
    """Every stored checkpoint in tree order."""
    stmt = select(TlogCheckpoint).order_by(TlogCheckpoint.tree_size, TlogCheckpoint.id)
    for row in session.scalars(stmt):
        yield _stored(row)


# --- entries and proofs --------------------------------------------------------------------------


def get_entry(*, session: Session, index: int) -> LogEntry:
    """The entry at ``index``; ``NotFound`` beyond the end of the log."""
    size = _size(session)
    if not 0 <= index < size:
        raise NotFound(f"no log entry {index} (log size {size})", code="log.entry_not_found")
    row = session.get(TlogEntry, index)
    if row is None:
        raise IntegrityFailure(f"log entry {index} is missing", code="log.entry_missing")
    return LogEntry(row.idx, row.leaf_hash, row.data, row.kind, row.subject, row.logged_at)


def _bad_request(detail: str) -> InvalidInput:
    return InvalidInput(detail, code="log.bad_proof_request")


def _subtree_hashes(session: Session, nodes: set[Node]) -> dict[Node, bytes]:
    """Hashes of perfect subtrees: stored ones looked up, small ones rebuilt from leaf hashes."""
    stored = sorted(n for n in nodes if n[0] >= MIN_STORED_LEVEL)
    small = [n for n in nodes if n[0] < MIN_STORED_LEVEL]
    leaf_indexes = sorted({i for lv, x in small for i in range(x << lv, (x + 1) << lv)})
    leaves: dict[int, bytes] = {}
    if leaf_indexes:
        rows = session.execute(
            select(TlogEntry.idx, TlogEntry.leaf_hash).where(TlogEntry.idx.in_(leaf_indexes))
        )
        leaves = {r.idx: r.leaf_hash for r in rows}
    if len(leaves) != len(leaf_indexes):
        raise IntegrityFailure("log entries are missing", code="log.entry_missing")
    found = {
        (lv, x): root_from_leaves(leaves[i] for i in range(x << lv, (x + 1) << lv))
        for lv, x in small
    }
    if stored:
        rows = session.execute(
            select(TlogNode.level, TlogNode.idx, TlogNode.hash).where(
                tuple_(TlogNode.level, TlogNode.idx).in_(stored)
            )
        )
        found.update(((r.level, r.idx), r.hash) for r in rows)
    if len(found) != len(nodes):
        raise IntegrityFailure("stored subtree hashes are missing", code="log.node_missing")
    return found


def _path(
    session: Session, ranges: list[tuple[int, int]], also: Iterable[Node] = ()
) -> tuple[tuple[bytes, ...], dict[Node, bytes]]:
    """MTHs of ``ranges`` and the hashes looked up (including the extra nodes ``also``)."""
    found = _subtree_hashes(session, {node for r in ranges for node in range_pieces(r)} | {*also})
    return tuple(hash_ranges(ranges, found)), found


def inclusion_proof(*, session: Session, index: int, tree_size: int) -> InclusionProof:
    """RFC 9162 §2.1.3.1 ``PATH(index, D[tree_size])`` for any ``tree_size`` up to the log size."""
    size = _size(session)
    if not 0 < tree_size <= size:
        raise _bad_request(f"tree size {tree_size} is not in 1..{size}")
    if not 0 <= index < tree_size:
        raise _bad_request(f"index {index} is not in a tree of size {tree_size}")
    path, found = _path(session, inclusion_ranges(index, tree_size), also=[(0, index)])
    return InclusionProof(index, tree_size, found[(0, index)], path)


def consistency_proof(*, session: Session, first: int, second: int) -> ConsistencyProof:
    """RFC 9162 §2.1.4.1 ``PROOF(first, D[second])``; empty for ``first`` 0 or ``second``."""
    size = _size(session)
    if not 0 <= first <= second <= size:
        raise _bad_request(f"need 0 <= first <= second <= {size}")
    return ConsistencyProof(first, second, _path(session, consistency_ranges(first, second))[0])


def root_at(*, session: Session, tree_size: int) -> bytes:
    """MTH of the first ``tree_size`` leaves, from stored subtrees."""
    size = _size(session)
    if not 0 <= tree_size <= size:
        raise _bad_request(f"tree size {tree_size} is not in 0..{size}")
    return _path(session, [(0, tree_size)])[0][0] if tree_size else frontier_root([])
