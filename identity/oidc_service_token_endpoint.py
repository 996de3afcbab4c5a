"""The token endpoint (RFC 6749 §3.2) on its hot path: client authentication, the grant types
``authorization_code`` (RFC 6749 §4.1.3, RFC 7636 §4.6), ``refresh_token``
(``identity.oidc_service_tokens.refresh``), ``client_credentials`` (RFC 6749 §4.4) and those
of other modules (``EXTRA_GRANTS``).

Kept lean without weakening a check:

* client authentication uses a per-process snapshot of the client row
  (``identity.oidc_service_clients.CLIENT_CACHE_SECONDS``), and signing a per-process reference
  to the active token key (``SIGNER_CACHE_SECONDS``; why that is safe: ``cached_token_signer``).
  With both cached, ``client_credentials`` reads and writes no database at all
  (``token_response_from_cache``: the web edge answers it without leaving the event loop);
* every other grant runs in one transaction (``token_response``), committed before the answer
  and also when the answer is an error (what an error must keep - a replay revokes its grant -
  is kept);
* the code exchange: on PostgreSQL one statement (``UPDATE oidc_auth_code … FROM oidc_grant …
  RETURNING``) takes the code only if it is unused, unexpired, and bound to this client and
  ``redirect_uri``, and returns its grant's facts; SQLite returns no joined columns, so there the
  grant is a second, in-process read. A code that cannot be taken is told apart on a slower path
  (unknown, replayed - which revokes its grant -, expired, other ``redirect_uri``); a failed PKCE
  check gives the code back, so that it stays as it was (it is only used by a complete exchange).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session, sessionmaker

from identity.oidc_errors import OAuthError
from identity.oidc_model import OidcAuthCode, OidcClient, OidcGrant
from identity.oidc_service_clients import (
    TokenClient,
    authenticate_token_client,
    token_client_from_cache,
)
from identity.oidc_service_context import OidcContext
from identity.oidc_service_sessions import revoke_grants
from identity.oidc_service_tokens import (
    EXTRA_GRANTS,
    GRANT_COLUMNS,
    GrantFacts,
    TokenResponse,
    grant_facts,
    issue_for_grant,
    refresh,
    token_signer,
)
from identity.pkce import verify_s256
from identity.tokens import mint_access_token, secret_digest
from keys.interfaces import KeyStore, Signer
from trust.clock import Clock

__all__ = [
    "GRANTS",
    "SIGNER_CACHE_SECONDS",
    "cached_token_signer",
    "client_credentials",
    "exchange_code",
    "signer_cache_ttl",
    "token_response",
    "token_response_from_cache",
    "token_signer_from_cache",
]

#: Upper bound of how long a process keeps signing with the token key it last looked up.
SIGNER_CACHE_SECONDS: Final = 5
_SIGNER_KEY: Final = "es256"
_CODE: Final = cast(Table, OidcAuthCode.__table__)
_GRANT_ID: Final = OidcGrant.__table__.c.id


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


@dataclass(frozen=True, slots=True)
class _TakenCode:
    code_challenge: str
    nonce: str | None
    grant: GrantFacts


def _take_code(
    session: Session, *, code_hash: bytes, client_id: str, redirect_uri: str | None, now: datetime
) -> _TakenCode | None:
    """Mark the code used if - and only if - it exists, is unused, unexpired and was issued to
    this client for this ``redirect_uri``; its challenge, nonce and grant, else ``None``.

    One statement on PostgreSQL (``UPDATE … FROM oidc_grant … RETURNING``: the row lock makes
    a concurrent second use wait, then find it used); SQLite returns no joined columns, so the
    grant is a second read there (in process, under the transaction's write lock)."""
    if redirect_uri is None:
        return None
    stmt = (
        update(_CODE)
        .where(
            _CODE.c.code_hash == code_hash,
            _CODE.c.used_at.is_(None),
            _CODE.c.client_id == client_id,
            _CODE.c.redirect_uri == redirect_uri,
            _CODE.c.expires_at > now,
        )
        .values(used_at=now)
    )
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        joined = stmt.where(_CODE.c.grant_id == _GRANT_ID).returning(
            _CODE.c.code_challenge, _CODE.c.nonce, *GRANT_COLUMNS
        )
        row = connection.execute(joined).one_or_none()
        if row is None:
            return None
        return _TakenCode(row.code_challenge, row.nonce, GrantFacts.of(row))
    taken = connection.execute(
        stmt.returning(_CODE.c.code_challenge, _CODE.c.nonce, _CODE.c.grant_id)
    ).one_or_none()
    if taken is None:
        return None
    return _TakenCode(taken.code_challenge, taken.nonce, grant_facts(session, taken.grant_id))


def _refuse_code(
    session: Session,
    clock: Clock,
    *,
    code_hash: bytes,
    client_id: str,
    redirect_uri: str | None,
    now: datetime,
) -> OAuthError:
    """Why a code could not be taken (the error to answer); a replay revokes its grant."""
    row = session.execute(
        select(
            _CODE.c.client_id,
            _CODE.c.grant_id,
            _CODE.c.used_at,
            _CODE.c.expires_at,
            _CODE.c.redirect_uri,
        )
        .where(_CODE.c.code_hash == code_hash)
        .with_for_update()
    ).one_or_none()
    if row is None or row.client_id != client_id:
        return OAuthError("invalid_grant", "authorization code is invalid")
    # RFC 6749 §4.1.2: a code used twice revokes (when possible) all tokens issued from it.
    if row.used_at is not None:
        revoke_grants(session=session, clock=clock, grant_ids=[row.grant_id], reason="code_reuse")
        return OAuthError("invalid_grant", "authorization code was already used")
    if now >= row.expires_at:
        return OAuthError("invalid_grant", "authorization code expired")
    # RFC 6749 §4.1.3: redirect_uri must be identical to the one in the authorisation request.
    if redirect_uri != row.redirect_uri:
        return OAuthError("invalid_grant", "redirect_uri does not match")
    return OAuthError("invalid_grant", "authorization code is invalid")  # pragma: no cover


def exchange_code(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    signer: Signer,
    client: TokenClient,
    form: Mapping[str, str],
) -> TokenResponse:
    """RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6); see the module docstring for the statements."""
    code_hash = secret_digest(form.get("code") or "")
    redirect_uri = form.get("redirect_uri")
    now = clock.now()
    taken = _take_code(
        session, code_hash=code_hash, client_id=client.client_id, redirect_uri=redirect_uri, now=now
    )
    if taken is None:
        raise _refuse_code(
            session,
            clock,
            code_hash=code_hash,
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            now=now,
        )
    # RFC 7636 §4.6: verify code_verifier against the stored S256 challenge.
    if not verify_s256(
        unverified_verifier=form.get("code_verifier"), challenge=taken.code_challenge
    ):
        # Not a use: the code stays as it was (the checks before PKCE never consumed it).
        session.execute(update(_CODE).where(_CODE.c.code_hash == code_hash).values(used_at=None))
        raise OAuthError("invalid_grant", "PKCE verification failed")
    return issue_for_grant(
        session=session,
        clock=clock,
        ctx=ctx,
        signer=signer,
        grant=taken.grant,
        client=client,
        nonce=taken.nonce,
    )


def client_credentials(
    *,
    clock: Clock,
    ctx: OidcContext,
    signer: Signer,
    client: TokenClient,
    form: Mapping[str, str],
    session: Session | None = None,
) -> TokenResponse:
    """RFC 6749 §4.4; ``sub`` is the client itself (RFC 9068 §2.2). No database access."""
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
    if form.get("grant_type") != "client_credentials":
        return None
    signer = token_signer_from_cache(clock=clock, ctx=ctx, keystore=keystore)
    if signer is None:
        return None
    client = token_client_from_cache(
        ctx=ctx, clock=clock, client_id=client_id, client_secret=client_secret
    )
    if client is None:
        return None
    _check_grant_type(client, "client_credentials")
    return client_credentials(clock=clock, ctx=ctx, signer=signer, client=client, form=form)


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
