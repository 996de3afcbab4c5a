"""The code exchange's fast path on PostgreSQL (``exchange_codes_at_once``, a
``trust.db_batch`` fast path): it serves the requests whose every check its one statement makes,
and every other request gets exactly the answer of ``exchange_codes`` alone - refusals, replays
(which revoke), session-bound grants, claims, refresh tokens. Each batch is formed for real, as
the token endpoint's concurrent requests form it: queued from one event loop in one iteration,
so that the fast path gets them in one statement and what it leaves reaches the group committer
in one batch. On SQLite there is no fast path: the same requests, the same answers, all from the
handler."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from identity.oidc_errors import OAuthError
from identity.oidc_model import OidcAuthCode, OidcGrant, OidcSsoSession
from identity.oidc_service_code_exchange import (
    _TAKE_AT_ONCE,
    CodeExchange,
    exchange_codes,
    exchange_codes_at_once,
)
from identity.oidc_service_sessions import establish_sso_session
from identity.oidc_service_tokens import PreparedTokens, grant_facts
from identity.tokens import secret_digest
from tests.batch_support import run_together
from tests.conftest import skip_or_fail
from tests.integration.identity.oidc._token_op import REDIRECT, Op, register_portal
from trust.db_batch import BatchCommitter


@pytest.fixture
def committer(db: sessionmaker[Session]) -> Iterator[BatchCommitter]:
    batch = BatchCommitter(db, idle_seconds=0.5)
    yield batch
    batch.close()


def _on_postgresql(op: Op) -> bool:
    return bool(op.db.kw["bind"].dialect.name == "postgresql")


def exchanged(committer: BatchCommitter, items: Sequence[CodeExchange]) -> list[Any]:
    """The outcomes of ``items`` exchanged in one batch of the committer, as the token endpoint
    submits them (an ``OAuthError`` outcome is returned, not raised)."""
    work = [(exchange_codes, item, exchange_codes_at_once) for item in items]
    return run_together(committer, work)


def _details(outcomes: Sequence[Any]) -> list[str]:
    return ["ok" if isinstance(o, PreparedTokens) else o.detail for o in outcomes]


def _served_fast(committer: BatchCommitter, op: Op, before: int, expected: int) -> None:
    """``expected`` more requests served by the fast path on PostgreSQL, none on SQLite."""
    assert committer.fast_items - before == (expected if _on_postgresql(op) else 0)


def test_the_fast_path_serves_a_plain_exchange_as_the_handler_would(
    op: Op, committer: BatchCommitter
) -> None:
    client = op.client()
    fast_code, slow_code = op.code(), op.code()
    (fast,) = exchanged(committer, [op.item(fast_code, client)])
    _served_fast(committer, op, 0, 1)
    with op.db() as s, s.begin():
        (slow,) = exchange_codes(s, [op.item(slow_code, client)])
        alone = grant_facts(s, fast.grant.id)
    assert isinstance(fast, PreparedTokens)
    assert isinstance(slow, PreparedTokens)
    assert fast.grant == alone  # the facts as read alone: UTC times, JSON lists
    assert fast.grant.auth_time.utcoffset() == timedelta(0)
    for field in ("nonce", "id_token_extra", "refresh_id", "refresh_expires_in", "client"):
        assert getattr(fast, field) == getattr(slow, field), field
    with op.db() as s:  # committed, and used
        row = s.get(OidcAuthCode, secret_digest(fast_code))
        assert row is not None
        assert row.used_at is not None


def test_every_refusal_is_the_handlers_and_refused_codes_stay_usable(
    op: Op, committer: BatchCommitter
) -> None:
    client = op.client()
    replayed = op.code()
    exchanged(committer, [op.item(replayed, client)])
    expired = op.code()
    op.clock.advance(timedelta(seconds=op.ctx.settings.code_seconds))
    live, wrong_pkce, wrong_uri, malformed, missing_uri = (op.code() for _ in range(5))
    other_id, _secret = register_portal(op.db, op.clock, "另一门户")
    others = op.code(client_id=other_id)
    before = committer.fast_items
    outcomes = exchanged(
        committer,
        [
            op.item(live, client),
            op.item(replayed, client),
            op.item(wrong_pkce, client, code_verifier="w" * 50),
            op.item(wrong_uri, client, redirect_uri=REDIRECT + "/x"),
            op.item(malformed, client, code_verifier="short"),
            op.item(expired, client),
            op.item("no-such-code", client),
            op.item(others, client),
            CodeExchange.of(
                clock=op.clock, ctx=op.ctx, client=client,
                form={k: v for k, v in op.exchange(missing_uri).items() if k != "redirect_uri"},
            ),
        ],
    )  # fmt: skip
    assert _details(outcomes) == [
        "ok",
        "authorization code was already used",
        "PKCE verification failed",
        "redirect_uri does not match",
        "PKCE verification failed",
        "authorization code expired",
        "authorization code is invalid",
        "authorization code is invalid",
        "redirect_uri does not match",
    ]
    _served_fast(committer, op, before, 1)
    # What was refused left the codes as they were: correct exchanges still work.
    again = exchanged(
        committer, [op.item(c, client) for c in (wrong_pkce, wrong_uri, malformed, missing_uri)]
    )
    assert _details(again) == ["ok"] * 4


def test_a_code_twice_in_one_batch_is_served_once_and_the_replay_revokes(
    op: Op, committer: BatchCommitter
) -> None:
    client = op.client()
    code = op.code()
    first, second = exchanged(committer, [op.item(code, client), op.item(code, client)])
    assert isinstance(first, PreparedTokens)
    assert isinstance(second, OAuthError)
    assert second.detail == "authorization code was already used"
    _served_fast(committer, op, 0, 1)
    with op.db() as s:
        grant = s.get(OidcGrant, first.grant.id)
        assert grant is not None
        assert grant.revoke_reason == "code_reuse"


def test_a_revoked_grant_is_left_to_the_handler_which_refuses_it(
    op: Op, committer: BatchCommitter
) -> None:
    client = op.client()
    code = op.code()
    with op.db() as s, s.begin():
        s.execute(update(OidcGrant).values(revoked_at=op.clock.now(), revoke_reason="test"))
    (outcome,) = exchanged(committer, [op.item(code, client)])
    assert isinstance(outcome, OAuthError)
    assert outcome.detail == "grant or client is no longer valid"
    _served_fast(committer, op, 0, 0)


def _sso_session(op: Op) -> str:
    with op.db() as s, s.begin():
        view, _cookie = establish_sso_session(
            session=s, clock=op.clock, ctx=op.ctx, current_sid=None, person_id=op.person_id,
            acr="urn:ywtb:loa:2", amr=["pwd"], client_ip=None, user_agent=None,
        )  # fmt: skip
        return view.sid


def _run_out(op: Op, sid: str) -> None:
    """The session's idle time is over (the grants stay unrevoked: only the time ran out)."""
    with op.db() as s, s.begin():
        s.execute(
            update(OidcSsoSession)
            .where(OidcSsoSession.sid == sid)
            .values(idle_expires_at=op.clock.now() - timedelta(seconds=1))
        )


def test_session_bound_grants_need_a_live_session_offline_ones_do_not(
    op: Op, committer: BatchCommitter
) -> None:
    client = op.client()
    sid = _sso_session(op)
    live = op.code(sid=sid)
    (outcome,) = exchanged(committer, [op.item(live, client)])
    assert isinstance(outcome, PreparedTokens)
    assert outcome.grant.sid == sid
    _served_fast(committer, op, 0, 1)
    bound, offline = op.code(sid=sid), op.code(sid=sid, scope="openid offline_access")
    _run_out(op, sid)
    before = committer.fast_items
    outcomes = exchanged(committer, [op.item(bound, client), op.item(offline, client)])
    assert _details(outcomes) == ["the login session of this grant has ended", "ok"]
    _served_fast(committer, op, before, 0)  # both left to the handler


def test_claims_and_refresh_tokens_are_left_to_the_handler(
    op: Op, committer: BatchCommitter
) -> None:
    client = op.client()
    with_claims = op.code(scope="openid profile")
    (outcome,) = exchanged(committer, [op.item(with_claims, client)])
    assert isinstance(outcome, PreparedTokens)
    assert outcome.id_token_extra is not None
    assert "name" in outcome.id_token_extra
    refreshing_id, secret = register_portal(
        op.db, op.clock, "可刷新门户", grant_types=["authorization_code", "refresh_token"]
    )
    refreshing = Op(op.db, op.clock, op.ctx, op.keystore, refreshing_id, secret, op.person_id)
    code = refreshing.code()
    (outcome,) = exchanged(committer, [refreshing.item(code)])
    assert isinstance(outcome, PreparedTokens)
    assert outcome.refresh_id is not None
    _served_fast(committer, op, 0, 0)


def test_a_companys_grant_is_served_fast_with_its_legal_person(
    op: Op, committer: BatchCommitter
) -> None:
    company = {"uscc": "91350100M000100Y43", "name": "示例公司", "role": "agent"}
    code = op.code(legal_person=company)
    (outcome,) = exchanged(committer, [op.item(code, op.client())])
    assert isinstance(outcome, PreparedTokens)
    assert outcome.grant.legal_person == company
    assert outcome.id_token_extra == {"legal_person": company}
    _served_fast(committer, op, 0, 1)


@pytest.mark.postgres
def test_a_batch_served_fast_is_one_statement(
    op: Op, committer: BatchCommitter, statements: list[str]
) -> None:
    """However many requests, one statement through the driver (``trust.db_batch``'s tests
    show that it commits on its own, before the handlers' transaction)."""
    if not _on_postgresql(op):
        skip_or_fail("the fast path is PostgreSQL's (set TRUST_TEST_DATABASE_URL)")
    client = op.client()
    codes = [op.code() for _ in range(3)]
    items = [op.item(c, client) for c in codes]
    statements.clear()
    outcomes = exchanged(committer, items)
    assert _details(outcomes) == ["ok"] * 3
    assert statements == ["UPDATE"]


@pytest.mark.postgres
def test_the_prepared_statement_finds_codes_by_index_whatever_the_statistics(op: Op) -> None:
    """The server's generic plan for the fast path's prepared statement (what a connection
    runs after its first executions) looks the codes up through the primary key, on a table
    of thousands of codes whose statistics the planner has not seen."""
    if not _on_postgresql(op):
        skip_or_fail("the fast path is PostgreSQL's (set TRUST_TEST_DATABASE_URL)")
    code = op.code()
    numbered = (
        _TAKE_AT_ONCE.replace("%(now)s", "$1")
        .replace("%(requests)s", "$2")
        .replace("%(claim_scopes)s", "$3")
    )
    requests = [
        {"i": 0, "h": secret_digest(code).hex(), "c": op.client_id, "u": REDIRECT, "p": "x"}
    ]
    with op.db() as s, s.begin():  # rolled back: the copies and the setting go with it
        run = s.connection().exec_driver_sql
        run(
            "INSERT INTO oidc_auth_code (code_hash, grant_id, client_id, redirect_uri, "
            "code_challenge, nonce, created_at, expires_at) SELECT sha256(n::text::bytea), "
            "grant_id, client_id, redirect_uri, code_challenge, nonce, created_at, expires_at "
            "FROM oidc_auth_code, generate_series(1, 5000) AS n "
            f"WHERE code_hash = '\\x{secret_digest(code).hex()}'::bytea"
        )
        run("SET LOCAL plan_cache_mode = force_generic_plan")
        run(f"PREPARE take_at_once (timestamptz, json, text[]) AS {numbered}")
        try:
            plan = "\n".join(
                row[0]
                for row in run(
                    "EXPLAIN EXECUTE take_at_once(now(), "
                    f"'{json.dumps(requests)}', '{{profile,phone}}')"
                )
            )
        finally:
            run("DEALLOCATE take_at_once")
        s.rollback()
    assert "Seq Scan on oidc_auth_code" not in plan, plan
    assert "Index Cond: (code_hash = ANY" in plan, plan
