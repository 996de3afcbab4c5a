"""Password hashing with Argon2id (RFC 9106) through argon2-cffi.

Parameters, written out (layout rule 3) and checked by a test against argon2-cffi itself:

- variant Argon2id, version 0x13;
- ``time_cost`` = 3 passes, ``memory_cost`` = 65536 KiB (64 MiB), ``parallelism`` = 1
  (RFC 9106 §4 second recommended option, with the memory that keeps one hash under ~0.2 s on
  one core);
- 16-byte random salt, 32-byte tag; stored in the PHC string format (``$argon2id$v=19$...``).

When these change, a stored hash still verifies and ``PasswordCheck.needs_rehash`` is set, so the
caller re-hashes on the next successful login. Passwords are 8-128 characters (the upper bound
keeps a hash request cheap to refuse).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

from argon2 import Parameters, PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from trust.errors import InvalidInput

__all__ = [
    "ARGON2_HASH_LEN",
    "ARGON2_MEMORY_COST_KIB",
    "ARGON2_PARALLELISM",
    "ARGON2_PARAMETERS",
    "ARGON2_SALT_LEN",
    "ARGON2_TIME_COST",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "PasswordCheck",
    "check_password_policy",
    "hash_password",
    "verify_password",
]

ARGON2_TIME_COST: Final = 3
ARGON2_MEMORY_COST_KIB: Final = 64 * 1024  # 64 MiB
ARGON2_PARALLELISM: Final = 1
ARGON2_HASH_LEN: Final = 32
ARGON2_SALT_LEN: Final = 16
#: The same, as argon2-cffi's ``Parameters`` (compared with what a stored hash carries).
ARGON2_PARAMETERS: Final = Parameters(
    type=Type.ID,
    version=19,
    salt_len=ARGON2_SALT_LEN,
    hash_len=ARGON2_HASH_LEN,
    time_cost=ARGON2_TIME_COST,
    memory_cost=ARGON2_MEMORY_COST_KIB,
    parallelism=ARGON2_PARALLELISM,
)
MIN_PASSWORD_LENGTH: Final = 8
MAX_PASSWORD_LENGTH: Final = 128

_HASHER: Final = PasswordHasher.from_parameters(ARGON2_PARAMETERS)


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the login is unknown, so that unknown and wrong cost the same."""
    return _HASHER.hash("ywtb-trust dummy password for timing equalisation")


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    #: The password matches the stored hash.
    ok: bool
    #: The hash was made with other parameters: store ``hash_password(password)`` now.
    needs_rehash: bool


def check_password_policy(password: str) -> None:
    if not (MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH):
        raise InvalidInput(
            f"密码长度应为 {MIN_PASSWORD_LENGTH}-{MAX_PASSWORD_LENGTH} 个字符",
            code="identity.password_policy",
        )
    if len(set(password)) < 4:
        raise InvalidInput("密码过于简单", code="identity.password_policy")


def hash_password(password: str) -> str:
    check_password_policy(password)
    return _HASHER.hash(password)


def verify_password(unverified_password: str, stored_hash: str | None) -> PasswordCheck:
    """Constant work whether or not an account (``stored_hash``) exists."""
    if len(unverified_password) > MAX_PASSWORD_LENGTH:
        return PasswordCheck(ok=False, needs_rehash=False)  # never a valid password: no work
    target = stored_hash if stored_hash is not None else _dummy_hash()
    try:
        _HASHER.verify(target, unverified_password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return PasswordCheck(ok=False, needs_rehash=False)
    if stored_hash is None:
        return PasswordCheck(ok=False, needs_rehash=False)
    return PasswordCheck(ok=True, needs_rehash=_HASHER.check_needs_rehash(stored_hash))
