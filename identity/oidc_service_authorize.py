"""The authorisation endpoint's flow (OIDC Core §3.1.2): a validated request becomes an
*interaction* that advances through login (password, then the second factor the account has),
step-up, organisation choice (§9 of the spec) and consent, and ends in a redirect with a code -
or with an error, to the verified redirect URI only.

``advance`` decides, from the interaction and the SSO session, what happens next; the HTTP edge
renders pages and carries the cookies. Rules, each checked on every authorisation (an elevated
session never silently satisfies a later request):

* no live SSO session, ``prompt=login`` or ``max_age`` exceeded (either without a login in
  this interaction; a brokered login counts when the upstream authenticated the person
  during it, ``identity.channels_service_federation``): log in;
* session ``acr`` below the request's hard minimum (client ``min_acr``, essential ``acr``):
  log in again with the strongest factor the account has (step-up); still below after a fresh
  login: ``unmet_authentication_requirements``; voluntary ``acr_values``: one step-up attempt,
  then whatever was achieved;
* ``prompt=none`` whenever a page would be needed: ``login_required`` / ``consent_required`` /
  ``interaction_required``;
* consent is remembered per person, client and scope (``identity_consent``);
  ``prompt=consent`` asks again;
* ``id_token_hint`` (OIDC Core §3.1.2.1): it must be one of our ID tokens (ES256 signature
  against the published keys - ``alg: none`` is refused -, our issuer; expired is fine), issued
  to any of our clients; else ``invalid_request``. Only its subject is kept (as the pairwise
  ``sub`` of its client's sector), not the token. If the SSO session is another person's, the
  person must log in (``prompt=none``: ``login_required``); if the login is still someone else,
  the request ends with ``login_required`` ("If the End-User identified by the ID Token is
  logged in or is logged in by the request, then the Authorization Server returns a positive
  response; otherwise, it SHOULD return an error, such as login_required").
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final, Literal
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import _shared as sh
from identity import service as identity_service
from identity.assurance import acr_at_least, acr_rank
from identity.authorize import (
    AuthorizationRequest,
    AuthorizePageError,
    AuthorizeRedirectError,
    validate_authorization_request,
)
from identity.model import Consent
from identity.oidc_model import OidcClient, OidcInteraction
from identity.oidc_service_clients import client_row, client_view
from identity.oidc_service_context import OidcContext
from identity.oidc_service_resources import published_jwks
from identity.oidc_service_sessions import (
    SsoSessionView,
    session_by_sid,
)
from identity.oidc_service_tokens import create_grant, issue_code
from identity.records import ActingFor
from identity.service_claims import legal_person_claims
from identity.tokens import (
    IdTokenHintInvalid,
    pairwise_sub,
    secret_digest,
    verify_id_token_hint,
)
from trust.clock import Clock
from trust.crypto import constant_time_equal, hmac_sm3
from trust.ids import new_id

__all__ = [
    "CONSENT_EXEMPT",
    "Outcome",
    "advance",
    "begin",
    "choose_organisation",
    "csrf_token",
    "give_consent",
    "interaction_for",
    "new_flow_cookie",
]

#: Scopes that need no consent screen (``openid`` only identifies the login itself).
CONSENT_EXEMPT: Final = frozenset({"openid"})
Stage = Literal["login", "second_factor", "organisation", "consent", "done", "error"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the edge does next: render ``stage`` for interaction ``interaction_id``, or send
    the browser to ``redirect``; ``sso_cookie`` is a new SSO cookie value to set."""

    stage: Stage
    interaction_id: str | None = None
    redirect: str | None = None
    error: str | None = None
    description: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    sso_cookie: str | None = None


def csrf_token(ctx: OidcContext, interaction_id: str, flow_cookie: str) -> str:
    mac = hmac_sm3(ctx.csrf_key, f"{interaction_id}|{flow_cookie}".encode())
    return mac.hex()


def _redirect(uri: str, params: dict[str, str | None]) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


def _error_redirect(
    ctx: OidcContext, req: AuthorizationRequest, error: str, description: str
) -> Outcome:
    url = _redirect(
        req.redirect_uri,
        {"error": error, "error_description": description, "state": req.state, "iss": ctx.issuer},
    )
    return Outcome("done", redirect=url, error=error, description=description)


def begin(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    pairs: Sequence[tuple[str, str]],
    flow_cookie: str,
    sso: SsoSessionView | None,
) -> Outcome:
    """Validate the request, record the interaction and advance it as far as it goes."""
    client_id = next((v for k, v in pairs if k == "client_id"), "")
    try:
        req = validate_authorization_request(pairs, client_view(client_row(session, client_id)))
    except AuthorizePageError as exc:
        return Outcome("error", error=exc.error, description=exc.description)
    except AuthorizeRedirectError as exc:
        url = _redirect(
            exc.redirect_uri,
            {
                "error": exc.error,
                "error_description": exc.description,
                "state": exc.state,
                "iss": ctx.issuer,
            },
        )
        return Outcome("done", redirect=url, error=exc.error)
    hint = req.extra.get("id_token_hint")
    if hint is not None:
        checked = _checked_hint(session, clock, ctx, req, hint)
        if checked is None:
            return _error_redirect(ctx, req, "invalid_request", "id_token_hint is invalid")
        req = checked
    now = clock.now()
    row = OidcInteraction(
        id=new_id("oix"),
        flow_hash=secret_digest(flow_cookie),
        client_id=req.client_id,
        request=req.to_json(),
        created_at=now,
        expires_at=now + ctx.settings.seconds("interaction"),
        amr=[],
    )
    session.add(row)
    session.flush()
    return advance(session=session, clock=clock, ctx=ctx, interaction=row, sso=sso)


#: Where ``begin`` keeps a checked hint's subject in ``AuthorizationRequest.extra``.
_HINT_SECTOR: Final = "hint_sector"
_HINT_SUB: Final = "hint_sub"


def _checked_hint(
    session: Session, clock: Clock, ctx: OidcContext, req: AuthorizationRequest, hint: str
) -> AuthorizationRequest | None:
    """``req`` with the hint replaced by its subject, or ``None`` if it is not a valid hint."""
    if ctx.keystore is None:  # pragma: no cover - the web context always has its keystore
        return None
    try:
        verified = verify_id_token_hint(
            unverified_token=hint,
            jwks=published_jwks(session=session, keystore=ctx.keystore, clock=clock, ctx=ctx),
            issuer=ctx.issuer,
        )
    except IdTokenHintInvalid:
        return None
    client = session.get(OidcClient, verified.audiences[0])
    if client is None:
        return None
    extra = {k: v for k, v in req.extra.items() if k != "id_token_hint"}
    extra |= {_HINT_SECTOR: client.sector_id, _HINT_SUB: verified.sub}
    return replace(req, extra=extra)


def _hint_is_other_person(ctx: OidcContext, req: AuthorizationRequest, person_id: str) -> bool:
    """The request's ``id_token_hint`` names someone other than ``person_id``."""
    sector, sub = req.extra.get(_HINT_SECTOR), req.extra.get(_HINT_SUB)
    if sector is None or sub is None:
        return False
    mine = pairwise_sub(ctx.pairwise_key, sector, person_id)
    return not constant_time_equal(mine.encode(), sub.encode())


def interaction_for(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    interaction_id: str,
    flow_cookie: str | None,
    csrf: str | None = None,
) -> OidcInteraction | None:
    """The live interaction bound to this browser (flow cookie) and, for a form, its CSRF
    token; ``None`` otherwise (the page then says the request expired)."""
    if not flow_cookie or not isinstance(interaction_id, str) or len(interaction_id) > 40:
        return None
    row = session.scalar(
        select(OidcInteraction).where(OidcInteraction.id == interaction_id).with_for_update()
    )
    if row is None or row.completed_at is not None or clock.now() >= row.expires_at:
        return None
    if not constant_time_equal(row.flow_hash, secret_digest(flow_cookie)):
        return None
    if csrf is not None and not constant_time_equal(
        csrf, csrf_token(ctx, interaction_id, flow_cookie)
    ):
        return None
    return row


def _needs_login(
    req: AuthorizationRequest,
    ix: OidcInteraction,
    sso: SsoSessionView | None,
    now: datetime,
    elevated_seconds: int,
) -> tuple[bool, bool]:
    """``(login needed, because of acr)``."""
    if sso is None:
        return True, False
    fresh = ix.authenticated
    if "login" in req.prompt and not fresh:
        return True, False
    # OIDC Core §3.1.2.1 max_age: "If the elapsed time is greater than this value, the OP MUST
    # attempt to actively re-authenticate the End-User" - a login in this interaction is that
    # attempt (else max_age=0, "equivalent to prompt=login", could never be met).
    if (
        req.max_age is not None
        and not fresh
        and (now - sso.auth_time).total_seconds() > req.max_age
    ):
        return True, False
    if req.required_acr and not acr_at_least(sso.acr, req.required_acr) and not fresh:
        return True, True
    elevated_age = (now - sso.auth_time).total_seconds()
    if (
        req.required_acr
        and acr_rank(req.required_acr) > 1
        and elevated_age > elevated_seconds
        and not fresh
    ):
        return True, True  # the elevated level has decayed: step up again
    if req.desired_acr and not acr_at_least(sso.acr, req.desired_acr) and not fresh:
        return True, True
    return False, False


def _orgs(session: Session, clock: Clock, person_id: str) -> list[ActingFor]:
    return identity_service.authorisations_for(session=session, clock=clock, person_id=person_id)


def _consent_missing(
    session: Session, person_id: str, client_id: str, scopes: Sequence[str]
) -> list[str]:
    wanted = [s for s in scopes if s not in CONSENT_EXEMPT]
    if not wanted:
        return []
    granted = set(
        session.scalars(
            select(Consent.scope).where(
                Consent.person_id == person_id,
                Consent.client_id == client_id,
                Consent.scope.in_(wanted),
                Consent.revoked_at.is_(None),
            )
        )
    )
    return [s for s in wanted if s not in granted]


def advance(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    interaction: OidcInteraction,
    sso: SsoSessionView | None,
) -> Outcome:
    ix = interaction
    req = AuthorizationRequest.from_json(ix.request)
    now = clock.now()
    if ix.authenticated and ix.sid:
        sso = session_by_sid(session=session, clock=clock, sid=ix.sid)
    none = "none" in req.prompt
    if ix.person_id and not ix.authenticated and ix.second_factor:
        return Outcome("second_factor", ix.id, data={"method": ix.second_factor})
    if sso is not None and _hint_is_other_person(ctx, req, sso.person_id):
        if ix.authenticated:
            return _error_redirect(
                ctx, req, "login_required", "the End-User is not the one id_token_hint names"
            )
        sso = None  # someone else's session: the hinted person logs in
    login, for_acr = _needs_login(req, ix, sso, now, ctx.settings.acr_elevated_seconds)
    if login:
        if none:
            return _error_redirect(ctx, req, "login_required", "login required")
        if for_acr and sso is not None:
            ix.step_up = True
        return Outcome("login", ix.id, data={"step_up": ix.step_up, "hint": req.login_hint})
    assert sso is not None
    if req.required_acr and not acr_at_least(sso.acr, req.required_acr):
        return _error_redirect(
            ctx, req, "unmet_authentication_requirements", "acr requirement cannot be met"
        )
    if "legal_person" in req.scopes and ix.legal_person_id is None:
        orgs = _orgs(session, clock, sso.person_id)
        hinted = [o for o in orgs if req.org_hint in (o.uscc, o.legal_person_id)]
        if not orgs or none:
            ix.legal_person_id = hinted[0].legal_person_id if hinted else ""
        elif hinted:
            ix.legal_person_id = hinted[0].legal_person_id
        else:
            return Outcome("organisation", ix.id, data={"orgs": orgs})
    missing = _consent_missing(session, sso.person_id, req.client_id, req.scopes)
    if missing or ("consent" in req.prompt and not ix.consented):
        if none:
            return _error_redirect(ctx, req, "consent_required", "consent required")
        if not ix.consented or missing:
            return Outcome("consent", ix.id, data={"scopes": list(req.scopes)})
    return _issue(session, clock, ctx, ix, req, sso)


def _issue(
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    ix: OidcInteraction,
    req: AuthorizationRequest,
    sso: SsoSessionView,
) -> Outcome:
    legal: dict[str, Any] | None = None
    if ix.legal_person_id:
        legal = legal_person_claims(
            session=session,
            clock=clock,
            person_id=sso.person_id,
            legal_person_id=ix.legal_person_id,
        )["legal_person"]
        legal["legal_person_id"] = ix.legal_person_id
        sh.security_event(
            session,
            clock,
            "oidc.acting_for",
            person_id=sso.person_id,
            legal_person_id=ix.legal_person_id,
            detail={"client_id": req.client_id, "authorisation_id": legal.get("authorisation_id")},
        )
    grant_id = create_grant(
        session=session,
        clock=clock,
        ctx=ctx,
        client_id=req.client_id,
        person_id=sso.person_id,
        scope=req.scopes,
        acr=sso.acr,
        amr=sso.amr,
        auth_time=sso.auth_time,
        sid=sso.sid,
        legal_person=legal,
        legal_person_id=ix.legal_person_id or None,
        userinfo_claims=req.userinfo_claims,
    )
    code = issue_code(session=session, clock=clock, ctx=ctx, grant_id=grant_id, req=req)
    ix.completed_at = clock.now()
    url = _redirect(req.redirect_uri, {"code": code, "state": req.state, "iss": ctx.issuer})
    return Outcome("done", redirect=url)


def choose_organisation(
    *,
    session: Session,
    clock: Clock,
    interaction: OidcInteraction,
    sso: SsoSessionView,
    choice: str,
) -> str | None:
    """``choice``: ``""`` (act as oneself) or a legal person id offered to this person."""
    if choice == "":
        interaction.legal_person_id = ""
        return None
    offered = {o.legal_person_id for o in _orgs(session, clock, sso.person_id)}
    if choice not in offered:
        return "请选择列表中的单位"
    interaction.legal_person_id = choice
    return None


def give_consent(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    interaction: OidcInteraction,
    sso: SsoSessionView,
    approve: bool,
) -> Outcome | None:
    """Record consent for every requested scope (remembered per client and scope), append it
    to the transparency log; a refusal ends the request with ``access_denied``."""
    req = AuthorizationRequest.from_json(interaction.request)
    if not approve:
        interaction.completed_at = clock.now()
        sh.security_event(
            session,
            clock,
            "consent.refused",
            person_id=sso.person_id,
            detail={"client_id": req.client_id},
        )
        url = _redirect(
            req.redirect_uri,
            {
                "error": "access_denied",
                "error_description": "consent refused",
                "state": req.state,
                "iss": ctx.issuer,
            },
        )
        return Outcome("done", redirect=url, error="access_denied")
    scopes = [s for s in req.scopes if s not in CONSENT_EXEMPT]
    now = clock.now()
    for scope in scopes:
        row = session.scalar(
            select(Consent).where(
                Consent.person_id == sso.person_id,
                Consent.client_id == req.client_id,
                Consent.scope == scope,
            )
        )
        if row is None:
            session.add(
                Consent(
                    id=new_id("cns"),
                    person_id=sso.person_id,
                    client_id=req.client_id,
                    scope=scope,
                    granted_at=now,
                )
            )
        else:
            row.granted_at, row.revoked_at = now, None
    interaction.consented = True
    session.flush()
    sh.security_event(
        session,
        clock,
        "consent.granted",
        person_id=sso.person_id,
        detail={"client_id": req.client_id, "scopes": scopes},
    )
    sh.log(
        session,
        clock,
        "consent_granted",
        req.client_id,
        f"person:{sso.person_id}",
        client_id=req.client_id,
        scopes=scopes,
    )
    return None


def new_flow_cookie() -> str:
    return secrets.token_urlsafe(32)
