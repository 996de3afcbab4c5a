"""What the principals service returns: frozen values, never ORM objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from trust.principals.roles import Grant, OrgKind, Role

__all__ = [
    "ClientIssued",
    "ClientRecord",
    "OrganisationRecord",
    "TokenIssued",
    "UserRecord",
]


@dataclass(frozen=True, slots=True)
class OrganisationRecord:
    id: str
    name: str
    uscc: str
    kind: OrgKind
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    login: str
    display_name: str
    status: str
    created_at: datetime
    grants: frozenset[Grant]


@dataclass(frozen=True, slots=True)
class ClientRecord:
    client_id: str
    organisation_id: str
    name: str
    roles: frozenset[Role]
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ClientIssued:
    """A new client or a rotated secret. ``client_secret`` is shown once and never stored."""

    client: ClientRecord
    client_secret: str


@dataclass(frozen=True, slots=True)
class TokenIssued:
    """A new staff API token. ``token`` is shown once and never stored."""

    token_id: str
    user_id: str
    token: str
    expires_at: datetime
