"""Relying-party clients: registration by an administrator (API and ``trustctl client add``),
look-up, and client authentication at the token, introspection and revocation endpoints
(RFC 6749 §2.3.1: ``client_secret_basic`` and ``client_secret_post``; public clients ``none``).

Secrets are 256-bit random values shown once; only their SHA-256 is stored and the comparison
is constant time. Registration is appended to the transparency log (``identity.oidc_client_
registered``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import _shared as sh
from identity.authorize import ClientView
from identity.clients import check_client_metadata
from identity.oidc_errors import ClientNotFound, OAuthError
from identity.oidc_model import OidcClient
from identity.tokens import secret_digest
from trust.clock import Clock
from trust.crypto import constant_time_equal
from trust.ids import new_id, new_secret

__all__ = [
    "ClientRecord",
    "RegisteredClient",
    "authenticate_oauth_client",
    "client_row",
    "client_view",
    "get_client",
    "list_clients",
    "register_client",
]

#: Compared against when the client is unknown or public, so that timing says nothing.
_DUMMY_DIGEST = secret_digest("not-a-client-secret")


@dataclass(frozen=True, slots=True)
class ClientRecord:
    client_id: str
    name: str
    kind: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    backchannel_logout_uri: str | None
    sector_id: str
    allowed_scopes: tuple[str, ...]
    grant_types: tuple[str, ...]
    min_acr: str | None
    status: str


@dataclass(frozen=True, slots=True, repr=False)
class RegisteredClient:
    client: ClientRecord
    #: Shown once; ``None`` for public clients.
    client_secret: str | None

    def __repr__(self) -> str:
        return f"<RegisteredClient {self.client.client_id} (secret hidden)>"


def _record(row: OidcClient) -> ClientRecord:
    return ClientRecord(
        client_id=row.client_id,
        name=row.name,
        kind=row.kind,
        redirect_uris=tuple(row.redirect_uris),
        post_logout_redirect_uris=tuple(row.post_logout_redirect_uris),
        backchannel_logout_uri=row.backchannel_logout_uri,
        sector_id=row.sector_id,
        allowed_scopes=tuple(row.allowed_scopes.split()),
        grant_types=tuple(row.grant_types.split()),
        min_acr=row.min_acr,
        status=row.status,
    )


def register_client(
    *,
    session: Session,
    clock: Clock,
    name: str,
    redirect_uris: Iterable[str],
    kind: str = "confidential",
    post_logout_redirect_uris: Iterable[str] = (),
    backchannel_logout_uri: str | None = None,
    sector_identifier: str | None = None,
    scopes: Iterable[str] | None = None,
    grant_types: Iterable[str] | None = None,
    min_acr: str | None = None,
    actor: str,
) -> RegisteredClient:
    meta = check_client_metadata(
        name=name,
        kind=kind,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout_redirect_uris,
        backchannel_logout_uri=backchannel_logout_uri,
        sector_identifier=sector_identifier,
        scopes=scopes,
        grant_types=grant_types,
        min_acr=min_acr,
    )
    client_id = new_id("rp")
    secret = new_secret(32) if meta.kind == "confidential" else None
    row = OidcClient(
        client_id=client_id,
        name=meta.name,
        kind=meta.kind,
        secret_hash=secret_digest(secret) if secret else None,
        redirect_uris=list(meta.redirect_uris),
        post_logout_redirect_uris=list(meta.post_logout_redirect_uris),
        backchannel_logout_uri=meta.backchannel_logout_uri,
        sector_id=meta.sector_id,
        allowed_scopes=" ".join(meta.allowed_scopes),
        grant_types=" ".join(meta.grant_types),
        min_acr=meta.min_acr,
        status="active",
        created_at=clock.now(),
        created_by=actor[:100],
    )
    session.add(row)
    session.flush()
    sh.log(
        session,
        clock,
        "oidc_client_registered",
        client_id,
        actor,
        name=meta.name,
        client_kind=meta.kind,
        redirect_uris=list(meta.redirect_uris),
        grant_types=list(meta.grant_types),
        scopes=list(meta.allowed_scopes),
    )
    return RegisteredClient(_record(row), secret)


def client_row(session: Session, client_id: str) -> OidcClient | None:
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= 64:
        return None
    return session.get(OidcClient, client_id)


def get_client(*, session: Session, client_id: str) -> ClientRecord:
    row = client_row(session, client_id)
    if row is None:
        raise ClientNotFound("客户端不存在")
    return _record(row)


def list_clients(*, session: Session) -> list[ClientRecord]:
    rows = session.scalars(select(OidcClient).order_by(OidcClient.created_at, OidcClient.client_id))
    return [_record(r) for r in rows]


def client_view(row: OidcClient | None) -> ClientView | None:
    if row is None:
        return None
    return ClientView(
        client_id=row.client_id,
        redirect_uris=tuple(row.redirect_uris),
        allowed_scopes=frozenset(row.allowed_scopes.split()),
        grant_types=frozenset(row.grant_types.split()),
        min_acr=row.min_acr,
        active=row.status == "active",
    )


def authenticate_oauth_client(
    *,
    session: Session,
    client_id: str | None,
    client_secret: str | None,
    allow_public: bool,
) -> OidcClient:
    """The authenticated client, or ``OAuthError(invalid_client, 401)``. A confidential client
    must present its secret; a public one must not (and is accepted only where ``allow_public``,
    i.e. at the token endpoint, where PKCE binds it)."""
    row = client_row(session, client_id or "")
    usable = row is not None and row.status == "active"
    if row is not None and usable and row.kind == "public":
        constant_time_equal(_DUMMY_DIGEST, _DUMMY_DIGEST)
        if allow_public and client_secret is None:
            return row
        raise OAuthError("invalid_client", "client authentication failed", status=401)
    presented = secret_digest(client_secret) if client_secret else secret_digest("")
    stored = row.secret_hash if row is not None and row.secret_hash is not None else _DUMMY_DIGEST
    ok = constant_time_equal(presented, stored)
    if not (ok and usable and client_secret) or row is None:
        raise OAuthError("invalid_client", "client authentication failed", status=401)
    return row
