"""The authenticated party of a request, as every capability sees it (pure, frozen)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from trust.principals.roles import Grant, Role, satisfies

__all__ = ["Principal", "PrincipalKind"]


class PrincipalKind(StrEnum):
    USER = "user"  # a member of staff (API token today; OIDC login with the identity work)
    CLIENT = "client"  # a department system with client credentials


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    #: Staff user id or service client id.
    id: str
    #: Human-readable name for pages and logs (not an identifier).
    display: str
    #: The client's own organisation; ``None`` for staff users (they act per grant).
    organisation_id: str | None
    grants: frozenset[Grant]
    #: How this request proved it: ``basic`` (client credentials), ``bearer`` (staff API token);
    #: the identity work adds ``oidc``.
    authenticated_by: str

    @property
    def actor(self) -> str:
        """The ``actor`` recorded in transparency-log events: ``user:<id>`` or ``client:<id>``."""
        return f"{self.kind.value}:{self.id}"

    @property
    def roles(self) -> Mapping[str | None, frozenset[Role]]:
        """Roles per organisation id (``None``: service-wide)."""
        out: dict[str | None, set[Role]] = {}
        for grant in self.grants:
            out.setdefault(grant.organisation_id, set()).add(grant.role)
        return {org: frozenset(roles) for org, roles in out.items()}

    def has_role(self, role: Role, organisation_id: str | None = None) -> bool:
        return satisfies(self.grants, role, organisation_id)
