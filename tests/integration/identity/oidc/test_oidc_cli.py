"""``trustctl client add | list``, ``trustctl oidc cleanup`` and the demo hook, on the test
database (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from identity.model import Person
from identity.oidc_model import OidcClient
from identity.oidc_service_clients import authenticate_oauth_client
from trust.cli import oidc as oidc_cli
from trust.cli import principals as principals_cli
from trust.cli.context import CliContext
from trust.clock import FixedClock
from trust.config import Settings


@pytest.fixture
def run(db: sessionmaker[Session], clock: FixedClock, settings: Settings) -> Callable[..., Result]:
    @click.group()
    def cli() -> None:
        pass

    principals_cli.register(cli)
    oidc_cli.register(cli)  # after principals: joins its ``client`` group

    def invoke(*args: str) -> Result:
        ctx = CliContext(clock=clock)
        ctx.__dict__.update(settings=settings, sessions=db)
        return CliRunner().invoke(cli, list(args), obj=ctx)

    return invoke


def test_client_add_json_and_secret_works(
    run: Callable[..., Result], db: sessionmaker[Session]
) -> None:
    result = run(
        "client", "add", "--name", "某市政务服务网",
        "--redirect-uri", "https://portal.example/cb",
        "--redirect-uri", "https://portal.example/cb2",
        "--backchannel-logout-uri", "https://portal.example/bcl",
        "--post-logout-redirect-uri", "https://portal.example/",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    assert data["redirect_uris"] == ["https://portal.example/cb", "https://portal.example/cb2"]
    assert data["backchannel_logout_uri"] == "https://portal.example/bcl"
    with db() as s:
        row = s.get(OidcClient, data["client_id"])
        assert row is not None
        assert data["client_secret"].encode() not in (row.secret_hash or b"")
        assert (
            authenticate_oauth_client(
                session=s,
                client_id=data["client_id"],
                client_secret=data["client_secret"],
                allow_public=False,
            ).client_id
            == data["client_id"]
        )
    listed = json.loads(run("client", "list", "--json").output)
    assert [c["client_id"] for c in listed] == [data["client_id"]]
    assert listed[0]["client_secret"] is None  # never shown again


def test_client_add_refuses_bad_uri_and_keeps_add_service(run: Callable[..., Result]) -> None:
    bad = run("client", "add", "--name", "x", "--redirect-uri", "http://portal.example/cb")
    assert bad.exit_code == 1
    assert "oidc.invalid_client_metadata" in bad.output
    helped = run("client", "--help")
    assert "add-service" in helped.output
    assert "add " in helped.output


def test_public_client(run: Callable[..., Result]) -> None:
    result = run(
        "client", "add", "--name", "掌上办App", "--public",
        "--redirect-uri", "cn.gov.ywtb.app://callback", "--json",
    )  # fmt: skip
    data = json.loads(result.output)
    assert data["kind"] == "public"
    assert "client_secret" not in data


def test_cleanup_command(run: Callable[..., Result]) -> None:
    result = run("oidc", "cleanup", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["grants"] == 0


def test_demo_hook_idempotent(
    db: sessionmaker[Session], clock: FixedClock, settings: Settings
) -> None:
    ctx = CliContext(clock=clock)
    ctx.__dict__.update(settings=settings, sessions=db)
    first = oidc_cli.load_oidc_demo(ctx)
    assert len(first["portals"]) == 2
    assert any("password" in k for k in first["secrets"])
    second = oidc_cli.load_oidc_demo(ctx)
    assert second == {"portals": [], "secrets": {}}
    with db() as s:
        names = set(s.scalars(select(OidcClient.name)))
        assert names == {"演示门户A", "演示门户B"}
        assert s.scalar(select(Person.id).where(Person.username == "demo.citizen"))
