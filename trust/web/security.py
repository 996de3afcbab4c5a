"""The one authentication dependency every capability's API uses, and declarative role checks.

Usage in a route::

    @router.get("/things")
    def list_things(principal: PrincipalDep) -> ...

    Custodian = Annotated[Principal, Depends(require_role(Role.SEAL_CUSTODIAN, org_param="org_id"))]

    @router.post("/orgs/{org_id}/seals")
    def make_seal(org_id: str, principal: Custodian) -> ...

Accepted credentials:

- ``Authorization: Basic`` with a service client's id and secret (RFC 7617; both parts
  form-urlencoded first, as RFC 6749 §2.3.1 asks);
- ``Authorization: Bearer`` (RFC 6750) with a token that one of the *bearer verifiers* in
  ``app.state.bearer_verifiers`` recognises. ``create_app`` installs the staff API-token verifier.
  **Extension point:** the identity work appends a verifier for its OIDC access tokens (JWT,
  RFC 9068); a verifier returns ``None`` for a token that is not its kind, a ``Principal`` for a
  valid one, and raises ``Unauthenticated`` for one of its kind that is invalid.

Failures are 401 problems with ``WWW-Authenticate``. Each failure is counted in the database per
client IP and per presented client/token id (``trust.web.ratelimit``), committed in its own short
transaction; once ``auth_failure_limit`` failures fall into one window of
``auth_failure_window_seconds``, further attempts get 429 with ``Retry-After`` until the window
ends, in every process sharing the database. Per-id counting lets someone who knows a client id
delay that client for one window; the secrets are 256-bit, so the limit exists to make guessing
visible and slow, and the per-IP count is the main brake.

The check runs in its own short transaction before the route's ``SessionDep`` transaction does
any work. Declare ``PrincipalDep`` (or a ``require_role`` dependency) before any dependency that
queries through ``SessionDep``: on SQLite a transaction that has queried holds the write lock.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Protocol
from urllib.parse import unquote_plus

from fastapi import Depends, Request
from fastapi.openapi.models import HTTPBase as HTTPBaseModel
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.openapi.models import SecurityBase as SecuritySchemeModel
from fastapi.security.base import SecurityBase
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from trust.clock import Clock
from trust.config import Settings
from trust.errors import PermissionDenied, RateLimited, Unauthenticated
from trust.principals.credentials import looks_like_client_id, split_token
from trust.principals.errors import InvalidCredentials
from trust.principals.principal import Principal
from trust.principals.roles import Role
from trust.principals.service import authenticate_bearer, authenticate_client
from trust.web.ratelimit import hit, peek, purge_expired

__all__ = [
    "BearerVerifier",
    "OptionalPrincipalDep",
    "PrincipalDep",
    "api_token_verifier",
    "authenticate_header",
    "ensure_role",
    "require_role",
]


class BearerVerifier(Protocol):
    def __call__(self, *, session: Session, clock: Clock, token: str) -> Principal | None: ...


def api_token_verifier(*, session: Session, clock: Clock, token: str) -> Principal | None:
    """Staff API tokens (``<tok_…>.<secret>``) issued by ``trustctl user token``."""
    if split_token(token) is None:
        return None
    return authenticate_bearer(session=session, clock=clock, token=token)


@dataclass(frozen=True, slots=True)
class _Attempt:
    """One presented credential: how to check it and which failure counter, besides the
    client IP's, it touches (``client:<id>`` / ``token:<id>``; ``None`` if it names none)."""

    check: Callable[[Session, Clock], Principal]
    subject: str | None


def _basic(value: str) -> _Attempt:
    try:
        decoded = base64.b64decode(value.encode("ascii"), validate=True).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeError):
        decoded = ""
    client_id, _, secret = decoded.partition(":")
    client_id, secret = unquote_plus(client_id), unquote_plus(secret)
    subject = f"client:{client_id}" if looks_like_client_id(client_id) else None
    return _Attempt(
        lambda s, _c: authenticate_client(session=s, client_id=client_id, secret=secret), subject
    )


def _bearer(token: str, verifiers: Sequence[BearerVerifier]) -> _Attempt:
    parts = split_token(token)
    subject = f"token:{parts[0]}" if parts is not None else None

    def check(session: Session, clock: Clock) -> Principal:
        for verifier in verifiers:
            principal = verifier(session=session, clock=clock, token=token)
            if principal is not None:
                return principal
        raise InvalidCredentials()

    return _Attempt(check, subject)


def _attempt(header: str, verifiers: Sequence[BearerVerifier]) -> _Attempt:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "basic":
        return _basic(value.strip())
    if scheme.lower() == "bearer":
        return _bearer(value.strip(), verifiers)
    raise Unauthenticated(
        "仅支持 Basic（应用客户端）和 Bearer（令牌）认证", code="auth.unsupported_scheme"
    )


def authenticate_header(request: Request, header: str) -> Principal:
    """Check an ``Authorization`` header value (Basic or Bearer), counting failures per IP and
    subject; pages that carry a token in a form use it directly."""
    state = request.app.state
    settings: Settings = state.settings
    clock: Clock = state.clock
    attempt = _attempt(header, state.bearer_verifiers)
    ip = request.client.host if request.client else "unknown"
    keys = [f"auth:ip:{ip}"] + ([f"auth:{attempt.subject}"] if attempt.subject else [])
    window = timedelta(seconds=settings.auth_failure_window_seconds)
    limit, now = settings.auth_failure_limit, clock.now()
    failure: Unauthenticated | None = None
    # Its own short transaction, finished before the route's session starts: a failure must be
    # counted (committed) even though the request then fails.
    with state.session_factory() as session, session.begin():
        for key in keys:
            decision = peek(session=session, key=key, window=window, limit=limit, now=now)
            if not decision.allowed:
                raise RateLimited(
                    f"认证失败次数过多，请 {decision.retry_after} 秒后再试",
                    code="auth.too_many_failures",
                    extra={"retry_after": decision.retry_after},
                )
        try:
            principal = attempt.check(session, clock)
        except Unauthenticated as exc:
            for key in keys:
                hit(session=session, key=key, window=window, limit=limit, now=now)
            # Housekeeping on the (rare) failure path only; a window's length back, so that a
            # process whose clock lags cannot be counting in a row that is being deleted.
            purge_expired(session=session, now=now - window)
            failure = exc
    if failure is not None:
        raise failure
    return principal


class _DeclaredScheme(SecurityBase):
    """Declares an authentication scheme in the OpenAPI document and nothing else: the header is
    checked by ``authenticate_header`` (FastAPI's ``HTTPBasic`` would answer a malformed
    header itself, with its own error, uncounted)."""

    def __init__(self, model: SecuritySchemeModel, scheme_name: str) -> None:
        self.model = model
        self.scheme_name = scheme_name

    async def __call__(self) -> None:  # async: FastAPI runs a plain def in its thread pool
        return None


_CLIENT_CREDENTIALS = _DeclaredScheme(
    HTTPBaseModel(scheme="basic", description="应用客户端：client_id 与 client_secret"),
    "clientCredentials",
)
_BEARER_TOKEN = _DeclaredScheme(
    HTTPBearerModel(description="员工 API 令牌（trustctl user token 签发）"), "bearerToken"
)


async def _optional_principal(
    request: Request,
    _declares_basic: Annotated[None, Depends(_CLIENT_CREDENTIALS)],
    _declares_bearer: Annotated[None, Depends(_BEARER_TOKEN)],
) -> Principal | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    return await run_in_threadpool(authenticate_header, request, header)  # database work


OptionalPrincipalDep = Annotated[Principal | None, Depends(_optional_principal)]


async def _required_principal(principal: OptionalPrincipalDep) -> Principal:
    if principal is None:
        raise Unauthenticated("需要认证：请提供 Authorization 请求头", code="auth.required")
    return principal


PrincipalDep = Annotated[Principal, Depends(_required_principal)]


def ensure_role(principal: Principal, role: Role, organisation_id: str | None = None) -> None:
    """Raise ``PermissionDenied`` unless ``principal`` may act as ``role`` in the organisation."""
    if not principal.has_role(role, organisation_id):
        where = f"组织 {organisation_id} 的" if organisation_id else ""
        raise PermissionDenied(
            f"需要{where}角色 {role.value}",
            code="auth.role_required",
            extra={"required_role": role.value, "organisation_id": organisation_id},
        )


def require_role(role: Role, *, org_param: str | None = None) -> Callable[..., Principal]:
    """A dependency: the authenticated principal, provided it holds ``role`` — in the
    organisation named by the path (or query) parameter ``org_param``, if given."""

    def check(request: Request, principal: PrincipalDep) -> Principal:
        organisation_id = None
        if org_param is not None:
            organisation_id = request.path_params.get(org_param) or request.query_params.get(
                org_param
            )
            if not organisation_id:
                raise PermissionDenied("未指定组织", code="auth.role_required")
        ensure_role(principal, role, organisation_id)
        return principal

    return check
