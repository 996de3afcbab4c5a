"""Relying-party clients: registration by an administrator (API and ``trustctl client add``),
look-up, and client authentication at the token, introspection and revocation endpoints
(RFC 6749 §2.3.1: ``client_secret_basic`` and ``client_secret_post``; public clients ``none``).

Secrets are 256-bit random values shown once; only their SHA-256 is stored and the comparison
is constant time. Registration is appended to the transparency log (``identity.oidc_client_
registered``).

The token endpoint authenticates its clients from a per-process snapshot of their rows
(``ClientSnapshot`` in ``OidcContext.clients``) kept ``CLIENT_CACHE_SECONDS``: a client disabled,
or whose grant types or scopes were changed, in the database is refused (or restricted) by every
process within that time; a new client is never delayed (an unknown id reads the database, and
unknown ids are not cached). Introspection and revocation read the row every time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final, TypeGuard

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import _shared as sh
from identity.authorize import ClientView
from identity.clients import check_client_metadata
from identity.oidc_errors import ClientNotFound, OAuthError
from identity.oidc_model import OidcClient
from identity.oidc_service_context import OidcContext
from identity.tokens import secret_digest
from trust.clock import Clock
from trust.crypto import constant_time_equal
from trust.ids import new_id, new_secret

__all__ = [
    "CLIENT_CACHE_SECONDS",
    "ClientRecord",
    "ClientSnapshot",
    "RegisteredClient",
    "TokenClient",
    "authenticate_oauth_client",
    "authenticate_token_client",
    "client_row",
    "client_view",
    "get_client",
    "list_clients",
    "register_client",
    "token_client_from_cache",
]

#: How long the token endpoint trusts a snapshot of a client row (module docstring).
CLIENT_CACHE_SECONDS: Final = 5

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


@dataclass(frozen=True, slots=True)
class TokenClient:
    """An authenticated client as the token endpoint's grant handlers see it: the attributes
    they read, with the names and types of the ``OidcClient`` row."""

    client_id: str
    kind: str
    sector_id: str
    #: Space-separated, as in the row.
    allowed_scopes: str
    grant_types: str
    status: str


@dataclass(frozen=True, slots=True, repr=False)
class ClientSnapshot:
    """What client authentication needs of a row: the client and its secret's SHA-256."""

    client: TokenClient
    secret_hash: bytes | None

    @classmethod
    def of(cls, row: OidcClient) -> ClientSnapshot:
        client = TokenClient(
            client_id=row.client_id,
            kind=row.kind,
            sector_id=row.sector_id,
            allowed_scopes=row.allowed_scopes,
            grant_types=row.grant_types,
            status=row.status,
        )
        return cls(client, row.secret_hash)

    def __repr__(self) -> str:
        return f"<ClientSnapshot {self.client.client_id} (secret hash hidden)>"


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


def _plausible_id(client_id: object) -> TypeGuard[str]:
    return isinstance(client_id, str) and 1 <= len(client_id) <= 64


def client_row(session: Session, client_id: str) -> OidcClient | None:
    if not _plausible_id(client_id):
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


def _authenticated(
    found: ClientSnapshot | None, client_secret: str | None, *, allow_public: bool
) -> TokenClient:
    """The one rule of client authentication (RFC 6749 §2.3.1), over a snapshot of the row
    (``None``: unknown client). The same work is done whatever fails: a digest of the presented
    secret and one constant-time comparison, against a dummy digest when there is no secret."""
    usable = found is not None and found.client.status == "active"
    if found is not None and usable and found.client.kind == "public":
        constant_time_equal(_DUMMY_DIGEST, _DUMMY_DIGEST)
        if allow_public and client_secret is None:
            return found.client
        raise OAuthError("invalid_client", "client authentication failed", status=401)
    presented = secret_digest(client_secret) if client_secret else secret_digest("")
    stored = found.secret_hash if found is not None and found.secret_hash else _DUMMY_DIGEST
    ok = constant_time_equal(presented, stored)
    if not (ok and usable and client_secret) or found is None:
        raise OAuthError("invalid_client", "client authentication failed", status=401)
    return found.client


def authenticate_oauth_client(
    *,
    session: Session,
    client_id: str | None,
    client_secret: str | None,
    allow_public: bool,
) -> OidcClient:
    """The authenticated client's row, or ``OAuthError(invalid_client, 401)``. A confidential
    client must present its secret; a public one must not (and is accepted only where
    ``allow_public``, i.e. at the token endpoint, where PKCE binds it). Reads the row."""
    row = client_row(session, client_id or "")
    _authenticated(
        ClientSnapshot.of(row) if row is not None else None,
        client_secret,
        allow_public=allow_public,
    )
    assert row is not None  # _authenticated refuses an unknown client
    return row


def token_client_from_cache(
    *, ctx: OidcContext, clock: Clock, client_id: str | None, client_secret: str | None
) -> TokenClient | None:
    """Token-endpoint client authentication from this process's snapshot alone (no I/O): the
    client, ``OAuthError(invalid_client, 401)``, or ``None`` when no live snapshot is cached,
    or when this caller is the one to renew it (``TtlCache``): then
    ``authenticate_token_client``."""
    if not _plausible_id(client_id):
        return None
    found = ctx.clients.get(client_id, clock.now())
    if found is None:
        return None
    return _authenticated(found, client_secret, allow_public=True)


def authenticate_token_client(
    *,
    session: Session,
    ctx: OidcContext,
    clock: Clock,
    client_id: str | None,
    client_secret: str | None,
) -> TokenClient:
    """Token-endpoint client authentication (public clients too: PKCE binds them): from the
    snapshot cached in ``ctx``, else from the row, whose snapshot is then kept for
    ``CLIENT_CACHE_SECONDS``."""
    now = clock.now()
    cached = ctx.clients.get_unless_due(client_id, now) if _plausible_id(client_id) else None
    if cached is not None:
        return _authenticated(cached, client_secret, allow_public=True)
    row = client_row(session, client_id or "")
    found = ClientSnapshot.of(row) if row is not None else None
    if found is not None:
        ctx.clients.put(
            found.client.client_id,
            found,
            now=now,
            ttl=timedelta(seconds=CLIENT_CACHE_SECONDS),
        )
    return _authenticated(found, client_secret, allow_public=True)
