"""Pure lifecycle rules: transitions, signability, algorithms per usage, rotation plans."""

from __future__ import annotations

import itertools

import pytest

from keys import rotation
from keys.interfaces import KeyStatus, KeyUsage
from trust.errors import Conflict, InvalidInput
from trust.signing import SignatureAlgorithm

ALLOWED = {
    (KeyStatus.PENDING, KeyStatus.ACTIVE),
    (KeyStatus.PENDING, KeyStatus.DESTROYED),
    (KeyStatus.ACTIVE, KeyStatus.RETIRED),
    (KeyStatus.RETIRED, KeyStatus.DESTROYED),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(KeyStatus, KeyStatus)))
def test_transitions_follow_the_lifecycle(current: KeyStatus, target: KeyStatus) -> None:
    if (current, target) in ALLOWED:
        rotation.check_transition("key_x", current, target)
        return
    with pytest.raises(Conflict) as info:
        rotation.check_transition("key_x", current, target)
    assert info.value.code == "keys.bad_transition"
    assert "key_x" in info.value.detail


def test_destroying_an_active_key_says_to_rotate_first() -> None:
    with pytest.raises(Conflict, match="rotate it out first"):
        rotation.check_transition("key_x", KeyStatus.ACTIVE, KeyStatus.DESTROYED)


@pytest.mark.parametrize("status", list(KeyStatus))
def test_only_active_keys_sign(status: KeyStatus) -> None:
    if status is KeyStatus.ACTIVE:
        rotation.require_signable("key_x", status)
        return
    with pytest.raises(Conflict) as info:
        rotation.require_signable("key_x", status)
    assert info.value.code == "keys.not_active"
    assert status.value in info.value.detail


@pytest.mark.parametrize("usage", list(KeyUsage))
def test_every_usage_allows_sm2_and_only_token_signing_allows_es256(usage: KeyUsage) -> None:
    rotation.check_algorithm(usage, SignatureAlgorithm.SM2_SM3)
    if usage is KeyUsage.TOKEN_SIGNING:
        rotation.check_algorithm(usage, SignatureAlgorithm.ES256)
        assert rotation.default_algorithm(usage) is SignatureAlgorithm.ES256
        return
    assert rotation.default_algorithm(usage) is SignatureAlgorithm.SM2_SM3
    with pytest.raises(InvalidInput) as info:
        rotation.check_algorithm(usage, SignatureAlgorithm.ES256)
    assert info.value.code == "keys.algorithm_not_allowed"


def test_resolve_algorithm_uses_the_default_and_checks_an_explicit_choice() -> None:
    assert rotation.resolve_algorithm(KeyUsage.TOKEN_SIGNING, None) is SignatureAlgorithm.ES256
    assert (
        rotation.resolve_algorithm(KeyUsage.TOKEN_SIGNING, SignatureAlgorithm.SM2_SM3)
        is SignatureAlgorithm.SM2_SM3
    )
    with pytest.raises(InvalidInput):
        rotation.resolve_algorithm(KeyUsage.SEAL_HOLDER, SignatureAlgorithm.ES256)


def test_rotation_plan_promotes_the_published_key_and_always_publishes_the_next() -> None:
    plan = rotation.plan_rotation(active="key_a", pending="key_b")
    assert (plan.retire, plan.promote, plan.create_next) == ("key_a", "key_b", True)
    first = rotation.plan_rotation(active=None, pending=None)
    assert (first.retire, first.promote, first.create_next) == (None, None, True)
    no_next = rotation.plan_rotation(active="key_a", pending=None)
    assert (no_next.retire, no_next.promote) == ("key_a", None)
