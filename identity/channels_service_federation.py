"""Broker login through an upstream OpenID provider (``identity.federation``).

``begin``: a ``FederationLogin`` row (state digest, nonce, PKCE verifier, where to return) and
the upstream authorisation URL (code flow, S256). ``complete``: the state is single use and
short-lived; the code is exchanged at the upstream token endpoint with our client secret, the
ID token checked (``validate_upstream_id_token``), the upstream userinfo read (its ``sub`` must
be the ID token's) and what it asserts read (``read_upstream_assertion``); then

1. the link (issuer, upstream ``sub``) names the local person, else
2. the upstream's name + citizen ID number, both marked verified (``verified_claims``), find the
   local account (keyed hash of the ID number). Linking to that existing account is refused
   unless the upstream's level is at least ``FederationSettings.min_link_level``
   (``link_refusal``); without such an account a new one is registered from the verified data
   (phone from the upstream). Unverified identity data is never used;
3. the upstream's assurance is recorded as evidence of its own kind (``federation``: upstream
   issuer, subject and level; only for verified identity data at level 2 or more), the proofing
   level recomputed, the link updated and the event logged;
4. an SSO session is established with ``acr = min(proofing, strength of the upstream amr)`` and
   ``auth_time`` the upstream's (when it said, never later than now), so that ``max_age``
   and the decay of an elevated ``acr`` are measured from the real authentication.

``begin`` asks the upstream for a fresh authentication (``prompt=login``, ``max_age=0``) when
the authorisation request needs one (``identity.federation.fresh_login_needed``), and
``complete`` reports whether the upstream really authenticated the person during this broker
login (``FederatedLogin.fresh``). ``authenticate_interaction`` then makes the login the
interaction's own: a fresh login satisfies ``prompt=login``, ``max_age`` and a step-up exactly
like a password login on our login page, with its ``auth_time`` and ``acr``.

Security events are the password login's: ``login.succeeded`` / ``login.failed`` (detail
``method: federation``). All network I/O happens before the database writes of step 2-4, which
run in a savepoint: a refusal or failure leaves no partial rows, only the consumed state and
the ``login.failed`` event.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import _shared as sh
from identity.assurance import acr_for, acr_rank
from identity.authorize import AuthorizationRequest
from identity.channels_model import FederatedIdentity, FederationLogin
from identity.evidence import EvidenceKind, Outcome
from identity.federation import (
    FederationSettings,
    UpstreamAssertion,
    UpstreamIdentity,
    fresh_login_needed,
    link_refusal,
    pkce_pair,
    read_upstream_assertion,
    upstream_authenticated_since,
    validate_upstream_id_token,
)
from identity.keying import IdentityKeys
from identity.model import Evidence
from identity.oidc_model import OidcInteraction
from identity.oidc_service_authorize import begin as begin_authorization
from identity.oidc_service_authorize import interaction_for, new_flow_cookie
from identity.oidc_service_context import OidcContext
from identity.oidc_service_sessions import SsoSessionView, establish_sso_session
from identity.service_accounts import find_person_by_login, register_person
from identity.tokens import secret_digest
from trust.clock import Clock
from trust.crypto import sm3
from trust.errors import (
    InvalidInput,
    PermissionDenied,
    TrustError,
    Unavailable,
    VerificationFailed,
)
from trust.ids import new_id

__all__ = [
    "CALLBACK_PATH",
    "FLOW_SECONDS",
    "FederatedLogin",
    "FederationFailed",
    "FederationRefused",
    "FederationStart",
    "Resumption",
    "authenticate_interaction",
    "begin",
    "complete",
    "fresh_login_wanted",
    "resume",
]

CALLBACK_PATH: Final = "/oidc/federation/callback"
FLOW_SECONDS: Final = 600


class FederationFailed(VerificationFailed):
    code = "identity.federation_failed"
    title = "上级身份平台登录失败"


@dataclass(frozen=True, slots=True, repr=False)
class FederatedLogin:
    sso: SsoSessionView
    cookie: str
    return_to: str
    person_id: str
    proofing_level: int
    #: The upstream authenticated the person during this broker login (its ``auth_time``),
    #: so the login may count as a fresh one (``prompt=login``, ``max_age``, step-up).
    fresh: bool = False

    def __repr__(self) -> str:
        return f"<FederatedLogin person={self.person_id} (cookie hidden)>"


def _get_json(http: httpx.Client, url: str, **kw: Any) -> dict[str, Any]:
    try:
        response = http.get(url, **kw)
    except httpx.HTTPError as exc:
        raise Unavailable(f"upstream unreachable: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise FederationFailed(f"upstream answered {response.status_code} for {url[:100]}")
    body = response.json()
    if not isinstance(body, dict):
        raise FederationFailed("upstream answered a non-object")
    return body


def discover(http: httpx.Client, fed: FederationSettings) -> dict[str, Any]:
    doc = _get_json(http, f"{fed.issuer}/.well-known/openid-configuration")
    # OIDC Discovery §4.3: the issuer in the document must be exactly the configured one.
    if doc.get("issuer") != fed.issuer:
        raise FederationFailed("upstream discovery issuer mismatch")
    return doc


@dataclass(frozen=True, slots=True, repr=False)
class FederationStart:
    """Where to send the browser, and the ``state`` it carries (the edge binds it to the
    browser with a cookie: RFC 9700 §4.7.1, CSRF protection of the redirect back)."""

    url: str
    state: str

    def __repr__(self) -> str:
        return "<FederationStart (state hidden)>"


def begin(
    *,
    session: Session,
    clock: Clock,
    fed: FederationSettings,
    discovery: Mapping[str, Any],
    redirect_uri: str,
    return_to: str,
    fresh_login: bool = False,
) -> FederationStart:
    """The upstream authorisation URL for a new broker login; ``fresh_login``: ask the
    upstream to authenticate the person again (``prompt=login``, ``max_age=0``)."""
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    verifier, challenge = pkce_pair()
    now = clock.now()
    session.add(
        FederationLogin(
            state_hash=secret_digest(state),
            nonce=nonce,
            code_verifier=verifier,
            return_to=return_to[:1000],
            created_at=now,
            expires_at=now + timedelta(seconds=FLOW_SECONDS),
        )
    )
    params = {
        "response_type": "code",
        "client_id": fed.client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid profile phone realname realname_id",
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if fresh_login:
        params |= {"prompt": "login", "max_age": "0"}
    return FederationStart(f"{discovery['authorization_endpoint']}?{urlencode(params)}", state)


def _exchange(
    http: httpx.Client,
    fed: FederationSettings,
    discovery: Mapping[str, Any],
    *,
    code: str,
    verifier: str,
    redirect_uri: str,
) -> dict[str, Any]:
    try:
        response = http.post(
            str(discovery["token_endpoint"]),
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
            auth=(fed.client_id, fed.client_secret),
        )
    except httpx.HTTPError as exc:
        raise Unavailable(f"upstream token endpoint unreachable: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise FederationFailed(f"upstream token endpoint answered {response.status_code}")
    body = response.json()
    if not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
        raise FederationFailed("upstream returned no ID token")
    return body


class FederationRefused(PermissionDenied):
    """The upstream login is valid but may not be used for a local account (yet)."""

    code = "identity.federation_refused"
    title = "不能使用上级身份平台的登录"

    def __init__(self, detail: str, *, code: str, person_id: str | None = None) -> None:
        super().__init__(detail, code=code)
        #: The local account the login was refused for (its owner sees the attempt).
        self.person_id = person_id


def _local_person(
    session: Session,
    clock: Clock,
    keys: IdentityKeys,
    fed: FederationSettings,
    who: UpstreamIdentity,
    assertion: UpstreamAssertion,
) -> str:
    link = session.scalar(
        select(FederatedIdentity).where(
            FederatedIdentity.issuer == who.issuer, FederatedIdentity.upstream_sub == who.sub
        )
    )
    if link is not None:
        return link.person_id
    if assertion.name is None or assertion.id_number is None:
        raise FederationFailed("upstream released no name and citizen ID number")
    try:
        kind, row = find_person_by_login(session=session, keys=keys, login=assertion.id_number)
    except TrustError:
        raise FederationFailed("upstream citizen ID number is malformed") from None
    if kind != "citizen_id":
        raise FederationFailed("upstream citizen ID number is malformed")
    if row is None and not assertion.identity_verified:
        # No account is opened from unverified identity data either.
        refusal = link_refusal(assertion, min_level=fed.min_link_level)
        assert refusal is not None  # unverified data is always refused
        raise FederationRefused(refusal.detail, code=refusal.code)
    if row is not None:
        refusal = link_refusal(assertion, min_level=fed.min_link_level)
        if refusal is not None:
            raise FederationRefused(refusal.detail, code=refusal.code, person_id=row.id)
        if row.name != assertion.name:
            raise FederationRefused(
                "上级身份平台的姓名与本地账户不一致",
                code="identity.federation_name_mismatch",
                person_id=row.id,
            )
        return row.id
    created = register_person(
        session=session,
        clock=clock,
        keys=keys,
        name=assertion.name,
        id_number=assertion.id_number,
        phone=(assertion.phone or "").removeprefix("+86"),
        password=None,
        actor=f"federation:{who.issuer}",
    )
    return created.id


def _record(
    session: Session,
    clock: Clock,
    who: UpstreamIdentity,
    person_id: str,
    assertion: UpstreamAssertion,
    raw: bytes,
) -> int:
    now = clock.now()
    level = assertion.proofing_level
    link = session.scalar(
        select(FederatedIdentity).where(
            FederatedIdentity.issuer == who.issuer, FederatedIdentity.upstream_sub == who.sub
        )
    )
    if link is None:
        link = FederatedIdentity(
            id=new_id("fid"),
            issuer=who.issuer,
            upstream_sub=who.sub,
            person_id=person_id,
            created_at=now,
        )
        session.add(link)
    link.upstream_acr, link.last_login_at = who.acr, now
    link.attributes = {
        "proofing_level": level,
        "identity_verified": assertion.identity_verified,
        "amr": list(who.amr),
    }
    if level >= 2:
        session.add(
            Evidence(
                id=new_id("evd"),
                subject_kind="person",
                subject_id=person_id,
                kind=EvidenceKind.FEDERATION.value,
                outcome=Outcome.MATCH.value,
                reason="federation.upstream_level",
                source=who.issuer[:300],
                request_ref=link.id,
                response_digest=sm3(raw),
                verified_at=now,
                details={
                    "level": level,
                    "upstream_issuer": who.issuer[:300],
                    "upstream_sub": who.sub,
                    "upstream_acr": who.acr or "",
                },
            )
        )
        session.flush()
    after = int(sh.recompute_proofing(session, "person", person_id))
    sh.log(
        session,
        clock,
        "federated_login",
        person_id,
        f"federation:{who.issuer}",
        link=link.id,
        upstream_level=level,
        proofing_level=after,
    )
    return after


@dataclass(frozen=True, slots=True)
class _Upstream:
    who: UpstreamIdentity
    assertion: UpstreamAssertion
    id_token: str


def _ask_upstream(
    http: httpx.Client,
    fed: FederationSettings,
    *,
    code: str,
    verifier: str,
    nonce: str,
    redirect_uri: str,
    now: int,
) -> _Upstream:
    """Every network exchange of ``complete``: discovery, code, ID token, JWKS, userinfo."""
    discovery = discover(http, fed)
    tokens = _exchange(
        http, fed, discovery, code=code, verifier=verifier, redirect_uri=redirect_uri
    )
    who = validate_upstream_id_token(
        unverified_token=tokens["id_token"],
        jwks=_get_json(http, str(discovery["jwks_uri"])),
        issuer=fed.issuer,
        client_id=fed.client_id,
        nonce=nonce,
        now=now,
        leeway=fed.leeway_seconds,
    )
    info = _get_json(
        http,
        str(discovery["userinfo_endpoint"]),
        headers={"Authorization": f"Bearer {tokens.get('access_token', '')}"},
    )
    # OIDC Core §5.3.2: the userinfo sub must equal the ID token's.
    if info.get("sub") != who.sub:
        raise FederationFailed("upstream userinfo is about another subject")
    return _Upstream(who, read_upstream_assertion(info, who.acr), tokens["id_token"])


def complete(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    keys: IdentityKeys,
    fed: FederationSettings,
    http: httpx.Client,
    state: str,
    code: str,
    redirect_uri: str,
    current_sid: str | None,
    client_ip: str | None,
    user_agent: str | None,
) -> FederatedLogin:
    flow = session.get(FederationLogin, secret_digest(state), with_for_update=True)
    now = clock.now()
    if flow is None or flow.used_at is not None or flow.expires_at <= now:
        raise InvalidInput("登录请求已失效，请重新登录", code="identity.federation_state")
    flow.used_at = now
    try:
        upstream = _ask_upstream(
            http,
            fed,
            code=code,
            verifier=flow.code_verifier,
            nonce=flow.nonce,
            redirect_uri=redirect_uri,
            now=int(now.timestamp()),
        )
        fresh = upstream_authenticated_since(
            upstream.who, since=int(flow.created_at.timestamp()), leeway=fed.leeway_seconds
        )
        with session.begin_nested():
            return _sign_in(
                session, clock, ctx, keys, fed, upstream, return_to=flow.return_to,
                current_sid=current_sid, client_ip=client_ip, user_agent=user_agent,
                fresh=fresh,
            )  # fmt: skip
    except TrustError as exc:
        sh.security_event(
            session,
            clock,
            "login.failed",
            person_id=exc.person_id if isinstance(exc, FederationRefused) else None,
            client_ip=client_ip,
            detail={"method": "federation", "reason": exc.code},
        )
        raise


def _sign_in(
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    keys: IdentityKeys,
    fed: FederationSettings,
    upstream: _Upstream,
    *,
    return_to: str,
    current_sid: str | None,
    client_ip: str | None,
    user_agent: str | None,
    fresh: bool,
) -> FederatedLogin:
    """Steps 1-4 (database only)."""
    who = upstream.who
    person_id = _local_person(session, clock, keys, fed, who, upstream.assertion)
    proofing = _record(
        session, clock, who, person_id, upstream.assertion, upstream.id_token.encode()
    )
    amr = list(who.amr) or ["pwd"]
    sso, cookie = establish_sso_session(
        session=session,
        clock=clock,
        ctx=ctx,
        current_sid=current_sid,
        person_id=person_id,
        acr=acr_for(proofing, amr).value,
        amr=amr,
        client_ip=client_ip,
        user_agent=user_agent,
        auth_time=None if who.auth_time is None else datetime.fromtimestamp(who.auth_time, UTC),
    )
    sh.security_event(
        session,
        clock,
        "login.succeeded",
        person_id=person_id,
        client_ip=client_ip,
        detail={"method": "federation", "proofing_level": proofing},
    )
    return FederatedLogin(sso, cookie, return_to, person_id, proofing, fresh)


def authenticate_interaction(
    *, session: Session, clock: Clock, interaction: OidcInteraction, login: FederatedLogin
) -> bool:
    """Make a fresh broker login the authorisation interaction's own login, as a password
    login on our login page would (``identity.oidc_service_login``): the interaction is then
    authenticated in ``login``'s SSO session, so ``prompt=login``, ``max_age`` and a step-up
    are satisfied by it, with its ``auth_time`` and ``acr``. The caller has checked that the
    interaction belongs to this browser (its flow cookie). A login that was not fresh
    changes nothing (``False``): the interaction then asks again."""
    if not login.fresh:
        return False
    ix = interaction
    ix.person_id, ix.amr = login.person_id, list(login.sso.amr)
    ix.second_factor, ix.sms_challenge_id = None, None
    ix.authenticated, ix.sid = True, login.sso.sid
    ix.request = {**ix.request}  # the JSON column is replaced, not mutated in place
    sh.security_event(
        session,
        clock,
        "login.step_up" if ix.step_up else "oidc.login",
        person_id=login.person_id,
        detail={"client_id": ix.client_id, "method": "federation", "outcome": login.sso.acr},
    )
    return True


# --------------------------------------------------------------------------- back to the request

_INTERACTION: Final = "/oidc/interaction/"
_AUTHORIZE: Final = "/oidc/authorize?"
#: Shown on the login page when the upstream did not authenticate the person again.
_NOT_FRESH: Final = "上级身份平台未重新验证您的身份，请重新登录"


def _interaction(
    session: Session, clock: Clock, ctx: OidcContext, return_to: str, flow_cookie: str | None
) -> OidcInteraction | None:
    """The interaction ``return_to`` names, if it is live and bound to this browser."""
    if not return_to.startswith(_INTERACTION):
        return None
    return interaction_for(
        session=session,
        clock=clock,
        ctx=ctx,
        interaction_id=urlsplit(return_to).path.removeprefix(_INTERACTION),
        flow_cookie=flow_cookie,
    )


def fresh_login_wanted(
    *, session: Session, clock: Clock, ctx: OidcContext, return_to: str, flow_cookie: str | None
) -> bool:
    """Does the authorisation request behind ``return_to`` (this browser's interaction, or an
    authorisation URL) need a fresh authentication (``fresh_login_needed``)?"""
    ix = _interaction(session, clock, ctx, return_to, flow_cookie)
    if ix is not None:
        req = AuthorizationRequest.from_json(ix.request)
        return fresh_login_needed(
            prompt=req.prompt,
            max_age=req.max_age,
            step_up=ix.step_up,
            hard_acr_minimum=req.required_acr is not None and acr_rank(req.required_acr) > 1,
        )
    if return_to.startswith(_AUTHORIZE):
        params = dict(parse_qsl(urlsplit(return_to).query))
        return fresh_login_needed(
            prompt=params.get("prompt", "").split(), max_age=0 if "max_age" in params else None
        )
    return False


@dataclass(frozen=True, slots=True, repr=False)
class Resumption:
    """Where the browser goes after a broker login, and a flow cookie to set (when an
    interaction was started for an authorisation URL)."""

    redirect: str
    flow_cookie: str | None = None

    def __repr__(self) -> str:
        return f"<Resumption {self.redirect[:60]!r} (cookie hidden)>"


def _usable_flow_cookie(value: str | None) -> str:
    if value and 30 <= len(value) <= 100 and value.replace("-", "").replace("_", "").isalnum():
        return value
    return new_flow_cookie()


def resume(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    login: FederatedLogin,
    flow_cookie: str | None,
) -> Resumption:
    """Back to the authorisation request the broker login served, the login made the
    interaction's own (``authenticate_interaction``). An interaction must be bound to this
    browser (flow cookie), else it is left alone; an authorisation URL first becomes an
    interaction in the new SSO session, as at the authorisation endpoint. Anything else:
    ``return_to`` as it is (account pages)."""
    if login.return_to.startswith(_AUTHORIZE):
        return _start_interaction(session, clock, ctx, login, _usable_flow_cookie(flow_cookie))
    ix = _interaction(session, clock, ctx, login.return_to, flow_cookie)
    if ix is None:
        return Resumption(login.return_to)
    return Resumption(_back_to(session, clock, ix, login))


def _back_to(session: Session, clock: Clock, ix: OidcInteraction, login: FederatedLogin) -> str:
    fresh = authenticate_interaction(session=session, clock=clock, interaction=ix, login=login)
    return f"{_INTERACTION}{ix.id}" + ("" if fresh else f"?e={quote(_NOT_FRESH)}")


def _start_interaction(
    session: Session, clock: Clock, ctx: OidcContext, login: FederatedLogin, flow: str
) -> Resumption:
    pairs = parse_qsl(urlsplit(login.return_to).query, keep_blank_values=True)
    outcome = begin_authorization(
        session=session, clock=clock, ctx=ctx, pairs=pairs, flow_cookie=flow, sso=login.sso
    )
    if outcome.stage == "done" and outcome.redirect is not None:
        return Resumption(outcome.redirect)  # a code (or an error) for the portal
    ix = session.get(OidcInteraction, outcome.interaction_id) if outcome.interaction_id else None
    if outcome.stage == "error" or ix is None:
        return Resumption(login.return_to)  # the authorisation endpoint shows the error
    return Resumption(_back_to(session, clock, ix, login), flow)
