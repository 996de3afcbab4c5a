"""Identity-proofing level from evidence (pure; ``specs/identity.md`` §8.3).

=====  =========================================================================================
level  sufficient evidence (any one, outcome ``match``)
=====  =========================================================================================
P1     none: registered, self-asserted
P2     ``population`` (name + ID number); for a legal person ``enterprise`` (name + USCC + legal
       representative)
P3     ``face`` (liveness and match against the ID photo, score at or above the threshold) or
       ``bank_card`` (four elements). Both are checked by the source against the name and ID
       number, so they imply P2.
P4     ``certificate``, ``in_person``, or ``network_id`` at upstream level 3 (网证 with face);
       ``network_id`` level 2 (网证 without face) counts as P3, level 1 (网号 only) as P2.
Pn     ``federation``: the level an upstream OpenID provider asserted for the verified name and
       ID number at a brokered login (``details.level`` 2-4 gives P2-P4; trusted as is).
=====  =========================================================================================

The 网证 level table is reconstructed: the national platform's official table was not obtained
(§8.2). Mismatches never lower a level already earned; they are kept as evidence and security
events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from identity.assurance import ProofingLevel
from identity.evidence import EvidenceKind, Outcome

__all__ = ["FACE_SCORE_THRESHOLD", "EvidenceFact", "ProofingOutcome", "derive_proofing_level"]

#: Minimum similarity score (0-100) of a face match, besides the provider's own ``pass``.
FACE_SCORE_THRESHOLD: Final = 80.0
_NETWORK_ID_LEVELS: Final = {1: ProofingLevel.P2, 2: ProofingLevel.P3, 3: ProofingLevel.P4}
_FEDERATION_LEVELS: Final = {2: ProofingLevel.P2, 3: ProofingLevel.P3, 4: ProofingLevel.P4}
_FIXED: Final = {
    EvidenceKind.POPULATION: ProofingLevel.P2,
    EvidenceKind.ENTERPRISE: ProofingLevel.P2,
    EvidenceKind.BANK_CARD: ProofingLevel.P3,
    EvidenceKind.CERTIFICATE: ProofingLevel.P4,
    EvidenceKind.IN_PERSON: ProofingLevel.P4,
}


@dataclass(frozen=True, slots=True)
class EvidenceFact:
    evidence_id: str
    kind: EvidenceKind
    outcome: Outcome
    details: dict[str, str | int | float | bool]


@dataclass(frozen=True, slots=True)
class ProofingOutcome:
    level: ProofingLevel
    #: The evidence that earned ``level`` (``None`` for P1).
    basis: str | None


def _level_of(fact: EvidenceFact) -> ProofingLevel:
    if fact.outcome is not Outcome.MATCH:
        return ProofingLevel.P1
    if fact.kind in _FIXED:
        return _FIXED[fact.kind]
    if fact.kind is EvidenceKind.FACE:
        score = fact.details.get("score")
        live = fact.details.get("liveness") is True
        good = isinstance(score, int | float) and float(score) >= FACE_SCORE_THRESHOLD
        return ProofingLevel.P3 if live and good else ProofingLevel.P1
    if fact.kind is EvidenceKind.FEDERATION:
        upstream = fact.details.get("level")
        if isinstance(upstream, int) and not isinstance(upstream, bool):
            return _FEDERATION_LEVELS.get(upstream, ProofingLevel.P1)
    if fact.kind is EvidenceKind.NETWORK_ID:
        upstream = fact.details.get("level")
        if isinstance(upstream, int) and not isinstance(upstream, bool):
            return _NETWORK_ID_LEVELS.get(upstream, ProofingLevel.P1)
    return ProofingLevel.P1  # phone_otp and anything unrecognised add nothing


def derive_proofing_level(evidence: Iterable[EvidenceFact]) -> ProofingOutcome:
    best = ProofingOutcome(ProofingLevel.P1, None)
    for fact in evidence:
        level = _level_of(fact)
        if level > best.level:
            best = ProofingOutcome(level, fact.evidence_id)
    return best
