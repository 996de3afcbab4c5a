"""HTTP edge of the channel and logout work: this module assembles the router (routes in
``channels_api_device``, ``channels_api_logout``, ``channels_api_federation``; shared helpers in
``channels_api_support``) and holds the administrator endpoints and the background worker.

* ``POST /oidc/device_authorization`` (RFC 8628 §3.1-3.2; client authentication as at the token
  endpoint; RFC 6749 error bodies). The device grant itself is answered by the token endpoint
  through ``identity.oidc_service_tokens.EXTRA_GRANTS`` (registered on import of
  ``identity.channels_service_device``).
* Kiosk: ``/oidc/device/kiosk?user_code=…`` shows the QR code (``/oidc/device/qr.png``) of
  ``verification_uri_complete``; phone: ``/oidc/device`` where the logged-in person approves or
  denies ("扫码登录").
* ``/oidc/logout`` (RP-Initiated Logout 1.0) with a confirmation page; ending the SSO session
  queues back-channel logout tokens (``identity.channels_service_logout``).
* ``/account/sessions``: the person's SSO sessions; end one or all.
* ``POST /oidc/admin/persons/{person_id}/logout``: an administrator's "log out everywhere".

Delivery of the back-channel logout outbox and the cleanup of expired rows are periodic jobs
(``trust.jobs``; ``trustctl jobs run``), not a loop of this router:
``identity.channels_service_logout.deliver_backchannel_logouts``,
``identity.channels_service_logout.cleanup_channels``, ``identity.oidc_service_resources.cleanup``
and ``identity.oidc_service_resources.prune_retired_signing_keys``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from identity.channels_api_device import device_api, device_pages
from identity.channels_api_federation import federation_pages
from identity.channels_api_logout import logout_pages
from identity.channels_api_support import csp_allowing
from identity.channels_service_logout import list_outbox, log_out_everywhere
from identity.oidc_api_support import OidcContextDep, client_ip
from trust.principals.principal import Principal
from trust.principals.roles import Role
from trust.web.deps import ClockDep, SessionDep
from trust.web.problems import problem_responses
from trust.web.security import require_role

__all__ = ["csp_allowing", "router"]

SystemAdmin = Annotated[Principal, Depends(require_role(Role.SYSTEM_ADMIN))]

router = APIRouter()
_admin = APIRouter(prefix="/oidc/admin", tags=["oidc"])


# --------------------------------------------------------------------------- administrator


class LogoutEverywhereRead(BaseModel):
    person_id: str
    sessions_ended: int


@_admin.post(
    "/persons/{person_id}/logout",
    summary="强制退出某人的全部登录会话并发送后端通道退出通知（仅系统管理员）",
    responses=problem_responses(401, 403),
)
def admin_logout_everywhere(
    person_id: str,
    principal: SystemAdmin,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    ctx: OidcContextDep,
) -> LogoutEverywhereRead:
    ended = log_out_everywhere(
        session=session,
        clock=clock,
        ctx=ctx,
        person_id=person_id[:40],
        reason="admin",
        actor=principal.actor,
        client_ip=client_ip(request),
    )
    return LogoutEverywhereRead(person_id=person_id[:40], sessions_ended=len(ended))


class BackchannelLogoutRead(BaseModel):
    id: str
    sid: str
    client_id: str
    person_id: str
    reason: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None


@_admin.get(
    "/backchannel-logouts",
    summary="后端通道退出通知的投递状态（仅系统管理员）",
    responses=problem_responses(401, 403),
)
def admin_backchannel_logouts(
    principal: SystemAdmin,
    session: SessionDep,
    person_id: str | None = None,
    status_filter: Annotated[
        Literal["pending", "delivered", "failed"] | None, Query(alias="status")
    ] = None,
) -> list[BackchannelLogoutRead]:
    entries = list_outbox(session=session, person_id=person_id, status=status_filter)
    return [BackchannelLogoutRead.model_validate(e, from_attributes=True) for e in entries]


router.include_router(device_api)
router.include_router(_admin)
router.include_router(device_pages)
router.include_router(logout_pages)
router.include_router(federation_pages)
