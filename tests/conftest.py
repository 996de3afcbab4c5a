"""Shared fixtures: settings, a frozen clock, and a database (SQLite file by default, PostgreSQL
when ``TRUST_TEST_DATABASE_URL`` is set) with a fresh schema per test run.

With ``TRUST_REQUIRE_ALL=1`` (set by ``.ci/run``) a test that would skip for a missing
PostgreSQL, Chromium or shared test material fails instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from trust.cli.context import CliContext
from trust.clock import FixedClock
from trust.config import Settings, load_settings
from trust.db import make_engine, session_factory
from trust.migrations.registry import load_all_models

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
REQUIRE_ALL = os.environ.get("TRUST_REQUIRE_ALL") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason``; under ``TRUST_REQUIRE_ALL=1`` fail instead, so CI cannot pass a
    check it did not run."""
    if REQUIRE_ALL:
        pytest.fail(f"required but unavailable: {reason}")
    pytest.skip(reason)


def shared_path(*parts: str) -> Path:
    """A file from ../shared (specs, vectors, samples); skips where it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        skip_or_fail(f"shared test material not present: {path} (a fresh clone has no ../shared)")
    return path


@pytest.fixture(scope="session")
def cjk_font() -> object:
    """A CJK font for drawing seal pictures (``seals.fonts.CjkFont``); tests that draw one
    skip without it (a fresh machine), and fail instead under ``TRUST_REQUIRE_ALL=1``."""
    from seals.fonts import find_cjk_font
    from trust.errors import Unavailable

    try:
        return find_cjk_font()
    except Unavailable as exc:
        skip_or_fail(f"no CJK font to draw seal pictures: {exc.detail}")
        raise


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 22, 8, 0, 0, tzinfo=UTC))


def _pg_url() -> str | None:
    return os.environ.get("TRUST_TEST_DATABASE_URL") or None


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = _pg_url()
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """One schema per test run. On PostgreSQL a private schema, so that parallel runs against
    the shared ``test`` database never see each other's rows."""
    metadata = load_all_models()
    if database_url.startswith("sqlite"):
        eng = make_engine(database_url)
        metadata.create_all(eng)
        yield eng
        eng.dispose()
        return
    schema = f"t_{secrets.token_hex(6)}"
    admin = make_engine(database_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng = make_engine(database_url, search_path=schema)
    metadata.create_all(eng)
    yield eng
    eng.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[sessionmaker[Session]]:
    """A session factory on a clean database: every table is emptied after the test."""
    factory = session_factory(engine)
    yield factory
    metadata = load_all_models()
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(
        environ={},
        overrides={
            "environment": "test",
            "data_dir": tmp_path / "var",
            "database_url": database_url,
            "master_key": "00112233445566778899aabbccddeeff" * 2,
            # Tests run periodic jobs by hand; a scheduler in every TestClient app would race them.
            "scheduler": False,
        },
    )


#: the type of the ``make_cli_ctx`` fixture
MakeCliCtx = Callable[..., CliContext]


@pytest.fixture
def make_cli_ctx(
    tmp_path: Path, database_url: str, db: sessionmaker[Session], clock: FixedClock
) -> MakeCliCtx:
    """``make_cli_ctx(**overrides)``: a ``trustctl`` context on the test database (and the
    PostgreSQL run's private schema) with the test settings, built lazily like the real one;
    keyword arguments override settings (``master_key=…``). Each call is a fresh context, as
    each real ``trustctl`` invocation is."""

    def make(**overrides: Any) -> CliContext:
        context = CliContext(
            overrides={
                "environment": "test",
                "data_dir": str(tmp_path / "var"),
                "database_url": database_url,
                "master_key": "00112233445566778899aabbccddeeff" * 2,
                "scheduler": False,
                **overrides,
            },
            clock=clock,
        )
        context.sessions = db
        return context

    return make
