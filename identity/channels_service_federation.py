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
4. an SSO session is established with ``acr = min(proofing, strength of the upstream amr)``.

Security events are the password login's: ``login.succeeded`` / ``login.failed`` (detail
``method: federation``). All network I/O happens before the database writes of step 2-4, which
run in a savepoint: a refusal or failure leaves no partial rows, only the consumed state and
the ``login.failed`` event.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final
from urllib.parse import urlencode

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import _shared as sh
from identity.assurance import acr_for
from identity.channels_model import FederatedIdentity, FederationLogin
from identity.evidence import EvidenceKind, Outcome
from identity.federation import (
    FederationSettings,
    UpstreamAssertion,
    UpstreamIdentity,
    link_refusal,
    pkce_pair,
    read_upstream_assertion,
    validate_upstream_id_token,
)
from identity.keying import IdentityKeys
from identity.model import Evidence
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
    "FederatedLogin",
    "FederationFailed",
    "FederationRefused",
    "begin",
    "complete",
]

CALLBACK_PATH: Final = "/oidc/federation/callback"
_FLOW_SECONDS: Final = 600


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


def begin(
    *,
    session: Session,
    clock: Clock,
    fed: FederationSettings,
    discovery: Mapping[str, Any],
    redirect_uri: str,
    return_to: str,
) -> str:
    """The upstream authorisation URL for a new broker login."""
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
            expires_at=now + timedelta(seconds=_FLOW_SECONDS),
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
    return f"{discovery['authorization_endpoint']}?{urlencode(params)}"


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
        with session.begin_nested():
            return _sign_in(
                session, clock, ctx, keys, fed, upstream, return_to=flow.return_to,
                current_sid=current_sid, client_ip=client_ip, user_agent=user_agent,
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
    )
    sh.security_event(
        session,
        clock,
        "login.succeeded",
        person_id=person_id,
        client_ip=client_ip,
        detail={"method": "federation", "proofing_level": proofing},
    )
    return FederatedLogin(sso, cookie, return_to, person_id, proofing)
