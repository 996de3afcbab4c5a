"""Tables of the OpenID Provider (SQLAlchemy only): relying-party clients, the browser SSO
session, pending authorisation requests (interactions), grants, authorisation codes, refresh
tokens and revoked access-token ids.

Secrets are never stored in clear: client secrets, SSO cookies, flow cookies and authorisation
codes as SHA-256 digests of 256-bit random values; refresh tokens are ``<row id>.<HMAC>`` under a
server key, so the row holds no token material at all (``identity.tokens``).

Consent ("remember consent per client and scope") reuses ``identity_consent``
(``identity.model.Consent``); security events reuse ``identity_security_event``.

Read by the logout / device / federation work (``/work/notes/oidc_contract.md``):
``OidcSsoSession`` is the SSO session (``sid`` is the ID token's ``sid``), ``OidcGrant`` the
unit that tokens hang off (revoking a grant kills its refresh tokens and access tokens).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from trust.db import Base, UTCDateTime

__all__ = [
    "OidcAuthCode",
    "OidcClient",
    "OidcGrant",
    "OidcInteraction",
    "OidcRefreshToken",
    "OidcRevokedJti",
    "OidcScanLogin",
    "OidcSsoSession",
]


class OidcClient(Base):
    """A relying party (portal, app, mini-program, or a service using client credentials)."""

    __tablename__ = "oidc_client"
    __table_args__ = (
        CheckConstraint("kind IN ('confidential', 'public')", name="kind_known"),
        CheckConstraint("status IN ('active', 'disabled')", name="status_known"),
        CheckConstraint(
            "(kind = 'public') = (secret_hash IS NULL)", name="secret_iff_confidential"
        ),
    )

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    #: SHA-256 of the 256-bit secret (compared in constant time); ``None`` for public clients.
    secret_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(500), default=None)
    #: Pairwise ``sub`` sector: clients of one sector see the same ``sub`` for a person.
    sector_id: Mapped[str] = mapped_column(String(200))
    #: Space-separated.
    allowed_scopes: Mapped[str] = mapped_column(String(1000))
    grant_types: Mapped[str] = mapped_column(String(300))
    #: Server-side minimum acr for this client (a portal cannot downgrade by its request).
    min_acr: Mapped[str | None] = mapped_column(String(40), default=None)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))


class OidcSsoSession(Base):
    """The browser SSO session shared by every portal (cookie ``ywtb_sso``).

    ``auth_time``/``acr``/``amr`` describe the latest authentication in it (a step-up or
    ``prompt=login`` updates them). A session is live while ``ended_at`` is null,
    ``now < idle_expires_at`` and ``now < absolute_expires_at``; each use moves
    ``idle_expires_at`` forward (never past the absolute limit)."""

    __tablename__ = "oidc_sso_session"

    sid: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: SHA-256 of the cookie value; the cookie is not the ``sid`` (the ``sid`` is in tokens).
    cookie_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("identity_person.id"), index=True)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    acr: Mapped[str] = mapped_column(String(40))
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Indexed for the periodic expiry (``expire_sessions``) and deletion (``cleanup``).
    idle_expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    absolute_expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None, index=True)
    end_reason: Mapped[str | None] = mapped_column(String(64), default=None)
    client_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(200), default=None)


class OidcInteraction(Base):
    """One authorisation request being completed in the browser (login, step-up, organisation
    choice, consent). Bound to the browser by the flow cookie (its SHA-256 here)."""

    __tablename__ = "oidc_interaction"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    flow_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    client_id: Mapped[str] = mapped_column(ForeignKey("oidc_client.client_id"))
    #: The validated request (``identity.authorize.AuthorizationRequest.to_json``).
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: Set once the password was right, while a second factor is still due.
    person_id: Mapped[str | None] = mapped_column(String(40), default=None)
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    second_factor: Mapped[str | None] = mapped_column(String(8), default=None)
    sms_challenge_id: Mapped[str | None] = mapped_column(String(40), default=None)
    #: True once this interaction authenticated the person (fresh login).
    authenticated: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The SSO session this interaction's own login created or refreshed.
    sid: Mapped[str | None] = mapped_column(String(40), default=None)
    #: The consent page was answered in this interaction (``prompt=consent``).
    consented: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The request needed a stronger authentication than the session had (step-up).
    step_up: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Organisation choice: ``None`` not asked yet, ``""`` acting as oneself, else ``lp_…``.
    legal_person_id: Mapped[str | None] = mapped_column(String(40), default=None)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class OidcGrant(Base):
    """What a person (or a client alone) authorised: tokens are issued from a grant and die
    with it. Revoked on code replay, refresh-token reuse, RFC 7009 revocation and logout."""

    __tablename__ = "oidc_grant"
    __table_args__ = (Index("ix_oidc_grant_sid", "sid"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oidc_client.client_id"), index=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("identity_person.id"), index=True)
    #: The SSO session it came from (``None`` for grants without a browser session).
    sid: Mapped[str | None] = mapped_column(String(40), default=None)
    scope: Mapped[str] = mapped_column(String(1000))
    acr: Mapped[str] = mapped_column(String(40))
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    #: ``identity.service_claims.legal_person_claims`` inner dict, or ``None``.
    legal_person: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    legal_person_id: Mapped[str | None] = mapped_column(String(40), default=None)
    #: Claims requested through the ``claims`` parameter for userinfo (names only).
    userinfo_claims: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Refresh tokens of this grant never live past this (refresh absolute lifetime).
    absolute_expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    revoke_reason: Mapped[str | None] = mapped_column(String(64), default=None)


class OidcAuthCode(Base):
    """An authorisation code: single use, short-lived, PKCE-bound (RFC 7636)."""

    __tablename__ = "oidc_auth_code"

    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("oidc_grant.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(String(500))
    code_challenge: Mapped[str] = mapped_column(String(128))
    nonce: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class OidcRefreshToken(Base):
    """One refresh token of a grant's rotation chain. The token is ``<id>.<HMAC(id)>``."""

    __tablename__ = "oidc_refresh_token"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("oidc_grant.id"), index=True)
    parent_id: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Idle limit (never past the grant's absolute limit).
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: First exchange; the successor is returned again within the grace period.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    successor_id: Mapped[str | None] = mapped_column(String(40), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class OidcRevokedJti(Base):
    """Access tokens revoked one by one (RFC 7009) that belong to no grant (client
    credentials); kept until they would have expired anyway."""

    __tablename__ = "oidc_revoked_jti"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class OidcScanLogin(Base):
    """ "扫码登录": a one-time login request of one interaction, shown as a QR code on its login
    page and approved or denied on a phone where the person is already logged in
    (``identity.scan_login``). The QR token is ``<id>.<HMAC(id)>``: the row holds no secret.
    No foreign key to the interaction: expired interactions are deleted independently."""

    __tablename__ = "oidc_scan_login"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'approved', 'denied', 'consumed')", name="status_known"
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    interaction_id: Mapped[str] = mapped_column(String(40), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    #: Shown on both screens so that the person can tell the two belong together.
    match_code: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: The browser that asks (shown on the phone): User-Agent (truncated) and address.
    user_agent: Mapped[str | None] = mapped_column(String(200), default=None)
    client_ip: Mapped[str | None] = mapped_column(String(64), default=None)
    #: Who decided, from which SSO session (set on approval or denial).
    person_id: Mapped[str | None] = mapped_column(String(40), default=None)
    sid: Mapped[str | None] = mapped_column(String(40), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
