"""``trustctl keys list | rotate``: key custody from the command line.

Shows public metadata only (id, usage, algorithm, state, owner, SM3 of the public key); there is
no command that prints or exports a private key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from keys.interfaces import KeyInfo, KeyStatus, KeyUsage
from trust.cli.context import CliContext, echo_json, handle_errors, pass_ctx
from trust.crypto import sm3_hex
from trust.signing import SignatureAlgorithm

__all__ = ["register"]

_USAGES = [u.value for u in KeyUsage]
_ALGORITHMS = [a.value for a in SignatureAlgorithm]


def key_summary(info: KeyInfo) -> dict[str, Any]:
    """JSON-ready public view of one key."""
    return {
        "key_id": info.key_id,
        "usage": info.usage.value,
        "algorithm": info.algorithm.value,
        "status": info.status.value,
        "owner": info.owner,
        "label": info.label,
        "public_key_sm3": sm3_hex(info.public_key_der),
        "created_at": info.created_at.isoformat(),
        "activated_at": info.activated_at.isoformat() if info.activated_at else None,
        "retired_at": info.retired_at.isoformat() if info.retired_at else None,
        "destroyed_at": info.destroyed_at.isoformat() if info.destroyed_at else None,
    }


def _echo_table(infos: Sequence[KeyInfo]) -> None:
    if not infos:
        click.echo("no keys")
        return
    for info in infos:
        owner = info.owner or "-"
        click.echo(
            f"{info.key_id}  {info.usage.value:<16} {info.algorithm.value:<12} "
            f"{info.status.value:<9} {owner:<20} {info.label}"
        )


@click.group("keys")
def keys_group() -> None:
    """Signing keys: list and rotate (private keys are never shown)."""


@keys_group.command("list")
@click.option("--usage", type=click.Choice(_USAGES), help="Only keys of this usage")
@click.option("--owner", help="Only keys of this owner (e.g. an organisation id)")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@pass_ctx
@handle_errors
def list_cmd(ctx: CliContext, usage: str | None, owner: str | None, as_json: bool) -> None:
    """List keys in every state (pending, active, retired, destroyed)."""
    with ctx.transaction() as session:
        infos = ctx.keystore.list(
            session=session, usage=KeyUsage(usage) if usage else None, owner=owner
        )
    if as_json:
        echo_json([key_summary(i) for i in infos])
    else:
        _echo_table(infos)


@keys_group.command("rotate")
@click.argument("usage", type=click.Choice(_USAGES))
@click.option("--owner", help="Owner of the keys to rotate (default: the service's own key)")
@click.option(
    "--algorithm",
    type=click.Choice(_ALGORITHMS),
    help="Default: ES256 for token_signing, SM2-with-SM3 otherwise",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@pass_ctx
@handle_errors
def rotate_cmd(
    ctx: CliContext, usage: str, owner: str | None, algorithm: str | None, as_json: bool
) -> None:
    """Activate the published next key, retire the current one, publish a new next key."""
    with ctx.transaction() as session:
        active = ctx.keystore.rotate(
            session=session,
            clock=ctx.clock,
            usage=KeyUsage(usage),
            owner=owner,
            algorithm=SignatureAlgorithm(algorithm) if algorithm else None,
            actor="cli",
        )
        related = ctx.keystore.list(session=session, usage=KeyUsage(usage), owner=owner)
    same_slot = [i for i in related if i.algorithm is active.algorithm and i.owner == active.owner]
    pending = [i for i in same_slot if i.status is KeyStatus.PENDING]
    if as_json:
        echo_json(
            {
                "active": key_summary(active),
                "pending": [key_summary(i) for i in pending],
                "retired": [key_summary(i) for i in same_slot if i.status is KeyStatus.RETIRED],
            }
        )
        return
    click.echo(f"active : {active.key_id} ({active.algorithm.value})")
    for info in pending:
        click.echo(f"next   : {info.key_id} (published, signs after the next rotation)")


def register(cli: click.Group) -> None:
    cli.add_command(keys_group)
