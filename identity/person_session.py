"""The logged-in natural person for other capabilities (``trust.web.person``), and the login
that brings a browser back to where it started.

**Resolver** (``resolve_person``, registered on the app by this router's lifespan): the browser
SSO session (cookie ``ywtb_sso``, ``identity.oidc_service_sessions``) gives the person; what is
handed over is only what this capability has verified —

* the citizen ID number only when the account's identity proofing is at least P2 (name and
  number checked against the population registry, ``identity.assurance``), else ``None``;
* the organisations the person acts for now (``service_agents.authorisations_for``: as legal
  representative, or as agent within the authorisation's validity, with its scopes), and only
  those whose own proofing is at least P2 (name, credit code and representative checked
  against the enterprise registry): an unverified registration could claim anyone's code.

A disabled account or an ended / expired SSO session resolves to nobody.

**Login** (``GET /account/login?return_to=/local/path``): an OpenID Connect authorisation-code
request with PKCE (RFC 7636, S256) of this service's own public client ``ywtb-account``
(created on first use, redirect URI ``<public base URL>/account/login/callback``, scope
``openid`` only, so no consent page) to this same OpenID Provider, whose login page then
establishes the SSO session. The state, PKCE verifier and return path travel in an HttpOnly
cookie MACed with HMAC-SM3 (path ``/account/login``, 15 minutes). The callback checks the state
in constant time, redeems the code (client, redirect URI, PKCE, expiry, single use, as the
token endpoint does), requires that its grant belongs to this browser's SSO session, and
revokes that grant at once — the login needs no tokens, only the session — then redirects to
the return path. A return path must be local (``trust.web.person.is_local_path``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import trust.web
from identity import _shared as sh
from identity.assurance import ProofingLevel
from identity.clients import check_client_metadata
from identity.model import LegalPerson, Person
from identity.oidc_api_support import NO_STORE, oidc_context
from identity.oidc_model import OidcAuthCode, OidcClient, OidcGrant
from identity.oidc_service_context import OidcContext
from identity.oidc_service_sessions import SSO_COOKIE, current_sso_session, revoke_grants
from identity.pkce import challenge_s256, verify_s256
from identity.service_accounts import id_number_of
from identity.service_agents import authorisations_for
from identity.tokens import secret_digest
from identity.web_session import identity_context
from trust import __version__
from trust.clock import Clock
from trust.crypto import constant_time_equal, hmac_sm3
from trust.web.deps import ClockDep, SessionDep
from trust.web.person import (
    LegalPersonLink,
    NaturalPerson,
    PersonProvider,
    is_local_path,
    register_person_provider,
)

__all__ = ["LOGIN_PATH", "PORTAL_CLIENT_ID", "resolve_person", "router"]

LOGIN_PATH: Final = "/account/login"
CALLBACK_PATH: Final = "/account/login/callback"
PORTAL_CLIENT_ID: Final = "ywtb-account"
PROVIDER: Final = "identity"
_LOGIN_COOKIE: Final = "ywtb_account_login"
_LOGIN_TTL: Final = timedelta(minutes=15)
_VERIFIED: Final = ProofingLevel.P2
_templates: Final = Jinja2Templates(
    directory=str(Path(trust.web.__file__).resolve().parent / "templates")
)


# --------------------------------------------------------------------------- the resolver


def _legal_persons(session: Session, clock: Clock, person_id: str) -> tuple[LegalPersonLink, ...]:
    out: list[LegalPersonLink] = []
    for acting in authorisations_for(session=session, clock=clock, person_id=person_id):
        legal = session.get(LegalPerson, acting.legal_person_id)
        if legal is None or legal.proofing_level < _VERIFIED:
            continue  # the credit code was never checked: it proves nothing about licences
        out.append(
            LegalPersonLink(
                credit_code=acting.uscc,
                name=acting.name,
                role="legal_representative" if acting.role == "legal_rep" else "agent",
                scopes=frozenset(acting.scopes),
                expires_at=acting.expires_at,
            )
        )
    return tuple(out)


def resolve_person(*, request: Request, session: Session, clock: Clock) -> NaturalPerson | None:
    """``trust.web.person.PersonResolver`` over the SSO session (see the module docstring)."""
    sso = current_sso_session(
        session=session,
        clock=clock,
        ctx=oidc_context(request),
        cookie_value=request.cookies.get(SSO_COOKIE),
        touch=True,
    )
    if sso is None:
        return None
    row = session.get(Person, sso.person_id)
    if row is None or row.status != "active":
        return None
    keys = identity_context(request).keys
    citizen_id = id_number_of(row, keys) if row.proofing_level >= _VERIFIED else None
    return NaturalPerson(
        subject=row.id,
        name=row.name,
        citizen_id=citizen_id,
        legal_persons=_legal_persons(session, clock, row.id),
        session_id=sso.sid,
        authenticated_at=sso.auth_time,
        provider=PROVIDER,
    )


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    register_person_provider(app, PersonProvider(PROVIDER, resolve_person, LOGIN_PATH))
    yield


router = APIRouter(lifespan=_lifespan, include_in_schema=False)


# --------------------------------------------------------------------------- the portal client


def _callback_uri(ctx: OidcContext) -> str:
    return ctx.issuer.rstrip("/") + CALLBACK_PATH


def ensure_portal_client(*, session: Session, clock: Clock, ctx: OidcContext) -> str:
    """This service's own public client, registered (and logged) on first use; its redirect
    URI follows the public base URL."""
    callback = _callback_uri(ctx)
    row = session.get(OidcClient, PORTAL_CLIENT_ID)
    if row is not None:
        if row.redirect_uris != [callback]:
            row.redirect_uris = [callback]
            sh.log(
                session,
                clock,
                "oidc_client_updated",
                PORTAL_CLIENT_ID,
                "system:identity",
                redirect_uris=[callback],
            )
        return PORTAL_CLIENT_ID
    meta = check_client_metadata(
        name="一网通办统一身份认证（本服务页面登录）",
        kind="public",
        redirect_uris=[callback],
        scopes=["openid"],
        grant_types=["authorization_code"],
    )
    try:
        with session.begin_nested():
            session.add(
                OidcClient(
                    client_id=PORTAL_CLIENT_ID,
                    name=meta.name,
                    kind=meta.kind,
                    secret_hash=None,
                    redirect_uris=list(meta.redirect_uris),
                    post_logout_redirect_uris=[],
                    backchannel_logout_uri=None,
                    sector_id=meta.sector_id,
                    allowed_scopes=" ".join(meta.allowed_scopes),
                    grant_types=" ".join(meta.grant_types),
                    min_acr=None,
                    status="active",
                    created_at=clock.now(),
                    created_by="system:identity",
                )
            )
            session.flush()
            sh.log(
                session,
                clock,
                "oidc_client_registered",
                PORTAL_CLIENT_ID,
                "system:identity",
                name=meta.name,
                client_kind=meta.kind,
                redirect_uris=list(meta.redirect_uris),
                grant_types=list(meta.grant_types),
                scopes=list(meta.allowed_scopes),
            )
    except IntegrityError:
        pass  # registered by a concurrent first login
    return PORTAL_CLIENT_ID


# --------------------------------------------------------------------------- the login state


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _state_key(request: Request) -> bytes:
    return hmac_sm3(identity_context(request).keys.session_mac, b"ywtb-trust/account-login/v1")


def _seal_state(request: Request, value: dict[str, Any]) -> str:
    body = _b64(json.dumps(value, separators=(",", ":")).encode())
    return f"{body}.{_b64(hmac_sm3(_state_key(request), body.encode()))}"


def _open_state(request: Request, clock: Clock) -> dict[str, Any] | None:
    raw = request.cookies.get(_LOGIN_COOKIE, "")
    body, _, mac = raw.partition(".")
    if not body or len(raw) > 2000:
        return None
    expected = _b64(hmac_sm3(_state_key(request), body.encode()))
    if not constant_time_equal(expected, mac):
        return None
    try:
        value: Any = json.loads(_unb64(body))
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("exp"), int):
        return None
    if value["exp"] <= clock.now().timestamp():
        return None
    return value


def _error(request: Request, description: str) -> Response:
    context = {"error": "login_failed", "description": description, "version": __version__}
    response = _templates.TemplateResponse(request, "identity/error.html", context, 400)
    response.headers.update(NO_STORE)
    response.delete_cookie(_LOGIN_COOKIE, path=LOGIN_PATH)
    return response


@router.get(LOGIN_PATH)
def login_start(
    request: Request, session: SessionDep, clock: ClockDep, return_to: str = "/"
) -> Response:
    """Start a login at this service's OpenID Provider, coming back to ``return_to``."""
    if not is_local_path(return_to):
        return _error(request, "登录后返回的地址无效。")
    ctx = oidc_context(request)
    client_id = ensure_portal_client(session=session, clock=clock, ctx=ctx)
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)  # RFC 7636 §4.1: 43 to 128 characters
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": _callback_uri(ctx),
            "scope": "openid",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge_s256(verifier),
            "code_challenge_method": "S256",
        }
    )
    response = RedirectResponse(f"/oidc/authorize?{query}", status_code=303)
    exp = int((clock.now() + _LOGIN_TTL).timestamp())
    cookie = _seal_state(request, {"s": state, "v": verifier, "r": return_to, "exp": exp})
    response.set_cookie(
        _LOGIN_COOKIE,
        cookie,
        max_age=int(_LOGIN_TTL.total_seconds()),
        path=LOGIN_PATH,
        httponly=True,
        samesite="lax",
        secure=ctx.settings.secure_cookies,
    )
    return response


def _redeem(
    session: Session, clock: Clock, ctx: OidcContext, code: str, verifier: str
) -> OidcGrant | None:
    """The grant of a valid, unused code of our client (then used and revoked), else None."""
    row = session.scalar(
        select(OidcAuthCode).where(OidcAuthCode.code_hash == secret_digest(code)).with_for_update()
    )
    now = clock.now()
    if (
        row is None
        or row.client_id != PORTAL_CLIENT_ID
        or row.used_at is not None
        or now >= row.expires_at
        or row.redirect_uri != _callback_uri(ctx)
        or not verify_s256(unverified_verifier=verifier, challenge=row.code_challenge)
    ):
        return None
    row.used_at = now
    grant = session.get(OidcGrant, row.grant_id)
    if grant is None:
        return None
    # The login needs the SSO session only: no token can ever be issued from this grant.
    revoke_grants(session=session, clock=clock, grant_ids=[grant.id], reason="page_login")
    return grant


@router.get(CALLBACK_PATH)
def login_callback(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    expired = "登录请求已过期或无效，请返回原页面重新登录。"
    saved = _open_state(request, clock)
    state, code = request.query_params.get("state", ""), request.query_params.get("code", "")
    if saved is None or not constant_time_equal(str(saved.get("s", "")), state):
        return _error(request, expired)
    if not code:  # the person cancelled or the provider refused: back to where they were
        response = RedirectResponse(str(saved["r"]), status_code=303)
        response.delete_cookie(_LOGIN_COOKIE, path=LOGIN_PATH)
        return response
    ctx = oidc_context(request)
    grant = _redeem(session, clock, ctx, code, str(saved.get("v", "")))
    sso = current_sso_session(
        session=session,
        clock=clock,
        ctx=ctx,
        cookie_value=request.cookies.get(SSO_COOKIE),
        touch=False,
    )
    if grant is None or sso is None or grant.sid != sso.sid:
        return _error(request, expired)
    return_to = str(saved["r"])
    response = RedirectResponse(return_to if is_local_path(return_to) else "/", status_code=303)
    response.delete_cookie(_LOGIN_COOKIE, path=LOGIN_PATH)
    return response
