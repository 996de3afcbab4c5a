"""What the rest of the service may know about keys: usages, states, public metadata, a
``Signer`` and the ``KeyStore`` protocol. Never private bytes.

Two implementations exist or are foreseen, and both must pass the one conformance test
(``tests/unit/keys/test_conformance.py``):

* ``keys.software.SoftwareKeyStore``: private keys encrypted with SM4-GCM under a master key, in
  the database (development, tests, small installations);
* ``keys.hsm.HsmKeyStore``: the seam for a hardware module (PKCS#11, or GM/T 0018 SDF on a
  cipher machine). ``generate`` creates the key inside the device and stores only metadata and a
  handle reference; ``signer`` returns a ``Signer`` whose ``sign`` calls the device.

Uniqueness rule (enforced by the keystore and, for ACTIVE and PENDING, by partial unique indexes):
at most one ACTIVE and at most one PENDING key per ``(usage, owner, algorithm)``. The algorithm is
part of the rule because token signing runs an ES256 key and, for clients that ask for it, an SM2
key side by side (``specs/identity.md`` §4 item 10, §7.3). Every other usage allows SM2 only, so
for them the rule is "one ACTIVE key per (usage, owner)". Where a method takes
``algorithm=None`` it means the usage's default algorithm (``keys.rotation.default_algorithm``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from sqlalchemy.orm import Session

from trust.clock import Clock
from trust.signing import SignatureAlgorithm, Signer

__all__ = ["KeyInfo", "KeyStatus", "KeyStore", "KeyUsage", "SignatureAlgorithm", "Signer"]


class KeyUsage(StrEnum):
    """What a key signs. One key has exactly one usage for its whole life."""

    #: Certificates and CRLs of the service CA (``trust.ca``).
    CA = "ca"
    #: The seal maker (制章者) signature over an electronic seal (GB/T 38540 SESeal).
    SEAL_MAKER = "seal_maker"
    #: A seal holder's (用章者) stamping key; ``owner`` is the organisation.
    SEAL_HOLDER = "seal_holder"
    LICENCE_ISSUER = "licence_issuer"
    ARCHIVE = "archive"
    TIMESTAMP = "timestamp"
    #: OpenID Provider tokens: ES256 by default, SM2 for clients that opt in.
    TOKEN_SIGNING = "token_signing"  # noqa: S105 - a usage name, not a secret
    #: Checkpoints of the transparency log (``trust.tlog``).
    TRANSPARENCY_LOG = "transparency_log"


class KeyStatus(StrEnum):
    #: Generated and published but not yet used to sign (the "next" key of a rotation).
    PENDING = "pending"
    #: The one key that signs for its (usage, owner, algorithm).
    ACTIVE = "active"
    #: No longer signs; its public key still verifies what it signed.
    RETIRED = "retired"
    #: Private material erased; metadata and public key kept for verification and audit.
    DESTROYED = "destroyed"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Public metadata of one key. Safe to show, log and return from an API."""

    key_id: str
    algorithm: SignatureAlgorithm
    usage: KeyUsage
    status: KeyStatus
    owner: str | None  # e.g. organisation id for seal-holder keys; None for service keys
    label: str
    #: SubjectPublicKeyInfo DER.
    public_key_der: bytes
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None
    destroyed_at: datetime | None = None


@runtime_checkable
class KeyStore(Protocol):
    """Custody of private keys. Methods never commit: the caller owns the transaction, and every
    state change appends its ``key.*`` transparency-log event in that same transaction.

    Errors (stable codes): ``keys.not_found`` / ``keys.no_active_key`` (NotFound),
    ``keys.not_active``, ``keys.active_exists``, ``keys.pending_exists``,
    ``keys.bad_transition`` (Conflict), ``keys.algorithm_not_allowed`` (InvalidInput),
    ``keys.master_key_mismatch`` (Misconfigured), ``keys.hsm_unavailable`` (Unavailable).
    """

    def check(self, *, session: Session) -> None:
        """Confirm this keystore can serve the database behind ``session`` (software: the master
        key matches the one the keys were wrapped with; hardware: the device answers). Writes
        nothing. Raises ``Misconfigured`` or ``Unavailable`` with a clear message."""
        ...

    def generate(
        self,
        *,
        session: Session,
        clock: Clock,
        usage: KeyUsage,
        algorithm: SignatureAlgorithm | None = None,
        label: str,
        owner: str | None = None,
        activate: bool = True,
        actor: str = "system",
    ) -> KeyInfo:
        """Create a key; ``activate=False`` leaves it PENDING (published before it signs).
        Refused with ``Conflict`` if it would make a second ACTIVE (or PENDING) key."""
        ...

    def get(self, *, session: Session, key_id: str) -> KeyInfo:
        """One key's public metadata; ``NotFound`` if unknown."""
        ...

    def list(
        self, *, session: Session, usage: KeyUsage | None = None, owner: str | None = None
    ) -> Sequence[KeyInfo]:
        """Keys in every state, filtered by usage and owner (``None`` means any owner),
        ordered by usage, owner, creation time."""
        ...

    def signer(self, *, session: Session, key_id: str) -> Signer:
        """A signer for an ACTIVE key; other states raise ``Conflict`` (``keys.not_active``).

        The signer is meant for the unit of work it was obtained in: ask again per transaction,
        so that a rotation or destruction elsewhere takes effect."""
        ...

    def active_signer(
        self,
        *,
        session: Session,
        usage: KeyUsage,
        owner: str | None = None,
        algorithm: SignatureAlgorithm | None = None,
    ) -> Signer:
        """The one ACTIVE key for ``usage``/``owner``/``algorithm`` (``owner=None``: a service
        key with no owner); ``NotFound`` (``keys.no_active_key``) if there is none."""
        ...

    def rotate(
        self,
        *,
        session: Session,
        clock: Clock,
        usage: KeyUsage,
        owner: str | None = None,
        algorithm: SignatureAlgorithm | None = None,
        actor: str = "system",
    ) -> KeyInfo:
        """Promote the PENDING key (or, when there is none, a new one) to ACTIVE, retire the old
        ACTIVE one, and create the next PENDING key so that it is published before it signs.
        Returns the new ACTIVE key."""
        ...

    def destroy(
        self, *, session: Session, clock: Clock, key_id: str, reason: str, actor: str = "system"
    ) -> KeyInfo:
        """Erase the private material of a PENDING or RETIRED key (an ACTIVE key is rotated
        out first); metadata and public key stay for verification."""
        ...
