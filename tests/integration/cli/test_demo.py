"""``trustctl demo load`` through the real command root: demo data for every capability, and a
second run that creates nothing new."""

from __future__ import annotations

import json

import pytest

from tests.integration.cli.conftest import invoke as _invoke
from trust.cli.context import CliContext


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
