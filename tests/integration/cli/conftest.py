"""A ``CliContext`` on the test database and a helper that runs the real ``trustctl`` root."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.conftest import MakeCliCtx
from trust.cli.context import CliContext
from trust.cli.root import _register_all, cli


@pytest.fixture
def ctx(make_cli_ctx: MakeCliCtx) -> CliContext:
    return make_cli_ctx()


def invoke(ctx: CliContext, *args: str, exit_code: int = 0) -> str:
    """Run ``trustctl ARGS`` through the real command root; return stdout."""
    _register_all()
    result = CliRunner().invoke(cli, list(args), obj=ctx, catch_exceptions=False)
    assert result.exit_code == exit_code, result.output
    return result.stdout
