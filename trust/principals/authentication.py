"""Authentication of service clients (client id + secret) and staff API tokens.

Read-only: a successful check writes nothing (no per-request database writes on the hot path).
Every failure raises the same ``InvalidCredentials`` (unknown id, wrong secret, expired or revoked
token, disabled account), after the same amount of hashing work, so that neither the error nor its
timing tells which. Failure counting and back-off are the web layer's job (``trust.web.security``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from trust.clock import Clock, utc
from trust.principals import _queries as q
from trust.principals.credentials import (
    StoredSecret,
    looks_like_client_id,
    secret_matches,
    split_token,
)
from trust.principals.errors import InvalidCredentials
from trust.principals.model import ApiToken, ServiceClient, StaffUser
from trust.principals.principal import Principal, PrincipalKind
from trust.principals.roles import Grant

__all__ = ["authenticate_bearer", "authenticate_client"]


def authenticate_client(*, session: Session, client_id: str, secret: str) -> Principal:
    """Check client credentials (RFC 6749 §2.3.1) and return the client as a ``Principal``."""
    row = session.get(ServiceClient, client_id) if looks_like_client_id(client_id) else None
    stored = StoredSecret(row.secret_salt, row.secret_hash) if row is not None else None
    if not secret_matches(secret, stored) or row is None or row.status != "active":
        raise InvalidCredentials()
    grants = frozenset(
        Grant(role=role, organisation_id=row.organisation_id) for role in q.client_roles(row)
    )
    return Principal(
        kind=PrincipalKind.CLIENT,
        id=row.client_id,
        display=row.name,
        organisation_id=row.organisation_id,
        grants=grants,
        authenticated_by="basic",
    )


def authenticate_bearer(*, session: Session, clock: Clock, token: str) -> Principal:
    """Check a staff API token ``<token id>.<secret>`` and return its user as a ``Principal``."""
    parts = split_token(token)
    row = session.get(ApiToken, parts[0]) if parts is not None else None
    stored = StoredSecret(row.salt, row.token_hash) if row is not None else None
    if not secret_matches(parts[1] if parts is not None else token, stored) or row is None:
        raise InvalidCredentials()
    if row.revoked_at is not None or utc(row.expires_at) <= clock.now():
        raise InvalidCredentials()
    user = session.get(StaffUser, row.user_id)
    if user is None or user.status != "active":
        raise InvalidCredentials()
    return Principal(
        kind=PrincipalKind.USER,
        id=user.id,
        display=user.display_name,
        organisation_id=None,
        grants=q.grants_of(session, user.id),
        authenticated_by="bearer",
    )
