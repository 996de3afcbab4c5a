"""The token endpoint's hot paths (``identity.oidc_service_token_endpoint``,
``identity.oidc_service_code_exchange``) on the test database (SQLite, or PostgreSQL with
``TRUST_TEST_DATABASE_URL``): per-process caches that expire as documented, client credentials
without any database statement, the code exchange in one statement (two on SQLite), and the
exchange's rules when many requests share one transaction or race in separate ones."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select, update

from identity.oidc_errors import OAuthError
from identity.oidc_model import OidcAuthCode, OidcClient, OidcGrant
from identity.oidc_service_clients import (
    CLIENT_CACHE_SECONDS,
    token_client_from_cache,
)
from identity.oidc_service_code_exchange import CodeExchange, exchange_codes
from identity.oidc_service_resources import published_jwks
from identity.oidc_service_token_endpoint import (
    token_response,
    token_response_from_cache,
)
from identity.oidc_service_tokens import PreparedTokens, grant_facts
from identity.tokens import secret_digest
from tests.api._support import TestClient
from tests.integration.identity.oidc._token_op import REDIRECT, Op, register_portal
from trust.config import Settings
from trust.web.app import create_app
from trust.web.deps import batch_committer


def _cc(op: Op, secret: str | None = None) -> dict[str, Any]:
    return {
        "clock": op.clock,
        "ctx": op.ctx,
        "keystore": op.keystore,
        "client_id": op.client_id,
        "client_secret": secret or op.secret,
        "form": {"grant_type": "client_credentials", "scope": "profile openid"},
    }


# ----------------------------------------------------------------------- client credentials


def test_client_credentials_from_the_caches_sends_no_statement(
    op: Op, statements: list[str]
) -> None:
    assert token_response_from_cache(**_cc(op)) is None  # nothing cached yet
    first = token_response(session_factory=op.db, **_cc(op))
    statements.clear()
    cached = token_response_from_cache(**_cc(op))
    assert cached is not None
    assert statements == []
    assert cached.scope == first.scope == "profile"  # openid is never a client-credentials scope
    with op.db() as s:
        keyset = KeySet.import_key_set(
            published_jwks(session=s, keystore=op.keystore, clock=op.clock, ctx=op.ctx)
        )  # type: ignore[arg-type]
    claims = jwt.decode(cached.access_token, keyset, algorithms=["ES256"]).claims
    assert claims["sub"] == claims["client_id"] == op.client_id
    statements.clear()
    # The cached snapshot still authenticates: a wrong secret is refused without I/O.
    with pytest.raises(OAuthError) as refused:
        token_response_from_cache(**_cc(op, secret="wrong-" + op.secret))
    assert (refused.value.oauth_error, refused.value.status) == ("invalid_client", 401)
    assert statements == []


def test_a_disabled_client_stops_within_the_cache_time(op: Op) -> None:
    token_response(session_factory=op.db, **_cc(op))  # cached now
    with op.db() as s, s.begin():
        s.execute(
            update(OidcClient).where(OidcClient.client_id == op.client_id).values(status="disabled")
        )
    # Within CLIENT_CACHE_SECONDS this process may still answer from its snapshot (until
    # RENEW_AT of it, when one request reads the row again) ...
    op.clock.advance(timedelta(seconds=CLIENT_CACHE_SECONDS) * 0.7)
    cached = token_client_from_cache(
        ctx=op.ctx, clock=op.clock, client_id=op.client_id, client_secret=op.secret
    )
    assert cached is not None
    assert cached.client_id == op.client_id
    # ... and from then on, no process does.
    op.clock.advance(timedelta(seconds=CLIENT_CACHE_SECONDS) * 0.3)
    assert token_client_from_cache(
        ctx=op.ctx, clock=op.clock, client_id=op.client_id, client_secret=op.secret
    ) is None  # fmt: skip
    with pytest.raises(OAuthError) as refused:
        token_response(session_factory=op.db, **_cc(op))
    assert refused.value.oauth_error == "invalid_client"
    # The new snapshot (disabled) refuses it without I/O from now on.
    with pytest.raises(OAuthError) as again:
        token_client_from_cache(
            ctx=op.ctx, clock=op.clock, client_id=op.client_id, client_secret=op.secret
        )
    assert again.value.oauth_error == "invalid_client"


def test_a_changed_grant_type_applies_after_the_cache_time(op: Op) -> None:
    token_response(session_factory=op.db, **_cc(op))
    with op.db() as s, s.begin():
        s.execute(
            update(OidcClient)
            .where(OidcClient.client_id == op.client_id)
            .values(grant_types="authorization_code")
        )
    op.clock.advance(timedelta(seconds=CLIENT_CACHE_SECONDS))
    with pytest.raises(OAuthError) as refused:
        token_response(session_factory=op.db, **_cc(op))
    assert refused.value.oauth_error == "unauthorized_client"


# --------------------------------------------------------------------------- code exchange


def test_one_exchange_is_one_statement(op: Op, statements: list[str]) -> None:
    """The code and its grant's facts in one statement: ``UPDATE … FROM`` on PostgreSQL, a
    subquery in ``RETURNING`` on SQLite."""
    code = op.code()
    client = op.client()
    statements.clear()
    with op.db() as s, s.begin():
        (outcome,) = exchange_codes(s, [op.item(code, client)])
    assert isinstance(outcome, PreparedTokens)
    work = [st for st in statements if st not in {"BEGIN", "COMMIT"}]
    assert work == ["UPDATE"], statements


@pytest.mark.parametrize("legal_person", [None, {"id": "lp-1", "name": "某某有限公司"}])
def test_the_grant_taken_with_its_code_is_the_grant_as_read_alone(
    op: Op, legal_person: dict[str, str] | None
) -> None:
    """The grant's facts come back with the code, through the driver (PostgreSQL: its columns;
    SQLite: a JSON array of them, times as stored text); they equal what SQLAlchemy reads of
    the same grant (UTC times to the microsecond, JSON lists and objects, NULLs)."""
    op.clock.advance(timedelta(microseconds=123457))
    code = op.code(legal_person=legal_person)
    with op.db() as s, s.begin():
        (outcome,) = exchange_codes(s, [op.item(code, op.client())])
        assert isinstance(outcome, PreparedTokens)
        alone = grant_facts(s, outcome.grant.id)
    assert outcome.grant == alone
    assert outcome.grant.auth_time.utcoffset() == timedelta(0)
    assert outcome.grant.auth_time.microsecond == alone.auth_time.microsecond != 0
    assert outcome.grant.amr == ["pwd"]
    assert outcome.grant.legal_person == legal_person
    assert outcome.grant.revoked_at is None


@pytest.mark.parametrize("offset_us", [0, 500001])
def test_a_code_is_taken_until_the_microsecond_before_it_expires(op: Op, offset_us: int) -> None:
    """The expiry compared in the statement to the microsecond, on a whole second too
    (SQLite compares stored text: the time must be bound in the very format SQLAlchemy stores,
    which writes ``.000000`` where ``isoformat`` writes nothing)."""
    client = op.client()
    op.clock.advance(timedelta(seconds=1) - op.clock.now().microsecond * timedelta(microseconds=1))
    op.clock.advance(timedelta(microseconds=offset_us))
    on_time, late = op.code(), op.code()
    op.clock.advance(timedelta(seconds=op.ctx.settings.code_seconds, microseconds=-1))
    (outcome,) = op.batch([op.item(on_time, client)])
    assert isinstance(outcome, PreparedTokens)
    op.clock.advance(timedelta(microseconds=1))
    (refused,) = op.batch([op.item(late, client)])
    assert isinstance(refused, OAuthError)
    assert refused.detail == "authorization code expired"


def test_a_batch_shares_one_statement_and_keeps_every_rule(op: Op) -> None:
    client = op.client()
    replayed = op.code()
    op.batch([op.item(replayed, client)])  # used once already
    expired = op.code()
    op.clock.advance(timedelta(seconds=op.ctx.settings.code_seconds))
    live, wrong_pkce, wrong_uri = op.code(), op.code(), op.code()
    outcomes = op.batch(
        [
            op.item(live, client),
            op.item(replayed, client),
            op.item(wrong_pkce, client, code_verifier="w" * 50),
            op.item(wrong_uri, client, redirect_uri=REDIRECT + "/x"),
            op.item(expired, client),
            op.item("no-such-code", client),
        ]
    )
    assert isinstance(outcomes[0], PreparedTokens)
    errors = [o.detail if isinstance(o, OAuthError) else o for o in outcomes[1:]]
    assert errors == [
        "authorization code was already used",
        "PKCE verification failed",
        "redirect_uri does not match",
        "authorization code expired",
        "authorization code is invalid",
    ]
    # The refused checks gave their codes back: a correct exchange still works.
    again = op.batch([op.item(wrong_pkce, client), op.item(wrong_uri, client)])
    assert all(isinstance(o, PreparedTokens) for o in again), again


def test_a_replay_revokes_the_grant_also_within_one_batch(op: Op) -> None:
    client = op.client()
    code = op.code()
    first, second = op.batch([op.item(code, client), op.item(code, client)])
    assert isinstance(first, PreparedTokens)
    assert isinstance(second, OAuthError)
    assert second.detail == "authorization code was already used"
    with op.db() as s:
        grant = s.get(OidcGrant, first.grant.id)
        assert grant is not None
        assert grant.revoked_at is not None
        assert grant.revoke_reason == "code_reuse"


def test_another_clients_code_is_invalid_and_stays_usable(op: Op) -> None:
    other_id, _secret = register_portal(op.db, op.clock, "另一门户")
    code = op.code(client_id=other_id)
    (outcome,) = op.batch([op.item(code, op.client())])
    assert isinstance(outcome, OAuthError)
    assert outcome.detail == "authorization code is invalid"
    with op.db() as s:
        row = s.scalar(select(OidcAuthCode).where(OidcAuthCode.client_id == other_id))
        assert row is not None
        assert row.used_at is None


def test_racing_exchanges_of_one_code_in_separate_transactions(op: Op) -> None:
    """Eight threads, each with its own connection and transaction (as several server
    processes would be): exactly one exchange succeeds, the others see a replay, and the
    grant ends up revoked."""
    client = op.client()
    code = op.code()
    items = [op.item(code, client) for _ in range(8)]
    outcomes: list[Any] = []
    start = threading.Barrier(len(items))

    def run(item: CodeExchange) -> None:
        start.wait()
        try:
            outcomes.extend(op.batch([item]))
        except Exception as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=run, args=(item,)) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    won = [o for o in outcomes if isinstance(o, PreparedTokens)]
    lost = [o for o in outcomes if isinstance(o, OAuthError)]
    assert len(won) == 1, outcomes
    assert len(lost) == 7, outcomes
    assert {o.detail for o in lost} == {"authorization code was already used"}
    with op.db() as s:
        grant = s.get(OidcGrant, won[0].grant.id)
        assert grant is not None
        assert grant.revoked_at is not None


# ------------------------------------------------------------------------------ over HTTP


def test_over_http_the_hot_paths_answer_from_the_caches_and_the_group_committer(
    op: Op, settings: Settings
) -> None:
    """The app's token endpoint: with warm caches, client credentials and code exchanges are
    answered on the event loop - the exchange through the app's group committer, committed
    before the answer - and every rule still holds (replay revokes, PKCE refused)."""
    app = create_app(settings, clock=op.clock, keystore=op.keystore)
    app.state.session_factory = op.db
    auth = (op.client_id, op.secret)
    with TestClient(app) as http:
        cc = {"grant_type": "client_credentials", "scope": "profile"}
        assert http.post("/oidc/token", data=cc, auth=auth).status_code == 200  # warms caches
        committer = batch_committer(app.state)
        before = committer.items + committer.fast_items
        code = op.code()
        answer = http.post("/oidc/token", data=op.exchange(code), auth=auth)
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        assert {"access_token", "id_token", "expires_in"} <= set(answer.json())
        # the exchange went through the committer (or its fast path, on PostgreSQL)
        assert committer.items + committer.fast_items == before + 1
        with op.db() as s:  # committed before the answer
            row = s.scalar(
                select(OidcAuthCode).where(OidcAuthCode.code_hash == secret_digest(code))
            )
            assert row is not None
            assert row.used_at is not None
        replay = http.post("/oidc/token", data=op.exchange(code), auth=auth)
        assert replay.status_code == 400
        assert replay.json() == {
            "error": "invalid_grant",
            "error_description": "authorization code was already used",
        }
        with op.db() as s:
            assert s.get(OidcGrant, row.grant_id).revoked_at is not None  # type: ignore[union-attr]
        refused = http.post(
            "/oidc/token", data=op.exchange(op.code(), code_verifier="w" * 50), auth=auth
        )
        assert refused.json()["error_description"] == "PKCE verification failed"
        wrong = http.post("/oidc/token", data=cc, auth=(op.client_id, "wrong"))
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "invalid_client"
