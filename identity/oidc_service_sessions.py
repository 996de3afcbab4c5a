"""The browser SSO session shared by every portal (``OidcSsoSession``; cookie ``ywtb_sso``).

A session is created (or, for the same person, refreshed with a new cookie value - no session
fixation) when a login completes; it records ``auth_time``, ``acr`` and ``amr`` of the latest
authentication. It is live while not ended and before both its idle and absolute expiry; each
use moves the idle expiry forward, never past the absolute one (``identity.oidc_settings``).

``end_sessions`` is the hook for logout (RP-initiated, "log out everywhere", password change):
it ends sessions and revokes every grant issued from them, and returns what ended so that the
caller can deliver back-channel logout tokens. It sends nothing itself.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.oidc_model import OidcGrant, OidcSsoSession
from identity.oidc_service_context import OidcContext
from identity.tokens import secret_digest
from trust.clock import Clock
from trust.ids import new_id

__all__ = [
    "FLOW_COOKIE",
    "SSO_COOKIE",
    "EndedSession",
    "SsoSessionView",
    "current_sso_session",
    "end_sessions",
    "establish_sso_session",
    "revoke_grants",
    "session_by_sid",
]

SSO_COOKIE: Final = "ywtb_sso"
FLOW_COOKIE: Final = "ywtb_oidc_flow"
_MAX_COOKIE: Final = 100


@dataclass(frozen=True, slots=True)
class SsoSessionView:
    sid: str
    person_id: str
    auth_time: datetime
    acr: str
    amr: tuple[str, ...]
    idle_expires_at: datetime
    absolute_expires_at: datetime


@dataclass(frozen=True, slots=True)
class EndedSession:
    sid: str
    person_id: str
    #: Clients that had live grants in the session (back-channel logout recipients).
    client_ids: tuple[str, ...]


def _view(row: OidcSsoSession) -> SsoSessionView:
    return SsoSessionView(
        sid=row.sid,
        person_id=row.person_id,
        auth_time=row.auth_time,
        acr=row.acr,
        amr=tuple(row.amr),
        idle_expires_at=row.idle_expires_at,
        absolute_expires_at=row.absolute_expires_at,
    )


def _live(row: OidcSsoSession, now: datetime) -> bool:
    return row.ended_at is None and now < row.idle_expires_at and now < row.absolute_expires_at


def current_sso_session(
    *, session: Session, clock: Clock, ctx: OidcContext, cookie_value: str | None, touch: bool
) -> SsoSessionView | None:
    """The live session the cookie names, else ``None``; ``touch`` moves its idle expiry."""
    if not cookie_value or len(cookie_value) > _MAX_COOKIE:
        return None
    row = session.scalar(
        select(OidcSsoSession).where(OidcSsoSession.cookie_hash == secret_digest(cookie_value))
    )
    now = clock.now()
    if row is None or not _live(row, now):
        return None
    if touch:
        row.last_seen_at = now
        row.idle_expires_at = min(
            now + ctx.settings.seconds("session_idle"), row.absolute_expires_at
        )
    return _view(row)


def session_by_sid(*, session: Session, clock: Clock, sid: str) -> SsoSessionView | None:
    row = session.get(OidcSsoSession, sid)
    return _view(row) if row is not None and _live(row, clock.now()) else None


def establish_sso_session(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    current_sid: str | None,
    person_id: str,
    acr: str,
    amr: Sequence[str],
    client_ip: str | None,
    user_agent: str | None,
) -> tuple[SsoSessionView, str]:
    """After a completed login: refresh the current session if it is the same person's, else
    end it and start a new one. Returns the session and a **new** cookie value."""
    now = clock.now()
    cookie = secrets.token_urlsafe(32)
    row = session.get(OidcSsoSession, current_sid) if current_sid else None
    if row is not None and (row.person_id != person_id or not _live(row, now)):
        if row.ended_at is None:
            end_sessions(session=session, clock=clock, sids=[row.sid], reason="replaced")
        row = None
    if row is None:
        row = OidcSsoSession(
            sid=new_id("sid"),
            person_id=person_id,
            created_at=now,
            absolute_expires_at=now + ctx.settings.seconds("session_absolute"),
            client_ip=(client_ip or None) and client_ip[:64],
            user_agent=(user_agent or None) and user_agent[:200],
        )
        session.add(row)
    row.cookie_hash = secret_digest(cookie)
    row.auth_time, row.acr, row.amr = now, acr, list(amr)
    row.last_seen_at = now
    row.idle_expires_at = min(now + ctx.settings.seconds("session_idle"), row.absolute_expires_at)
    session.flush()
    return _view(row), cookie


def revoke_grants(
    *, session: Session, clock: Clock, grant_ids: Sequence[str], reason: str
) -> list[OidcGrant]:
    """Revoke grants (their refresh tokens and access tokens stop working at once)."""
    if not grant_ids:
        return []
    rows = list(
        session.scalars(
            select(OidcGrant).where(OidcGrant.id.in_(grant_ids), OidcGrant.revoked_at.is_(None))
        )
    )
    for row in rows:
        row.revoked_at, row.revoke_reason = clock.now(), reason[:64]
    return rows


def end_sessions(
    *,
    session: Session,
    clock: Clock,
    sids: Sequence[str] | None = None,
    person_id: str | None = None,
    reason: str,
) -> list[EndedSession]:
    """End the named sessions (or every live session of ``person_id``) and revoke their
    grants. Idempotent: sessions already ended are skipped."""
    if sids is None and person_id is None:
        return []
    stmt = select(OidcSsoSession).where(OidcSsoSession.ended_at.is_(None))
    if sids is not None:
        stmt = stmt.where(OidcSsoSession.sid.in_(list(sids)))
    if person_id is not None:
        stmt = stmt.where(OidcSsoSession.person_id == person_id)
    ended: list[EndedSession] = []
    now = clock.now()
    for row in session.scalars(stmt.with_for_update()):
        row.ended_at, row.end_reason = now, reason[:64]
        grants = list(
            session.scalars(
                select(OidcGrant).where(OidcGrant.sid == row.sid, OidcGrant.revoked_at.is_(None))
            )
        )
        revoke_grants(
            session=session, clock=clock, grant_ids=[g.id for g in grants], reason="logout"
        )
        clients = tuple(sorted({g.client_id for g in grants}))
        ended.append(EndedSession(row.sid, row.person_id, clients))
    return ended
