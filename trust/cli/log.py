"""``trustctl log checkpoint | prove | consistency | verify | verify-proof | public-key``: the
transparency log from the command line.

``checkpoint`` signs a checkpoint of the current tree with the active log key; ``prove`` prints an
RFC 9162 inclusion proof with the entry and the signed checkpoint it verifies against (and checks
it before printing); ``consistency`` prints the RFC 9162 §2.1.4 proof between two signed
checkpoints, verified against the log keys of the keystore; ``verify`` re-verifies the whole
stored log (``trust.tlog.replay``) against those keys, with a progress bar on stderr.
``verify-proof`` checks a saved proof (the ``--json`` output of ``prove`` or ``consistency``, or
an HTTP proof body) offline, with no database: against checkpoints and log public keys given as
files (``trust.tlog.prooffile``); ``public-key`` prints the log keys as PEM for that purpose.
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
from trust.errors import InvalidInput, NotFound
from trust.tlog import service
from trust.tlog.prooffile import (
    ProofDocumentVerification,
    verify_note_with_any_key,
    verify_proof_document,
)
from trust.tlog.records import StoredCheckpoint
from trust.tlog.replay import LogReplay, verify_stored_log
from trust.tlog.schemas import (
    CheckpointRead,
    ConsistencyProofRead,
    EntryRead,
    InclusionProofRead,
)
from trust.tlog.verify import verify_consistency, verify_inclusion

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
        "kind": "inclusion",
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


def _trusted_keys(ctx: CliContext, session: Session) -> list[SM2PublicKey]:
    """Every transparency-log key of the keystore (rotated ones too: they signed older
    checkpoints)."""
    infos = ctx.keystore.list(session=session, usage=KeyUsage.TRANSPARENCY_LOG)
    return [SM2PublicKey.from_der(k.public_key_der) for k in infos]


def _signed_at(session: Session, tree_size: int) -> StoredCheckpoint:
    stored = service.checkpoint_for_size(session=session, tree_size=tree_size)
    if stored is None:
        raise NotFound(
            f"no checkpoint was signed at tree size {tree_size}", code="log.no_checkpoint"
        )
    return stored


def _consistency(
    session: Session, ctx: CliContext, first: int, second: int | None
) -> dict[str, Any]:
    if second is None:
        latest = service.latest_checkpoint(session=session)
        if latest is None:
            raise NotFound("no signed checkpoint yet: give --to", code="log.no_checkpoint")
        second = latest.checkpoint.tree_size
    if first > second:
        raise InvalidInput(f"--from {first} is after --to {second}", code="log.bad_proof_request")
    a, b = _signed_at(session, first), _signed_at(session, second)
    proof = service.consistency_proof(session=session, first=first, second=second)
    keys = _trusted_keys(ctx, session)
    origin = b.checkpoint.origin
    verified = "ok"
    # Each checkpoint under whichever log key signed it (the key may have been rotated).
    (cp1, key1), (cp2, key2) = (
        verify_note_with_any_key(unverified_note=s.note, public_keys=keys, origin=origin)
        for s in (a, b)
    )
    if key1 is None or key2 is None:
        failed = cp1 if key1 is None else cp2
        verified = str(failed.reason)
    else:
        result = verify_consistency(
            first_note=a.note,
            second_note=b.note,
            public_key=key1,
            second_public_key=key2,
            origin=origin,
            path=proof.path,
        )
        verified = "ok" if result.ok else str(result.reason)
    return {
        "kind": "consistency",
        "proof": ConsistencyProofRead.of(proof, a, b).model_dump(mode="json"),
        "verified": verified,
    }


@log_group.command("consistency")
@click.option("--from", "first", type=int, required=True, help="Tree size of the older checkpoint")
@click.option("--to", "second", type=int, help="Tree size of the newer (default: the latest)")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a proof file)")
@pass_ctx
@handle_errors
def consistency_cmd(ctx: CliContext, first: int, second: int | None, as_json: bool) -> None:
    """Print the consistency proof between the signed checkpoints of sizes --from and --to,
    verified against the log keys of the keystore (RFC 9162 §2.1.4)."""
    with ctx.transaction() as session:
        out = _consistency(session, ctx, first, second)
    proof = out["proof"]
    if as_json:
        echo_json(out)
    else:
        click.echo(f"first      {proof['first']}")
        click.echo(f"second     {proof['second']}")
        for i, node in enumerate(proof["path"]):
            click.echo(f"path[{i}]    {node}")
        click.echo(f"verified   {out['verified']}")
        for key in ("first_checkpoint", "second_checkpoint"):
            click.echo("")
            click.echo(proof[key]["note"], nl=False)
    if out["verified"] != "ok":
        fail(f"the consistency proof does not verify [{out['verified']}]")


def _read_public_keys(paths: tuple[str, ...]) -> list[SM2PublicKey]:
    """SM2 public keys from PEM files (one or more ``PUBLIC KEY`` blocks each) or DER files."""
    begin = b"-----BEGIN"
    out: list[SM2PublicKey] = []
    for path in paths:
        with open(path, "rb") as fh:
            raw = fh.read(64 * 1024)
        if begin not in raw:
            out.append(SM2PublicKey.from_der(raw))
            continue
        out.extend(SM2PublicKey.from_pem(begin + block) for block in raw.split(begin)[1:])
    return out


def _describe(result: ProofDocumentVerification) -> str:
    if result.index is not None:
        return f"entry {result.index} is in the tree of size {result.tree_size}"
    return f"the tree of size {result.second} extends the tree of size {result.first}"


@log_group.command("verify-proof")
@click.argument("proof_file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Log public key(s): PEM (one or more blocks) or DER; repeatable",
)
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A signed checkpoint note you hold (default: the ones in the proof file); repeatable",
)
@click.option("--origin", help="The log's origin line to require (default: the checkpoint's)")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@handle_errors
def verify_proof_cmd(
    proof_file: str,
    public_keys: tuple[str, ...],
    checkpoints: tuple[str, ...],
    origin: str | None,
    as_json: bool,
) -> None:
    """Verify an inclusion or consistency proof file offline (no database): each checkpoint's
    SM2 signature under a given key, then the proof against its root."""
    keys = _read_public_keys(public_keys)
    notes: list[bytes] = []
    for path in checkpoints:
        with open(path, "rb") as fh:
            notes.append(fh.read(64 * 1024 + 1))
    with open(proof_file, "rb") as fh:
        document = fh.read(1024 * 1024 + 1)
    result = verify_proof_document(
        unverified_document=document, public_keys=keys, origin=origin, checkpoints=notes
    )
    if as_json:
        echo_json(result.to_dict())
    elif result.ok:
        sources = ", ".join(result.note_sources)
        click.echo(f"{result.kind} proof verified: {_describe(result)} (checkpoint from {sources})")
    if not result.ok:
        fail(f"the {result.kind} proof does not verify [{result.reason}]")


@log_group.command("public-key")
@pass_ctx
@handle_errors
def public_key_cmd(ctx: CliContext) -> None:
    """Print every transparency-log public key of the keystore as PEM (for verify-proof)."""
    with ctx.transaction() as session:
        keys = _trusted_keys(ctx, session)
    if not keys:
        raise NotFound("the keystore holds no transparency-log key", code="keys.no_active_key")
    for key in keys:
        click.echo(key.to_pem(), nl=False)


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
