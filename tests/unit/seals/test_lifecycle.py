"""The seal lifecycle state machine and seal kinds (seals.lifecycle): every allowed transition,
every refused one with ``seal.bad_transition``, expiry by validity, and the kind table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from seals.errors import BadTransition, UnknownSealType
from seals.lifecycle import (
    FINAL_STATES,
    LifecycleAction,
    SealShapeKind,
    SealStatus,
    SealType,
    effective_status,
    next_status,
    parse_seal_type,
    type_info,
)

A = LifecycleAction
S = SealStatus

ALLOWED = {
    (S.APPLIED, A.MAKE): S.MADE,
    (S.MADE, A.ACTIVATE): S.ACTIVE,
    (S.ACTIVE, A.SUSPEND): S.SUSPENDED,
    (S.SUSPENDED, A.RESUME): S.ACTIVE,
    (S.APPLIED, A.REVOKE): S.REVOKED,
    (S.MADE, A.REVOKE): S.REVOKED,
    (S.ACTIVE, A.REVOKE): S.REVOKED,
    (S.SUSPENDED, A.REVOKE): S.REVOKED,
    (S.MADE, A.EXPIRE): S.EXPIRED,
    (S.ACTIVE, A.EXPIRE): S.EXPIRED,
    (S.SUSPENDED, A.EXPIRE): S.EXPIRED,
}


@pytest.mark.parametrize(("state", "action"), list(ALLOWED))
def test_allowed_transitions(state: SealStatus, action: LifecycleAction) -> None:
    assert next_status(state, action) is ALLOWED[(state, action)]


@pytest.mark.parametrize(
    ("state", "action"),
    [(s, a) for s in SealStatus for a in LifecycleAction if (s, a) not in ALLOWED],
)
def test_every_other_transition_is_refused(state: SealStatus, action: LifecycleAction) -> None:
    with pytest.raises(BadTransition) as info:
        next_status(state, action)
    assert info.value.code == "seal.bad_transition"
    assert info.value.extra == {"status": state.value, "action": action.value}


def test_final_states_have_no_way_out() -> None:
    for state in FINAL_STATES:
        for action in LifecycleAction:
            with pytest.raises(BadTransition):
                next_status(state, action)


def test_a_seal_past_its_validity_is_expired_whatever_was_recorded() -> None:
    end = datetime(2027, 1, 1, tzinfo=UTC)
    before, after = end - timedelta(seconds=1), end + timedelta(seconds=1)
    for state in (S.MADE, S.ACTIVE, S.SUSPENDED):
        assert effective_status(state, valid_to=end, now=before) is state
        assert effective_status(state, valid_to=end, now=after) is S.EXPIRED
    # Revoked says more than expired; an application was never a usable seal.
    assert effective_status(S.REVOKED, valid_to=end, now=after) is S.REVOKED
    assert effective_status(S.APPLIED, valid_to=end, now=after) is S.APPLIED


def test_kinds_have_stable_codes_shapes_and_names() -> None:
    assert type_info(SealType.OFFICIAL).label == "公章"
    assert type_info(SealType.ADMIN_APPROVAL).label == "行政审批专用章"
    shapes = {t: type_info(t).shape for t in SealType}
    assert shapes[SealType.FINANCE] is shapes[SealType.INVOICE] is SealShapeKind.OVAL
    assert shapes[SealType.LEGAL_REPRESENTATIVE] is SealShapeKind.SQUARE
    assert shapes[SealType.CONTRACT] is shapes[SealType.OFFICIAL] is SealShapeKind.ROUND
    codes = [type_info(t).ses_code for t in SealType]
    assert len(set(codes)) == len(codes)
    assert type_info(SealType.LEGAL_REPRESENTATIVE).personal


@pytest.mark.parametrize("text", ["admin_approval", "行政审批专用章", "3", " admin_approval "])
def test_parse_seal_type_accepts_code_name_and_number(text: str) -> None:
    assert parse_seal_type(text) is SealType.ADMIN_APPROVAL


def test_parse_seal_type_refuses_unknown_kinds() -> None:
    with pytest.raises(UnknownSealType) as info:
        parse_seal_type("私章")
    assert info.value.code == "seal.unknown_type"
