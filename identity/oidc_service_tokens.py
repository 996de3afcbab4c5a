"""Grants, authorisation codes and the token endpoint's grant types (RFC 6749 §4.1.3, §6,
§4.4; RFC 7636 §4.6; OIDC Core §3.1.3).

* ``authorization_code``: the code is single use and short-lived; PKCE S256 is checked; a
  code presented a second time revokes the grant and with it every token issued from the code
  (RFC 6749 §4.1.2: "SHOULD revoke (when possible) all tokens previously issued based on that
  authorization code").
* ``refresh_token``: rotation with reuse detection. The first use returns a new pair; within
  ``refresh_grace_seconds`` the previous token returns the same successor again (racing
  refreshes, ory/hydra#1831); later reuse revokes the grant (the token family). A grant
  without ``offline_access`` is bound to its SSO session: its refresh is refused once the
  session has ended or run out (idle or absolute), and a successful refresh is a use of the
  session (its idle expiry moves, never its absolute one). ``refresh_expires_in`` is the
  earliest of the token's idle expiry, the grant's absolute expiry and - for a session-bound
  grant - the session's idle and absolute expiry (the lifetime model:
  ``identity.oidc_settings``).
* ``client_credentials``: an RFC 9068 JWT access token, nothing written to the database.

``create_grant`` + ``issue_tokens`` are the reusable pieces (the device grant uses them);
``EXTRA_GRANTS`` lets another module add a grant type to the token endpoint.

The token endpoint itself (client authentication, the caches of its hot path, the code
exchange in as few statements as possible, ``client_credentials``) is
``identity.oidc_service_token_endpoint``. Tokens are issued from a grant's facts read with one
Core statement (``grant_facts``); person claims are read only when a scope releases one into
the ID token.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from identity.authorize import AuthorizationRequest
from identity.oidc_errors import OAuthError
from identity.oidc_model import (
    OidcAuthCode,
    OidcClient,
    OidcGrant,
    OidcRefreshToken,
    OidcSsoSession,
)
from identity.oidc_service_clients import ClientSnapshot, TokenClient
from identity.oidc_service_context import OidcContext
from identity.oidc_service_sessions import (
    OFFLINE_SCOPE,
    grant_session,
    revoke_grants,
    session_is_live,
    touch_session,
)
from identity.service_claims import person_claims
from identity.tokens import (
    mint_access_token,
    mint_id_token,
    pairwise_sub,
    parse_refresh_token,
    refresh_token_value,
    secret_digest,
)
from keys.interfaces import KeyStore, KeyUsage, Signer
from trust.clock import Clock
from trust.errors import NotFound
from trust.ids import new_id
from trust.signing import SignatureAlgorithm

__all__ = [
    "EXTRA_GRANTS",
    "GRANT_COLUMNS",
    "ID_TOKEN_CLAIM_SCOPES",
    "GrantFacts",
    "GrantHandler",
    "PreparedTokens",
    "TokenResponse",
    "create_grant",
    "grant_facts",
    "issue_code",
    "issue_tokens",
    "issues_without_writes",
    "prepare_checked_tokens",
    "prepare_tokens",
    "refresh",
    "subject_for",
    "token_signer",
]

_ID_TOKEN_SCOPE_CLAIMS: Final = ("name", "phone_number", "phone_number_verified")
#: Scopes that release one of ``_ID_TOKEN_SCOPE_CLAIMS`` (``identity.service_claims``): their
#: ID tokens need the person's claims read.
ID_TOKEN_CLAIM_SCOPES: Final = frozenset({"profile", "phone"})
_GRANT: Final = OidcGrant.__table__


@dataclass(frozen=True, slots=True, repr=False)
class TokenResponse:
    access_token: str
    expires_in: int
    scope: str
    id_token: str | None = None
    refresh_token: str | None = None
    refresh_expires_in: int | None = None

    def as_json(self) -> dict[str, Any]:
        """RFC 6749 §5.1 body (``refresh_expires_in`` always correct when present)."""
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if self.id_token is not None:
            body["id_token"] = self.id_token
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
            body["refresh_expires_in"] = self.refresh_expires_in
        return body

    def __repr__(self) -> str:
        return "<TokenResponse (tokens hidden)>"


class GrantHandler(Protocol):
    def __call__(
        self,
        *,
        session: Session,
        clock: Clock,
        ctx: OidcContext,
        signer: Signer,
        client: OidcClient,
        form: Mapping[str, str],
    ) -> TokenResponse: ...


#: Extension point: grant type URI -> handler (e.g. RFC 8628 device code, added by its module).
EXTRA_GRANTS: dict[str, GrantHandler] = {}


def token_signer(*, session: Session, clock: Clock, keystore: KeyStore) -> Signer:
    """The ACTIVE ES256 token-signing key; on first use an ACTIVE key and its PENDING
    successor are generated, so that the next key is published before it ever signs."""
    try:
        return keystore.active_signer(
            session=session, usage=KeyUsage.TOKEN_SIGNING, algorithm=SignatureAlgorithm.ES256
        )
    except NotFound:
        pass
    keystore.generate(
        session=session,
        clock=clock,
        usage=KeyUsage.TOKEN_SIGNING,
        algorithm=SignatureAlgorithm.ES256,
        label="OIDC token signing (ES256)",
        activate=True,
        actor="oidc",
    )
    keystore.generate(
        session=session,
        clock=clock,
        usage=KeyUsage.TOKEN_SIGNING,
        algorithm=SignatureAlgorithm.ES256,
        label="OIDC token signing (ES256, next)",
        activate=False,
        actor="oidc",
    )
    return keystore.active_signer(
        session=session, usage=KeyUsage.TOKEN_SIGNING, algorithm=SignatureAlgorithm.ES256
    )


def subject_for(*, ctx: OidcContext, sector_id: str, person_id: str) -> str:
    """The pairwise ``sub`` of ``person_id`` for clients of ``sector_id``."""
    return pairwise_sub(ctx.pairwise_key, sector_id, person_id)


def create_grant(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    client_id: str,
    person_id: str,
    scope: Sequence[str],
    acr: str,
    amr: Sequence[str],
    auth_time: datetime,
    sid: str | None = None,
    legal_person: Mapping[str, Any] | None = None,
    legal_person_id: str | None = None,
    userinfo_claims: Sequence[str] = (),
) -> str:
    """Record what the person authorised for the client; returns the grant id."""
    now = clock.now()
    row = OidcGrant(
        id=new_id("grt"),
        client_id=client_id,
        person_id=person_id,
        sid=sid,
        scope=" ".join(scope),
        acr=acr,
        amr=list(amr),
        auth_time=auth_time,
        legal_person=dict(legal_person) if legal_person else None,
        legal_person_id=legal_person_id,
        userinfo_claims=list(userinfo_claims),
        created_at=now,
        absolute_expires_at=now + ctx.settings.seconds("refresh_absolute"),
    )
    session.add(row)
    session.flush()
    return row.id


def issue_code(
    *, session: Session, clock: Clock, ctx: OidcContext, grant_id: str, req: AuthorizationRequest
) -> str:
    code = secrets.token_urlsafe(32)
    now = clock.now()
    session.add(
        OidcAuthCode(
            code_hash=secret_digest(code),
            grant_id=grant_id,
            client_id=req.client_id,
            redirect_uri=req.redirect_uri,
            code_challenge=req.code_challenge,
            nonce=req.nonce,
            created_at=now,
            expires_at=now + ctx.settings.seconds("code"),
        )
    )
    return code


@dataclass(frozen=True, slots=True)
class GrantFacts:
    """What issuing tokens reads of a grant (one Core row, no ORM object)."""

    # The field names are the ``oidc_grant`` column names (``GRANT_COLUMNS``).

    id: str
    client_id: str
    person_id: str
    sid: str | None
    scope: str
    acr: str
    amr: list[str]
    auth_time: datetime
    legal_person: dict[str, Any] | None
    absolute_expires_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: Row[Any]) -> GrantFacts:
        return cls(*(getattr(row, name) for name in _GRANT_FIELDS))


_GRANT_FIELDS: Final = tuple(GrantFacts.__dataclass_fields__)
#: The ``oidc_grant`` columns ``GrantFacts.of`` reads, in its field order.
GRANT_COLUMNS: Final = tuple(_GRANT.c[name] for name in _GRANT_FIELDS)


def _grant(session: Session, grant_id: str) -> OidcGrant:
    row = session.get(OidcGrant, grant_id)
    if row is None:  # pragma: no cover - callers pass ids of rows they just read
        raise OAuthError("invalid_grant", "grant not found")
    return row


def grant_facts(session: Session, grant_id: str) -> GrantFacts:
    """The facts of one grant (one statement)."""
    row = session.execute(select(*GRANT_COLUMNS).where(_GRANT.c.id == grant_id)).one_or_none()
    if row is None:  # pragma: no cover - callers pass ids of rows they just read
        raise OAuthError("invalid_grant", "grant not found")
    return GrantFacts.of(row)


def _client_of(session: Session, client_id: str) -> TokenClient | None:
    row = session.get(OidcClient, client_id)
    return ClientSnapshot.of(row).client if row is not None else None


def _live_session(
    session: Session, clock: Clock, grant: OidcGrant, *, lock: bool
) -> OidcSsoSession | None:
    """The live SSO session a session-bound grant depends on (``None``: not bound to one);
    ``invalid_grant`` once it has ended or run out."""
    usable, sso = grant_session(session=session, clock=clock, grant=grant, lock=lock)
    if not usable:
        raise OAuthError("invalid_grant", "the login session of this grant has ended")
    return sso


def _live_sso(session: Session, clock: Clock, grant: GrantFacts) -> OidcSsoSession | None:
    """``_live_session`` without a lock, for grant facts: the same rule as ``grant_session``
    (an ``offline_access`` grant or one without a browser session depends on none)."""
    if grant.sid is None or OFFLINE_SCOPE in grant.scope.split():
        return None
    row = session.scalar(select(OidcSsoSession).where(OidcSsoSession.sid == grant.sid))
    if row is None or not session_is_live(row, clock.now()):
        raise OAuthError("invalid_grant", "the login session of this grant has ended")
    return row


def _id_token_extra(
    session: Session, ctx: OidcContext, grant: GrantFacts, client_id: str
) -> dict[str, Any]:
    extra = _legal_person_extra(grant)
    scopes = grant.scope.split()
    if ID_TOKEN_CLAIM_SCOPES.isdisjoint(scopes):
        return extra  # no scope releases a person claim into the ID token: nothing to read
    claims = person_claims(
        session=session,
        keys=ctx.keys,
        person_id=grant.person_id,
        scopes=scopes,
        client_id=client_id,
    )
    for name in _ID_TOKEN_SCOPE_CLAIMS:
        if name in claims:
            extra[name] = claims[name]
    return extra


def _legal_person_extra(grant: GrantFacts) -> dict[str, Any]:
    return {"legal_person": grant.legal_person} if grant.legal_person else {}


def _new_refresh(
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    *,
    grant_id: str,
    absolute_expires_at: datetime,
    parent: str | None,
) -> OidcRefreshToken:
    now = clock.now()
    row = OidcRefreshToken(
        id=new_id("ort"),
        grant_id=grant_id,
        parent_id=parent,
        created_at=now,
        expires_at=min(now + ctx.settings.seconds("refresh_idle"), absolute_expires_at),
    )
    session.add(row)
    session.flush()
    return row


def issue_tokens(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    signer: Signer,
    grant_id: str,
    nonce: str | None = None,
    with_id_token: bool = True,
    refresh_row: OidcRefreshToken | None = None,
    client: TokenClient | None = None,
) -> TokenResponse:
    """Access token, ID token and (if the client may refresh) a refresh token for a grant.
    ``refresh_row``: reuse this refresh token (rotation's successor) instead of a new one.
    ``client``: the authenticated client, if it is the grant's (else its row is read).
    A session-bound grant whose session is no longer live gets nothing (``invalid_grant``)."""
    return prepare_tokens(
        session=session,
        clock=clock,
        ctx=ctx,
        grant=grant_facts(session, grant_id),
        client=client,
        nonce=nonce,
        with_id_token=with_id_token,
        refresh_row=refresh_row,
    ).mint(signer)


@dataclass(frozen=True, slots=True, repr=False)
class PreparedTokens:
    """The tokens of one grant once everything they need was read and written (and, on the
    hot path, committed): minting them is CPU work only (``mint``), so that it never holds a
    transaction open."""

    ctx: OidcContext
    grant: GrantFacts
    client: TokenClient
    now: datetime
    nonce: str | None
    #: Extra ID-token claims; ``None``: no ID token.
    id_token_extra: dict[str, Any] | None
    refresh_id: str | None
    refresh_expires_in: int | None

    def mint(self, signer: Signer) -> TokenResponse:
        ctx, grant, client, now = self.ctx, self.grant, self.client, self.now
        settings = ctx.settings
        sub = subject_for(ctx=ctx, sector_id=client.sector_id, person_id=grant.person_id)
        access, _jti = mint_access_token(
            signer=signer,
            issuer=ctx.issuer,
            sub=sub,
            client_id=client.client_id,
            scope=grant.scope,
            now=now,
            lifetime_seconds=settings.access_token_seconds,
            grant_id=grant.id,
            auth_time=grant.auth_time,
            acr=grant.acr,
            amr=grant.amr,
            sid=grant.sid,
            extra_claims={"legal_person": grant.legal_person} if grant.legal_person else None,
        )
        id_token = None
        if self.id_token_extra is not None:
            id_token = mint_id_token(
                signer=signer,
                issuer=ctx.issuer,
                sub=sub,
                client_id=client.client_id,
                now=now,
                lifetime_seconds=settings.id_token_seconds,
                auth_time=grant.auth_time,
                acr=grant.acr,
                amr=grant.amr,
                sid=grant.sid,
                nonce=self.nonce,
                access_token=access,
                extra_claims=self.id_token_extra,
            )
        return TokenResponse(
            access_token=access,
            expires_in=settings.access_token_seconds,
            scope=grant.scope,
            id_token=id_token,
            refresh_token=(
                refresh_token_value(ctx.refresh_key, self.refresh_id) if self.refresh_id else None
            ),
            refresh_expires_in=self.refresh_expires_in,
        )

    def __repr__(self) -> str:
        return f"<PreparedTokens grant={self.grant.id}>"


def prepare_tokens(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    grant: GrantFacts,
    client: TokenClient | None,
    nonce: str | None = None,
    with_id_token: bool = True,
    refresh_row: OidcRefreshToken | None = None,
) -> PreparedTokens:
    """The database half of ``issue_tokens`` for a grant whose facts were read already (e.g.
    with its code): checks (client active, grant not revoked, session live), ID-token claims,
    a new refresh token row if the client may refresh."""
    if client is None or client.client_id != grant.client_id:
        client = _client_of(session, grant.client_id)
    if client is None or client.status != "active" or grant.revoked_at is not None:
        raise OAuthError("invalid_grant", "grant or client is no longer valid")
    sso = _live_sso(session, clock, grant)
    now = clock.now()
    extra = None
    if with_id_token and "openid" in grant.scope.split():
        extra = _id_token_extra(session, ctx, grant, client.client_id)
    refresh_id = refresh_expires = None
    if "refresh_token" in client.grant_types.split():
        row = refresh_row or _new_refresh(
            session,
            clock,
            ctx,
            grant_id=grant.id,
            absolute_expires_at=grant.absolute_expires_at,
            parent=None,
        )
        refresh_id = row.id
        ends = [row.expires_at, grant.absolute_expires_at]
        if sso is not None:  # session-bound: dies with the session unless it is used again
            ends += [sso.idle_expires_at, sso.absolute_expires_at]
        refresh_expires = max(0, int((min(ends) - now).total_seconds()))
    return PreparedTokens(ctx, grant, client, now, nonce, extra, refresh_id, refresh_expires)


def issues_without_writes(client: TokenClient) -> bool:
    """The client is active and may not refresh: its tokens need no row written
    (``prepare_tokens`` writes a refresh token for a client that may)."""
    return client.status == "active" and "refresh_token" not in client.grant_types.split()


def prepare_checked_tokens(
    *,
    ctx: OidcContext,
    now: datetime,
    grant: GrantFacts,
    client: TokenClient,
    nonce: str | None,
) -> PreparedTokens:
    """``prepare_tokens`` without a read, for a grant whose checks the caller's statement made
    - the client is the grant's and active, the grant not revoked, its SSO session (if it is
    bound to one) live - and whose tokens need nothing read or written: no scope of
    ``ID_TOKEN_CLAIM_SCOPES`` and a client that may not refresh (the code exchange's fast
    path). Anything else is a programming error (``ValueError``)."""
    scopes = grant.scope.split()
    if (
        client.client_id != grant.client_id
        or not issues_without_writes(client)
        or not ID_TOKEN_CLAIM_SCOPES.isdisjoint(scopes)
    ):
        raise ValueError("these tokens need reads: prepare_tokens")
    extra = _legal_person_extra(grant) if "openid" in scopes else None
    return PreparedTokens(ctx, grant, client, now, nonce, extra, None, None)


def refresh(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    signer: Signer,
    client: TokenClient,
    form: Mapping[str, str],
) -> TokenResponse:
    row_id = parse_refresh_token(ctx.refresh_key, form.get("refresh_token") or "")
    row = (
        session.scalar(
            select(OidcRefreshToken).where(OidcRefreshToken.id == row_id).with_for_update()
        )
        if row_id
        else None
    )
    if row is None:
        raise OAuthError("invalid_grant", "refresh token is invalid")
    grant = _grant(session, row.grant_id)
    now = clock.now()
    if grant.client_id != client.client_id:
        raise OAuthError("invalid_grant", "refresh token is invalid")
    if grant.revoked_at is not None or row.revoked_at is not None:
        raise OAuthError("invalid_grant", "refresh token was revoked")
    if "scope" in form and not set(form["scope"].split()) <= set(grant.scope.split()):
        raise OAuthError("invalid_scope", "scope exceeds the original grant")
    # Checked before anything changes (errors are answered and the transaction commits): a
    # session-bound grant needs its live session. Only a successful refresh uses it.
    sso = _live_session(session, clock, grant, lock=True)
    if row.used_at is not None:
        grace = timedelta(seconds=ctx.settings.refresh_grace_seconds)
        successor = session.get(OidcRefreshToken, row.successor_id) if row.successor_id else None
        if now - row.used_at <= grace and successor is not None and successor.used_at is None:
            if sso is not None:
                touch_session(row=sso, clock=clock, ctx=ctx)
            return issue_tokens(
                session=session,
                clock=clock,
                ctx=ctx,
                signer=signer,
                grant_id=grant.id,
                refresh_row=successor,
                client=client,
            )
        revoke_grants(session=session, clock=clock, grant_ids=[grant.id], reason="refresh_reuse")
        raise OAuthError("invalid_grant", "refresh token was already used")
    if now >= row.expires_at or now >= grant.absolute_expires_at:
        raise OAuthError("invalid_grant", "refresh token expired")
    successor = _new_refresh(
        session,
        clock,
        ctx,
        grant_id=grant.id,
        absolute_expires_at=grant.absolute_expires_at,
        parent=row.id,
    )
    row.used_at, row.successor_id = now, successor.id
    if sso is not None:
        touch_session(row=sso, clock=clock, ctx=ctx)
    return issue_tokens(
        session=session,
        clock=clock,
        ctx=ctx,
        signer=signer,
        grant_id=grant.id,
        refresh_row=successor,
        client=client,
    )
