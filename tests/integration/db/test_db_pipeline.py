"""``trust.db_pipeline``: statements sent together give the rows they give one by one; on
PostgreSQL they share one round trip (counted in libpq's own protocol trace); a failure raises
``DBAPIError`` and the transaction rolls back whole."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, String, TypeDecorator, bindparam, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import skip_or_fail
from trust.db_pipeline import Statement, execute_together
from trust.web.ratelimit import plan_hits
from trust.web.ratelimit_model import RateCounter

T0 = datetime(2026, 12, 7, 8, 0, 5, tzinfo=UTC)
WINDOW = timedelta(seconds=60)
_COUNTS = text('SELECT "key", count FROM rate_limit_counter ORDER BY "key"')
_ADD = text(
    'INSERT INTO rate_limit_counter ("key", window_start, expires_at, count) '
    "VALUES (:key, 0, 60, 1)"
)


class _Shout(TypeDecorator[str]):
    """A bind processor that shows whether it ran."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else value.upper()


_SHOUTED = text("SELECT CAST(:word AS VARCHAR(20)) AS word").bindparams(
    bindparam("word", type_=_Shout())
)


def _postgresql(db: sessionmaker[Session]) -> None:
    if db.kw["bind"].dialect.name != "postgresql":
        skip_or_fail("needs PostgreSQL (set TRUST_TEST_DATABASE_URL)")


def test_rows_come_back_per_statement_in_order(db: sessionmaker[Session]) -> None:
    planned = plan_hits(hits=[("b", 5), ("a", 5), ("b", 5)], window=WINDOW, now=T0)
    assert planned is not None
    with db() as session, session.begin():
        connection = session.connection()
        counted, added, listed, shouted = execute_together(
            connection,
            [
                (planned.statement, planned.params),
                (_ADD, {"key": "c"}),
                (_COUNTS, {}),
                (_SHOUTED, {"word": "quiet"}),
            ],
        )
    assert sorted(counted) == [("a", 1), ("b", 2)]
    assert [d.count for d in planned.decisions(counted)] == [1, 1, 2]
    assert added == []  # no rows: an INSERT without RETURNING
    assert listed == [("a", 1), ("b", 2), ("c", 1)]  # sees the earlier statements' writes
    assert shouted == [("QUIET",)]  # the bind parameter went through its type


def test_core_statements_run_one_by_one_elsewhere_and_are_refused_on_postgresql(
    db: sessionmaker[Session],
) -> None:
    """A pipeline takes text() clauses only (their SQL is sent as it is); elsewhere any
    statement runs, through SQLAlchemy."""
    core: Statement = (select(RateCounter.key), {})
    with db() as session, session.begin():
        if session.connection().dialect.name == "postgresql":
            with pytest.raises(TypeError, match="text"):
                execute_together(session.connection(), [core])
        else:
            assert execute_together(session.connection(), [core]) == [[]]


def test_a_failing_statement_raises_and_the_transaction_rolls_back(
    db: sessionmaker[Session],
) -> None:
    broken = text("SELECT * FROM no_such_table")
    with pytest.raises(DBAPIError), db() as session, session.begin():
        execute_together(session.connection(), [(_ADD, {"key": "lost"}), (broken, {})])
    with db() as session:  # the connection is usable again, and nothing was kept
        assert session.execute(_COUNTS).all() == []


@contextmanager
def _protocol_trace(connection: Connection, path: Path) -> Iterator[list[str]]:
    """libpq's trace of the frontend/backend messages on ``connection`` (its own record of
    what went over the wire)."""
    from psycopg import pq

    pgconn = connection.connection.driver_connection.pgconn  # type: ignore[union-attr]
    lines: list[str] = []
    with path.open("w") as out:
        pgconn.trace(out.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield lines
        finally:
            pgconn.untrace()
    lines.extend(path.read_text().splitlines())


def _sent_before_any_answer(lines: list[str]) -> int:
    """How many statements the client sent, after psycopg's own BEGIN, before the first answer
    to any of them came back (libpq traces each message as it is sent or read)."""
    after_begin = next(
        i for i, line in enumerate(lines) if line.startswith("B") and "BEGIN" in line
    )
    sent = 0
    for line in lines[after_begin + 1 :]:
        direction, _length, message = line.split("\t")[:3]
        if direction == "B" and message != "ReadyForQuery":
            return sent
        if direction == "F" and message == "Execute":
            sent += 1
    return sent


@pytest.mark.postgres
def test_on_postgresql_the_statements_share_one_round_trip(
    db: sessionmaker[Session], tmp_path: Path
) -> None:
    """All of them are on the wire before the first answer is read. (psycopg syncs the
    transaction's BEGIN on its own, without waiting for its answer.)"""
    _postgresql(db)
    statements = [(_ADD, {"key": "k1"}), (_COUNTS, {}), (_SHOUTED, {"word": "x"})]
    with db() as session:
        connection = session.connection()
        with _protocol_trace(connection, tmp_path / "together.trace") as together:
            rows = execute_together(connection, statements)
        session.rollback()
    assert rows[1] == [("k1", 1)]
    assert _sent_before_any_answer(together) == len(statements)
    with db() as session:  # the check can fail: one by one, each waits for its answer
        connection = session.connection()
        with _protocol_trace(connection, tmp_path / "apart.trace") as apart:
            for statement, params in statements:
                connection.execute(statement, params)
        session.rollback()
    assert _sent_before_any_answer(apart) == 1
