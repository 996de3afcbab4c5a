"""Userinfo (OIDC Core §5.3), introspection (RFC 7662), revocation (RFC 7009) and cleanup of
expired rows (``specs/identity.md`` §3: "TTL cleanup of every token, code, flow and session").

An access token is valid when its signature, type, issuer and times check out against our
JWKS (``identity.tokens.verify_access_token``) **and** its grant is not revoked (or, for a
client-credentials token, its ``jti`` was not revoked) **and**, for a grant bound to an SSO
session (no ``offline_access``), that session is still live - the same rule as for its refresh
tokens (``identity.oidc_settings``: the lifetime model). Revoking an access token that belongs
to a grant revokes the grant (RFC 7009 §2.1 allows it; its refresh tokens die too).

Introspection answers only for the calling client's own tokens; anything else is
``{"active": false}`` (RFC 7662 §2.2), as is any invalid token.

Published keys (``published_jwks``): a RETIRED token key stays in the JWKS only until every
token it signed has expired - ``retired_key_grace`` (the longest token lifetime plus the clock
skew) after its retirement - and then drops out by itself; ``prune_retired_signing_keys`` (a
periodic job) then destroys it. Our own verifications use the same set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, delete, or_, select
from sqlalchemy.orm import Session

from identity.logout import LOGOUT_TOKEN_SECONDS
from identity.oidc_errors import InvalidToken
from identity.oidc_model import (
    OidcAuthCode,
    OidcClient,
    OidcGrant,
    OidcInteraction,
    OidcRefreshToken,
    OidcRevokedJti,
    OidcSsoSession,
)
from identity.oidc_service_context import OidcContext
from identity.oidc_service_sessions import expire_sessions, grant_session, revoke_grants
from identity.oidc_service_tokens import subject_for
from identity.service_claims import person_claims
from identity.tokens import VerifiedAccessToken, parse_refresh_token, verify_access_token
from keys.interfaces import KeyInfo, KeyStatus, KeyStore, KeyUsage
from keys.jwks import jwks_for, sm2_jwks_for
from trust.clock import Clock

__all__ = [
    "CleanupReport",
    "KeyPruning",
    "check_access_token",
    "cleanup",
    "introspect",
    "prune_retired_signing_keys",
    "published_jwks",
    "retired_key_grace",
    "revoke",
    "userinfo",
]


def retired_key_grace(ctx: OidcContext) -> timedelta:
    """How long a RETIRED token key stays published after its retirement: the longest lifetime
    of a token it can have signed (access token, ID token, logout token) plus the clock skew
    that relying parties may allow. After that every such token has expired everywhere."""
    settings = ctx.settings
    longest = max(settings.access_token_seconds, settings.id_token_seconds, LOGOUT_TOKEN_SECONDS)
    return timedelta(seconds=longest + settings.clock_skew_seconds)


def _outlived(
    session: Session, clock: Clock, ctx: OidcContext, keystore: KeyStore
) -> list[KeyInfo]:
    """RETIRED token keys whose every token has expired (``retired_key_grace``)."""
    cutoff = clock.now() - retired_key_grace(ctx)
    return [
        info
        for info in keystore.list(session=session, usage=KeyUsage.TOKEN_SIGNING)
        if info.status is KeyStatus.RETIRED
        and info.owner is None
        and info.retired_at is not None
        and info.retired_at <= cutoff
    ]


def published_jwks(
    *, session: Session, keystore: KeyStore, clock: Clock, ctx: OidcContext, sm2: bool = False
) -> dict[str, Any]:
    """The main ES256 JWKS (ACTIVE, PENDING next, and RETIRED keys until every token they
    signed has expired), or the separate SM2 set. Also the set our own verifications use."""
    jwks = (
        sm2_jwks_for(keystore=keystore, session=session)
        if sm2
        else jwks_for(keystore=keystore, session=session)
    )
    gone = {info.key_id for info in _outlived(session, clock, ctx, keystore)}
    return {**jwks, "keys": [k for k in jwks["keys"] if k.get("kid") not in gone]}


@dataclass(frozen=True, slots=True)
class KeyPruning:
    """Retired token keys destroyed (private material erased; no longer published)."""

    destroyed: tuple[str, ...]


def prune_retired_signing_keys(
    *, session: Session, clock: Clock, ctx: OidcContext, keystore: KeyStore, actor: str = "oidc"
) -> KeyPruning:
    """The periodic job: destroy the RETIRED token-signing keys (ES256 and SM2) that
    ``retired_key_grace`` has passed for. They already left the published JWKS at that
    moment (``published_jwks``); destroying erases the private key and records it in the
    transparency log (``keys``). Suggested interval: hourly."""
    destroyed = []
    for info in _outlived(session, clock, ctx, keystore):
        keystore.destroy(
            session=session,
            clock=clock,
            key_id=info.key_id,
            reason="retired token key: every token it signed has expired",
            actor=actor,
        )
        destroyed.append(info.key_id)
    return KeyPruning(tuple(destroyed))


def check_access_token(
    *, session: Session, clock: Clock, ctx: OidcContext, keystore: KeyStore, token: str
) -> tuple[VerifiedAccessToken, OidcGrant | None]:
    """A live access token and its grant, or ``InvalidToken``."""
    verified = verify_access_token(
        unverified_token=token,
        jwks=published_jwks(session=session, keystore=keystore, clock=clock, ctx=ctx),
        issuer=ctx.issuer,
        now=int(clock.now().timestamp()),
        leeway=0,  # our own clock issued it: no skew to allow for
    )
    if verified.grant_id is None:
        if session.get(OidcRevokedJti, verified.jti) is not None:
            raise InvalidToken("access token was revoked")
        return verified, None
    grant = session.get(OidcGrant, verified.grant_id)
    if grant is None or grant.revoked_at is not None or grant.client_id != verified.client_id:
        raise InvalidToken("access token was revoked")
    if not grant_session(session=session, clock=clock, grant=grant, lock=False)[0]:
        raise InvalidToken("the login session of this access token has ended")
    return verified, grant


def userinfo(
    *, session: Session, clock: Clock, ctx: OidcContext, keystore: KeyStore, token: str
) -> dict[str, Any]:
    verified, grant = check_access_token(
        session=session, clock=clock, ctx=ctx, keystore=keystore, token=token
    )
    if grant is None or "openid" not in verified.scope:
        raise InvalidToken("token is not for userinfo (scope openid required)")
    client = session.get(OidcClient, grant.client_id)
    if client is None:
        raise InvalidToken("client no longer exists")
    scopes = grant.scope.split()
    claims = person_claims(
        session=session,
        keys=ctx.keys,
        person_id=grant.person_id,
        scopes=scopes,
        client_id=grant.client_id,
    )
    if grant.legal_person and "legal_person" in scopes:
        claims["legal_person"] = grant.legal_person
    claims["sub"] = subject_for(ctx=ctx, sector_id=client.sector_id, person_id=grant.person_id)
    return claims


def introspect(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    keystore: KeyStore,
    client: OidcClient,
    token: str,
) -> dict[str, Any]:
    inactive: dict[str, Any] = {"active": False}
    row_id = parse_refresh_token(ctx.refresh_key, token)
    if row_id is not None:
        return _introspect_refresh(session, clock, ctx, client, row_id) or inactive
    try:
        verified, grant = check_access_token(
            session=session, clock=clock, ctx=ctx, keystore=keystore, token=token
        )
    except InvalidToken:
        return inactive
    if verified.client_id != client.client_id:
        return inactive
    body: dict[str, Any] = {
        "active": True,
        "token_type": "Bearer",
        "scope": " ".join(verified.scope),
        "client_id": verified.client_id,
        "sub": verified.sub,
        "iss": ctx.issuer,
        "aud": verified.claims.get("aud"),
        "exp": verified.expires_at,
        "iat": verified.issued_at,
        "jti": verified.jti,
    }
    for name in ("acr", "amr", "auth_time", "sid", "legal_person"):
        if name in verified.claims:
            body[name] = verified.claims[name]
    if grant is not None and grant.legal_person and grant.legal_person.get("role") == "agent":
        # Delegation visible in introspection (spec §3: the Keycloak gap).
        body["act"] = {"sub": verified.sub}
    return body


def _introspect_refresh(
    session: Session, clock: Clock, ctx: OidcContext, client: OidcClient, row_id: str
) -> dict[str, Any] | None:
    row = session.get(OidcRefreshToken, row_id)
    grant = session.get(OidcGrant, row.grant_id) if row is not None else None
    now = clock.now()
    if (
        row is None
        or grant is None
        or grant.client_id != client.client_id
        or grant.revoked_at is not None
        or row.revoked_at is not None
        or row.used_at is not None
    ):
        return None
    usable, sso = grant_session(session=session, clock=clock, grant=grant, lock=False)
    ends = [row.expires_at, grant.absolute_expires_at]
    if sso is not None:
        ends += [sso.idle_expires_at, sso.absolute_expires_at]
    expires = min(ends)
    if not usable or now >= expires:
        return None
    return {
        "active": True,
        "token_type": "refresh_token",
        "scope": grant.scope,
        "client_id": grant.client_id,
        "sub": subject_for(ctx=ctx, sector_id=client.sector_id, person_id=grant.person_id),
        "iss": ctx.issuer,
        "exp": int(expires.timestamp()),
        "iat": int(row.created_at.timestamp()),
    }


def revoke(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    keystore: KeyStore,
    client: OidcClient,
    token: str,
) -> None:
    """RFC 7009 §2.2: the answer is 200 whether or not the token was valid or known."""
    row_id = parse_refresh_token(ctx.refresh_key, token)
    if row_id is not None:
        row = session.get(OidcRefreshToken, row_id)
        grant = session.get(OidcGrant, row.grant_id) if row is not None else None
        if grant is not None and grant.client_id == client.client_id:
            revoke_grants(session=session, clock=clock, grant_ids=[grant.id], reason="revoked")
        return
    try:
        verified, grant = check_access_token(
            session=session, clock=clock, ctx=ctx, keystore=keystore, token=token
        )
    except InvalidToken:
        return
    if verified.client_id != client.client_id:
        return
    if grant is not None:
        revoke_grants(session=session, clock=clock, grant_ids=[grant.id], reason="revoked")
        return
    expires = datetime.fromtimestamp(verified.expires_at, tz=clock.now().tzinfo)
    session.add(OidcRevokedJti(jti=verified.jti, expires_at=expires))


def _run(session: Session, statement: Any) -> int:
    result = session.execute(statement)
    return int(result.rowcount or 0) if isinstance(result, CursorResult) else 0


@dataclass(frozen=True, slots=True)
class CleanupReport:
    codes: int
    interactions: int
    refresh_tokens: int
    grants: int
    sessions: int
    revoked_jtis: int
    #: Sessions that ran out and were ended by this run (reason ``expired``; back-channel
    #: logouts queued, session-bound grants revoked); deleted by a later run.
    sessions_expired: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "codes": self.codes,
            "interactions": self.interactions,
            "refresh_tokens": self.refresh_tokens,
            "grants": self.grants,
            "sessions_expired": self.sessions_expired,
            "sessions": self.sessions,
            "revoked_jtis": self.revoked_jtis,
        }


def cleanup(
    *, session: Session, clock: Clock, ctx: OidcContext, expire_limit: int = 1000
) -> CleanupReport:
    """The periodic cleanup (``identity.jobs``, every 10 minutes), in the caller's transaction:

    1. sessions that ran out (idle or absolute) are *ended* through the one end-sessions path
       (``expire_sessions``, reason ``expired``, at most ``expire_limit`` per run): their
       portals get back-channel logouts, their session-bound grants are revoked;
    2. then deleted is what can no longer be used: expired codes and interactions, expired or
       used refresh tokens, grants past their absolute lifetime or revoked (with their codes
       and refresh tokens) once every access token from them has expired, sessions ended that
       long ago too (never a session that was not ended: it is ended first, by step 1 of this
       or a later run), and revoked ``jti`` values past their expiry."""
    expired = expire_sessions(session=session, clock=clock, ctx=ctx, limit=expire_limit)
    now = clock.now()
    # Access tokens of a grant live at most access_token_seconds after the grant's last use.
    settled = now - ctx.settings.seconds("access_token") - ctx.settings.seconds("clock_skew")
    dead_grants = select(OidcGrant.id).where(
        or_(OidcGrant.absolute_expires_at < settled, OidcGrant.revoked_at < settled)
    )
    codes = _run(
        session,
        delete(OidcAuthCode).where(
            or_(OidcAuthCode.expires_at < now, OidcAuthCode.grant_id.in_(dead_grants))
        ),
    )
    refresh_tokens = _run(
        session,
        delete(OidcRefreshToken).where(
            or_(OidcRefreshToken.expires_at < now, OidcRefreshToken.grant_id.in_(dead_grants))
        ),
    )
    grant_ids = list(session.scalars(dead_grants))
    grants = 0
    if grant_ids:
        _run(session, delete(OidcAuthCode).where(OidcAuthCode.grant_id.in_(grant_ids)))
        _run(session, delete(OidcRefreshToken).where(OidcRefreshToken.grant_id.in_(grant_ids)))
        grants = _run(session, delete(OidcGrant).where(OidcGrant.id.in_(grant_ids)))
    interactions = _run(session, delete(OidcInteraction).where(OidcInteraction.expires_at < now))
    sessions = _run(session, delete(OidcSsoSession).where(OidcSsoSession.ended_at < settled))
    jtis = _run(session, delete(OidcRevokedJti).where(OidcRevokedJti.expires_at < now))
    return CleanupReport(
        codes=int(codes or 0),
        interactions=int(interactions or 0),
        refresh_tokens=int(refresh_tokens or 0),
        grants=int(grants),
        sessions=int(sessions or 0),
        revoked_jtis=int(jtis or 0),
        sessions_expired=len(expired),
    )
