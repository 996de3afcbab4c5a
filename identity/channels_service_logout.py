"""Logout that propagates (OpenID Connect Back-Channel Logout 1.0): the durable outbox, "log out
everywhere", ending one session from the sessions page, and the delivery worker.

When SSO sessions end (``identity.oidc_service_sessions.end_sessions``, the only way they
end), one ``BackchannelLogout`` row per (session, client that received tokens in it and has a
``backchannel_logout_uri``) is written in the same transaction - so a logout is never lost
between the database and the network. ``deliver_due_logouts`` then, outside any request (a
periodic job, ``trustctl oidc deliver-logouts``, or the bounded wait of RP-initiated logout):

1. claims due rows with a lease (conditional UPDATE: only if unleased or the lease ran out;
   ``rowcount`` says who won), in its own short transaction;
2. signs one logout token per row (``identity.logout.logout_token_claims``, ``typ``
   ``logout+jwt``, ES256 through the keystore ``Signer``) and POSTs it form-encoded (§2.5);
3. marks the row delivered (HTTP 2xx, §2.8) or schedules a retry with exponential backoff
   (``identity.logout.RetryPolicy``), failed after the last attempt - only if it still holds
   the lease.

A row's ``jti`` is fixed, so a relying party that received a token twice (a worker that died
after the POST) can recognise the repeat.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from identity.channels_model import BackchannelLogout, DeviceAuthorization, FederationLogin
from identity.logout import LOGOUT_TOKEN_TYP, RetryPolicy, logout_token_claims
from identity.oidc_model import OidcClient, OidcGrant, OidcSsoSession
from identity.oidc_service_context import OidcContext
from identity.oidc_service_sessions import EndedSession, end_sessions
from identity.oidc_service_tokens import token_signer
from identity.tokens import sign_jwt
from keys.interfaces import KeyStore, Signer
from trust.clock import Clock
from trust.errors import NotFound
from trust.ids import new_id

__all__ = [
    "OUTBOX_RETENTION",
    "ChannelsCleanup",
    "DeliveryReport",
    "OutboxEntry",
    "SessionSummary",
    "cleanup_channels",
    "deliver_backchannel_logouts",
    "deliver_due_logouts",
    "end_person_session",
    "list_outbox",
    "list_person_sessions",
    "log_out_everywhere",
    "outbox_rows",
]


def log_out_everywhere(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    person_id: str,
    reason: str,
    actor: str,
    client_ip: str | None = None,
) -> list[EndedSession]:
    """End every live SSO session of a person (self-service, administrator, password change),
    revoke their grants and queue one back-channel logout per (session, client), in the
    caller's transaction (``identity.oidc_service_sessions.end_sessions``)."""
    return end_sessions(
        session=session,
        clock=clock,
        ctx=ctx,
        person_id=person_id,
        reason=reason,
        actor=actor,
        client_ip=client_ip,
    )


def end_person_session(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    person_id: str,
    sid: str,
    reason: str,
    actor: str,
    client_ip: str | None = None,
) -> list[EndedSession]:
    """End one session - only one of ``person_id``'s own (else ``NotFound``)."""
    row = session.get(OidcSsoSession, sid)
    if row is None or row.person_id != person_id:
        raise NotFound("会话不存在", code="identity.session_not_found")
    return end_sessions(
        session=session,
        clock=clock,
        ctx=ctx,
        sids=[sid],
        person_id=person_id,
        reason=reason,
        actor=actor,
        client_ip=client_ip,
    )


@dataclass(frozen=True, slots=True)
class SessionSummary:
    sid: str
    created_at: datetime
    last_seen_at: datetime
    auth_time: datetime
    acr: str
    amr: tuple[str, ...]
    user_agent: str | None
    client_ip: str | None
    #: Names of the portals that received tokens in this session.
    portals: tuple[str, ...]


def list_person_sessions(*, session: Session, clock: Clock, person_id: str) -> list[SessionSummary]:
    """The person's live SSO sessions, newest first."""
    now = clock.now()
    rows = session.scalars(
        select(OidcSsoSession)
        .where(
            OidcSsoSession.person_id == person_id,
            OidcSsoSession.ended_at.is_(None),
            OidcSsoSession.idle_expires_at > now,
            OidcSsoSession.absolute_expires_at > now,
        )
        .order_by(OidcSsoSession.created_at.desc())
    )
    out: list[SessionSummary] = []
    for row in rows:
        names = session.scalars(
            select(OidcClient.name)
            .join(OidcGrant, OidcGrant.client_id == OidcClient.client_id)
            .where(OidcGrant.sid == row.sid)
            .distinct()
        )
        out.append(
            SessionSummary(
                sid=row.sid,
                created_at=row.created_at,
                last_seen_at=row.last_seen_at,
                auth_time=row.auth_time,
                acr=row.acr,
                amr=tuple(row.amr),
                user_agent=row.user_agent,
                client_ip=row.client_ip,
                portals=tuple(sorted(names)),
            )
        )
    return out


# --------------------------------------------------------------------------- delivery worker


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    claimed: int
    delivered: int
    retried: int
    failed: int


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: str
    uri: str
    token: str
    attempts: int


def _claim(
    *,
    session: Session,
    clock: Clock,
    issuer: str,
    signer: Signer,
    worker_id: str,
    limit: int,
    lease: timedelta,
    sid: str | None,
) -> list[_Claimed]:
    now = clock.now()
    free = or_(
        BackchannelLogout.lease_expires_at.is_(None), BackchannelLogout.lease_expires_at < now
    )
    due: tuple[Any, ...] = (
        BackchannelLogout.status == "pending",
        BackchannelLogout.next_attempt_at <= now,
    )
    if sid is not None:
        due = (*due, BackchannelLogout.sid == sid)
    candidates = list(
        session.scalars(
            select(BackchannelLogout.id)
            .where(*due, free)
            .order_by(BackchannelLogout.next_attempt_at)
            .limit(limit)
        )
    )
    claimed: list[_Claimed] = []
    for row_id in candidates:
        # Compare-and-set: a concurrent worker that claimed the row first makes this a no-op.
        won = session.execute(
            update(BackchannelLogout)
            .where(BackchannelLogout.id == row_id, *due, free)
            .values(lease_owner=worker_id, lease_expires_at=now + lease)
            .execution_options(synchronize_session=False)
        )
        if won.rowcount != 1:  # type: ignore[attr-defined]
            continue
        row = session.get(BackchannelLogout, row_id, populate_existing=True)
        if row is None:  # pragma: no cover - we just updated it
            continue
        claims = logout_token_claims(
            issuer=issuer,
            client_id=row.client_id,
            sub=row.sub,
            sid=row.sid,
            jti=row.jti,
            now=int(now.timestamp()),
        )
        token = sign_jwt(signer, claims, typ=LOGOUT_TOKEN_TYP)
        claimed.append(_Claimed(row.id, row.uri, token, row.attempts))
    return claimed


def _post(http: httpx.Client, item: _Claimed) -> str | None:
    """``None`` when delivered, else a short reason."""
    try:
        response = http.post(
            item.uri,
            data={"logout_token": item.token},
            headers={"Cache-Control": "no-store"},
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        return f"network: {type(exc).__name__}"
    # §2.8: "If the logout succeeded, the RP MUST respond with HTTP 200 OK" (we accept 2xx).
    if 200 <= response.status_code < 300:
        return None
    return f"http {response.status_code}"


def _record(
    *,
    session: Session,
    clock: Clock,
    item: _Claimed,
    worker_id: str,
    error: str | None,
    policy: RetryPolicy,
) -> str:
    now = clock.now()
    mine = BackchannelLogout.id == item.id, BackchannelLogout.lease_owner == worker_id
    attempts = item.attempts + 1
    values: dict[str, object] = {
        "attempts": attempts,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    if error is None:
        outcome = "delivered"
        values.update(status="delivered", delivered_at=now, last_error=None)
    elif policy.exhausted(attempts):
        outcome = "failed"
        values.update(status="failed", last_error=error[:200])
    else:
        outcome = "retried"
        values.update(last_error=error[:200], next_attempt_at=now + policy.delay_after(attempts))
    session.execute(
        update(BackchannelLogout)
        .where(*mine)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return outcome


def deliver_due_logouts(
    *,
    session_factory: sessionmaker[Session],
    clock: Clock,
    issuer: str,
    signer_for: Callable[[Session], Signer],
    http: httpx.Client,
    worker_id: str | None = None,
    limit: int = 100,
    lease_seconds: int = 60,
    policy: RetryPolicy | None = None,
    sid: str | None = None,
) -> DeliveryReport:
    """One pass of the delivery worker (``trustctl oidc deliver-logouts``; a periodic job).
    Safe to run in several processes at once. ``sid``: only that session's rows (the
    bounded wait of RP-initiated logout)."""
    worker = worker_id or new_id("wrk")
    policy = policy or RetryPolicy()
    with session_factory() as session, session.begin():
        claimed = _claim(
            session=session,
            clock=clock,
            issuer=issuer,
            signer=signer_for(session),
            worker_id=worker,
            limit=limit,
            lease=timedelta(seconds=lease_seconds),
            sid=sid,
        )
    counts = {"delivered": 0, "retried": 0, "failed": 0}
    for item in claimed:
        error = _post(http, item)
        with session_factory() as session, session.begin():
            outcome = _record(
                session=session,
                clock=clock,
                item=item,
                worker_id=worker,
                error=error,
                policy=policy,
            )
        counts[outcome] += 1
    return DeliveryReport(len(claimed), counts["delivered"], counts["retried"], counts["failed"])


#: Per-request timeout of a delivery POST made by the periodic job.
DELIVERY_TIMEOUT_SECONDS: Final = 5.0


def deliver_backchannel_logouts(
    *,
    session_factory: sessionmaker[Session],
    clock: Clock,
    keystore: KeyStore,
    issuer: str,
    limit: int = 100,
    timeout_seconds: float = DELIVERY_TIMEOUT_SECONDS,
) -> DeliveryReport:
    """The periodic job: one ``deliver_due_logouts`` pass signed with the ACTIVE token key,
    over a fresh HTTP client. Suggested interval: 5-10 seconds (retries are spaced by the
    rows' own backoff, so a short interval only shortens the first delivery)."""
    with httpx.Client(timeout=timeout_seconds) as http:
        return deliver_due_logouts(
            session_factory=session_factory,
            clock=clock,
            issuer=issuer,
            signer_for=lambda s: token_signer(session=s, clock=clock, keystore=keystore),
            http=http,
            limit=limit,
        )


def outbox_rows(*, session: Session, person_id: str | None = None) -> list[BackchannelLogout]:
    """Outbox rows (for administrators' delivery status and tests)."""
    stmt = select(BackchannelLogout).order_by(BackchannelLogout.created_at)
    if person_id is not None:
        stmt = stmt.where(BackchannelLogout.person_id == person_id)
    return list(session.scalars(stmt))


@dataclass(frozen=True, slots=True)
class ChannelsCleanup:
    device_authorizations: int
    federation_logins: int
    outbox_rows: int


#: Kept after expiry / final state, for support questions ("did portal B get the logout?").
OUTBOX_RETENTION: Final = timedelta(days=30)
DEVICE_RETENTION: Final = timedelta(days=1)


def cleanup_channels(*, session: Session, clock: Clock) -> ChannelsCleanup:
    """TTL cleanup: expired device authorisations (after a day), expired federation logins,
    delivered or failed outbox rows after ``OUTBOX_RETENTION``. Pending rows are never
    deleted."""
    now = clock.now()
    devices = session.execute(
        delete(DeviceAuthorization).where(DeviceAuthorization.expires_at < now - DEVICE_RETENTION)
    )
    logins = session.execute(delete(FederationLogin).where(FederationLogin.expires_at < now))
    rows = session.execute(
        delete(BackchannelLogout).where(
            BackchannelLogout.status.in_(("delivered", "failed")),
            BackchannelLogout.created_at < now - OUTBOX_RETENTION,
        )
    )
    return ChannelsCleanup(
        devices.rowcount,  # type: ignore[attr-defined]
        logins.rowcount,  # type: ignore[attr-defined]
        rows.rowcount,  # type: ignore[attr-defined]
    )


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """Delivery status of one back-channel logout (administrators' view; no token)."""

    id: str
    sid: str
    client_id: str
    person_id: str
    reason: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None


def list_outbox(
    *, session: Session, person_id: str | None = None, status: str | None = None, limit: int = 200
) -> list[OutboxEntry]:
    stmt = select(BackchannelLogout).order_by(BackchannelLogout.created_at.desc())
    if person_id is not None:
        stmt = stmt.where(BackchannelLogout.person_id == person_id)
    if status is not None:
        stmt = stmt.where(BackchannelLogout.status == status)
    return [
        OutboxEntry(
            r.id,
            r.sid,
            r.client_id,
            r.person_id,
            r.reason,
            r.status,
            r.attempts,
            r.last_error,
            r.created_at,
            r.next_attempt_at,
            r.delivered_at,
        )
        for r in session.scalars(stmt.limit(max(1, min(limit, 1000))))
    ]
