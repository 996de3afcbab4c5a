"""Tables of organisations, staff users, role grants, service clients and staff API tokens.

Secrets are never stored: client secrets and API tokens are kept as HMAC-SM3 under a per-row salt
(see ``trust.principals.credentials``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from trust.db import Base, UTCDateTime

__all__ = ["ApiToken", "Organisation", "RoleGrant", "ServiceClient", "StaffUser"]

_ROLES_SQL = (
    "'system_admin', 'admin', 'seal_custodian', 'seal_user', 'licence_issuer', 'archivist', "
    "'auditor'"
)


class Organisation(Base):
    __tablename__ = "organisation"
    __table_args__ = (CheckConstraint("kind IN ('department', 'company')", name="kind_known"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: GB 32100-2015 unified social credit code, normalised (upper case), check character valid.
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StaffUser(Base):
    __tablename__ = "staff_user"
    __table_args__ = (CheckConstraint("status IN ('active', 'disabled')", name="status_known"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RoleGrant(Base):
    """A staff user's role in one organisation, or service-wide (``system_admin`` only)."""

    __tablename__ = "role_grant"
    __table_args__ = (
        UniqueConstraint("user_id", "organisation_id", "role"),
        # NULLs are distinct in a unique constraint: a partial index keeps service-wide grants
        # unique.
        Index(
            "uq_role_grant_service_wide",
            "user_id",
            "role",
            unique=True,
            sqlite_where=text("organisation_id IS NULL"),
            postgresql_where=text("organisation_id IS NULL"),
        ),
        CheckConstraint(f"role IN ({_ROLES_SQL})", name="role_known"),
        CheckConstraint(
            "(role = 'system_admin' AND organisation_id IS NULL)"
            " OR (role <> 'system_admin' AND organisation_id IS NOT NULL)",
            name="role_scope",
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("staff_user.id"), index=True)
    organisation_id: Mapped[str | None] = mapped_column(ForeignKey("organisation.id"))
    role: Mapped[str] = mapped_column(String(32))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    granted_by: Mapped[str] = mapped_column(String(80))


class ServiceClient(Base):
    """A department system that authenticates with client credentials (RFC 6749 §2.3.1)."""

    __tablename__ = "service_client"
    __table_args__ = (CheckConstraint("status IN ('active', 'disabled')", name="status_known"),)

    client_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    #: Space-separated roles within ``organisation_id`` (like an OAuth scope string).
    roles: Mapped[str] = mapped_column(String(200), default="")
    secret_salt: Mapped[bytes] = mapped_column(LargeBinary(16))
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    secret_rotated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiToken(Base):
    """A staff bearer token issued by ``trustctl user token``; presented as ``<id>.<secret>``."""

    __tablename__ = "api_token"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("staff_user.id"), index=True)
    salt: Mapped[bytes] = mapped_column(LargeBinary(16))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
