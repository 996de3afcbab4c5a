"""RFC 9162 §2.1 maths with SM3 against an independent naive implementation, exhaustively for
every tree size 1..65, every leaf index and every (first, second) pair, plus tampering."""

from __future__ import annotations

import pytest

from tests.unit.tlog._support import naive_mth, naive_path, naive_proof
from trust.tlog import merkle
from trust.tlog.merkle import MalformedProof

MAX = 65
DATA = [f"leaf-{i}".encode() for i in range(MAX)]
LEAVES = [merkle.leaf_hash(d) for d in DATA]


def _lookup(size: int) -> dict[merkle.Node, bytes]:
    """Every perfect subtree of [0, size), computed naively."""
    out: dict[merkle.Node, bytes] = {}
    level = 0
    while 1 << level <= size:
        width = 1 << level
        for i in range(size // width):
            out[(level, i)] = naive_mth(DATA[i * width : (i + 1) * width])
        level += 1
    return out


LOOKUP = _lookup(MAX)
ROOTS = [naive_mth(DATA[:n]) for n in range(MAX + 1)]


def test_known_answers_from_the_archive_spec() -> None:
    # specs/earchive.md §8.4 [computed] values, leaves "a", "b", "c".
    a, b, c = (merkle.leaf_hash(x) for x in (b"a", b"b", b"c"))
    assert merkle.empty_root().hex() == (
        "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"
    )
    assert a.hex() == "c688f41bcd570f9651ccb215058a545f66f52ab4eac2968896e1637af9443d8c"
    ab = merkle.root_from_leaves([a, b])
    assert ab.hex() == "2c537e31416ae684fd8a1552a3bcd5a452274e02a45d67c856405b3a1108ee90"
    abc = merkle.root_from_leaves([a, b, c])
    assert abc.hex() == "2706e4e4d41c1ed9c3fe7f7822bf360a67abcc052cc2c00022c1313ec3ded965"
    lookup = {(0, 0): a, (0, 1): b, (0, 2): c, (1, 0): ab}
    assert merkle.hash_ranges(merkle.inclusion_ranges(2, 3), lookup) == [ab]
    path = merkle.hash_ranges(merkle.consistency_ranges(2, 3), lookup)
    assert [p.hex() for p in path] == [
        "5b280c126260877493fd073e309507ce00677c1f89d8d24d97d61a7a4dff401c"
    ]


@pytest.mark.parametrize("size", range(MAX + 1))
def test_roots_and_frontier(size: int) -> None:
    assert merkle.root_from_leaves(LEAVES[:size]) == ROOTS[size]
    frontier: list[bytes] = []
    completed = []
    for i in range(size):
        completed += merkle.frontier_append(i, frontier, LEAVES[i])
    assert frontier == [LOOKUP[node] for node in merkle.frontier_pieces(size)]
    assert merkle.frontier_root(frontier) == ROOTS[size]
    # Every interior perfect subtree is reported exactly once, when complete, with its hash.
    interior = {k: v for k, v in _lookup(size).items() if k[0] > 0}
    assert {(lvl, i): h for lvl, i, h in completed} == interior
    assert len(completed) == len(interior)


@pytest.mark.parametrize("size", range(1, MAX + 1))
def test_inclusion_every_index(size: int) -> None:
    for index in range(size):
        expected = naive_path(index, DATA[:size])
        path = merkle.hash_ranges(merkle.inclusion_ranges(index, size), LOOKUP)
        assert path == expected, (index, size)
        root = merkle.root_from_inclusion_proof(index, size, LEAVES[index], path)
        assert root == ROOTS[size]


@pytest.mark.parametrize("second", range(1, MAX + 1))
def test_consistency_every_pair(second: int) -> None:
    for first in range(1, second + 1):
        expected = naive_proof(first, DATA[:second])
        path = merkle.hash_ranges(merkle.consistency_ranges(first, second), LOOKUP)
        assert path == expected, (first, second)
        fr, sr = merkle.root_from_consistency_proof(first, second, ROOTS[first], path)
        assert (fr, sr) == (ROOTS[first], ROOTS[second])


def test_consistency_from_the_empty_tree() -> None:
    # Nothing to prove (RFC 9162 §2.1.4 defines 0 < first): an empty path, and the verifier
    # refuses to compute roots from it (trust.tlog.verify handles first == 0 itself).
    assert merkle.consistency_ranges(0, 5) == []
    with pytest.raises(MalformedProof) as exc:
        merkle.root_from_consistency_proof(0, 5, merkle.empty_root(), [])
    assert exc.value.code == "log.bad_sizes"


def _flip(b: bytes, i: int = 0) -> bytes:
    return b[:i] + bytes([b[i] ^ 1]) + b[i + 1 :]


@pytest.mark.parametrize("size", [2, 3, 7, 8, 13, 32, 65])
def test_inclusion_tampering_never_reaches_the_root(size: int) -> None:
    for index in range(size):
        path = naive_path(index, DATA[:size])
        for j in range(len(path)):
            bad = [*path[:j], _flip(path[j], j % 32), *path[j + 1 :]]
            assert merkle.root_from_inclusion_proof(index, size, LEAVES[index], bad) != ROOTS[size]
        assert (
            merkle.root_from_inclusion_proof(index, size, _flip(LEAVES[index]), path) != ROOTS[size]
        )
        if index + 1 < size:  # the same path claimed for a neighbour: wrong length or root
            if len(path) != len(naive_path(index + 1, DATA[:size])):
                with pytest.raises(MalformedProof, match="inclusion path too"):
                    merkle.root_from_inclusion_proof(index + 1, size, LEAVES[index], path)
            else:
                got = merkle.root_from_inclusion_proof(index + 1, size, LEAVES[index], path)
                assert got != ROOTS[size]


@pytest.mark.parametrize(
    ("index", "size", "path_change", "code"),
    [
        (3, 3, 0, "log.index_out_of_range"),
        (-1, 4, 0, "log.index_out_of_range"),
        (0, 0, 0, "log.index_out_of_range"),
        (2, 5, 1, "log.proof_wrong_length"),
        (2, 5, -1, "log.proof_wrong_length"),
    ],
)
def test_inclusion_malformed(index: int, size: int, path_change: int, code: str) -> None:
    path = naive_path(min(max(index, 0), size - 1), DATA[:size]) if size else []
    if path_change > 0:
        path = [*path, LEAVES[0]]
    elif path_change < 0:
        path = path[:-1]
    with pytest.raises(MalformedProof) as exc:
        merkle.root_from_inclusion_proof(index, size, LEAVES[0], path)
    assert exc.value.code == code


def test_bad_hash_sizes() -> None:
    path = naive_path(1, DATA[:4])
    with pytest.raises(MalformedProof) as exc:
        merkle.root_from_inclusion_proof(1, 4, LEAVES[1], [path[0][:31], path[1]])
    assert exc.value.code == "log.proof_bad_hash_size"
    with pytest.raises(MalformedProof):
        merkle.root_from_consistency_proof(3, 4, ROOTS[3] + b"\x00", naive_proof(3, DATA[:4]))


@pytest.mark.parametrize("second", [2, 5, 8, 17, 64, 65])
def test_consistency_tampering(second: int) -> None:
    for first in range(1, second):
        path = naive_proof(first, DATA[:second])
        for j in range(len(path)):
            bad = [*path[:j], _flip(path[j]), *path[j + 1 :]]
            fr, sr = merkle.root_from_consistency_proof(first, second, ROOTS[first], bad)
            assert (fr, sr) != (ROOTS[first], ROOTS[second])
        with pytest.raises(MalformedProof):
            merkle.root_from_consistency_proof(first, second, ROOTS[first], [*path, LEAVES[0]])
        with pytest.raises(MalformedProof):
            merkle.root_from_consistency_proof(first, second, ROOTS[first], [])
        # A proof for another pair of sizes does not link these roots.
        if first + 1 < second:
            other = naive_proof(first + 1, DATA[:second])
            try:
                got = merkle.root_from_consistency_proof(first, second, ROOTS[first], other)
            except MalformedProof:
                continue
            assert got != (ROOTS[first], ROOTS[second])


def test_equal_sizes_need_an_empty_proof() -> None:
    assert merkle.root_from_consistency_proof(5, 5, ROOTS[5], []) == (ROOTS[5], ROOTS[5])
    with pytest.raises(MalformedProof):
        merkle.root_from_consistency_proof(5, 5, ROOTS[5], [LEAVES[0]])
    with pytest.raises(MalformedProof):
        merkle.root_from_consistency_proof(6, 5, ROOTS[6], [LEAVES[0]])
    with pytest.raises(MalformedProof):
        merkle.consistency_ranges(6, 5)
    with pytest.raises(MalformedProof):
        merkle.inclusion_ranges(5, 5)
