"""``trustctl keys list | rotate`` through click's test runner, against the test database."""

from __future__ import annotations

import json

import click
from click.testing import CliRunner, Result

from keys.interfaces import KeyUsage
from tests.conftest import MakeCliCtx
from tests.integration.keys.conftest import OTHER_MASTER_KEY, private_material
from trust.cli.context import CliContext
from trust.cli.keys import register
from trust.cli.root import COMMAND_MODULES


def _group() -> click.Group:
    @click.group()
    def trustctl() -> None:
        """Stand-in root: the real one replaces ``obj`` with a fresh context."""

    register(trustctl)
    return trustctl


def run(ctx: CliContext, *args: str) -> Result:
    return CliRunner().invoke(_group(), list(args), obj=ctx, catch_exceptions=False)


def test_keys_commands_are_registered_in_trustctl() -> None:
    assert "trust.cli.keys" in COMMAND_MODULES
    assert set(_group().commands["keys"].commands) == {"list", "rotate"}  # type: ignore[attr-defined]


def test_list_json_is_empty_then_shows_rotated_keys(make_cli_ctx: MakeCliCtx) -> None:
    ctx = make_cli_ctx()
    empty = run(ctx, "keys", "list", "--json")
    assert empty.exit_code == 0, empty.output
    assert json.loads(empty.output) == []

    rotated = run(ctx, "keys", "rotate", "token_signing", "--json")
    assert rotated.exit_code == 0, rotated.output
    body = json.loads(rotated.output)
    active_id = body["active"]["key_id"]
    assert body["active"]["status"] == "active"
    assert body["active"]["algorithm"] == "ES256"
    assert [p["status"] for p in body["pending"]] == ["pending"]
    assert body["retired"] == []

    listed = json.loads(run(ctx, "keys", "list", "--usage", "token_signing", "--json").output)
    assert {k["key_id"]: k["status"] for k in listed} == {
        active_id: "active",
        body["pending"][0]["key_id"]: "pending",
    }
    assert set(listed[0]) == {
        "key_id",
        "usage",
        "algorithm",
        "status",
        "owner",
        "label",
        "public_key_sm3",
        "created_at",
        "activated_at",
        "retired_at",
        "destroyed_at",
    }
    assert json.loads(run(ctx, "keys", "list", "--usage", "ca", "--json").output) == []


def test_second_rotation_promotes_the_published_key(make_cli_ctx: MakeCliCtx) -> None:
    ctx = make_cli_ctx()
    first = json.loads(
        run(ctx, "keys", "rotate", "seal_holder", "--owner", "org-1", "--json").output
    )
    second = json.loads(
        run(ctx, "keys", "rotate", "seal_holder", "--owner", "org-1", "--json").output
    )
    assert second["active"]["key_id"] == first["pending"][0]["key_id"]
    assert [r["key_id"] for r in second["retired"]] == [first["active"]["key_id"]]
    assert second["active"]["owner"] == "org-1"
    assert second["active"]["algorithm"] == "SM2-with-SM3"


def test_plain_output_names_active_and_next_keys(make_cli_ctx: MakeCliCtx) -> None:
    ctx = make_cli_ctx()
    out = run(ctx, "keys", "rotate", "timestamp")
    assert out.exit_code == 0
    assert out.output.startswith("active : key_")
    assert "next   : key_" in out.output
    table = run(ctx, "keys", "list").output.splitlines()
    assert len(table) == 2
    assert all("timestamp" in line and "SM2-with-SM3" in line for line in table)


def test_refusals_are_one_line_with_the_code(make_cli_ctx: MakeCliCtx) -> None:
    ctx = make_cli_ctx()
    bad = run(ctx, "keys", "rotate", "seal_holder", "--algorithm", "ES256")
    assert bad.exit_code == 1
    assert "keys.algorithm_not_allowed" in bad.output
    assert "Traceback" not in bad.output
    unknown = run(ctx, "keys", "rotate", "no_such_usage")
    assert unknown.exit_code == 2  # click's usage error


def test_wrong_master_key_is_refused_by_the_cli(make_cli_ctx: MakeCliCtx) -> None:
    assert run(make_cli_ctx(), "keys", "rotate", "ca").exit_code == 0
    wrong = run(make_cli_ctx(master_key=OTHER_MASTER_KEY), "keys", "rotate", "ca")
    assert wrong.exit_code == 1
    assert "master key does not match this database" in wrong.output
    assert "keys.master_key_mismatch" in wrong.output
    listed = json.loads(run(make_cli_ctx(), "keys", "list", "--json").output)
    assert sorted(k["status"] for k in listed) == ["active", "pending"]  # nothing changed


def test_cli_output_never_contains_private_material(make_cli_ctx: MakeCliCtx) -> None:
    ctx = make_cli_ctx()
    outputs = [run(ctx, "keys", "rotate", u.value, "--json").output for u in KeyUsage]
    outputs.append(run(ctx, "keys", "list", "--json").output)
    outputs.append(run(ctx, "keys", "list").output)
    listed = json.loads(outputs[-2])
    assert len(listed) == 2 * len(KeyUsage)
    with ctx.sessions() as s:
        for key in listed:
            secret = private_material(ctx.keystore, s, key["key_id"])
            for text in outputs:
                secret.assert_absent(text, "CLI output")
