"""Key lifecycle rules (pure: no I/O, no database).

States and transitions::

    PENDING --activate--> ACTIVE --retire--> RETIRED --destroy--> DESTROYED
       \\______________________destroy_____________________________/^

* Only an ACTIVE key signs. PENDING keys are published (JWKS, key lists) but do not sign yet;
  RETIRED keys still verify what they signed; DESTROYED keys have no private material.
* An ACTIVE key is never destroyed directly: it is rotated out first, so that a usage is never
  left without a signer by accident (emergency runbook: ``rotate`` then ``destroy``).
* Rotation publishes the next key before it signs (``specs/identity.md`` §3, lesson from
  keycloak#49658 and ory/hydra#2535): the PENDING key created by rotation *n* is promoted by
  rotation *n + 1*; the rotation interval is the publication lead time. Only when no PENDING key
  exists (the very first rotation) is a fresh key activated at once.
* Algorithms per usage: SM2 with SM3 for everything; token signing also ES256 (its default),
  because no JOSE algorithm is registered for SM2 (``specs/identity.md`` §7.2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from keys.interfaces import KeyStatus, KeyUsage
from trust.errors import Conflict, InvalidInput
from trust.signing import SignatureAlgorithm

__all__ = [
    "ALLOWED_ALGORITHMS",
    "RotationPlan",
    "check_algorithm",
    "check_transition",
    "default_algorithm",
    "plan_rotation",
    "require_signable",
    "resolve_algorithm",
]

_SM2_ONLY: Final = frozenset({SignatureAlgorithm.SM2_SM3})

#: Which algorithms a key of each usage may have.
ALLOWED_ALGORITHMS: Final[Mapping[KeyUsage, frozenset[SignatureAlgorithm]]] = MappingProxyType(
    {
        **{usage: _SM2_ONLY for usage in KeyUsage},
        KeyUsage.TOKEN_SIGNING: frozenset({SignatureAlgorithm.ES256, SignatureAlgorithm.SM2_SM3}),
    }
)

_DEFAULTS: Final[Mapping[KeyUsage, SignatureAlgorithm]] = MappingProxyType(
    {
        **{usage: SignatureAlgorithm.SM2_SM3 for usage in KeyUsage},
        KeyUsage.TOKEN_SIGNING: SignatureAlgorithm.ES256,
    }
)

_TRANSITIONS: Final[Mapping[KeyStatus, frozenset[KeyStatus]]] = MappingProxyType(
    {
        KeyStatus.PENDING: frozenset({KeyStatus.ACTIVE, KeyStatus.DESTROYED}),
        KeyStatus.ACTIVE: frozenset({KeyStatus.RETIRED}),
        KeyStatus.RETIRED: frozenset({KeyStatus.DESTROYED}),
        KeyStatus.DESTROYED: frozenset(),
    }
)


def default_algorithm(usage: KeyUsage) -> SignatureAlgorithm:
    """ES256 for token signing, SM2 with SM3 for every other usage."""
    return _DEFAULTS[usage]


def check_algorithm(usage: KeyUsage, algorithm: SignatureAlgorithm) -> None:
    """Refuse an algorithm the usage does not allow (``keys.algorithm_not_allowed``)."""
    if algorithm not in ALLOWED_ALGORITHMS[usage]:
        allowed = ", ".join(sorted(a.value for a in ALLOWED_ALGORITHMS[usage]))
        raise InvalidInput(
            f"{algorithm.value} keys are not allowed for {usage.value} (allowed: {allowed})",
            code="keys.algorithm_not_allowed",
        )


def resolve_algorithm(usage: KeyUsage, algorithm: SignatureAlgorithm | None) -> SignatureAlgorithm:
    """``algorithm`` or the usage's default, checked against the allow-list."""
    chosen = default_algorithm(usage) if algorithm is None else algorithm
    check_algorithm(usage, chosen)
    return chosen


def check_transition(key_id: str, current: KeyStatus, target: KeyStatus) -> None:
    """Refuse a state change the lifecycle does not allow (``keys.bad_transition``)."""
    if target not in _TRANSITIONS[current]:
        hint = " (rotate it out first)" if current is KeyStatus.ACTIVE else ""
        raise Conflict(
            f"key {key_id} is {current.value} and cannot become {target.value}{hint}",
            code="keys.bad_transition",
        )


def require_signable(key_id: str, status: KeyStatus) -> None:
    """Only an ACTIVE key signs (``keys.not_active``)."""
    if status is not KeyStatus.ACTIVE:
        raise Conflict(
            f"key {key_id} is {status.value}; only an active key signs",
            code="keys.not_active",
        )


@dataclass(frozen=True, slots=True)
class RotationPlan:
    """What one rotation does for a (usage, owner, algorithm)."""

    #: The ACTIVE key to retire, if any.
    retire: str | None
    #: The PENDING key to activate; ``None``: generate a key and activate it at once.
    promote: str | None
    #: Always true: rotation leaves a published PENDING key behind for the next rotation.
    create_next: bool = True


def plan_rotation(*, active: str | None, pending: str | None) -> RotationPlan:
    """Plan a rotation from the current ACTIVE and PENDING key ids (either may be absent)."""
    return RotationPlan(retire=active, promote=pending, create_next=True)
