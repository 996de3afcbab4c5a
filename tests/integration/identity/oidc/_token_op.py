"""The token endpoint's test operator: a registered portal, a person, and codes made and
exchanged through the service layer (shared by the token-endpoint tests)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.authorize import AuthorizationRequest
from identity.oidc_model import OidcGrant
from identity.oidc_service_clients import TokenClient, authenticate_token_client, register_client
from identity.oidc_service_code_exchange import CodeExchange, exchange_codes
from identity.oidc_service_context import OidcContext
from identity.oidc_service_tokens import create_grant, issue_code
from identity.pkce import challenge_s256
from keys.software import SoftwareKeyStore
from trust.clock import FixedClock

REDIRECT = "https://rp.example/cb"
VERIFIER = "v" * 50


@dataclass
class Op:
    db: sessionmaker[Session]
    clock: FixedClock
    ctx: OidcContext
    keystore: SoftwareKeyStore
    client_id: str
    secret: str
    person_id: str

    def client(self) -> TokenClient:
        with self.db() as s, s.begin():
            return authenticate_token_client(
                session=s, ctx=self.ctx, clock=self.clock, client_id=self.client_id,
                client_secret=self.secret,
            )  # fmt: skip

    def code(
        self,
        *,
        client_id: str | None = None,
        scope: str = "openid",
        sid: str | None = None,
        legal_person: dict[str, Any] | None = None,
    ) -> str:
        """A fresh code (and its grant) for ``client_id`` (this client by default), in the SSO
        session ``sid`` if given, for the company ``legal_person`` if given."""
        cid = client_id or self.client_id
        with self.db() as s, s.begin():
            grant_id = create_grant(
                session=s, clock=self.clock, ctx=self.ctx, client_id=cid,
                person_id=self.person_id, scope=scope.split(), acr="urn:ywtb:loa:2",
                amr=["pwd"], auth_time=self.clock.now(), sid=sid, legal_person=legal_person,
            )  # fmt: skip
            req = AuthorizationRequest(
                client_id=cid, redirect_uri=REDIRECT, scopes=tuple(scope.split()),
                code_challenge=challenge_s256(VERIFIER), nonce="n-1",
            )  # fmt: skip
            return issue_code(session=s, clock=self.clock, ctx=self.ctx, grant_id=grant_id, req=req)

    def exchange(self, code: str, **form: str) -> dict[str, str]:
        return {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": VERIFIER,
            **form,
        }

    def item(self, code: str, client: TokenClient | None = None, **form: str) -> CodeExchange:
        return CodeExchange.of(
            clock=self.clock, ctx=self.ctx, client=client or self.client(),
            form=self.exchange(code, **form),
        )  # fmt: skip

    def batch(self, items: list[CodeExchange]) -> list[Any]:
        with self.db() as s, s.begin():
            return exchange_codes(s, items)

    def grant_of(self, code_client: str) -> OidcGrant:
        with self.db() as s:
            row = s.scalars(select(OidcGrant).where(OidcGrant.client_id == code_client)).first()
            assert row is not None
            return row


def register_portal(
    db: sessionmaker[Session],
    clock: FixedClock,
    name: str,
    *,
    grant_types: Sequence[str] = ("authorization_code", "client_credentials"),
) -> tuple[str, str]:
    with db() as s, s.begin():
        registered = register_client(
            session=s, clock=clock, name=name, redirect_uris=[REDIRECT],
            scopes=["openid", "profile"], grant_types=list(grant_types), actor="test",
        )  # fmt: skip
    assert registered.client_secret is not None
    return registered.client.client_id, registered.client_secret
