"""Helpers: a person, two portals and an SSO session in which both received tokens."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from identity.keying import IdentityKeys
from identity.oidc_service_clients import register_client
from identity.oidc_service_context import OidcContext
from identity.oidc_service_sessions import establish_sso_session
from identity.oidc_service_tokens import create_grant, token_signer
from identity.sim_data import SimCitizen
from keys.interfaces import KeyStore
from tests.integration.identity._factories import make_person
from trust.clock import Clock


@dataclass(frozen=True)
class World:
    person_id: str
    portal_a: str
    portal_b: str
    sids: tuple[str, ...]


def make_world(
    db: sessionmaker[Session],
    clock: Clock,
    keys: IdentityKeys,
    ctx: OidcContext,
    keystore: KeyStore,
    citizen: SimCitizen,
    *,
    backchannel_b: str,
    backchannel_a: str | None = None,
    sessions: int = 1,
) -> World:
    with db() as s, s.begin():
        person = make_person(s, clock, keys, citizen)
        token_signer(session=s, clock=clock, keystore=keystore)  # publish the signing key
        a = register_client(
            session=s,
            clock=clock,
            name="门户甲",
            redirect_uris=["http://127.0.0.1:9001/cb"],
            backchannel_logout_uri=backchannel_a,
            actor="test",
        ).client.client_id
        b = register_client(
            session=s,
            clock=clock,
            name="门户乙",
            redirect_uris=["http://127.0.0.1:9002/cb"],
            backchannel_logout_uri=backchannel_b,
            actor="test",
        ).client.client_id
        sids = []
        for _ in range(sessions):
            view, _cookie = establish_sso_session(
                session=s,
                clock=clock,
                ctx=ctx,
                current_sid=None,
                person_id=person.id,
                acr="L2",
                amr=["pwd"],
                client_ip="127.0.0.1",
                user_agent="pytest",
            )
            sids.append(view.sid)
            for client_id in (a, b):
                create_grant(
                    session=s,
                    clock=clock,
                    ctx=ctx,
                    client_id=client_id,
                    person_id=person.id,
                    scope=["openid"],
                    acr="L2",
                    amr=["pwd"],
                    auth_time=clock.now(),
                    sid=view.sid,
                )
    return World(person.id, a, b, tuple(sids))
