"""The certificate authority's public service surface (keyword-only; never commits).

Issuance (``init_ca``, ``issue_certificate``, ``issue_from_csr``) lives in
``trust.ca.issuance``, revocation and CRLs in ``trust.ca.revocation``, the trust list in
``trust.ca.anchors``; they are re-exported here. This module adds the look-ups: certificates by
serial, the chain of a keystore key (``certificate_chain_for_key``, used by ``keys`` to fill
``Signer.certificate_chain()``), the CA chain and the CA key ids.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from trust.ca._store import parse_serial, to_issued
from trust.ca.anchors import add_trust_anchor, list_trust_anchors, trust_anchors_der
from trust.ca.errors import CaNotInitialised, CertificateNotFound
from trust.ca.issuance import init_ca, issue_certificate, issue_from_csr
from trust.ca.model import CaAuthority, CaCertificate
from trust.ca.records import CaInitialised, CertificateStatus, IssuedCertificate, TrustAnchor
from trust.ca.revocation import (
    StoredRevocation,
    build_crl,
    certificate_status,
    current_crl,
    revoke,
)

__all__ = [
    "CaInitialised",
    "CertificateStatus",
    "IssuedCertificate",
    "StoredRevocation",
    "TrustAnchor",
    "add_trust_anchor",
    "authority_certificate",
    "authority_key_id",
    "build_crl",
    "ca_chain",
    "certificate_chain_for_key",
    "certificate_for_key",
    "certificate_status",
    "current_crl",
    "get_certificate",
    "init_ca",
    "is_initialised",
    "issue_certificate",
    "issue_from_csr",
    "list_trust_anchors",
    "revoke",
    "trust_anchors_der",
]

_MAX_CHAIN: Final = 8


def is_initialised(*, session: Session) -> bool:
    return session.get(CaAuthority, "issuing") is not None


def authority_key_id(*, session: Session, role: str = "issuing") -> str:
    """Keystore key id of the ``issuing`` (default) or ``root`` CA; ``ca.not_initialised``."""
    authority = session.get(CaAuthority, role)
    if authority is None:
        raise CaNotInitialised("the CA has not been initialised (run `trustctl init`)")
    return authority.key_id


def authority_certificate(*, session: Session, role: str = "issuing") -> IssuedCertificate:
    """The certificate of the ``issuing`` (default) or ``root`` CA; ``ca.not_initialised``."""
    authority = session.get(CaAuthority, role)
    if authority is None:
        raise CaNotInitialised("the CA has not been initialised (run `trustctl init`)")
    row = session.get(CaCertificate, authority.serial)
    assert row is not None
    return to_issued(row)


def get_certificate(*, session: Session, serial: str) -> IssuedCertificate:
    row = session.get(CaCertificate, parse_serial(serial))
    if row is None:
        raise CertificateNotFound(f"no certificate with serial {serial}")
    return to_issued(row)


def certificate_for_key(*, session: Session, key_id: str) -> IssuedCertificate | None:
    """The newest unrevoked certificate of keystore key ``key_id``, if any."""
    row = session.scalars(
        select(CaCertificate)
        .where(CaCertificate.key_id == key_id, CaCertificate.status == "good")
        .order_by(CaCertificate.not_before.desc(), CaCertificate.issued_at.desc())
        .limit(1)
    ).first()
    return None if row is None else to_issued(row)


def _chain_from(session: Session, row: CaCertificate) -> list[bytes]:
    chain = [row.der]
    current = row
    while current.issuer_serial is not None and len(chain) < _MAX_CHAIN:
        parent = session.get(CaCertificate, current.issuer_serial)
        if parent is None or parent.serial == current.serial:
            break
        chain.append(parent.der)
        current = parent
    return chain


def certificate_chain_for_key(*, session: Session, key_id: str) -> list[bytes]:
    """DER certificates for keystore key ``key_id``: its newest unrevoked certificate first, then
    each issuer up to and including the root. Empty when the key has no certificate."""
    leaf = certificate_for_key(session=session, key_id=key_id)
    if leaf is None:
        return []
    row = session.get(CaCertificate, leaf.serial)
    assert row is not None
    return _chain_from(session, row)


def ca_chain(*, session: Session) -> list[bytes]:
    """The issuing CA certificate and the root (DER, in that order)."""
    authority = session.get(CaAuthority, "issuing")
    if authority is None:
        raise CaNotInitialised("the CA has not been initialised (run `trustctl init`)")
    row = session.get(CaCertificate, authority.serial)
    assert row is not None
    return _chain_from(session, row)
