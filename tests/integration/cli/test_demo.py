"""``trustctl demo load`` through the real command root: demo data for every capability, and a
second run that creates nothing new."""

from __future__ import annotations

import json
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


@pytest.mark.usefixtures("cjk_font")
def test_demo_load_fills_every_capability_once(ctx: CliContext) -> None:
    first = json.loads(_invoke(ctx, "demo", "load", "--json"))
    assert len(first["organisations"]) == 3
    assert first["seal"]["status"] == "active"
    assert len(first["portals"]) == 2
    assert any(label.endswith("client_secret") for label in first["secrets"])
    assert any("password" in label for label in first["secrets"])
    licences = first["licences"]["licences"]
    assert len(licences) == 2
    assert all(item["identifier"].startswith("1.2.156.3005.2.") for item in licences)
    assert len(first["licences"]["types"]) >= 5
    assert first["archive"]["demo_case"]  # the demo case was archived under a 档号

    again = json.loads(_invoke(ctx, "demo", "load", "--json"))
    assert again["organisations"] == []
    assert again["users"] == []
    assert again["portals"] == []
    assert again["secrets"] == {}
    assert [i["identifier"] for i in again["licences"]["licences"]] == [
        i["identifier"] for i in licences
    ]


def test_every_command_group_is_registered(ctx: CliContext) -> None:
    listed = _invoke(ctx, "--help")
    for group in ("init", "serve", "keys", "ca", "log", "client", "oidc", "seal", "licence"):
        assert f"  {group}" in listed, group
    for group in ("archive", "jobs", "demo", "identity"):
        assert f"  {group}" in listed, group
    oidc = _invoke(ctx, "oidc", "--help")
    assert "deliver-logouts" in oidc
    assert "cleanup" in oidc
