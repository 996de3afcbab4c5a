"""RFC 9162 Merkle tree maths with SM3 as the hash (pure: no I/O).

Hashing is RFC 9162 §2.1.1 with H = SM3 (GB/T 32905-2016):

- ``MTH({}) = SM3()``; leaf hash ``SM3(0x00 || d)``; interior node ``SM3(0x01 || left || right)``;
- the split point of ``n > 1`` leaves is the largest power of two smaller than ``n``.

Besides the proof *verification* algorithms of §2.1.3.2 and §2.1.4.2, this module describes proofs
as lists of leaf *ranges* (``PATH`` of §2.1.3.1, ``PROOF``/``SUBPROOF`` of §2.1.4.1) and every range
as aligned perfect subtrees ``(level, index)``, so that a store holding every complete subtree hash
answers any proof for any tree size with one batched lookup. The compact-range "frontier" (the
perfect subtrees of a tree of size ``n``, one per set bit of ``n``, largest first) lets an append
do O(log n) work without reading the tree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from trust.crypto import SM3
from trust.errors import InvalidInput

__all__ = [
    "HASH_SIZE",
    "LEAF_PREFIX",
    "NODE_PREFIX",
    "MalformedProof",
    "Node",
    "Range",
    "consistency_ranges",
    "empty_root",
    "fold_pieces",
    "frontier_append",
    "frontier_pieces",
    "frontier_root",
    "hash_ranges",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "range_pieces",
    "root_from_consistency_proof",
    "root_from_inclusion_proof",
    "root_from_leaves",
]

HASH_SIZE: Final = 32
#: RFC 9162 §2.1.1 domain separation: leaf hashes and interior node hashes never collide.
LEAF_PREFIX: Final = b"\x00"
NODE_PREFIX: Final = b"\x01"

#: A perfect aligned subtree ``(level, index)``: leaves ``[index·2^level, (index+1)·2^level)``.
Node = tuple[int, int]
#: A leaf range ``[start, end)``.
Range = tuple[int, int]

_EMPTY_ROOT: Final = SM3(b"").digest()


class MalformedProof(InvalidInput):
    """A proof or its parameters cannot describe any tree (RFC 9162 §2.1.3.2 / §2.1.4.2 "fail")."""

    code = "log.proof_malformed"


def empty_root() -> bytes:
    """``MTH({}) = SM3()`` (RFC 9162 §2.1.1)."""
    return _EMPTY_ROOT


def leaf_hash(data: bytes) -> bytes:
    """``MTH({d}) = SM3(0x00 || d)`` (RFC 9162 §2.1.1)."""
    h = SM3(LEAF_PREFIX)
    h.update(data)
    return h.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SM3(0x01 || left || right)`` (RFC 9162 §2.1.1)."""
    h = SM3(NODE_PREFIX)
    h.update(left)
    h.update(right)
    return h.digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n > 1``), RFC 9162 §2.1.1."""
    return 1 << ((n - 1).bit_length() - 1)


# --- compact range: what an append needs -------------------------------------------------------


def frontier_pieces(size: int) -> list[Node]:
    """The perfect subtrees whose roots form the frontier of a tree of ``size`` leaves."""
    return range_pieces((0, size))


def frontier_append(size: int, frontier: list[bytes], leaf: bytes) -> list[tuple[int, int, bytes]]:
    """Append ``leaf`` (a leaf hash) at index ``size``, updating ``frontier`` in place.

    Returns the interior subtrees ``(level, index, hash)`` completed by this leaf, lowest first:
    one per trailing set bit of ``size`` (amortised one per append).
    """
    carry = leaf
    level = 0
    index = size
    completed: list[tuple[int, int, bytes]] = []
    while (size >> level) & 1:
        carry = node_hash(frontier.pop(), carry)
        level += 1
        index >>= 1
        completed.append((level, index, carry))
    frontier.append(carry)
    return completed


def fold_pieces(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from its perfect pieces, largest first: a right fold (RFC 9162 §2.1.1)."""
    if not hashes:
        return _EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    """The root hash of the tree whose frontier this is."""
    return fold_pieces(frontier)


def root_from_leaves(leaf_hashes: Iterable[bytes]) -> bytes:
    """MTH over leaf hashes, in O(n) hashing and O(log n) memory."""
    frontier: list[bytes] = []
    for size, leaf in enumerate(leaf_hashes):
        frontier_append(size, frontier, leaf)
    return frontier_root(frontier)


# --- proofs as ranges and pieces -----------------------------------------------------------------


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The ranges whose MTHs form ``PATH(index, D[size])`` (RFC 9162 §2.1.3.1), leaf end first."""
    if not 0 <= index < size:
        raise MalformedProof(f"leaf index {index} is not in a tree of size {size}")
    out: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            out.append((mid, hi))
            hi = mid
        else:
            out.append((lo, mid))
            lo = mid
    out.reverse()
    return out


def consistency_ranges(first: int, second: int) -> list[Range]:
    """The ranges whose MTHs form ``PROOF(first, D[second])`` (RFC 9162 §2.1.4.1).

    ``first == second`` (and ``first == 0``: the empty tree is a prefix of every tree) give an
    empty proof.
    """
    if not 0 <= first <= second:
        raise MalformedProof(f"no consistency proof from size {first} to size {second}")
    out: list[Range] = []
    if first == 0:
        return out
    lo, hi, complete = 0, second, True  # ``complete`` is the b flag of SUBPROOF
    while True:
        if first == hi:
            if not complete:
                out.append((lo, hi))
            break
        mid = lo + _split(hi - lo)
        if first <= mid:
            out.append((mid, hi))
            hi = mid
        else:
            out.append((lo, mid))
            lo, complete = mid, False
    out.reverse()
    return out


def range_pieces(rng: Range) -> list[Node]:
    """Split ``[start, end)`` into aligned perfect subtrees, largest first.

    Every range produced by ``inclusion_ranges``/``consistency_ranges`` (and every prefix
    ``[0, n)``) starts on a multiple of the next power of two at or above its length, so the
    binary digits of its length give the pieces.
    """
    start, end = rng
    pos = start
    out: list[Node] = []
    length = end - start
    for level in range(length.bit_length() - 1, -1, -1):
        if (length >> level) & 1:
            if pos & ((1 << level) - 1):
                raise MalformedProof(f"range [{start}, {end}) is not aligned")
            out.append((level, pos >> level))
            pos += 1 << level
    return out


def hash_ranges(ranges: Sequence[Range], lookup: Mapping[Node, bytes]) -> list[bytes]:
    """MTH of each range from ``lookup`` (every perfect subtree named by ``range_pieces``)."""
    return [fold_pieces([lookup[node] for node in range_pieces(r)]) for r in ranges]


# --- verification algorithms ------------------------------------------------------------------


def _check_hashes(path: Sequence[bytes], *named: bytes) -> None:
    if any(len(p) != HASH_SIZE for p in path) or any(len(h) != HASH_SIZE for h in named):
        raise MalformedProof("every hash is 32 bytes (SM3)", code="log.proof_bad_hash_size")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root that ``path`` proves ``leaf`` (a leaf hash) to be under.

    Raises ``MalformedProof`` where the RFC says "fail" before any root comparison.
    """
    _check_hashes(path, leaf)
    # 1. "If leaf_index is greater than or equal to tree_size, then fail."
    if not 0 <= index < size:
        raise MalformedProof("leaf index outside the tree", code="log.index_out_of_range")
    # 2. "Set fn to leaf_index and sn to tree_size - 1.  3. Set r to hash."
    fn, sn, r = index, size - 1, leaf
    for p in path:
        # 4a. "If sn is 0, then stop the iteration and fail the proof verification."
        if sn == 0:
            raise MalformedProof("inclusion path too long", code="log.proof_wrong_length")
        # 4b. "If LSB(fn) is set, or if fn is equal to sn, then: ..."
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        # 4c. "Finally, right-shift both fn and sn one time."
        fn >>= 1
        sn >>= 1
    # 5. "Compare sn to 0 ..."
    if sn != 0:
        raise MalformedProof("inclusion path too short", code="log.proof_wrong_length")
    return r


def root_from_consistency_proof(
    first: int, second: int, first_root: bytes, path: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """RFC 9162 §2.1.4.2: the (first, second) roots that ``path`` links.

    The caller compares both with the roots it trusts. ``first == second`` needs an empty path
    and yields ``(first_root, first_root)``. Proofs are defined for ``0 < first`` only; the empty
    tree is a prefix of every tree, which no proof can add to (the caller's case).
    """
    _check_hashes(path, first_root)
    if not 0 < first <= second:
        raise MalformedProof("need 0 < first <= second", code="log.bad_sizes")
    if first == second:
        if path:
            raise MalformedProof("proof must be empty", code="log.proof_wrong_length")
        return first_root, first_root
    # 1. "If consistency_path is an empty array, stop and fail the proof verification."
    if not path:
        raise MalformedProof("consistency path is empty", code="log.proof_wrong_length")
    # 2. "If first is an exact power of 2, then prepend first_hash to the consistency_path."
    nodes = list(path)
    if first & (first - 1) == 0:
        nodes.insert(0, first_root)
    # 3. "Set fn to first - 1 and sn to second - 1."
    fn, sn = first - 1, second - 1
    # 4. "If LSB(fn) is set, then right-shift both fn and sn until LSB(fn) is not set."
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. "Set both fr and sr to the first value in the consistency_path array."
    fr = sr = nodes[0]
    for c in nodes[1:]:
        # 6a. "If sn is 0, then stop the iteration and fail the proof verification."
        if sn == 0:
            raise MalformedProof("consistency path too long", code="log.proof_wrong_length")
        # 6b. "If LSB(fn) is set, or if fn is equal to sn, then: ..."
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        # 6c. "Finally, right-shift both fn and sn one time."
        fn >>= 1
        sn >>= 1
    # 7. "... sn is 0" (the root comparisons are the caller's).
    if sn != 0:
        raise MalformedProof("consistency path too short", code="log.proof_wrong_length")
    return fr, sr
