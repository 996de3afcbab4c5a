"""Tables of the channel and logout work (SQLAlchemy only): device authorisations
(RFC 8628), the back-channel logout outbox, and federated (brokered) identities.

Secrets are stored as SHA-256 digests: device codes and user codes. The outbox holds no token:
logout tokens are signed at delivery time (short ``exp``), from the row's ``jti``/``sid``/``sub``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from trust.db import Base, UTCDateTime

__all__ = [
    "BackchannelLogout",
    "DeviceAuthorization",
    "FederatedIdentity",
    "FederationLogin",
]


class DeviceAuthorization(Base):
    """One RFC 8628 device authorisation request (a kiosk waiting for a phone's approval)."""

    __tablename__ = "identity_device_authorization"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'approved', 'denied', 'consumed')", name="status_known"
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    device_code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    user_code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oidc_client.client_id"), index=True)
    scope: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    interval: Mapped[int] = mapped_column(Integer)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    #: Who decided, from which SSO session, at which authentication (set on approval).
    person_id: Mapped[str | None] = mapped_column(String(40), default=None)
    sid: Mapped[str | None] = mapped_column(String(40), default=None)
    acr: Mapped[str | None] = mapped_column(String(40), default=None)
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    auth_time: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    grant_id: Mapped[str | None] = mapped_column(String(40), default=None)


class BackchannelLogout(Base):
    """Durable outbox: one row per (SSO session, client that received tokens in it).

    Claiming: a worker sets ``lease_owner``/``lease_expires_at`` with a conditional UPDATE
    (only if unleased or the lease ran out), so concurrent workers never deliver one row at
    the same time on SQLite or PostgreSQL; a worker that dies loses its lease."""

    __tablename__ = "identity_backchannel_logout"
    __table_args__ = (
        UniqueConstraint("sid", "client_id", name="one_per_sid_client"),
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status_known"),
        Index("ix_identity_backchannel_logout_due", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    sid: Mapped[str] = mapped_column(String(40))
    client_id: Mapped[str] = mapped_column(ForeignKey("oidc_client.client_id"), index=True)
    person_id: Mapped[str] = mapped_column(String(40), index=True)
    #: The client's pairwise ``sub`` (as in its ID tokens).
    sub: Mapped[str] = mapped_column(String(100))
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    #: The client's ``backchannel_logout_uri`` when the session ended.
    uri: Mapped[str] = mapped_column(String(500))
    reason: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(String(200), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class FederatedIdentity(Base):
    """An upstream OpenID provider's subject linked to a local person (broker login)."""

    __tablename__ = "identity_federated_identity"
    __table_args__ = (UniqueConstraint("issuer", "upstream_sub", name="one_link"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(300))
    upstream_sub: Mapped[str] = mapped_column(String(255))
    person_id: Mapped[str] = mapped_column(ForeignKey("identity_person.id"), index=True)
    #: The upstream's ``acr`` and verified attributes at the latest login (no ID number).
    upstream_acr: Mapped[str | None] = mapped_column(String(100), default=None)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FederationLogin(Base):
    """One login in progress at the upstream: ``state`` (digest), ``nonce``, PKCE verifier."""

    __tablename__ = "identity_federation_login"

    state_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(100))
    code_verifier: Mapped[str] = mapped_column(String(128))
    return_to: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
