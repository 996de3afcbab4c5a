"""``trustctl oidc deliver-logouts`` and ``trustctl oidc logout-person`` (back-channel logout).

``deliver-logouts`` runs one pass of the back-channel logout delivery worker
(``identity.channels_service_logout.deliver_due_logouts``): claims due outbox rows with a lease,
POSTs the signed logout tokens, records delivered / retry / failed. Safe to run from a timer
in several processes at once, alongside the servers' periodic jobs.
``logout-person --person ID`` ends every SSO session of a person ("log out everywhere").
``cleanup-channels`` deletes expired device authorisations, federation logins and old outbox
rows (a periodic job does the same).
"""

from __future__ import annotations

from typing import Final

import click
import httpx

from identity.channels_service_logout import (
    cleanup_channels,
    deliver_due_logouts,
    log_out_everywhere,
)
from identity.keying import IdentityKeys
from identity.oidc_service_context import OidcContext
from identity.oidc_service_tokens import token_signer
from identity.oidc_settings import load_oidc_settings
from trust.cli.context import CliContext, echo_json, handle_errors, pass_ctx

__all__ = ["register"]

ACTOR: Final = "cli"


def _oidc(ctx: CliContext) -> OidcContext:
    settings = ctx.settings
    return OidcContext(load_oidc_settings(settings), IdentityKeys.from_settings(settings))


@click.command("deliver-logouts")
@click.option("--limit", default=100, show_default=True, help="Rows to claim in this pass")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@pass_ctx
@handle_errors
def deliver_logouts(ctx: CliContext, limit: int, as_json: bool) -> None:
    """Deliver due back-channel logout tokens once."""
    keystore, clock = ctx.keystore, ctx.clock
    with httpx.Client(timeout=5.0) as http:
        report = deliver_due_logouts(
            session_factory=ctx.sessions,
            clock=clock,
            issuer=_oidc(ctx).issuer,
            signer_for=lambda s: token_signer(session=s, clock=clock, keystore=keystore),
            http=http,
            limit=limit,
        )
    out = {
        "claimed": report.claimed,
        "delivered": report.delivered,
        "retried": report.retried,
        "failed": report.failed,
    }
    if as_json:
        echo_json(out)
    else:
        click.echo(" ".join(f"{k}={v}" for k, v in out.items()))


@click.command("logout-person")
@click.option("--person", "person_id", required=True, help="Person id (psn_…)")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@pass_ctx
@handle_errors
def logout_person(ctx: CliContext, person_id: str, as_json: bool) -> None:
    """End every SSO session of a person and queue back-channel logouts."""
    oidc = _oidc(ctx)
    with ctx.transaction() as session:
        ended = log_out_everywhere(
            session=session,
            clock=ctx.clock,
            ctx=oidc,
            person_id=person_id,
            reason="admin",
            actor=ACTOR,
        )
    out = {"person_id": person_id, "sessions_ended": len(ended)}
    if as_json:
        echo_json(out)
    else:
        click.echo(f"sessions_ended={len(ended)}")


@click.command("cleanup-channels")
@pass_ctx
@handle_errors
def cleanup_channels_cmd(ctx: CliContext) -> None:
    """Delete expired device authorisations, federation logins and old outbox rows."""
    with ctx.transaction() as session:
        done = cleanup_channels(session=session, clock=ctx.clock)
    echo_json(
        {
            "device_authorizations": done.device_authorizations,
            "federation_logins": done.federation_logins,
            "outbox_rows": done.outbox_rows,
        }
    )


def register(cli: click.Group) -> None:
    """Join the ``oidc`` group of ``trust.cli.oidc`` (created here if that module is absent)."""
    group = cli.commands.get("oidc")
    if not isinstance(group, click.Group):
        group = click.Group("oidc", help="OpenID Provider maintenance")
        cli.add_command(group)
    group.add_command(deliver_logouts)
    group.add_command(logout_person)
    group.add_command(cleanup_channels_cmd)
