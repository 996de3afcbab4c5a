"""The browser SSO session shared by every portal (``OidcSsoSession``; cookie ``ywtb_sso``).

A session is created (or, for the same person, refreshed with a new cookie value - no session
fixation) when a login completes; it records ``auth_time``, ``acr`` and ``amr`` of the latest
authentication. It is live while not ended and before both its idle and absolute expiry; each
use - the browser at the OP, or a portal's refresh of a session-bound refresh token - moves the
idle expiry forward, never past the absolute one (the lifetime model: ``identity.oidc_settings``).

``end_sessions`` is the ONE way a session ends (RP-initiated logout, the sessions page, "log out
everywhere" by the person, an administrator or a password change, and a session *replaced* when
another person logs in on the same browser). In the caller's transaction it

1. marks the sessions ended and revokes every grant issued from them (their refresh and access
   tokens stop working at once) - except ``offline_access`` grants when the session merely
   ended (``OFFLINE_SURVIVES``: RP-initiated logout, expiry, replaced by another login; OpenID
   Connect Back-Channel Logout 1.0 §2.7: "Refresh tokens issued with the offline_access
   property normally SHOULD NOT be revoked"). A deliberate end by the person (sessions page,
   "log out everywhere"), an administrator or a password change revokes them too; ending
   *every* session of a person so (``person_id`` without ``sids``) also revokes the offline
   grants left from sessions that had ended before (``revoke_offline_grants``);
2. queues one back-channel logout row per (ended session, client that received tokens in it and
   has a ``backchannel_logout_uri``) in the durable outbox (OpenID Connect Back-Channel Logout
   1.0 §2.7; ``identity.channels_model.BackchannelLogout``). The insert is idempotent: the
   outbox has a unique constraint on ``(sid, client_id)`` and a second queueing of the same pair
   (a concurrent logout of the same session) is ignored by ``ON CONFLICT DO NOTHING``;
3. records the security event ``logout`` and the transparency-log event ``sessions_ended``.

Sessions that run out (idle or absolute) end through the same path with reason ``expired``
(``expire_sessions``, called by the periodic cleanup), so their portals are told and their
grants revoked exactly as for a logout; the ended rows are deleted later (``cleanup``).

So no caller can end a session and forget the portals. Delivery happens later, outside the
request (``identity.channels_service_logout.deliver_due_logouts``). Nothing is sent here.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from identity._shared import log, security_event
from identity.channels_model import BackchannelLogout
from identity.oidc_model import OidcClient, OidcGrant, OidcSsoSession
from identity.oidc_service_context import OidcContext
from identity.tokens import pairwise_sub, secret_digest
from trust.clock import Clock
from trust.errors import Misconfigured
from trust.ids import new_id

__all__ = [
    "FLOW_COOKIE",
    "OFFLINE_SCOPE",
    "OFFLINE_SURVIVES",
    "SSO_COOKIE",
    "EndedSession",
    "SsoSessionView",
    "current_sso_session",
    "end_sessions",
    "establish_sso_session",
    "expire_sessions",
    "grant_session",
    "is_offline_grant",
    "revoke_grants",
    "revoke_offline_grants",
    "session_by_sid",
    "session_is_live",
    "touch_session",
]

SSO_COOKIE: Final = "ywtb_sso"
FLOW_COOKIE: Final = "ywtb_oidc_flow"
_MAX_COOKIE: Final = 100
#: OIDC Core §11: a grant with this scope (consented; the client allowed it) is not bound to
#: the SSO session: its refresh tokens follow the refresh idle/absolute limits only.
OFFLINE_SCOPE: Final = "offline_access"
#: End reasons after which ``offline_access`` grants stay valid. Any other reason (the
#: person's own decision, an administrator, a password change, unknown) revokes them too.
OFFLINE_SURVIVES: Final = frozenset({"rp_logout", "expired", "replaced"})


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
    #: Clients that had live grants in the session.
    client_ids: tuple[str, ...]
    #: Those of them for which a back-channel logout row is queued (by this call or earlier).
    backchannel_client_ids: tuple[str, ...] = ()


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


def session_is_live(row: OidcSsoSession, now: datetime) -> bool:
    """Not ended, and before both its idle and its absolute expiry."""
    return row.ended_at is None and now < row.idle_expires_at and now < row.absolute_expires_at


def _touch(row: OidcSsoSession, now: datetime, ctx: OidcContext) -> None:
    """A use of the session: the idle expiry moves forward, never past the absolute one."""
    row.last_seen_at = now
    row.idle_expires_at = min(now + ctx.settings.seconds("session_idle"), row.absolute_expires_at)


def touch_session(*, row: OidcSsoSession, clock: Clock, ctx: OidcContext) -> None:
    """Count a use of a live session (a refresh of one of its grants): ``_touch``."""
    _touch(row, clock.now(), ctx)


def is_offline_grant(grant: OidcGrant) -> bool:
    """The grant carries ``offline_access``: its tokens outlive the SSO session."""
    return OFFLINE_SCOPE in grant.scope.split()


def grant_session(
    *, session: Session, clock: Clock, grant: OidcGrant, lock: bool
) -> tuple[bool, OidcSsoSession | None]:
    """``(usable, session row)`` for the SSO session a grant's tokens depend on.

    An ``offline_access`` grant, or one issued without a browser session, depends on none:
    ``(True, None)``. A session-bound grant is usable only while its session is live
    (``session_is_live``). ``lock`` (a refresh, which then touches it) re-reads the row
    ``FOR UPDATE``, so that a concurrent logout either comes first and is seen, or waits."""
    if grant.sid is None or is_offline_grant(grant):
        return True, None
    stmt = select(OidcSsoSession).where(OidcSsoSession.sid == grant.sid)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    row = session.scalar(stmt)
    if row is None or not session_is_live(row, clock.now()):
        return False, row
    return True, row


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
    if row is None or not session_is_live(row, now):
        return None
    if touch:
        _touch(row, now, ctx)
    return _view(row)


def session_by_sid(*, session: Session, clock: Clock, sid: str) -> SsoSessionView | None:
    row = session.get(OidcSsoSession, sid)
    return _view(row) if row is not None and session_is_live(row, clock.now()) else None


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
    auth_time: datetime | None = None,
) -> tuple[SsoSessionView, str]:
    """After a completed login: refresh the current session if it is the same person's, else
    end it and start a new one. Returns the session and a **new** cookie value.

    ``auth_time``: when the person actively authenticated, if earlier than now (a brokered
    login reports the upstream's ``auth_time``); never later than now."""
    now = clock.now()
    authenticated_at = now if auth_time is None else min(auth_time, now)
    cookie = secrets.token_urlsafe(32)
    row = session.get(OidcSsoSession, current_sid) if current_sid else None
    if row is not None and (row.person_id != person_id or not session_is_live(row, now)):
        if row.ended_at is None:
            # Another person logs in on this browser (or the session ran out): the previous
            # session's portals are told, exactly as for a logout.
            end_sessions(
                session=session,
                clock=clock,
                ctx=ctx,
                sids=[row.sid],
                reason="replaced" if row.person_id != person_id else "expired",
                actor=f"person:{person_id}",
                client_ip=client_ip,
            )
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
    row.auth_time, row.acr, row.amr = authenticated_at, acr, list(amr)
    _touch(row, now, ctx)
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


def revoke_offline_grants(
    *,
    session: Session,
    clock: Clock,
    person_id: str,
    reason: str,
    except_sid: str | None = None,
) -> int:
    """Revoke every live ``offline_access`` grant of a person - also those whose session has
    long ended - except the ones issued in ``except_sid`` (the browser that asks, e.g. a
    password change keeps its own session). Returns how many were revoked."""
    stmt = select(OidcGrant.id, OidcGrant.scope).where(
        OidcGrant.person_id == person_id, OidcGrant.revoked_at.is_(None)
    )
    if except_sid is not None:
        stmt = stmt.where(or_(OidcGrant.sid.is_(None), OidcGrant.sid != except_sid))
    ids = [gid for gid, scope in session.execute(stmt) if OFFLINE_SCOPE in scope.split()]
    return len(revoke_grants(session=session, clock=clock, grant_ids=ids, reason=reason))


def end_sessions(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    reason: str,
    actor: str,
    sids: Sequence[str] | None = None,
    person_id: str | None = None,
    client_ip: str | None = None,
) -> list[EndedSession]:
    """End the named sessions (or every live session of ``person_id``; both: the named ones of
    that person), revoke their grants (``offline_access`` ones only when ``reason`` is not in
    ``OFFLINE_SURVIVES``) and queue their back-channel logouts - to every client with a live
    grant in the session, offline or not -, all in the caller's transaction. Idempotent:
    sessions already ended are skipped."""
    if sids is None and person_id is None:
        return []
    stmt = select(OidcSsoSession).where(OidcSsoSession.ended_at.is_(None))
    if sids is not None:
        stmt = stmt.where(OidcSsoSession.sid.in_(list(sids)))
    if person_id is not None:
        stmt = stmt.where(OidcSsoSession.person_id == person_id)
    ended: list[EndedSession] = []
    now = clock.now()
    for row in session.scalars(stmt.order_by(OidcSsoSession.sid).with_for_update()):
        row.ended_at, row.end_reason = now, reason[:64]
        grants = list(
            session.scalars(
                select(OidcGrant).where(OidcGrant.sid == row.sid, OidcGrant.revoked_at.is_(None))
            )
        )
        keep_offline = reason in OFFLINE_SURVIVES
        doomed = [g.id for g in grants if not (keep_offline and is_offline_grant(g))]
        revoke_grants(session=session, clock=clock, grant_ids=doomed, reason="logout")
        clients = tuple(sorted({g.client_id for g in grants}))
        queued = _queue_backchannel(session, clock, ctx, row, clients, reason)
        ended.append(EndedSession(row.sid, row.person_id, clients, queued))
    if sids is None and person_id is not None and reason not in OFFLINE_SURVIVES:
        revoke_offline_grants(session=session, clock=clock, person_id=person_id, reason=reason)
    session.flush()
    _record(
        session, clock, ended, reason=reason, actor=actor, client_ip=client_ip, all_=sids is None
    )
    return ended


def expire_sessions(
    *, session: Session, clock: Clock, ctx: OidcContext, limit: int = 1000
) -> list[EndedSession]:
    """End the sessions that ran out (idle or absolute expiry passed, not yet ended) through
    ``end_sessions`` with reason ``expired``: session-bound grants revoked, one back-channel
    logout queued per (session, client), events recorded - as for a logout. At most ``limit``
    sessions per call, those that ran out first; the rest on the next call. Nothing is deleted
    here (``identity.oidc_service_resources.cleanup`` deletes ended rows later)."""
    now = clock.now()
    # idle_expires_at never passes absolute_expires_at (``_touch``); both are written out.
    sids = list(
        session.scalars(
            select(OidcSsoSession.sid)
            .where(
                OidcSsoSession.ended_at.is_(None),
                or_(
                    OidcSsoSession.idle_expires_at <= now,
                    OidcSsoSession.absolute_expires_at <= now,
                ),
            )
            .order_by(OidcSsoSession.idle_expires_at, OidcSsoSession.sid)
            .limit(limit)
        )
    )
    if not sids:
        return []
    return end_sessions(
        session=session, clock=clock, ctx=ctx, sids=sids, reason="expired", actor="oidc:expiry"
    )


def _queue_backchannel(
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    row: OidcSsoSession,
    client_ids: Sequence[str],
    reason: str,
) -> tuple[str, ...]:
    """One outbox row per client with a back-channel logout URI; an existing row for the same
    ``(sid, client_id)`` is left as it is (unique constraint, ``ON CONFLICT DO NOTHING``)."""
    queued: list[str] = []
    now = clock.now()
    for client_id in client_ids:
        client = session.get(OidcClient, client_id)
        if client is None or not client.backchannel_logout_uri:
            continue
        values = {
            "id": new_id("bcl"),
            "sid": row.sid,
            "client_id": client_id,
            "person_id": row.person_id,
            # The client's pairwise sub, as in its ID tokens.
            "sub": pairwise_sub(ctx.pairwise_key, client.sector_id, row.person_id),
            "jti": new_id("lgt"),
            "uri": client.backchannel_logout_uri,
            "reason": reason[:64],
            "status": "pending",
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
        }
        session.execute(_insert_ignoring_duplicate(session, values))
        queued.append(client_id)
    return tuple(queued)


def _insert_ignoring_duplicate(session: Session, values: dict[str, object]) -> Any:
    dialect = session.get_bind().dialect.name
    keys = ["sid", "client_id"]
    if dialect == "postgresql":
        return (
            pg_insert(BackchannelLogout)
            .values(**values)
            .on_conflict_do_nothing(index_elements=keys)
        )
    if dialect == "sqlite":
        return (
            sqlite_insert(BackchannelLogout)
            .values(**values)
            .on_conflict_do_nothing(index_elements=keys)
        )
    raise Misconfigured(f"unsupported database dialect {dialect!r}")  # pragma: no cover


def _record(
    session: Session,
    clock: Clock,
    ended: Sequence[EndedSession],
    *,
    reason: str,
    actor: str,
    client_ip: str | None,
    all_: bool,
) -> None:
    """One security event and one transparency-log event per person whose sessions ended."""
    for person in sorted({e.person_id for e in ended}):
        mine = [e for e in ended if e.person_id == person]
        security_event(
            session,
            clock,
            "logout",
            person_id=person,
            client_ip=client_ip,
            detail={"reason": reason, "kind": "all" if all_ else "session"},
        )
        log(
            session,
            clock,
            "sessions_ended",
            person,
            actor,
            reason=reason,
            sids=[e.sid for e in mine],
            backchannel_logouts=sum(len(e.backchannel_client_ids) for e in mine),
        )
