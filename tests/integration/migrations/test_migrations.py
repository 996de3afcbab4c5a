"""The Alembic migrations have one head and build exactly the schema the models declare,
on SQLite and on PostgreSQL; downgrade to base removes every table."""

from __future__ import annotations

import os
import secrets
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import SAWarning

from trust.db import make_engine
from trust.migrations.registry import load_all_models
from trust.migrations.runner import alembic_config


@pytest.fixture
def connection(tmp_path: Path) -> Iterator[Connection]:
    url = os.environ.get("TRUST_TEST_DATABASE_URL")
    if not url:
        engine = make_engine(f"sqlite:///{tmp_path / 'mig.db'}")
        with engine.connect() as conn:
            yield conn
        engine.dispose()
        return
    schema = f"m_{secrets.token_hex(6)}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, search_path=schema)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _run(conn: Connection, fn: str, revision: str) -> None:
    cfg = alembic_config(str(conn.engine.url))
    cfg.attributes["connection"] = conn
    getattr(command, fn)(cfg, revision)
    conn.commit()


def test_single_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, heads


def test_upgrade_matches_models_and_downgrade_removes_all(connection: Connection) -> None:
    _run(connection, "upgrade", "head")
    metadata = load_all_models()
    with warnings.catch_warnings():
        # Expression indexes cannot be reflected on SQLite; they are checked below instead.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", SAWarning)
        diffs = compare_metadata(MigrationContext.configure(connection), metadata)
        index_names = {ix["name"] for ix in inspect(connection).get_indexes("key")}
    assert diffs == [], f"models and migrations differ: {diffs}"
    if connection.dialect.name == "sqlite":
        rows = connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'key'")
        )
        index_names = {r[0] for r in rows}
    assert {"uq_key_one_active", "uq_key_one_pending"} <= index_names
    _run(connection, "downgrade", "base")
    remaining = set(inspect(connection).get_table_names()) - {"alembic_version"}
    assert remaining == set()
