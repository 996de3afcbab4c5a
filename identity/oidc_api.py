"""HTTP edge of the OpenID Provider (``/.well-known/openid-configuration`` and ``/oidc/…``).

OAuth endpoints (token, userinfo, introspection, revocation) answer errors with the RFC 6749
§5.2 / RFC 6750 §3 bodies and ``Cache-Control: no-store``, never problem+json; client
administration (``/oidc/clients``, ``system_admin`` only) uses problem+json like every other
API. The authorisation endpoint and its pages are in ``identity.oidc_api_pages``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, Request, status
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from identity.discovery import discovery_document
from identity.oidc_api_pages import pages_router
from identity.oidc_api_support import (
    NO_STORE,
    OidcContextDep,
    client_credentials_of,
    oauth_error,
    oidc_context,
    read_form,
)
from identity.oidc_errors import InvalidToken, OAuthError
from identity.oidc_schemas import ClientCreate, ClientRead, ClientRegistered
from identity.oidc_service_clients import authenticate_oauth_client, list_clients, register_client
from identity.oidc_service_code_exchange import exchange_codes, exchange_codes_at_once
from identity.oidc_service_resources import introspect, published_jwks, revoke, userinfo
from identity.oidc_service_token_endpoint import (
    code_exchange_from_cache,
    token_response,
    token_response_from_cache,
)
from identity.oidc_service_tokens import token_signer
from trust.principals.principal import Principal
from trust.principals.roles import Role
from trust.web.content import JSON_BODY
from trust.web.deps import ClockDep, KeyStoreDep, SessionDep, batch_committer
from trust.web.fastroute import register_fast_route
from trust.web.problems import problem_responses
from trust.web.security import require_role

__all__ = ["router"]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # The token endpoint is hot: served ahead of the main router (trust.web.fastroute).
    register_fast_route(app, "POST", "/oidc/token", _token_fast)
    yield


router = APIRouter(lifespan=_lifespan)
_oauth = APIRouter(tags=["oidc"])
_admin = APIRouter(prefix="/oidc", tags=["oidc"], dependencies=[JSON_BODY])

FormDep = Annotated[dict[str, str], Depends(read_form)]
SystemAdmin = Annotated[Principal, Depends(require_role(Role.SYSTEM_ADMIN))]
_JWKS_CACHE = {"Cache-Control": "public, max-age=300"}
_MAX_FORM_FIELDS = 30  # as identity.oidc_api_support.read_form
_OAUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "OAuth error (RFC 6749 §5.2)"},
    401: {"description": "client authentication failed / invalid token"},
}


async def _safe_form(request: Request) -> dict[str, str] | OAuthError:
    try:
        return await read_form(request)
    except OAuthError as exc:
        return exc


SafeFormDep = Annotated[dict[str, str] | OAuthError, Depends(_safe_form)]


@_oauth.get("/.well-known/openid-configuration", summary="OpenID Provider 元数据（发现文档）")
def openid_configuration(ctx: OidcContextDep) -> JSONResponse:
    return JSONResponse(discovery_document(ctx.issuer), headers=_JWKS_CACHE)


@_oauth.get("/oidc/jwks", summary="令牌签名公钥（ES256，含待启用的下一把密钥）")
def jwks(
    session: SessionDep, keystore: KeyStoreDep, clock: ClockDep, ctx: OidcContextDep
) -> JSONResponse:
    token_signer(session=session, clock=clock, keystore=keystore)  # keys exist before publishing
    keys = published_jwks(session=session, keystore=keystore, clock=clock, ctx=ctx)
    return JSONResponse(keys, headers=_JWKS_CACHE)


@_oauth.get("/oidc/jwks/sm2", summary="SM2 令牌签名公钥（独立的密钥集）")
def jwks_sm2(
    session: SessionDep, keystore: KeyStoreDep, clock: ClockDep, ctx: OidcContextDep
) -> JSONResponse:
    keys = published_jwks(session=session, keystore=keystore, clock=clock, ctx=ctx, sm2=True)
    return JSONResponse(keys, headers=_JWKS_CACHE)


async def _token_form(request: Request) -> dict[str, str]:
    """``read_form``'s rules - ``application/x-www-form-urlencoded`` only, no parameter twice
    (RFC 6749 §3.2), at most ``_MAX_FORM_FIELDS`` fields - and its decoding (bytes as Latin-1,
    then percent-escapes as UTF-8, as Starlette's parser does), with the standard library's
    parser: the token endpoint is hot, and Starlette's form machinery costs it about 30 µs a
    request more. Malformed input is ``invalid_request``."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "body must be application/x-www-form-urlencoded")
    body = await request.body()
    try:
        pairs = parse_qsl(
            body.decode("latin-1"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="replace",
            max_num_fields=_MAX_FORM_FIELDS,
        )
    except ValueError:
        raise OAuthError("invalid_request", "too many parameters") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise OAuthError("invalid_request", f"parameter repeated: {key[:40]}")
        form[key] = value
    return form


@_oauth.post("/oidc/token", summary="令牌端点（RFC 6749 §3.2）", responses=_OAUTH_ERRORS)
async def token(request: Request) -> JSONResponse:
    """Grant types ``authorization_code`` (PKCE S256 required), ``refresh_token``,
    ``client_credentials`` and the device code (RFC 8628). Clients authenticate with
    ``client_secret_basic`` or ``client_secret_post``; public clients by PKCE alone. Errors are
    RFC 6749 §5.2 bodies; every answer carries ``Cache-Control: no-store``."""
    # Also served ahead of the main router as a fast route (trust.web.fastroute, registered in
    # _lifespan); the same function answers both.
    return await _token(request)


async def _token(request: Request) -> JSONResponse:
    """The hot paths run on the event loop, with no thread hop, when the process's caches hold
    the client and the signing key: ``client_credentials`` without any I/O
    (``token_response_from_cache``), a code exchange through the group committer - its
    statement shares a transaction and a commit with concurrent requests' (on PostgreSQL, where
    it can, a single self-committing statement: ``exchange_codes_at_once``), and its tokens are
    minted after that commit (``code_exchange_from_cache``, ``exchange_codes``). Everything else
    runs in the thread pool, in one transaction that commits also what an error answer must
    keep (a replayed code or refresh token revokes its grant: ``token_response``)."""
    state = request.app.state
    ctx = oidc_context(request)
    try:
        form = await _token_form(request)
        client_id, secret = client_credentials_of(request, form)
        given = {
            "clock": state.clock,
            "ctx": ctx,
            "keystore": state.keystore,
            "client_id": client_id,
            "client_secret": secret,
            "form": form,
        }
        result = token_response_from_cache(**given)
        if result is None:
            exchange = code_exchange_from_cache(**given)
            if exchange is not None:
                item, signer = exchange
                prepared = await batch_committer(state).run(
                    exchange_codes, item, fast=exchange_codes_at_once
                )
                result = prepared.mint(signer)
            else:
                run = partial(token_response, session_factory=state.session_factory, **given)
                result = await run_in_threadpool(run)
    except OAuthError as exc:
        return oauth_error(exc)
    return JSONResponse(result.as_json(), headers=NO_STORE)


async def _token_fast(request: Request) -> Response | None:
    return await _token(request)


def _bearer(request: Request, form: dict[str, str]) -> str:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise InvalidToken("bearer token required")
        if "access_token" in form:
            raise InvalidToken("more than one token given")
        return value.strip()
    # RFC 6750 §2.2: form-encoded body parameter.
    if "access_token" in form:
        return form["access_token"]
    raise InvalidToken("bearer token required")


def _bearer_error(exc: InvalidToken, request: Request) -> JSONResponse:
    if "authorization" not in request.headers and "token required" in exc.detail:
        challenge = 'Bearer realm="oidc"'  # RFC 6750 §3.1: no error code without a token
    else:
        challenge = f'Bearer realm="oidc", error="invalid_token", error_description="{exc.detail}"'
    return JSONResponse(
        {"error": "invalid_token", "error_description": exc.detail},
        status_code=status.HTTP_401_UNAUTHORIZED,
        headers={**NO_STORE, "WWW-Authenticate": challenge},
    )


@_oauth.get("/oidc/userinfo", summary="用户信息端点（OIDC Core §5.3）", responses=_OAUTH_ERRORS)
def userinfo_get(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    keystore: KeyStoreDep,
    ctx: OidcContextDep,
) -> JSONResponse:
    return userinfo_endpoint(request, {}, session, clock, keystore, ctx)


@_oauth.post(
    "/oidc/userinfo",
    summary="用户信息端点（POST，令牌可在表单中，RFC 6750 §2.2）",
    responses=_OAUTH_ERRORS,
)
def userinfo_endpoint(
    request: Request,
    form: SafeFormDep,
    session: SessionDep,
    clock: ClockDep,
    keystore: KeyStoreDep,
    ctx: OidcContextDep,
) -> JSONResponse:
    try:
        fields = form if isinstance(form, dict) else {}
        token_value = _bearer(request, fields)
        claims = userinfo(
            session=session, clock=clock, ctx=ctx, keystore=keystore, token=token_value
        )
    except InvalidToken as exc:
        return _bearer_error(exc, request)
    return JSONResponse(claims, headers=NO_STORE)


def _client_for(
    request: Request, form: dict[str, str] | OAuthError, session: Any, *, allow_public: bool
) -> tuple[Any, dict[str, str]]:
    if isinstance(form, OAuthError):
        raise form
    client_id, secret = client_credentials_of(request, form)
    client = authenticate_oauth_client(
        session=session, client_id=client_id, client_secret=secret, allow_public=allow_public
    )
    if not form.get("token"):
        raise OAuthError("invalid_request", "token is required")
    return client, form


@_oauth.post("/oidc/introspect", summary="令牌内省（RFC 7662）", responses=_OAUTH_ERRORS)
def introspect_endpoint(
    request: Request,
    form: SafeFormDep,
    session: SessionDep,
    clock: ClockDep,
    keystore: KeyStoreDep,
    ctx: OidcContextDep,
) -> JSONResponse:
    try:
        client, fields = _client_for(request, form, session, allow_public=False)
    except OAuthError as exc:
        return oauth_error(exc)
    body = introspect(
        session=session,
        clock=clock,
        ctx=ctx,
        keystore=keystore,
        client=client,
        token=fields["token"],
    )
    return JSONResponse(body, headers=NO_STORE)


@_oauth.post("/oidc/revoke", summary="令牌撤销（RFC 7009）", responses=_OAUTH_ERRORS)
def revoke_endpoint(
    request: Request,
    form: SafeFormDep,
    session: SessionDep,
    clock: ClockDep,
    keystore: KeyStoreDep,
    ctx: OidcContextDep,
) -> Response:
    try:
        client, fields = _client_for(request, form, session, allow_public=True)
    except OAuthError as exc:
        return oauth_error(exc)
    revoke(
        session=session,
        clock=clock,
        ctx=ctx,
        keystore=keystore,
        client=client,
        token=fields["token"],
    )
    return Response(status_code=200, headers=NO_STORE)


@_admin.post(
    "/clients",
    status_code=status.HTTP_201_CREATED,
    summary="登记接入应用（门户、App、小程序；仅系统管理员）",
    responses=problem_responses(400, 401, 403, 415, 422),
)
def create_client(
    principal: SystemAdmin, body: ClientCreate, session: SessionDep, clock: ClockDep
) -> ClientRegistered:
    registered = register_client(
        session=session,
        clock=clock,
        name=body.name,
        kind=body.kind,
        redirect_uris=body.redirect_uris,
        post_logout_redirect_uris=body.post_logout_redirect_uris,
        backchannel_logout_uri=body.backchannel_logout_uri,
        sector_identifier=body.sector_identifier,
        scopes=body.scopes,
        grant_types=body.grant_types,
        min_acr=body.min_acr,
        actor=principal.actor,
    )
    return ClientRegistered.of_registered(registered)


@_admin.get(
    "/clients",
    summary="接入应用列表（仅系统管理员）",
    responses=problem_responses(401, 403),
)
def get_clients(principal: SystemAdmin, session: SessionDep) -> list[ClientRead]:
    return [ClientRead.of(c) for c in list_clients(session=session)]


router.include_router(_oauth)
router.include_router(_admin)
router.include_router(pages_router)
