"""The authorisation-code exchange (RFC 6749 §4.1.3, RFC 7636 §4.6, OIDC Core §3.1.3.2), for
one request or for many at once (a batch handler for ``trust.db_batch``: the exchanges of
concurrent requests share one transaction and one commit, and each request answers only after
that commit).

A code is *taken* - marked used - only if it exists, is unused and unexpired; one statement for
the whole batch: ``UPDATE oidc_auth_code SET used_at = now WHERE code_hash IN (…) AND used_at IS
NULL AND expires_at > now RETURNING …``, with the grants' facts coming back with it: on
PostgreSQL joined with ``oidc_grant`` (``UPDATE … FROM``), on SQLite (which returns no joined
columns) as a subquery in ``RETURNING``; both sent through the driver. The row lock
(PostgreSQL) or the writer's lock (SQLite, ``BEGIN IMMEDIATE``) makes a concurrent second use
of a code wait for the first one's commit, then find it used.

Then, per request and in the order of the RFCs' checks: the code must have been issued to this
client, for this ``redirect_uri`` (RFC 6749 §4.1.3: "identical"), and the ``code_verifier``
must match its S256 challenge (RFC 7636 §4.6, constant-time). A request failing one of these
gives the code back (``used_at`` restored to null, in the same transaction): only a complete
exchange uses a code, as before these checks were folded into one statement. A code that could
not be taken is told apart on a slower path: unknown, expired, or *already used* - a replay,
which revokes the grant and so every token issued from the code (RFC 6749 §4.1.2). Several
requests for the same code in one batch are taken in arrival order, round by round, so the
outcome is the one of sequential transactions.

On PostgreSQL the handler has a fast path (``exchange_codes_at_once``, a ``trust.db_batch``
fast path, sent from the event loop: ``trust.db_loop``): one statement, committed on its own,
takes the codes of the concurrent requests whose every check it can make in its ``WHERE`` -
client, ``redirect_uri``, S256 challenge, grant not revoked, its SSO session live - and whose
tokens need nothing else read or written. Every other request goes
on to ``exchange_codes`` unchanged, its code untouched: a failed check is then explained, a
replay revokes, a refresh token is written, claims are read, in the order above.

The outcome of each request is ``PreparedTokens`` (``identity.oidc_service_tokens``: minting,
CPU only, happens after the commit) or an ``OAuthError``, committed like a success: what an
error must keep - the revocation of a replay - is kept.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache, partial
from typing import Any, Final, cast

from sqlalchemy import JSON, Connection, Table, bindparam, select, text, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from identity.oidc_errors import OAuthError
from identity.oidc_model import OidcAuthCode
from identity.oidc_service_clients import TokenClient
from identity.oidc_service_context import OidcContext
from identity.oidc_service_sessions import revoke_grants
from identity.oidc_service_tokens import (
    GRANT_COLUMNS,
    ID_TOKEN_CLAIM_SCOPES,
    GrantFacts,
    PreparedTokens,
    TokenResponse,
    issues_without_writes,
    prepare_checked_tokens,
    prepare_tokens,
)
from identity.pkce import challenge_s256, is_valid_verifier, verify_s256
from identity.tokens import secret_digest
from keys.interfaces import Signer
from trust.clock import Clock, utc
from trust.db import UTCDateTime
from trust.db_loop import FastStatement
from trust.db_pipeline import execute_together

__all__ = ["CodeExchange", "exchange_code", "exchange_codes", "exchange_codes_at_once"]

_CODE: Final = cast(Table, OidcAuthCode.__table__)
#: What taking a code returns of it (labelled: ``oidc_grant`` has a ``client_id`` too).
_CODE_COLUMNS: Final = (
    _CODE.c.code_hash,
    _CODE.c.client_id.label("code_client_id"),
    _CODE.c.redirect_uri.label("code_redirect_uri"),
    _CODE.c.code_challenge,
    _CODE.c.nonce,
    _CODE.c.grant_id,
)

#: Their names in ``oidc_auth_code``.
_CODE_NAMES: Final = tuple(getattr(column, "element", column).name for column in _CODE_COLUMNS)

Outcome = PreparedTokens | OAuthError


@dataclass(frozen=True, slots=True, repr=False)
class CodeExchange:
    """One token request with ``grant_type=authorization_code`` whose client is authenticated."""

    clock: Clock
    ctx: OidcContext
    client: TokenClient
    code_hash: bytes
    redirect_uri: str | None
    unverified_verifier: str | None

    @classmethod
    def of(
        cls, *, clock: Clock, ctx: OidcContext, client: TokenClient, form: Mapping[str, str]
    ) -> CodeExchange:
        return cls(
            clock=clock,
            ctx=ctx,
            client=client,
            code_hash=secret_digest(form.get("code") or ""),
            redirect_uri=form.get("redirect_uri"),
            unverified_verifier=form.get("code_verifier"),
        )

    def __repr__(self) -> str:
        return f"<CodeExchange client={self.client.client_id} (code hidden)>"


@dataclass(frozen=True, slots=True)
class _Taken:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    #: The grant's facts, returned with the code.
    grant: GrantFacts


def exchange_code(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    signer: Signer,
    client: TokenClient,
    form: Mapping[str, str],
) -> TokenResponse:
    """One exchange in the caller's transaction (the token endpoint's ``GRANTS`` handler)."""
    item = CodeExchange.of(clock=clock, ctx=ctx, client=client, form=form)
    outcome = exchange_codes(session, [item])[0]
    if isinstance(outcome, OAuthError):
        raise outcome
    return outcome.mint(signer)


def exchange_codes(session: Session, items: Sequence[CodeExchange]) -> list[Outcome]:
    """The exchanges of ``items`` in the caller's transaction (``trust.db_batch`` handler):
    one outcome per item, in order; never raises an ``OAuthError``."""
    outcomes: list[Outcome | None] = [None] * len(items)
    for positions in _rounds(items):
        _exchange_round(session, items, positions, outcomes)
    return [cast(Outcome, outcome) for outcome in outcomes]


def _rounds(items: Sequence[CodeExchange]) -> list[list[int]]:
    """Positions in rounds of distinct codes: the n-th request for a code is in round n."""
    seen: dict[bytes, int] = {}
    rounds: list[list[int]] = []
    for i, item in enumerate(items):
        n = seen.get(item.code_hash, 0)
        seen[item.code_hash] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(i)
    return rounds


def _exchange_round(
    session: Session,
    items: Sequence[CodeExchange],
    positions: list[int],
    outcomes: list[Outcome | None],
) -> None:
    now = items[positions[0]].clock.now()
    taken = _take(session, [items[i].code_hash for i in positions], now)
    given_back: list[bytes] = []
    missing: list[int] = []
    passed: list[tuple[int, _Taken]] = []
    for i in positions:
        item = items[i]
        row = taken.get(item.code_hash)
        if row is None:
            missing.append(i)
            continue
        error = _check(item, row)
        if error is None:
            passed.append((i, row))
        else:
            outcomes[i] = error
            given_back.append(item.code_hash)
    if given_back:  # not a use: those codes stay as they were before this round
        session.execute(update(_CODE).where(_CODE.c.code_hash.in_(given_back)).values(used_at=None))
    if missing:
        _refuse(session, items, missing, now, outcomes)
    for i, row in passed:
        item = items[i]
        try:
            outcomes[i] = prepare_tokens(
                session=session,
                clock=item.clock,
                ctx=item.ctx,
                grant=row.grant,
                client=item.client,
                nonce=row.nonce,
            )
        except OAuthError as exc:  # e.g. the grant was revoked: the code stays used
            outcomes[i] = exc


#: PostgreSQL: the codes taken and their grants' facts in one statement, whatever the batch
#: size (``= ANY`` of one array parameter: one SQL text, which psycopg prepares once), run
#: through the driver (``trust.db_pipeline``). Its columns: ``_CODE_COLUMNS``, then
#: ``GRANT_COLUMNS``, in order.
_TAKE_PG: Final = text(
    "UPDATE oidc_auth_code AS c SET used_at = :now FROM oidc_grant AS g "  # noqa: S608 - our names
    "WHERE c.code_hash = ANY(:hashes) AND c.used_at IS NULL AND c.expires_at > :now "
    "AND c.grant_id = g.id RETURNING "
    + ", ".join([f"c.{name}" for name in _CODE_NAMES] + [f"g.{c.name}" for c in GRANT_COLUMNS])
).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("hashes"))
_N_CODE: Final = len(_CODE_COLUMNS)
#: The positions of ``GrantFacts``'s datetime fields in its row (the driver's values are in the
#: session's time zone; ``GrantFacts`` holds UTC, as ``UTCDateTime`` reads them).
_GRANT_TIMES: Final = tuple(
    i for i, column in enumerate(GRANT_COLUMNS) if isinstance(column.type, UTCDateTime)
)


def _take(session: Session, hashes: list[bytes], now: datetime) -> dict[bytes, _Taken]:
    """The codes taken, with their grants' facts, on PostgreSQL or SQLite (the databases
    ``trust.db.make_engine`` serves)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        rows = execute_together(connection, [(_TAKE_PG, {"now": now, "hashes": hashes})])[0]
        return {bytes(row[0]): _taken(row, _grant_of(row[_N_CODE:], utc)) for row in rows}
    return _take_sqlite(connection, hashes, now)


#: SQLite: the grant's facts come back with each code as one JSON array (a subquery in
#: ``RETURNING``: SQLite returns no columns of an ``UPDATE … FROM``'s other tables), in
#: ``GRANT_COLUMNS`` order; the JSON columns as JSON, the times as stored text.
_GRANT_JSON: Final = (
    "json_array("
    + ", ".join(
        f"json(g.{column.name})" if isinstance(column.type, JSON) else f"g.{column.name}"
        for column in GRANT_COLUMNS
    )
    + ")"
)
_GRANT_SUBQUERY: Final = f"(SELECT {_GRANT_JSON} FROM oidc_grant AS g WHERE g.id = grant_id)"  # noqa: S608 - our names
_TAKE_SQLITE_RETURNING: Final = (
    " AND used_at IS NULL AND expires_at > ? RETURNING "
    + ", ".join(_CODE_NAMES)
    + ", "
    + _GRANT_SUBQUERY
)


@lru_cache(maxsize=128)
def _take_sqlite_sql(n: int) -> str:
    """``_take``'s statement for ``n`` codes (one text per batch size: the driver's statement
    cache keeps each prepared)."""
    marks = ", ".join("?" * n)
    head = f"UPDATE oidc_auth_code SET used_at = ? WHERE code_hash IN ({marks})"  # noqa: S608
    return head + _TAKE_SQLITE_RETURNING


def _take_sqlite(connection: Connection, hashes: list[bytes], now: datetime) -> dict[bytes, _Taken]:
    """``_take`` on SQLite through the driver, in the session's transaction: the committer of a
    busy token endpoint spent more time in SQLAlchemy's statement building and result types
    than in SQLite (about 65 µs an exchange before, 2026-12-07). The time is bound as
    SQLAlchemy stores it (the column type's processor), so the comparison is the one the
    ORM makes."""
    stored = _sqlite_time(connection.dialect)(now)
    driver = connection.connection.driver_connection
    if not isinstance(driver, sqlite3.Connection):
        raise TypeError("a sqlite3 connection was expected")
    rows = driver.execute(_take_sqlite_sql(len(hashes)), (stored, *hashes, stored)).fetchall()
    return {
        bytes(row[0]): _taken(row, _grant_of(json.loads(row[_N_CODE]), _from_sqlite))
        for row in rows
    }


@cache
def _sqlite_time(dialect: Dialect) -> Callable[[datetime], Any]:
    process = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    if process is None:  # pragma: no cover - SQLite's DATETIME always has one
        raise TypeError("no bind processor for SQLite times")
    return process


def _from_sqlite(stored: str) -> datetime:
    """A time as SQLite stores it (naive UTC text), in UTC."""
    return datetime.fromisoformat(stored).replace(tzinfo=UTC)


def _grant_of(values: Sequence[Any], to_utc: Callable[[Any], datetime]) -> GrantFacts:
    """``GrantFacts`` of the values of ``GRANT_COLUMNS``, its times made UTC by ``to_utc``."""
    grant = list(values)
    for i in _GRANT_TIMES:
        if grant[i] is not None:
            grant[i] = to_utc(grant[i])
    return GrantFacts(*grant)


def _taken(row: Sequence[Any], grant: GrantFacts) -> _Taken:
    """A taken code, of a row whose first columns are ``_CODE_COLUMNS`` (either database)."""
    _hash, client_id, redirect_uri, challenge, nonce, _grant_id = row[:_N_CODE]
    return _Taken(
        client_id=client_id,
        redirect_uri=redirect_uri,
        code_challenge=challenge,
        nonce=nonce,
        grant=grant,
    )


def _check(item: CodeExchange, row: _Taken) -> OAuthError | None:
    """The per-request checks of a code that was taken; ``None`` when it may be used."""
    if row.client_id != item.client.client_id:
        return OAuthError("invalid_grant", "authorization code is invalid")
    # RFC 6749 §4.1.3: redirect_uri must be identical to the one in the authorisation request.
    if item.redirect_uri != row.redirect_uri:
        return OAuthError("invalid_grant", "redirect_uri does not match")
    # RFC 7636 §4.6: verify code_verifier against the stored S256 challenge.
    if not verify_s256(unverified_verifier=item.unverified_verifier, challenge=row.code_challenge):
        return OAuthError("invalid_grant", "PKCE verification failed")
    return None


def _refuse(
    session: Session,
    items: Sequence[CodeExchange],
    positions: list[int],
    now: datetime,
    outcomes: list[Outcome | None],
) -> None:
    """Why codes could not be taken; a replayed one revokes its grant."""
    hashes = [items[i].code_hash for i in positions]
    rows = {
        bytes(row.code_hash): row
        for row in session.execute(
            select(
                _CODE.c.code_hash,
                _CODE.c.client_id,
                _CODE.c.grant_id,
                _CODE.c.used_at,
                _CODE.c.expires_at,
            )
            .where(_CODE.c.code_hash.in_(hashes))
            .with_for_update()
        )
    }
    replayed: list[str] = []
    for i in positions:
        row = rows.get(items[i].code_hash)
        if row is None or row.client_id != items[i].client.client_id:
            outcomes[i] = OAuthError("invalid_grant", "authorization code is invalid")
        elif row.used_at is not None:
            # RFC 6749 §4.1.2: a code used twice revokes (when possible) all tokens issued
            # from it - its grant.
            replayed.append(row.grant_id)
            outcomes[i] = OAuthError("invalid_grant", "authorization code was already used")
        elif now >= row.expires_at:
            outcomes[i] = OAuthError("invalid_grant", "authorization code expired")
        else:  # pragma: no cover - an unused, live code is always taken
            outcomes[i] = OAuthError("invalid_grant", "authorization code is invalid")
    if replayed:
        clock = items[positions[0]].clock
        revoke_grants(session=session, clock=clock, grant_ids=replayed, reason="code_reuse")


#: The fast path's statement (module docstring). ``r``: one record per request - its position,
#: code hash (hex), client, ``redirect_uri`` and the S256 challenge of its verifier - given as
#: one JSON text (one parameter of any batch size, dumped at C speed, where an array parameter
#: is dumped element by element in Python). Each condition is one of ``_check``'s or
#: ``prepare_tokens``'s. Comparing the challenge in SQL, not in constant time, leaks nothing:
#: it is public (the authorisation request carried it), and what is compared with it is the
#: hash of what this request sent. The SSO condition is ``session_is_live``; a grant whose
#: session has ended is left to ``exchange_codes`` even with ``offline_access``. A code asked
#: for twice in the batch is given only once (callers pass each code once).
#: The codes are looked up by ``= ANY(ARRAY(...))`` of the hashes, an index condition whatever
#: the table's statistics: with only the join condition, the server's generic plan for the
#: prepared statement on a table not yet analysed (new codes, a new database) scanned the whole
#: table - 316-658 us per exchange instead of 39-45 (20,000 codes, batches of 30, 2026-12-07).
_TAKE_AT_ONCE: Final = (
    "UPDATE oidc_auth_code AS c SET used_at = %(now)s "
    "FROM oidc_grant AS g, json_to_recordset(%(requests)s::json) "
    "AS r(i int, h text, c text, u text, p text) "
    "WHERE c.code_hash = ANY(ARRAY(SELECT decode(x.h, 'hex') "
    "FROM json_to_recordset(%(requests)s::json) AS x(h text))) "
    "AND c.code_hash = decode(r.h, 'hex') AND c.used_at IS NULL AND c.expires_at > %(now)s "
    "AND c.client_id = r.c AND c.redirect_uri = r.u AND c.code_challenge = r.p "
    "AND g.id = c.grant_id AND g.client_id = r.c AND g.revoked_at IS NULL "
    "AND NOT string_to_array(g.scope, ' ') && %(claim_scopes)s::text[] "
    "AND (g.sid IS NULL OR EXISTS (SELECT 1 FROM oidc_sso_session AS s WHERE s.sid = g.sid "
    "AND s.ended_at IS NULL AND s.idle_expires_at > %(now)s AND s.absolute_expires_at > %(now)s)) "
    "RETURNING r.i, c.nonce, g.id, g.person_id, g.sid, g.scope, g.acr, g.amr::text, g.auth_time, "
    "g.legal_person::text, g.absolute_expires_at"
)
_CLAIM_SCOPES: Final = sorted(ID_TOKEN_CLAIM_SCOPES)


def exchange_codes_at_once(
    items: Sequence[CodeExchange],
) -> FastStatement[PreparedTokens] | None:
    """The fast path of ``exchange_codes`` (module docstring; ``trust.db_batch``): the statement
    that takes the codes it can, whose rows give tokens prepared for each request it served and
    ``None`` for each it left to ``exchange_codes``; None when it can serve none of them."""
    requests: list[dict[str, Any]] = []
    seen: set[bytes] = set()
    for i, item in enumerate(items):
        if (
            item.code_hash in seen
            or item.redirect_uri is None
            or not issues_without_writes(item.client)
            or not is_valid_verifier(item.unverified_verifier)
        ):
            continue  # left to exchange_codes
        seen.add(item.code_hash)
        verifier = cast(str, item.unverified_verifier)
        requests.append(
            {
                "i": i,
                "h": item.code_hash.hex(),
                "c": item.client.client_id,
                "u": item.redirect_uri,
                "p": challenge_s256(verifier),
            }
        )
    if not requests:
        return None
    now = items[0].clock.now()
    return FastStatement(
        sql=_TAKE_AT_ONCE,
        params={"now": now, "requests": json.dumps(requests), "claim_scopes": _CLAIM_SCOPES},
        finish=partial(_served, items, now),
    )


def _served(
    items: Sequence[CodeExchange], now: datetime, rows: list[tuple[Any, ...]]
) -> list[PreparedTokens | None]:
    """The outcomes of ``_TAKE_AT_ONCE``'s ``rows``: tokens for each code taken."""
    outcomes: list[PreparedTokens | None] = [None] * len(items)
    for i, nonce, grant_id, person_id, sid, scope, acr, amr, auth_time, legal, ends in rows:
        item = items[i]
        grant = GrantFacts(
            id=grant_id,
            client_id=item.client.client_id,
            person_id=person_id,
            sid=sid,
            scope=scope,
            acr=acr,
            amr=json.loads(amr),
            auth_time=utc(auth_time),
            legal_person=json.loads(legal) if legal is not None else None,
            absolute_expires_at=utc(ends),
            revoked_at=None,
        )
        outcomes[i] = prepare_checked_tokens(
            ctx=item.ctx, now=now, grant=grant, client=item.client, nonce=nonce
        )
    return outcomes
