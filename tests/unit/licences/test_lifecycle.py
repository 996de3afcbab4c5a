"""Lifecycle transitions and their 2-bit status-list values (elicence spec §4, §9.4)."""

from __future__ import annotations

import pytest

from licences.lifecycle import TERMINAL, LicenceAction, LicenceState, list_value, next_state
from licences.service_errors import LicenceConflict
from licences.status import LicenceStatus

S, A = LicenceState, LicenceAction


def test_allowed_transitions() -> None:
    assert next_state(S.ISSUED, A.SUSPEND) is S.SUSPENDED
    assert next_state(S.SUSPENDED, A.RESUME) is S.ISSUED
    assert next_state(S.ISSUED, A.SUPERSEDE) is S.SUPERSEDED
    for start in (S.ISSUED, S.SUSPENDED):
        assert next_state(start, A.REVOKE) is S.REVOKED
        assert next_state(start, A.REVOKE_PENALTY) is S.REVOKED_PENALTY
        assert next_state(start, A.WITHDRAW) is S.WITHDRAWN
        assert next_state(start, A.ANNUL) is S.CANCELLED
        assert next_state(start, A.EXPIRE) is S.EXPIRED


@pytest.mark.parametrize("state", sorted(TERMINAL))
@pytest.mark.parametrize("action", list(LicenceAction))
def test_terminal_states_are_immutable(state: LicenceState, action: LicenceAction) -> None:
    with pytest.raises(LicenceConflict):
        next_state(state, action)


def test_refused_non_terminal_transitions() -> None:
    for state, action in (
        (S.ISSUED, A.RESUME),
        (S.SUSPENDED, A.SUSPEND),
        (S.SUSPENDED, A.SUPERSEDE),
    ):
        with pytest.raises(LicenceConflict):
            next_state(state, action)


def test_list_values() -> None:
    assert list_value(S.ISSUED) is LicenceStatus.VALID
    assert list_value(S.SUSPENDED) is LicenceStatus.SUSPENDED
    assert list_value(S.SUPERSEDED) is LicenceStatus.SUPERSEDED
    for state in (S.EXPIRED, S.WITHDRAWN, S.REVOKED, S.REVOKED_PENALTY, S.CANCELLED):
        assert list_value(state) is LicenceStatus.INVALID
