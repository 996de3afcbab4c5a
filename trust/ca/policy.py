"""The leaf key-usage policy a certification path is validated against (pure, no imports)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LeafPolicy"]


@dataclass(frozen=True, slots=True)
class LeafPolicy:
    """What the end-entity (depth 0) certificate must allow. Every field is explicit
    (RFC 5280 §4.2.1.3 keyUsage, §4.2.1.12 extKeyUsage; RFC 3161 §2.3 for time-stamping)."""

    #: keyUsage bits that must all be set (asn1crypto names); an absent keyUsage fails.
    key_usage: frozenset[str]
    #: extKeyUsage purposes (dotted OIDs), at least one of which must be present; empty: none.
    extended_key_usage: frozenset[str]
    #: The extKeyUsage extension must be marked critical (RFC 3161 §2.3).
    eku_must_be_critical: bool
    #: The extKeyUsage extension must hold exactly one purpose (RFC 3161 §2.3).
    eku_exclusive: bool
    #: The leaf must not be a CA (basicConstraints cA FALSE or absent).
    end_entity: bool
