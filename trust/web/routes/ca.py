"""HTTP endpoints of the certificate authority.

Public (relying parties): ``GET /ca/crl`` (DER CRL, RFC 5280 §5, media type RFC 2585
``application/pkix-crl``), ``GET /ca/chain`` (PEM issuing CA + root, RFC 8555 §9.1
``application/pem-certificate-chain``), ``GET /ca/certificates/{serial}`` (status JSON),
``GET /ca/certificates/{serial}.pem`` / ``.der`` (``application/pkix-cert``),
``GET /trust-list`` (the anchors verifiers use).

Administrative (service-wide ``system_admin``): ``POST /ca/certificates`` (PKCS#10 + profile ->
certificate) and ``POST /ca/certificates/{serial}/revoke``.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Response, status
from sqlalchemy.orm import Session

from keys.interfaces import KeyStore
from trust.ca import service
from trust.ca.schemas import (
    CertificateCreate,
    CertificateIssuedRead,
    CertificateStatusRead,
    RevocationCreate,
    TrustAnchorRead,
)
from trust.ca.x509 import certificate_to_pem
from trust.principals.principal import Principal
from trust.principals.roles import Role
from trust.signing import Signer
from trust.web.content import JSON_BODY
from trust.web.deps import ClockDep, KeyStoreDep, SessionDep
from trust.web.security import require_role

__all__ = ["CaAdminDep", "require_ca_admin", "router"]

PKIX_CRL: Final = "application/pkix-crl"
PKIX_CERT: Final = "application/pkix-cert"
PEM_CHAIN: Final = "application/pem-certificate-chain"

#: Who may issue and revoke: the service-wide system administrator.
require_ca_admin = require_role(Role.SYSTEM_ADMIN)
CaAdminDep = Annotated[Principal, Depends(require_ca_admin)]

router = APIRouter(tags=["证书与信任列表"], dependencies=[JSON_BODY])


def _issuing_signer(session: Session, keystore: KeyStore) -> Signer:
    return keystore.signer(session=session, key_id=service.authority_key_id(session=session))


@router.get(
    "/ca/crl",
    response_class=Response,
    responses={200: {"content": {PKIX_CRL: {}}, "description": "DER CRL of the issuing CA"}},
    summary="证书撤销列表 (DER)",
)
def get_crl(session: SessionDep, clock: ClockDep, keystore: KeyStoreDep) -> Response:
    der = service.current_crl(
        session=session, clock=clock, issuer_signer=_issuing_signer(session, keystore)
    )
    return Response(content=der, media_type=PKIX_CRL, headers={"Cache-Control": "max-age=300"})


@router.get(
    "/ca/chain",
    response_class=Response,
    responses={200: {"content": {PEM_CHAIN: {}}, "description": "issuing CA, then root"}},
    summary="CA 证书链 (PEM)",
)
def get_chain(session: SessionDep) -> Response:
    pem = "".join(certificate_to_pem(der) for der in service.ca_chain(session=session))
    return Response(content=pem, media_type=PEM_CHAIN)


@router.get(
    "/ca/certificates/{serial}.pem",
    response_class=Response,
    responses={200: {"content": {PEM_CHAIN: {}}}},
    summary="证书 (PEM)",
)
def get_certificate_pem(serial: str, session: SessionDep) -> Response:
    issued = service.get_certificate(session=session, serial=serial)
    return Response(content=issued.pem, media_type=PEM_CHAIN)


@router.get(
    "/ca/certificates/{serial}.der",
    response_class=Response,
    responses={200: {"content": {PKIX_CERT: {}}}},
    summary="证书 (DER)",
)
def get_certificate_der(serial: str, session: SessionDep) -> Response:
    issued = service.get_certificate(session=session, serial=serial)
    return Response(content=issued.der, media_type=PKIX_CERT)


@router.get("/ca/certificates/{serial}", summary="证书状态")
def get_certificate_status(
    serial: str, session: SessionDep, clock: ClockDep
) -> CertificateStatusRead:
    return CertificateStatusRead.of(
        service.certificate_status(session=session, clock=clock, serial=serial)
    )


@router.post("/ca/certificates", status_code=status.HTTP_201_CREATED, summary="签发证书")
def issue_certificate(
    body: CertificateCreate,
    session: SessionDep,
    clock: ClockDep,
    keystore: KeyStoreDep,
    principal: CaAdminDep,
) -> CertificateIssuedRead:
    issued = service.issue_from_csr(
        session=session,
        clock=clock,
        issuer_signer=_issuing_signer(session, keystore),
        csr=body.csr,
        profile=body.profile,
        subject=body.subject,
        validity_days=body.validity_days,
        actor=principal.actor,
    )
    return CertificateIssuedRead.of(issued)


@router.post("/ca/certificates/{serial}/revoke", summary="撤销证书")
def revoke_certificate(
    serial: str,
    body: RevocationCreate,
    session: SessionDep,
    clock: ClockDep,
    principal: CaAdminDep,
) -> CertificateStatusRead:
    revoked = service.revoke(
        session=session, clock=clock, serial=serial, reason=body.reason, actor=principal.actor
    )
    return CertificateStatusRead.of(revoked)


@router.get("/trust-list", summary="信任列表")
def get_trust_list(session: SessionDep) -> list[TrustAnchorRead]:
    return [TrustAnchorRead.of(a) for a in service.list_trust_anchors(session=session)]
