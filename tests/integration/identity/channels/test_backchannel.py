"""Back-channel logout over real HTTP: the outbox, the delivery worker, retries with backoff,
concurrent workers, and an independent receiver that checks each logout token's signature
against our JWKS with joserfc. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from identity.channels_model import BackchannelLogout
from identity.channels_service_logout import (
    OUTBOX_RETENTION,
    cleanup_channels,
    deliver_due_logouts,
    log_out_everywhere,
    outbox_rows,
)
from identity.keying import IdentityKeys
from identity.logout import RetryPolicy, check_logout_token_claims
from identity.oidc_model import OidcGrant, OidcSsoSession
from identity.oidc_service_context import OidcContext
from identity.oidc_service_tokens import subject_for, token_signer
from identity.sim_data import SimCitizen
from keys.software import SoftwareKeyStore
from tests.integration.identity.channels._receiver import run_receiver
from tests.integration.identity.channels._setup import make_world
from tests.integration.identity.channels.conftest import ISSUER
from trust.clock import FixedClock


def _deliver(
    db: sessionmaker[Session],
    clock: FixedClock,
    keystore: SoftwareKeyStore,
    *,
    worker_id: str | None = None,
    policy: RetryPolicy | None = None,
) -> Any:
    with httpx.Client(timeout=5.0) as http:
        return deliver_due_logouts(
            session_factory=db,
            clock=clock,
            issuer=ISSUER,
            signer_for=lambda s: token_signer(session=s, clock=clock, keystore=keystore),
            http=http,
            worker_id=worker_id,
            policy=policy,
        )


def test_logout_everywhere_delivers_one_token_per_session(
    db: sessionmaker[Session],
    clock: FixedClock,
    keys: IdentityKeys,
    ctx: OidcContext,
    keystore: SoftwareKeyStore,
    citizen: SimCitizen,
    jwks_of: Any,
) -> None:
    with run_receiver(jwks_of) as rp:
        world = make_world(
            db, clock, keys, ctx, keystore, citizen, backchannel_b=rp.url, sessions=2
        )
        with db() as s, s.begin():
            ended = log_out_everywhere(
                session=s,
                clock=clock,
                ctx=ctx,
                person_id=world.person_id,
                reason="admin",
                actor="user:admin",
            )
        assert {e.sid for e in ended} == set(world.sids)
        with db() as s:
            rows = outbox_rows(session=s, person_id=world.person_id)
            # Portal A has no back-channel URI: one row per session, for portal B only.
            assert sorted(r.sid for r in rows) == sorted(world.sids)
            assert {r.client_id for r in rows} == {world.portal_b}
            # The grants of both portals in those sessions are revoked.
            grants = s.query(OidcGrant).filter(OidcGrant.person_id == world.person_id).all()
            assert grants
            assert all(g.revoked_at is not None for g in grants)
            assert all(s.get(OidcSsoSession, sid).ended_at is not None for sid in world.sids)  # type: ignore[union-attr]

        report = _deliver(db, clock, keystore)
        assert (report.claimed, report.delivered) == (2, 2)
        assert rp.rejected == []
        assert sorted(r.claims["sid"] for r in rp.received) == sorted(world.sids)
        expected_sub = subject_for(ctx=ctx, sector_id="127.0.0.1", person_id=world.person_id)
        for got in rp.received:
            assert got.header["typ"] == "logout+jwt"
            assert got.header["alg"] == "ES256"
            assert got.content_type == "application/x-www-form-urlencoded"
            check = check_logout_token_claims(
                got.claims,
                issuer=ISSUER,
                client_id=world.portal_b,
                now=int(clock.now().timestamp()),
                leeway=0,
            )
            assert check.valid, check.reason
            assert got.claims["sub"] == expected_sub
        assert len({r.claims["jti"] for r in rp.received}) == 2

        # Delivered rows are not sent again.
        assert _deliver(db, clock, keystore).claimed == 0
        with db() as s:
            assert {r.status for r in outbox_rows(session=s)} == {"delivered"}
        # TTL cleanup keeps them for the retention period, then deletes them.
        with db() as s, s.begin():
            assert cleanup_channels(session=s, clock=clock).outbox_rows == 0
        clock.advance(OUTBOX_RETENTION + timedelta(seconds=1))
        with db() as s, s.begin():
            assert cleanup_channels(session=s, clock=clock).outbox_rows == 2
            assert outbox_rows(session=s) == []


def test_failed_delivery_is_retried_with_backoff(
    db: sessionmaker[Session],
    clock: FixedClock,
    keys: IdentityKeys,
    ctx: OidcContext,
    keystore: SoftwareKeyStore,
    citizen: SimCitizen,
    jwks_of: Any,
) -> None:
    policy = RetryPolicy(base_seconds=5, cap_seconds=60, max_attempts=3)
    with run_receiver(jwks_of, fail_first=1) as rp:
        world = make_world(db, clock, keys, ctx, keystore, citizen, backchannel_b=rp.url)
        with db() as s, s.begin():
            log_out_everywhere(
                session=s, clock=clock, ctx=ctx, person_id=world.person_id, reason="t", actor="t"
            )
        first = _deliver(db, clock, keystore, policy=policy)
        assert (first.claimed, first.retried, first.delivered) == (1, 1, 0)
        with db() as s:
            (row,) = outbox_rows(session=s)
            assert row.status == "pending"
            assert row.attempts == 1
            assert row.last_error == "http 503"
            assert row.next_attempt_at == clock.now() + timedelta(seconds=5)
            assert row.lease_owner is None
        # Not due yet: nothing is claimed.
        assert _deliver(db, clock, keystore, policy=policy).claimed == 0
        clock.advance(timedelta(seconds=5))
        second = _deliver(db, clock, keystore, policy=policy)
        assert (second.claimed, second.delivered) == (1, 1)
        assert len(rp.received) == 1
        assert rp.attempts == 2
        with db() as s:
            (row,) = outbox_rows(session=s)
            assert (row.status, row.attempts) == ("delivered", 2)


def test_unreachable_receiver_ends_failed(
    db: sessionmaker[Session],
    clock: FixedClock,
    keys: IdentityKeys,
    ctx: OidcContext,
    keystore: SoftwareKeyStore,
    citizen: SimCitizen,
) -> None:
    # A port nobody listens on (bound, then closed).
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/bcl"
    policy = RetryPolicy(base_seconds=1, cap_seconds=2, max_attempts=2)
    world = make_world(db, clock, keys, ctx, keystore, citizen, backchannel_b=dead)
    with db() as s, s.begin():
        log_out_everywhere(
            session=s, clock=clock, ctx=ctx, person_id=world.person_id, reason="t", actor="t"
        )
    assert _deliver(db, clock, keystore, policy=policy).retried == 1
    clock.advance(timedelta(seconds=1))
    assert _deliver(db, clock, keystore, policy=policy).failed == 1
    with db() as s:
        (row,) = outbox_rows(session=s)
        assert row.status == "failed"
        assert row.last_error is not None
        assert row.last_error.startswith("network")
    clock.advance(timedelta(hours=1))
    assert _deliver(db, clock, keystore, policy=policy).claimed == 0


def test_concurrent_workers_deliver_each_row_once(
    db: sessionmaker[Session],
    clock: FixedClock,
    keys: IdentityKeys,
    ctx: OidcContext,
    keystore: SoftwareKeyStore,
    citizen: SimCitizen,
    jwks_of: Any,
) -> None:
    with run_receiver(jwks_of) as rp:
        world = make_world(
            db, clock, keys, ctx, keystore, citizen, backchannel_b=rp.url, sessions=6
        )
        with db() as s, s.begin():
            log_out_everywhere(
                session=s, clock=clock, ctx=ctx, person_id=world.person_id, reason="t", actor="t"
            )
        reports: list[Any] = []
        errors: list[BaseException] = []
        start = threading.Barrier(4)

        def work(n: int) -> None:
            try:
                start.wait()
                reports.append(_deliver(db, clock, keystore, worker_id=f"w{n}"))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sum(r.claimed for r in reports) == 6
        assert sum(r.delivered for r in reports) == 6
        jtis = [r.claims["jti"] for r in rp.received]
        assert len(jtis) == len(set(jtis)) == 6


def test_expired_lease_is_taken_over(
    db: sessionmaker[Session],
    clock: FixedClock,
    keys: IdentityKeys,
    ctx: OidcContext,
    keystore: SoftwareKeyStore,
    citizen: SimCitizen,
    jwks_of: Any,
) -> None:
    with run_receiver(jwks_of) as rp:
        world = make_world(db, clock, keys, ctx, keystore, citizen, backchannel_b=rp.url)
        with db() as s, s.begin():
            log_out_everywhere(
                session=s, clock=clock, ctx=ctx, person_id=world.person_id, reason="t", actor="t"
            )
            (row,) = outbox_rows(session=s)
            # A worker claimed the row and died before delivering.
            row.lease_owner, row.lease_expires_at = "dead", clock.now() + timedelta(seconds=60)
        assert _deliver(db, clock, keystore).claimed == 0
        clock.advance(timedelta(seconds=61))
        assert _deliver(db, clock, keystore).delivered == 1
        assert len(rp.received) == 1


def test_queueing_is_idempotent_per_session_and_client(
    db: sessionmaker[Session],
    clock: FixedClock,
    keys: IdentityKeys,
    ctx: OidcContext,
    keystore: SoftwareKeyStore,
    citizen: SimCitizen,
) -> None:
    """The outbox holds at most one row per (sid, client): the database refuses a second one,
    and ending a session whose row is already queued (a concurrent logout of the same session
    that committed first) keeps the existing row instead of failing."""
    world = make_world(
        db, clock, keys, ctx, keystore, citizen, backchannel_b="http://127.0.0.1:9/b"
    )
    sid = world.sids[0]
    with db() as s, s.begin():
        s.add(_outbox_row(sid, world, "lgt_first", "earlier"))
    with pytest.raises(IntegrityError), db() as s, s.begin():
        s.add(_outbox_row(sid, world, "lgt_second", "again"))
    with db() as s, s.begin():
        (ended,) = log_out_everywhere(
            session=s, clock=clock, ctx=ctx, person_id=world.person_id, reason="t", actor="t"
        )
    assert ended.backchannel_client_ids == (world.portal_b,)
    with db() as s:
        (row,) = outbox_rows(session=s)
        assert (row.sid, row.client_id, row.jti, row.reason) == (
            sid,
            world.portal_b,
            "lgt_first",
            "earlier",
        )


def _outbox_row(sid: str, world: Any, jti: str, reason: str) -> BackchannelLogout:
    now = datetime.now(UTC)
    return BackchannelLogout(
        id=f"bcl_{jti}",
        sid=sid,
        client_id=world.portal_b,
        person_id=world.person_id,
        sub="sub",
        jti=jti,
        uri="http://127.0.0.1:9/b",
        reason=reason,
        status="pending",
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
