"""``trustctl org | user | client`` through click's test runner, against the test database."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import MakeCliCtx
from tests.factories.principals import make_uscc
from trust.cli.context import CliContext
from trust.cli.principals import register
from trust.cli.root import COMMAND_MODULES
from trust.clock import FixedClock
from trust.principals import service
from trust.principals.roles import Grant, Role


def _group() -> click.Group:
    @click.group()
    def trustctl() -> None:
        """Stand-in root: the real one replaces ``obj`` with a fresh context."""

    register(trustctl)
    return trustctl


@pytest.fixture
def ctx(make_cli_ctx: MakeCliCtx) -> CliContext:
    return make_cli_ctx()


def run(ctx: CliContext, *args: str) -> Result:
    return CliRunner().invoke(_group(), list(args), obj=ctx, catch_exceptions=False)


def test_commands_are_registered() -> None:
    assert "trust.cli.principals" in COMMAND_MODULES
    assert {"org", "user", "client"} <= set(_group().commands)


def test_org_user_token_client_end_to_end(
    ctx: CliContext, db: sessionmaker[Session], clock: FixedClock
) -> None:
    code = make_uscc()
    result = run(
        ctx,
        "org",
        "add",
        "--name",
        "某区行政审批局",
        "--uscc",
        code,
        "--kind",
        "department",
        "--json",
    )
    assert result.exit_code == 0, result.output
    org = json.loads(result.output)
    assert org["uscc"] == code

    result = run(
        ctx,
        "user",
        "add",
        "--login",
        "admin",
        "--name",
        "管理员",
        "--org",
        code,
        "--role",
        "admin",
        "--json",
    )
    assert result.exit_code == 0, result.output
    user = json.loads(result.output)
    assert user["grants"] == [{"role": "admin", "organisation_id": org["id"]}]

    result = run(
        ctx, "user", "add", "--login", "root", "--name", "系统管理员", "--role", "system_admin"
    )
    assert result.exit_code == 0, result.output

    result = run(ctx, "user", "token", "admin", "--days", "7", "--json")
    assert result.exit_code == 0, result.output
    token = json.loads(result.output)["token"]
    with db() as session:
        principal = service.authenticate_bearer(session=session, clock=clock, token=token)
    assert Grant(Role.ADMIN, org["id"]) in principal.grants

    result = run(
        ctx,
        "client",
        "add-service",
        "--org",
        org["id"],
        "--name",
        "审批系统",
        "--role",
        "seal_user",
        "--json",
    )
    assert result.exit_code == 0, result.output
    issued = json.loads(result.output)
    with db() as session:
        client = service.authenticate_client(
            session=session, client_id=issued["client_id"], secret=issued["client_secret"]
        )
    assert client.has_role(Role.SEAL_USER, org["id"])

    listed = run(ctx, "org", "list", "--json")
    assert [o["id"] for o in json.loads(listed.output)] == [org["id"]]


def test_plain_output_prints_the_secret_once(ctx: CliContext) -> None:
    run(ctx, "org", "add", "--name", "某公司", "--uscc", (code := make_uscc()), "--kind", "company")
    result = run(ctx, "client", "add-service", "--org", code, "--name", "系统")
    assert result.exit_code == 0
    assert "client_secret: " in result.output


def test_errors_are_one_line_and_exit_1(ctx: CliContext) -> None:
    result = CliRunner().invoke(
        _group(),
        ["org", "add", "--name", "x", "--uscc", "91350100M000100Y44", "--kind", "company"],
        obj=ctx,
    )
    assert result.exit_code == 1
    assert "[uscc.bad_check_char]" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(_group(), ["user", "token", "nobody"], obj=ctx)
    assert result.exit_code == 1
    assert "[principals.user_not_found]" in result.output
