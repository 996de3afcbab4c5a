"""A ``CliContext`` on the test database and a helper that runs the real ``trustctl`` root."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session, sessionmaker

from trust.cli.context import CliContext
from trust.cli.root import _register_all, cli
from trust.clock import FixedClock

TEST_MASTER_KEY = "00112233445566778899aabbccddeeff" * 2


@pytest.fixture
def ctx(
    tmp_path: Path, database_url: str, db: sessionmaker[Session], clock: FixedClock
) -> CliContext:
    context = CliContext(
        overrides={
            "environment": "test",
            "data_dir": str(tmp_path / "var"),
            "database_url": database_url,
            "master_key": TEST_MASTER_KEY,
            "scheduler": False,
        },
        clock=clock,
    )
    context.sessions = db
    return context


def _invoke(ctx: CliContext, *args: str) -> str:
    _register_all()
    result = CliRunner().invoke(cli, list(args), obj=ctx, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def invoke(ctx: CliContext, *args: str, exit_code: int = 0) -> str:
    """Run ``trustctl ARGS`` through the real command root; return stdout."""
    _register_all()
    result = CliRunner().invoke(cli, list(args), obj=ctx, catch_exceptions=False)
    assert result.exit_code == exit_code, result.output
    return result.stdout
