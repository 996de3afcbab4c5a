"""``trust.ids``: random and time-ordered identifiers."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from trust.ids import new_id, new_ordered_id

SHAPE = re.compile(r"[a-z]+_[0-9a-hjkmnp-tv-z]{24}")
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def test_ordered_ids_have_the_shape_of_random_ones() -> None:
    assert SHAPE.fullmatch(new_id("lvf"))
    assert SHAPE.fullmatch(new_ordered_id("lvf", T0))


def test_ordered_ids_sort_by_time_and_stay_unguessable() -> None:
    ids = [new_ordered_id("lvf", T0 + timedelta(milliseconds=i)) for i in range(500)]
    assert ids == sorted(ids)
    same_ms = {new_ordered_id("lvf", T0) for _ in range(500)}
    assert len(same_ms) == 500  # 70 random bits after the time
    assert len({i[4:14] for i in same_ms}) == 1  # the time part
    assert new_ordered_id("lvf", datetime(2000, 1, 1, tzinfo=UTC)) < min(ids)


def test_time_before_the_epoch_is_refused() -> None:
    with pytest.raises(ValueError, match="range"):
        new_ordered_id("lvf", datetime(1969, 12, 31, tzinfo=UTC))


def test_new_id_is_the_big_endian_crockford_encoding_of_its_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The two-characters-at-a-time path gives what the 5-bit reference encoding gives."""
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    for raw in (bytes(15), b"\xff" * 15, bytes(range(1, 16)), secrets.token_bytes(15)):
        monkeypatch.setattr(secrets, "token_bytes", lambda n, raw=raw: raw[:n])
        n = int.from_bytes(raw, "big")
        expected = "".join(alphabet[n >> (5 * i) & 31] for i in range(23, -1, -1))
        assert new_id("req") == f"req_{expected}"
    monkeypatch.setattr(secrets, "token_bytes", lambda n: bytes(range(n)))
    assert new_id("k", nbytes=8) == "k_" + "".join(
        alphabet[int.from_bytes(bytes(range(8)), "big") >> (5 * i) & 31] for i in range(12, -1, -1)
    )
