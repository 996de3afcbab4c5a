"""扫码登录 (scan to log in) inside an authorisation interaction.

1. The login page of interaction *X* shows the QR code of ``{issuer}/oidc/scan?t=<token>`` for
   a login request (``OidcScanLogin``) that lives ``SCAN_SECONDS`` and belongs to *X* - and so
   to *X*'s browser, which alone holds *X*'s flow cookie (``identity.oidc_service_authorize.
   interaction_for``). The page and the phone both show the request's short matching code.
2. A phone where the person's SSO session is live opens the URL, sees which service (client)
   and which browser (User-Agent summary, address) asks, and approves or denies (``decide``).
   Only a pending, unexpired request can be decided: the token works once.
3. The login page polls ``scan_status``; once approved, that browser completes the login
   (``consume``) within ``COMPLETE_SECONDS``, while the approving SSO session is still live.
   The interaction is then authenticated with amr ``swk`` (RFC 8176 "software-secured key":
   the app's session on the phone), whose strength the ladder fixes
   (``identity.assurance``: A1, so at most ``urn:ywtb:loa:1``).

Token: ``<row id>.<BASE64URL(HMAC-SM3(k_scan, "scan-login|" + id))>``; the MAC is compared in
constant time and the row holds no secret, so any server process sharing the database can
render the QR code again and check a scanned one. State changes are conditional ``UPDATE``\\ s
(``WHERE status = …``): of two processes racing on one request only one wins.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal
from urllib.parse import urlencode

from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from identity._shared import security_event
from identity.model import Person
from identity.oidc_model import OidcClient, OidcInteraction, OidcScanLogin
from identity.oidc_service_context import OidcContext
from identity.oidc_service_sessions import SsoSessionView, session_by_sid
from trust.clock import Clock
from trust.crypto import constant_time_equal, hmac_sm3
from trust.errors import NotFound
from trust.ids import new_id

__all__ = [
    "COMPLETE_SECONDS",
    "SCAN_AMR",
    "SCAN_PATH",
    "SCAN_SECONDS",
    "ScanLoginNotFound",
    "ScanLoginShown",
    "ScanRequestView",
    "ScanStatus",
    "consume",
    "decide",
    "describe_browser",
    "ensure_scan_login",
    "request_for_phone",
    "scan_status",
    "scan_token",
    "sweep_scan_logins",
]

SCAN_PATH: Final = "/oidc/scan"
#: A QR code is good for this long; the login page offers a new one after.
SCAN_SECONDS: Final = 120
#: After approval on the phone, the browser must complete the login within this long.
COMPLETE_SECONDS: Final = 60
#: A pending request with less time left than this is not shown again (a new one is made).
_REUSE_MARGIN: Final = timedelta(seconds=30)
#: RFC 8176 §2 ``swk``: proof of possession of a software-secured key - the app's session.
SCAN_AMR: Final = "swk"
_MAX_TOKEN: Final = 120

ScanStatus = Literal["pending", "approved", "denied", "consumed", "expired"]


class ScanLoginNotFound(NotFound):
    code = "identity.scan_login_unknown"
    title = "扫码登录请求不存在或已失效"


@dataclass(frozen=True, slots=True, repr=False)
class ScanLoginShown:
    """What the login page shows: the QR code's URL (it carries the token), the matching code
    and the request id the page polls with."""

    id: str
    url: str
    match_code: str
    expires_at: datetime

    def __repr__(self) -> str:
        return f"<ScanLoginShown {self.id} (token hidden)>"


@dataclass(frozen=True, slots=True)
class ScanRequestView:
    """What the phone shows before the person decides."""

    client_name: str
    browser: str
    client_ip: str | None
    match_code: str
    created_at: datetime
    expires_at: datetime


def _key(ctx: OidcContext) -> bytes:
    return hmac_sm3(ctx.keys.code_mac, b"ywtb-trust/identity/oidc/scan-login/v1")


def _mac(ctx: OidcContext, scan_id: str) -> str:
    raw = hmac_sm3(_key(ctx), f"scan-login|{scan_id}".encode("ascii"))
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def scan_token(ctx: OidcContext, scan_id: str) -> str:
    return f"{scan_id}.{_mac(ctx, scan_id)}"


def _scan_id_of(ctx: OidcContext, unverified_token: str | None) -> str | None:
    """The request id of a well-formed token whose MAC is right, else ``None``."""
    if not unverified_token or len(unverified_token) > _MAX_TOKEN:
        return None
    scan_id, sep, mac = unverified_token.partition(".")
    if not sep or not scan_id.startswith("scn_") or not scan_id.isascii():
        return None
    if not constant_time_equal(_mac(ctx, scan_id), mac):
        return None
    return scan_id


def describe_browser(user_agent: str | None) -> str:
    """A short, readable summary of a User-Agent header ("Chrome · Windows")."""
    ua = user_agent or ""
    browsers = (
        ("MicroMessenger/", "微信内置浏览器"),
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("HeadlessChrome/", "Chrome（无界面）"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    )
    systems = (
        ("Windows", "Windows"),
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    )
    browser = next((name for mark, name in browsers if mark in ua), "未知浏览器")
    system = next((name for mark, name in systems if mark in ua), None)
    return f"{browser} · {system}" if system else browser


def _url(ctx: OidcContext, scan_id: str) -> str:
    return f"{ctx.issuer}{SCAN_PATH}?{urlencode({'t': scan_token(ctx, scan_id)})}"


def ensure_scan_login(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    interaction: OidcInteraction,
    user_agent: str | None,
    client_ip: str | None,
) -> ScanLoginShown:
    """The interaction's pending scan request (shown again while it has time left), or a new
    one."""
    now = clock.now()
    row = session.scalar(
        select(OidcScanLogin)
        .where(
            OidcScanLogin.interaction_id == interaction.id,
            OidcScanLogin.status == "pending",
            OidcScanLogin.expires_at > now + _REUSE_MARGIN,
        )
        .order_by(OidcScanLogin.expires_at.desc())
        .limit(1)
    )
    if row is None:
        row = OidcScanLogin(
            id=new_id("scn"),
            interaction_id=interaction.id,
            client_id=interaction.client_id,
            match_code=f"{10 + secrets.randbelow(90)}",
            status="pending",
            created_at=now,
            expires_at=now + timedelta(seconds=SCAN_SECONDS),
            user_agent=(user_agent or None) and user_agent[:200],
            client_ip=(client_ip or None) and client_ip[:64],
        )
        session.add(row)
        session.flush()
    return ScanLoginShown(row.id, _url(ctx, row.id), row.match_code, row.expires_at)


def _pending(
    session: Session, clock: Clock, ctx: OidcContext, unverified_token: str | None
) -> OidcScanLogin | None:
    scan_id = _scan_id_of(ctx, unverified_token)
    if scan_id is None:
        return None
    row = session.get(OidcScanLogin, scan_id)
    if row is None or row.status != "pending" or clock.now() >= row.expires_at:
        return None
    return row


def request_for_phone(
    *, session: Session, clock: Clock, ctx: OidcContext, unverified_token: str | None
) -> ScanRequestView | None:
    """The pending request behind a scanned token, or ``None`` (forged, decided, expired)."""
    row = _pending(session, clock, ctx, unverified_token)
    if row is None:
        return None
    client = session.get(OidcClient, row.client_id)
    return ScanRequestView(
        client_name=client.name if client is not None else row.client_id,
        browser=describe_browser(row.user_agent),
        client_ip=row.client_ip,
        match_code=row.match_code,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


def _transition(
    session: Session, scan_id: str, old: str, values: dict[str, object], now: datetime
) -> bool:
    """``old`` -> new status, only if the row is still ``old`` and unexpired (one winner)."""
    result = session.execute(
        update(OidcScanLogin)
        .where(
            OidcScanLogin.id == scan_id,
            OidcScanLogin.status == old,
            OidcScanLogin.expires_at > now,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


def decide(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    unverified_token: str | None,
    sso: SsoSessionView,
    approve: bool,
    client_ip: str | None = None,
) -> Literal["approved", "denied"]:
    """The person's answer on the phone. ``ScanLoginNotFound`` for a forged, used or expired
    token (a replayed QR code is refused here)."""
    row = _pending(session, clock, ctx, unverified_token)
    now = clock.now()
    status: Literal["approved", "denied"] = "approved" if approve else "denied"
    values: dict[str, object] = {
        "status": status,
        "person_id": sso.person_id,
        "sid": sso.sid,
        "decided_at": now,
    }
    if approve:
        values["expires_at"] = now + timedelta(seconds=COMPLETE_SECONDS)
    if row is None or not _transition(session, row.id, "pending", values, now):
        raise ScanLoginNotFound("二维码无效、已使用或已过期，请在电脑上刷新二维码后重新扫描")
    security_event(
        session,
        clock,
        f"scan_login.{status}",
        person_id=sso.person_id,
        client_ip=client_ip,
        detail={"client_id": row.client_id},
    )
    return status


def _own_row(session: Session, interaction: OidcInteraction, scan_id: str) -> OidcScanLogin | None:
    if not isinstance(scan_id, str) or len(scan_id) > 40 or not scan_id.startswith("scn_"):
        return None
    row = session.get(OidcScanLogin, scan_id, populate_existing=True)
    return row if row is not None and row.interaction_id == interaction.id else None


def scan_status(
    *, session: Session, clock: Clock, interaction: OidcInteraction, scan_id: str
) -> ScanStatus:
    """What the login page's poll learns (only about its own interaction's requests)."""
    row = _own_row(session, interaction, scan_id)
    if row is None:
        return "expired"
    if row.status == "denied":
        return "denied"
    if row.status == "consumed":
        return "consumed"
    if clock.now() >= row.expires_at:
        return "expired"
    return "approved" if row.status == "approved" else "pending"


def consume(*, session: Session, clock: Clock, interaction: OidcInteraction, scan_id: str) -> str:
    """Use an approved request of this interaction once; returns the approving person's id.
    ``ScanLoginNotFound`` if it is not approved, already used, expired, or the phone's SSO
    session or the account is no longer valid."""
    row = _own_row(session, interaction, scan_id)
    now = clock.now()
    refused = ScanLoginNotFound("扫码登录未完成或已失效，请重新扫码")
    if row is None or row.status != "approved" or row.person_id is None or row.sid is None:
        raise refused
    phone = session_by_sid(session=session, clock=clock, sid=row.sid)
    person = session.get(Person, row.person_id)
    if phone is None or phone.person_id != row.person_id or person is None:
        raise refused
    if person.status != "active":
        raise refused
    used = {"status": "consumed", "consumed_at": now}
    if not _transition(session, row.id, "approved", used, now):
        raise refused
    return row.person_id


def sweep_scan_logins(*, session: Session, clock: Clock) -> int:
    """Periodic cleanup: delete scan requests past their expiry. Returns the count."""
    result = session.execute(
        delete(OidcScanLogin)
        .where(OidcScanLogin.expires_at < clock.now())
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    return int(result.rowcount or 0)
