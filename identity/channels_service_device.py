"""RFC 8628 device authorisation grant for kiosks and self-service terminals ("扫码登录").

1. The kiosk (an OAuth client) calls ``start`` (``POST /oidc/device_authorization``) and shows
   the QR code of ``verification_uri_complete``.
2. The citizen scans it on a phone where their browser SSO session is live, sees which
   terminal asks for what, and approves or denies (``decide``). Approval records a grant bound
   to that SSO session (so logging out there also ends the kiosk's tokens, with back-channel
   logout to the kiosk's client).
3. The kiosk polls the token endpoint with the device code; ``exchange_device_code`` (registered
   in ``identity.oidc_service_tokens.EXTRA_GRANTS``) answers per RFC 8628 §3.5.

Device and user codes are stored as SHA-256 digests only; the row is locked while polled or
decided, so a code is exchanged at most once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity._shared import log, security_event
from identity.channels_model import DeviceAuthorization
from identity.device import (
    DEVICE_CODE_GRANT,
    DeviceStatus,
    PollOutcome,
    format_user_code,
    new_device_code,
    new_user_code,
    normalise_user_code,
    poll,
    verification_uri_complete,
)
from identity.oidc_errors import OAuthError
from identity.oidc_model import OidcClient
from identity.oidc_service_context import OidcContext
from identity.oidc_service_sessions import SsoSessionView
from identity.oidc_service_tokens import (
    EXTRA_GRANTS,
    TokenResponse,
    create_grant,
    issue_tokens,
)
from identity.tokens import secret_digest
from keys.interfaces import Signer
from trust.clock import Clock
from trust.errors import NotFound
from trust.ids import new_id

__all__ = [
    "DEVICE_PATH",
    "DeviceAuthorizationStarted",
    "DeviceRequestView",
    "decide",
    "exchange_device_code",
    "pending_request",
    "start",
]

DEVICE_PATH: Final = "/oidc/device"
#: RFC 8628 §3.2 ``expires_in`` and ``interval`` (seconds).
EXPIRES_SECONDS: Final = 600
INTERVAL_SECONDS: Final = 5


@dataclass(frozen=True, slots=True, repr=False)
class DeviceAuthorizationStarted:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int

    def as_json(self) -> dict[str, object]:
        """RFC 8628 §3.2 response body."""
        return {
            "device_code": self.device_code,
            "user_code": format_user_code(self.user_code),
            "verification_uri": self.verification_uri,
            "verification_uri_complete": self.verification_uri_complete,
            "expires_in": self.expires_in,
            "interval": self.interval,
        }

    def __repr__(self) -> str:
        return "<DeviceAuthorizationStarted (codes hidden)>"


@dataclass(frozen=True, slots=True)
class DeviceRequestView:
    """What the phone shows before the person decides."""

    user_code: str
    client_id: str
    client_name: str
    scope: tuple[str, ...]
    status: str


def _scope(client: OidcClient, requested: str | None) -> list[str]:
    allowed = client.allowed_scopes.split()
    wanted = list(dict.fromkeys((requested or " ".join(allowed)).split()))
    if not wanted or any(s not in allowed for s in wanted):
        raise OAuthError("invalid_scope", "requested scope is not allowed for this client")
    return wanted


def start(
    *, session: Session, clock: Clock, ctx: OidcContext, client: OidcClient, scope: str | None
) -> DeviceAuthorizationStarted:
    """RFC 8628 §3.1-3.2 for an authenticated client allowed the device grant."""
    if DEVICE_CODE_GRANT not in client.grant_types.split():
        raise OAuthError("unauthorized_client", "client may not use the device grant")
    scopes = _scope(client, scope)
    now = clock.now()
    device_code, user_code = new_device_code(), new_user_code()
    session.add(
        DeviceAuthorization(
            id=new_id("dev"),
            device_code_hash=secret_digest(device_code),
            user_code_hash=secret_digest(user_code),
            client_id=client.client_id,
            scope=" ".join(scopes),
            created_at=now,
            expires_at=now + timedelta(seconds=EXPIRES_SECONDS),
            interval=INTERVAL_SECONDS,
            status=DeviceStatus.PENDING.value,
        )
    )
    session.flush()
    uri = ctx.issuer + DEVICE_PATH
    return DeviceAuthorizationStarted(
        device_code=device_code,
        user_code=user_code,
        verification_uri=uri,
        verification_uri_complete=verification_uri_complete(uri, user_code),
        expires_in=EXPIRES_SECONDS,
        interval=INTERVAL_SECONDS,
    )


def _by_user_code(
    session: Session, clock: Clock, unverified_user_code: str
) -> DeviceAuthorization | None:
    code = normalise_user_code(unverified_user_code)
    if code is None:
        return None
    row = session.scalar(
        select(DeviceAuthorization)
        .where(DeviceAuthorization.user_code_hash == secret_digest(code))
        .with_for_update()
    )
    if row is None or row.expires_at <= clock.now() or row.status != DeviceStatus.PENDING:
        return None
    return row


def pending_request(
    *, session: Session, clock: Clock, unverified_user_code: str
) -> DeviceRequestView | None:
    """The pending request behind a user code, or ``None`` (unknown, used or expired)."""
    row = _by_user_code(session, clock, unverified_user_code)
    if row is None:
        return None
    client = session.get(OidcClient, row.client_id)
    code = normalise_user_code(unverified_user_code) or ""
    return DeviceRequestView(
        user_code=format_user_code(code),
        client_id=row.client_id,
        client_name=client.name if client is not None else row.client_id,
        scope=tuple(row.scope.split()),
        status=row.status,
    )


def decide(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    unverified_user_code: str,
    sso: SsoSessionView,
    approve: bool,
    client_ip: str | None = None,
) -> str:
    """The person's answer on the phone; returns the new status. Approval records a grant
    bound to the phone's SSO session."""
    row = _by_user_code(session, clock, unverified_user_code)
    if row is None:
        raise NotFound("验证码无效或已过期", code="identity.device_code_unknown")
    now = clock.now()
    row.person_id, row.sid, row.decided_at = sso.person_id, sso.sid, now
    if approve:
        row.acr, row.amr, row.auth_time = sso.acr, list(sso.amr), sso.auth_time
        row.grant_id = create_grant(
            session=session,
            clock=clock,
            ctx=ctx,
            client_id=row.client_id,
            person_id=sso.person_id,
            scope=row.scope.split(),
            acr=sso.acr,
            amr=sso.amr,
            auth_time=sso.auth_time,
            sid=sso.sid,
        )
        row.status = DeviceStatus.APPROVED.value
    else:
        row.status = DeviceStatus.DENIED.value
    security_event(
        session,
        clock,
        "device_approved" if approve else "device_denied",
        person_id=sso.person_id,
        client_ip=client_ip,
        detail={"client_id": row.client_id, "scope": row.scope},
    )
    log(
        session,
        clock,
        "device_decided",
        row.id,
        f"person:{sso.person_id}",
        client_id=row.client_id,
        approved=approve,
        grant_id=row.grant_id,
    )
    return row.status


def exchange_device_code(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    signer: Signer,
    client: OidcClient,
    form: Mapping[str, str],
) -> TokenResponse:
    """Token endpoint for ``urn:ietf:params:oauth:grant-type:device_code`` (RFC 8628 §3.4-3.5).
    Errors are ``OAuthError`` with the §3.5 codes."""
    device_code = form.get("device_code")
    if not device_code or len(device_code) > 200:
        raise OAuthError("invalid_request", "device_code is required")
    row = session.scalar(
        select(DeviceAuthorization)
        .where(DeviceAuthorization.device_code_hash == secret_digest(device_code))
        .with_for_update()
    )
    # The device code is bound to the client it was issued to (RFC 8628 §3.4).
    if row is None or row.client_id != client.client_id:
        raise OAuthError("invalid_grant", "unknown device code")
    now = clock.now()
    result = poll(
        status=DeviceStatus(row.status),
        now=now,
        expires_at=row.expires_at,
        last_polled_at=row.last_polled_at,
        interval=row.interval,
    )
    row.last_polled_at, row.interval = now, result.interval
    if result.outcome is not PollOutcome.ISSUE:
        raise _PollError(result.outcome.value, f"device authorisation: {result.outcome.value}")
    if row.grant_id is None:  # pragma: no cover - approval always records a grant
        raise OAuthError("invalid_grant", "device authorisation has no grant")
    row.status = DeviceStatus.CONSUMED.value
    return issue_tokens(session=session, clock=clock, ctx=ctx, signer=signer, grant_id=row.grant_id)


class _PollError(OAuthError):
    """A §3.5 answer. ``keep_changes``: the poll time and interval must be saved even though
    this is an error answer (else ``slow_down`` could never trigger)."""

    keep_changes = True


EXTRA_GRANTS[DEVICE_CODE_GRANT] = exchange_device_code
