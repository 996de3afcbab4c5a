"""Argon2id with the stated parameters; hashes verify with argon2-cffi directly."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type
from argon2.low_level import Type as LowType
from argon2.low_level import verify_secret

from identity.passwords import (
    ARGON2_MEMORY_COST_KIB,
    ARGON2_PARALLELISM,
    ARGON2_PARAMETERS,
    ARGON2_TIME_COST,
    hash_password,
    verify_password,
)
from trust.errors import InvalidInput

PW = "correct horse battery"


def test_parameters_are_as_stated() -> None:
    assert (ARGON2_TIME_COST, ARGON2_MEMORY_COST_KIB, ARGON2_PARALLELISM) == (3, 65536, 1)
    assert ARGON2_PARAMETERS.type is Type.ID
    assert ARGON2_PARAMETERS.hash_len == 32
    assert ARGON2_PARAMETERS.salt_len == 16


def test_hash_is_argon2id_and_verifies_with_argon2_cffi_directly() -> None:
    stored = hash_password(PW)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=1$")
    assert PasswordHasher().verify(stored, PW)
    assert verify_secret(stored.encode(), PW.encode(), LowType.ID)
    assert verify_password(PW, stored).ok
    assert not verify_password(PW + "x", stored).ok
    assert not verify_password(PW, None).ok
    assert not verify_password("x" * 129, stored).ok
    assert not verify_password(PW, "not a hash").ok


def test_rehash_flag_on_other_parameters() -> None:
    old = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash(PW)
    check = verify_password(PW, old)
    assert check.ok
    assert check.needs_rehash
    assert not verify_password(PW, hash_password(PW)).needs_rehash


@pytest.mark.parametrize("bad", ["short", "a" * 129, "aaaaaaaaaa", "abababab"])
def test_policy(bad: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        hash_password(bad)
    assert caught.value.code == "identity.password_policy"
