"""The token endpoint (RFC 6749 §3.2) on its hot path: client authentication, the grant types
``authorization_code`` (RFC 6749 §4.1.3, RFC 7636 §4.6), ``refresh_token``
(``identity.oidc_service_tokens.refresh``), ``client_credentials`` (RFC 6749 §4.4) and those
of other modules (``EXTRA_GRANTS``).

Kept lean without weakening a check:

* client authentication uses a per-process snapshot of the client row
  (``identity.oidc_service_clients.CLIENT_CACHE_SECONDS``), and signing a per-process reference
  to the active token key (``SIGNER_CACHE_SECONDS``; why that is safe: ``cached_token_signer``).
  With both cached, ``client_credentials`` reads and writes no database at all
  (``token_response_from_cache``: the web edge answers it without leaving the event loop), and
  a code exchange needs no I/O but its own statement (``code_exchange_from_cache``);
* every other grant runs in one transaction (``token_response``), committed before the answer
  and also when the answer is an error (what an error must keep - a replay revokes its grant -
  is kept);
* the code exchange (``identity.oidc_service_code_exchange``) takes its code in one statement
  and can share its transaction and commit with concurrent requests' (``exchange_codes``, a
  ``trust.db_batch`` handler); its tokens are minted after the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Final

from sqlalchemy.orm import Session, sessionmaker

from identity.oidc_errors import OAuthError
from identity.oidc_model import OidcClient
from identity.oidc_service_clients import (
    TokenClient,
    authenticate_token_client,
    token_client_from_cache,
)
from identity.oidc_service_code_exchange import CodeExchange, exchange_code
from identity.oidc_service_context import OidcContext
from identity.oidc_service_tokens import EXTRA_GRANTS, TokenResponse, refresh, token_signer
from identity.tokens import mint_access_token
from keys.interfaces import KeyStore, Signer
from trust.clock import Clock

__all__ = [
    "GRANTS",
    "SIGNER_CACHE_SECONDS",
    "cached_token_signer",
    "client_credentials",
    "code_exchange_from_cache",
    "signer_cache_ttl",
    "token_response",
    "token_response_from_cache",
    "token_signer_from_cache",
]

#: Upper bound of how long a process keeps signing with the token key it last looked up.
SIGNER_CACHE_SECONDS: Final = 5
_SIGNER_KEY: Final = "es256"


def signer_cache_ttl(ctx: OidcContext) -> timedelta:
    """How long ``cached_token_signer`` keeps a signer: ``SIGNER_CACHE_SECONDS``, never more
    than the clock skew (``clock_skew_seconds``; a skew of 0 turns the cache off)."""
    return timedelta(seconds=min(SIGNER_CACHE_SECONDS, ctx.settings.clock_skew_seconds))


def token_signer_from_cache(*, clock: Clock, ctx: OidcContext, keystore: KeyStore) -> Signer | None:
    """The signer ``cached_token_signer`` keeps for ``keystore``, if still fresh (no I/O)."""
    hit = ctx.signers.get(_SIGNER_KEY, clock.now())
    if hit is None or hit[0] is not keystore:
        return None
    return hit[1]


def cached_token_signer(
    *, session: Session, clock: Clock, ctx: OidcContext, keystore: KeyStore
) -> Signer:
    """``token_signer``, looked up at most once per ``signer_cache_ttl`` in this process.

    Why a few seconds of cache are safe: a rotation (in any process) retires the ACTIVE key and
    promotes the PENDING one, which was published before it signs; a RETIRED key stays in the
    published JWKS for the longest token lifetime plus the clock skew after its retirement
    (``identity.oidc_service_resources.retired_key_grace``). A process that keeps signing with
    the retired key for up to ``signer_cache_ttl`` (at most the skew) after the rotation
    therefore issues only tokens that expire while that key is still published: every relying
    party verifies them. Destroying a key is refused while it is ACTIVE, and the periodic
    ``prune_retired_signing_keys`` destroys it only once the grace has passed, long after every
    cache let go of it; an administrator who rotates *and destroys* a compromised key at once
    stops it signing in every process within ``signer_cache_ttl`` (tokens signed in that window
    no longer verify: they fail closed).
    """
    hit = ctx.signers.get_unless_due(_SIGNER_KEY, clock.now())
    if hit is not None and hit[0] is keystore:
        return hit[1]
    signer = token_signer(session=session, clock=clock, keystore=keystore)
    ctx.signers.put(_SIGNER_KEY, (keystore, signer), now=clock.now(), ttl=signer_cache_ttl(ctx))
    return signer


def client_credentials(
    *,
    clock: Clock,
    ctx: OidcContext,
    signer: Signer,
    client: TokenClient,
    form: Mapping[str, str],
    session: Session | None = None,
) -> TokenResponse:
    """RFC 6749 §4.4; ``sub`` is the client itself (RFC 9068 §2.2). No database access:
    ``session`` is only accepted because every grant handler is called with one."""
    allowed = client.allowed_scopes.split()
    requested = form.get("scope", "").split()
    scope = " ".join(s for s in requested if s in allowed and s != "openid")
    access, _jti = mint_access_token(
        signer=signer,
        issuer=ctx.issuer,
        sub=client.client_id,
        client_id=client.client_id,
        scope=scope,
        now=clock.now(),
        lifetime_seconds=ctx.settings.access_token_seconds,
    )
    return TokenResponse(
        access_token=access, expires_in=ctx.settings.access_token_seconds, scope=scope
    )


#: Our grant types (``EXTRA_GRANTS`` holds those of other modules).
GRANTS: Final[dict[str, Callable[..., TokenResponse]]] = {
    "authorization_code": exchange_code,
    "refresh_token": refresh,
    "client_credentials": client_credentials,
}


def _check_grant_type(client: TokenClient, grant_type: str) -> None:
    if grant_type not in GRANTS and grant_type not in EXTRA_GRANTS:
        raise OAuthError("unsupported_grant_type", "grant_type is not supported")
    if grant_type not in client.grant_types.split():
        raise OAuthError("unauthorized_client", "client may not use this grant type")


def _cached_for(
    grant_type: str,
    clock: Clock,
    ctx: OidcContext,
    keystore: KeyStore,
    client_id: str | None,
    client_secret: str | None,
    form: Mapping[str, str],
) -> tuple[TokenClient, Signer] | None:
    """The cached client (authenticated, allowed ``grant_type``) and token signer for a request
    of ``grant_type``; ``None`` for another grant or when either is not cached."""
    if form.get("grant_type") != grant_type:
        return None
    signer = token_signer_from_cache(clock=clock, ctx=ctx, keystore=keystore)
    if signer is None:
        return None
    client = token_client_from_cache(
        ctx=ctx, clock=clock, client_id=client_id, client_secret=client_secret
    )
    if client is None:
        return None
    _check_grant_type(client, grant_type)
    return client, signer


def token_response_from_cache(
    *,
    clock: Clock,
    ctx: OidcContext,
    keystore: KeyStore,
    client_id: str | None,
    client_secret: str | None,
    form: Mapping[str, str],
) -> TokenResponse | None:
    """The ``client_credentials`` grant answered from this process's caches alone (client
    snapshot and token signer; CPU only, no I/O), or ``None`` when something is not cached or
    the grant is another one: then ``token_response``. Errors are ``OAuthError``, as there."""
    cached = _cached_for("client_credentials", clock, ctx, keystore, client_id, client_secret, form)
    if cached is None:
        return None
    client, signer = cached
    return client_credentials(clock=clock, ctx=ctx, signer=signer, client=client, form=form)


def code_exchange_from_cache(
    *,
    clock: Clock,
    ctx: OidcContext,
    keystore: KeyStore,
    client_id: str | None,
    client_secret: str | None,
    form: Mapping[str, str],
) -> tuple[CodeExchange, Signer] | None:
    """An ``authorization_code`` request whose client and signer are cached (no I/O): the
    exchange to hand to ``exchange_codes`` - alone, or batched with concurrent requests'
    (``trust.db_batch``) - and the signer to mint its ``PreparedTokens`` with after the commit;
    ``None`` otherwise (then ``token_response``). Client errors are ``OAuthError``."""
    cached = _cached_for("authorization_code", clock, ctx, keystore, client_id, client_secret, form)
    if cached is None:
        return None
    client, signer = cached
    return CodeExchange.of(clock=clock, ctx=ctx, client=client, form=form), signer


def token_response(
    *,
    session_factory: sessionmaker[Session],
    clock: Clock,
    ctx: OidcContext,
    keystore: KeyStore,
    client_id: str | None,
    client_secret: str | None,
    form: Mapping[str, str],
) -> TokenResponse:
    """The token endpoint (RFC 6749 §3.2): authenticate the client, run its grant type. One
    transaction, opened only if something must be read or written, and committed also when
    the answer is an error (``OAuthError``, raised after the commit): what an error must keep
    stays - a replayed code or refresh token revokes its grant."""
    grant_type = form.get("grant_type", "")
    failure: OAuthError | None = None
    with session_factory() as session, session.begin():
        try:
            client = authenticate_token_client(
                session=session,
                ctx=ctx,
                clock=clock,
                client_id=client_id,
                client_secret=client_secret,
            )
            _check_grant_type(client, grant_type)
            signer = cached_token_signer(session=session, clock=clock, ctx=ctx, keystore=keystore)
            result = _run_grant(session, clock, ctx, signer, client, grant_type, form)
        except OAuthError as exc:
            failure = exc
    if failure is not None:
        raise failure
    return result


def _run_grant(
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    signer: Signer,
    client: TokenClient,
    grant_type: str,
    form: Mapping[str, str],
) -> TokenResponse:
    ours = GRANTS.get(grant_type)
    if ours is not None:
        return ours(session=session, clock=clock, ctx=ctx, signer=signer, client=client, form=form)
    row = session.get(OidcClient, client.client_id)  # other modules' handlers take the row
    if row is None:  # pragma: no cover - deleted since authentication; clients are not deleted
        raise OAuthError("invalid_client", "client authentication failed", status=401)
    return EXTRA_GRANTS[grant_type](
        session=session, clock=clock, ctx=ctx, signer=signer, client=row, form=form
    )
