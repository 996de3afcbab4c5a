"""``trust.ids``: random and time-ordered identifiers."""

from __future__ import annotations

import re
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
