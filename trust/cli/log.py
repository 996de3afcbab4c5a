"""``trustctl log checkpoint | prove | verify``: the transparency log from the command line.

``checkpoint`` signs a checkpoint of the current tree with the active log key; ``prove`` prints an
RFC 9162 inclusion proof with the entry and the signed checkpoint it verifies against (and checks
it before printing); ``verify`` re-verifies the whole stored log (``trust.tlog.replay``) against
the log keys the keystore knows, with a progress bar on stderr.
"""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy.orm import Session

from keys.interfaces import KeyUsage
from trust.cli.context import CliContext, echo_json, fail, handle_errors, pass_ctx
from trust.crypto import SM2PublicKey
from trust.errors import NotFound
from trust.tlog import service
from trust.tlog.replay import LogReplay, verify_stored_log
from trust.tlog.schemas import CheckpointRead, EntryRead, InclusionProofRead
from trust.tlog.verify import verify_inclusion

__all__ = ["register"]


@click.group("log")
def log_group() -> None:
    """Transparency log: signed checkpoints, inclusion proofs, full re-verification."""


@log_group.command("checkpoint")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@pass_ctx
@handle_errors
def checkpoint_cmd(ctx: CliContext, as_json: bool) -> None:
    """Sign a checkpoint of the current tree with the active log key and print it."""
    with ctx.transaction() as session:
        signer = ctx.keystore.active_signer(session=session, usage=KeyUsage.TRANSPARENCY_LOG)
        stored = service.create_checkpoint(
            session=session, clock=ctx.clock, signer=signer, origin=ctx.settings.log_origin
        )
    if as_json:
        echo_json(CheckpointRead.of(stored).model_dump(mode="json"))
    else:
        click.echo(stored.note, nl=False)


def _prove(session: Session, index: int, tree_size: int | None) -> dict[str, Any]:
    if tree_size is None:
        latest = service.latest_checkpoint(session=session)
        if latest is None:
            raise NotFound("no signed checkpoint yet: give --tree-size", code="log.no_checkpoint")
        tree_size = latest.checkpoint.tree_size
    proof = service.inclusion_proof(session=session, index=index, tree_size=tree_size)
    entry = service.get_entry(session=session, index=index)
    stored = service.checkpoint_for_size(session=session, tree_size=tree_size)
    verified: str | None = None
    if stored is not None:
        result = verify_inclusion(
            unverified_note=stored.note,
            public_key=SM2PublicKey.from_der(stored.public_key_der),
            origin=stored.checkpoint.origin,
            index=index,
            tree_size=tree_size,
            path=proof.path,
            leaf_data=entry.data,
        )
        verified = "ok" if result.ok else str(result.reason)
    return {
        "entry": EntryRead.of(entry).model_dump(mode="json"),
        "proof": InclusionProofRead.of(proof, stored).model_dump(mode="json"),
        "verified": verified,
    }


@log_group.command("prove")
@click.argument("index", type=int)
@click.option("--tree-size", type=int, help="Tree size (default: the latest checkpoint's)")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@pass_ctx
@handle_errors
def prove_cmd(ctx: CliContext, index: int, tree_size: int | None, as_json: bool) -> None:
    """Print the inclusion proof of entry INDEX, with its entry and signed checkpoint."""
    with ctx.transaction() as session:
        out = _prove(session, index, tree_size)
    if as_json:
        echo_json(out)
    else:
        proof = out["proof"]
        click.echo(f"index      {proof['index']}")
        click.echo(f"tree size  {proof['tree_size']}")
        click.echo(f"leaf hash  {proof['leaf_hash']}")
        click.echo(f"event      {out['entry']['event']}")
        for i, node in enumerate(proof["path"]):
            click.echo(f"path[{i}]    {node}")
        if proof["checkpoint"] is None:
            click.echo("checkpoint none signed at this tree size")
        else:
            click.echo(f"verified   {out['verified']}")
            click.echo("")
            click.echo(proof["checkpoint"]["note"], nl=False)
    if out["verified"] not in (None, "ok"):
        fail(f"the proof does not verify against the stored checkpoint [{out['verified']}]")


def _replay(ctx: CliContext, quiet: bool) -> LogReplay:
    with ctx.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            # One snapshot for the whole run: appends committing meanwhile stay invisible.
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        trusted = {
            k.key_id: k.public_key_der
            for k in ctx.keystore.list(session=session, usage=KeyUsage.TRANSPARENCY_LOG)
        }
        size = service.log_head(session=session)[0]
        columns = (
            TextColumn("verifying log"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=Console(stderr=True), disable=quiet) as bar:
            task = bar.add_task("entries", total=size)
            return verify_stored_log(
                session=session,
                trusted_keys=trusted,
                progress=lambda n: bar.advance(task, n),
            )


@log_group.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@click.option("--quiet", is_flag=True, help="No progress bar")
@pass_ctx
@handle_errors
def verify_cmd(ctx: CliContext, as_json: bool, quiet: bool) -> None:
    """Re-verify the whole stored log: every leaf from its event bytes, every stored subtree,
    every checkpoint root and signature (by a log key of the keystore), and the consistency of
    each checkpoint with the next."""
    result = _replay(ctx, quiet or as_json)
    if as_json:
        echo_json(
            {
                "ok": result.ok,
                "entries_checked": result.entries_checked,
                "checkpoints_checked": result.checkpoints_checked,
                "reason": result.reason,
                "at": result.at,
                "detail": result.detail,
            }
        )
    elif result.ok:
        click.echo(
            f"log verified: {result.entries_checked} entries, "
            f"{result.checkpoints_checked} checkpoints"
        )
    if not result.ok:
        fail(f"log verification failed at {result.at}: {result.detail} [{result.reason}]")


def register(cli: click.Group) -> None:
    cli.add_command(log_group)
