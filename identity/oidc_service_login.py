"""Login inside an authorisation interaction: the password (first factor), then the second
factor the account has - TOTP if enrolled, else an SMS code to its verified phone - through
identity's own services (``identity.service_auth``: Argon2id, per-account and per-IP backoff,
security events). A completed login creates or refreshes the SSO session and records
``oidc.login`` (or ``login.step_up`` when the request needed a stronger authentication than
the session had); ``acr`` = ``identity.assurance.acr_for(proofing level, amr)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from identity import _shared as sh
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

__all__ = ["LoginStep", "submit_password", "submit_second_factor"]


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
        return _complete_login(session, clock, ctx, ix, client_ip)
    return LoginStep(None)


def submit_second_factor(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    interaction: OidcInteraction,
    code: str,
    client_ip: str | None,
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
    return _complete_login(session, clock, ctx, ix, client_ip)


def _complete_login(
    session: Session, clock: Clock, ctx: OidcContext, ix: OidcInteraction, client_ip: str | None
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
        user_agent=None,
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
