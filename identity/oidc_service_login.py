"""Login inside an authorisation interaction: the password (first factor), then the second
factor the account has - TOTP if enrolled, else an SMS code to its verified phone - through
identity's own services (``identity.service_auth``: Argon2id, per-account and per-IP backoff,
security events); or "扫码登录", approved on a phone where the person is logged in
(``identity.scan_login``, amr ``swk``). A completed login creates or refreshes the SSO session
(recording the browser's User-Agent, truncated, for the sessions page) and records
``oidc.login`` (or ``login.step_up`` when the request needed a stronger authentication than
the session had); ``acr`` = ``identity.assurance.acr_for(proofing level, amr)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from identity import _shared as sh
from identity import scan_login
from identity import service as identity_service
from identity.assurance import acr_for
from identity.model import Person
from identity.oidc_model import OidcInteraction
from identity.oidc_service_context import OidcContext
from identity.oidc_service_sessions import establish_sso_session
from identity.service_auth import AuthPolicy
from identity.sms import SmsSender
from trust.clock import Clock
from trust.errors import RateLimited, TrustError

__all__ = ["LoginStep", "submit_password", "submit_scan_login", "submit_second_factor"]


@dataclass(frozen=True, slots=True, repr=False)
class LoginStep:
    """Result of a login form: an error for the page, or a new SSO cookie once complete."""

    error: str | None = None
    sso_cookie: str | None = None


def submit_password(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    interaction: OidcInteraction,
    login: str,
    password: str,
    client_ip: str | None,
    user_agent: str | None,
    sender: SmsSender,
    policy: AuthPolicy,
) -> LoginStep:
    """First factor. ``LoginStep.error`` is a message for the page; without one the
    interaction wants its second factor, or is authenticated (``sso_cookie`` set)."""
    ix = interaction
    result = identity_service.authenticate_password(
        session=session,
        clock=clock,
        keys=ctx.keys,
        login=login[:100],
        password=password[:1000],
        client_ip=client_ip,
        policy=policy,
    )
    if not result.ok or result.person_id is None:
        if result.reason == "identity.locked":
            return LoginStep(f"尝试次数过多，请 {result.retry_after_seconds} 秒后再试")
        return LoginStep("账号或密码错误")
    ix.person_id, ix.amr = result.person_id, ["pwd"]
    if "otp" in result.second_factors:
        ix.second_factor = "otp"
    elif "sms" in result.second_factors:
        ix.second_factor = "sms"
        try:
            sent = identity_service.send_sms_code(
                session=session,
                clock=clock,
                keys=ctx.keys,
                sender=sender,
                person_id=result.person_id,
                purpose="login",
            )
        except RateLimited:
            return LoginStep("验证码发送过于频繁，请一分钟后再试")
        ix.sms_challenge_id = sent.challenge_id
    else:
        ix.second_factor = None
        return _complete_login(session, clock, ctx, ix, client_ip, user_agent)
    return LoginStep(None)


def submit_second_factor(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    interaction: OidcInteraction,
    code: str,
    client_ip: str | None,
    user_agent: str | None,
    policy: AuthPolicy,
) -> LoginStep:
    ix = interaction
    if ix.person_id is None or ix.second_factor not in ("otp", "sms"):
        return LoginStep("请先输入账号和密码")
    method: Literal["otp", "sms"] = "otp" if ix.second_factor == "otp" else "sms"
    try:
        result = identity_service.verify_second_factor(
            session=session,
            clock=clock,
            keys=ctx.keys,
            person_id=ix.person_id,
            method=method,
            code=code.strip()[:12],
            challenge_id=ix.sms_challenge_id,
            client_ip=client_ip,
            policy=policy,
        )
    except TrustError:
        return LoginStep("验证码错误或已失效")
    if not result.ok:
        locked = result.reason == "identity.locked"
        return LoginStep("尝试次数过多，请稍后再试" if locked else "验证码错误或已失效")
    ix.amr = [*ix.amr, method, "mfa"]
    ix.second_factor = None
    return _complete_login(session, clock, ctx, ix, client_ip, user_agent)


def submit_scan_login(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    interaction: OidcInteraction,
    scan_id: str,
    client_ip: str | None,
    user_agent: str | None,
) -> LoginStep:
    """Complete the login with a scan request approved on the phone (one use; see
    ``identity.scan_login.consume``). The person is the one who approved; amr ``swk``."""
    ix = interaction
    if ix.step_up:
        return LoginStep("该应用要求更高的认证等级，请使用密码和第二步验证登录")
    try:
        person_id = scan_login.consume(
            session=session, clock=clock, interaction=ix, scan_id=scan_id
        )
    except TrustError:
        return LoginStep("扫码登录未完成或已失效，请重新扫码")
    ix.person_id, ix.amr = person_id, [scan_login.SCAN_AMR]
    ix.second_factor, ix.sms_challenge_id = None, None
    return _complete_login(session, clock, ctx, ix, client_ip, user_agent)


def _complete_login(
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    ix: OidcInteraction,
    client_ip: str | None,
    user_agent: str | None,
) -> LoginStep:
    assert ix.person_id is not None
    person = session.get(Person, ix.person_id)
    assert person is not None
    acr = acr_for(person.proofing_level, ix.amr).value
    ix.authenticated = True
    ix.request = {**ix.request}  # the JSON column is replaced, not mutated in place
    view, cookie = establish_sso_session(
        session=session,
        clock=clock,
        ctx=ctx,
        current_sid=ix.sid,
        person_id=ix.person_id,
        acr=acr,
        amr=ix.amr,
        client_ip=client_ip,
        user_agent=(user_agent or None) and user_agent[:200],
    )
    ix.sid = view.sid
    kind = "login.step_up" if ix.step_up else "oidc.login"
    sh.security_event(
        session,
        clock,
        kind,
        person_id=ix.person_id,
        client_ip=client_ip,
        detail={"client_id": ix.client_id, "method": "+".join(ix.amr), "outcome": acr},
    )
    return LoginStep(None, cookie)
