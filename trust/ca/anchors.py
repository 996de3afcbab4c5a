"""The trust list: certificates verifiers accept as trust anchors (RFC 5280 §6.1.1 (d)).

This CA's own root is always on it (added by ``init_ca``). External anchors are imported from
PEM: each must be a readable X.509 v3 CA certificate (basicConstraints cA TRUE) with an SM2 key,
since every verifier here checks SM2 signatures only. Importing the same certificate twice is a
no-op. Every addition appends ``trust_list.anchor_added`` in the caller's transaction.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from trust.ca._store import log
from trust.ca.errors import BadCertificate, BadPublicKey, BadTrustAnchor
from trust.ca.model import CaTrustAnchor
from trust.ca.records import TrustAnchor
from trust.ca.x509 import parse_certificate, pem_to_der_list, sm2_spki
from trust.clock import Clock
from trust.crypto import sm3
from trust.ids import new_id

__all__ = ["add_trust_anchor", "insert_anchor", "list_trust_anchors", "trust_anchors_der"]

_MAX_LABEL = 200


def _to_anchor(row: CaTrustAnchor) -> TrustAnchor:
    return TrustAnchor(
        id=row.id,
        subject=row.subject,
        fingerprint_sm3=row.fingerprint_sm3,
        source=row.source,
        label=row.label,
        not_after=row.not_after,
        der=row.der,
        added_at=row.added_at,
    )


def insert_anchor(
    session: Session, clock: Clock, *, der: bytes, source: str, label: str | None, actor: str
) -> TrustAnchor:
    """Check and add one anchor certificate (DER); returns the existing entry if present."""
    try:
        facts = parse_certificate(der)
        sm2_spki(facts.spki_der)
    except (BadCertificate, BadPublicKey) as exc:
        raise BadTrustAnchor(f"trust anchor refused: {exc.detail}") from exc
    if facts.is_ca is not True:
        raise BadTrustAnchor("trust anchor refused: not a CA certificate (basicConstraints cA)")
    if label is not None and len(label) > _MAX_LABEL:
        raise BadTrustAnchor(f"label longer than {_MAX_LABEL} characters")
    fingerprint = sm3(der).hex()
    existing = session.scalars(
        select(CaTrustAnchor).where(CaTrustAnchor.fingerprint_sm3 == fingerprint)
    ).first()
    if existing is not None:
        return _to_anchor(existing)
    row = CaTrustAnchor(
        id=new_id("ta"),
        fingerprint_sm3=fingerprint,
        subject=facts.subject,
        source=source,
        label=label,
        not_after=facts.not_after,
        der=der,
        added_at=clock.now(),
        added_by=actor,
    )
    session.add(row)
    session.flush()
    log(
        session,
        clock,
        kind="trust_list.anchor_added",
        subject=row.id,
        actor=actor,
        payload={
            "anchor_id": row.id,
            "subject": row.subject,
            "fingerprint_sm3": fingerprint,
            "source": source,
            "not_after": row.not_after.isoformat(),
        },
    )
    return _to_anchor(row)


def add_trust_anchor(
    *,
    session: Session,
    clock: Clock,
    pem: bytes | str,
    actor: str,
    label: str | None = None,
) -> list[TrustAnchor]:
    """Import every certificate in ``pem`` (one or more PEM blocks, or one DER) as an anchor."""
    try:
        blocks = pem_to_der_list(pem)
    except BadCertificate as exc:
        raise BadTrustAnchor(f"trust anchor refused: {exc.detail}") from exc
    if not blocks:
        raise BadTrustAnchor("no certificate found (expected PEM 'CERTIFICATE' blocks)")
    return [
        insert_anchor(session, clock, der=der, source="imported", label=label, actor=actor)
        for der in blocks
    ]


def list_trust_anchors(*, session: Session) -> list[TrustAnchor]:
    """Every anchor, our own root first, then by time added."""
    rows = session.scalars(
        select(CaTrustAnchor).order_by(
            (CaTrustAnchor.source != "own"), CaTrustAnchor.added_at, CaTrustAnchor.id
        )
    )
    return [_to_anchor(r) for r in rows]


def trust_anchors_der(*, session: Session) -> list[bytes]:
    """The DER certificates verifiers pass to ``trust.ca.path.validate_chain``."""
    return [a.der for a in list_trust_anchors(session=session)]
