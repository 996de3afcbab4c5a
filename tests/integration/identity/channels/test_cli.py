"""``trustctl oidc logout-person`` and ``trustctl oidc deliver-logouts`` on a real database,
delivering to a loopback receiver that verifies the token signature with joserfc."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner, Result
from sqlalchemy.orm import Session, sessionmaker

from identity.channels_service_logout import outbox_rows
from identity.keying import IdentityKeys
from identity.oidc_service_context import OidcContext
from identity.sim_data import SimCitizen
from keys.software import SoftwareKeyStore
from tests.integration.identity.channels._receiver import run_receiver
from tests.integration.identity.channels._setup import make_world
from trust.cli.channels import register
from trust.cli.context import CliContext
from trust.clock import FixedClock


def _run(ctx: CliContext, *args: str) -> Result:
    @click.group()
    def trustctl() -> None:
        """Stand-in root."""

    register(trustctl)
    return CliRunner().invoke(trustctl, list(args), obj=ctx, catch_exceptions=False)


def test_cli_logout_person_then_deliver(
    tmp_path: Path,
    database_url: str,
    db: sessionmaker[Session],
    clock: FixedClock,
    keys: IdentityKeys,
    ctx: OidcContext,
    keystore: SoftwareKeyStore,
    citizen: SimCitizen,
    jwks_of: Any,
) -> None:
    cli_ctx = CliContext(
        overrides={
            "environment": "test",
            "data_dir": str(tmp_path / "var"),
            "database_url": database_url,
            "master_key": "00112233445566778899aabbccddeeff" * 2,
        },
        clock=clock,
    )
    cli_ctx.sessions = db
    with run_receiver(jwks_of) as rp:
        world = make_world(db, clock, keys, ctx, keystore, citizen, backchannel_b=rp.url)
        out = _run(cli_ctx, "oidc", "logout-person", "--person", world.person_id, "--json")
        assert out.exit_code == 0, out.output
        assert json.loads(out.output) == {"person_id": world.person_id, "sessions_ended": 1}
        delivered = _run(cli_ctx, "oidc", "deliver-logouts", "--json")
        assert delivered.exit_code == 0, delivered.output
        assert json.loads(delivered.output) == {
            "claimed": 1,
            "delivered": 1,
            "retried": 0,
            "failed": 0,
        }
        assert rp.rejected == []
        assert [r.claims["sid"] for r in rp.received] == list(world.sids)
        assert rp.received[0].claims["iss"] == cli_ctx.settings.public_base_url.rstrip("/")
    with db() as s:
        assert [r.status for r in outbox_rows(session=s)] == ["delivered"]
