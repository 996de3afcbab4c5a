"""``trustctl log checkpoint | prove | verify`` through click's CliRunner, on the test database
with a stub keystore holding one SM2 log key."""

from __future__ import annotations

import json
from dataclasses import dataclass

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from tests.unit.tlog._support import SM2TestSigner
from trust.cli.context import CliContext
from trust.cli.log import register
from trust.clock import FixedClock
from trust.config import Settings
from trust.crypto import SM2PublicKey
from trust.errors import NotFound
from trust.tlog import LogEvent, append_many
from trust.tlog.model import TlogEntry
from trust.tlog.verify import verify_checkpoint


@dataclass
class _KeyInfo:
    key_id: str
    public_key_der: bytes


class _KeyStore:
    def __init__(self, signer: SM2TestSigner | None) -> None:
        self.signer = signer

    def active_signer(self, **_: object) -> SM2TestSigner:
        if self.signer is None:
            raise NotFound("no active transparency_log key", code="keys.no_active_key")
        return self.signer

    def list(self, **_: object) -> list[_KeyInfo]:
        s = self.signer
        return [] if s is None else [_KeyInfo(s.key_id, s.public_key_der())]


@pytest.fixture
def run(db: sessionmaker[Session], clock: FixedClock, settings: Settings):  # type: ignore[no-untyped-def]
    signer = SM2TestSigner()

    @click.group()
    def cli() -> None:
        pass

    register(cli)

    def invoke(*args: str, keystore: _KeyStore | None = None):  # type: ignore[no-untyped-def]
        ctx = CliContext(clock=clock)
        # Inject what the root group would build, on the test database (and PG schema).
        ctx.__dict__.update(settings=settings, sessions=db, keystore=keystore or _KeyStore(signer))
        return CliRunner().invoke(cli, list(args), obj=ctx)

    invoke.signer = signer  # type: ignore[attr-defined]
    return invoke


def _fill(db: sessionmaker[Session], clock: FixedClock, n: int) -> None:
    with db() as s, s.begin():
        append_many(
            session=s, clock=clock, events=[LogEvent("t.e", f"s{i}", "cli") for i in range(n)]
        )


def test_checkpoint_prints_a_verifiable_note(  # type: ignore[no-untyped-def]
    run, db: sessionmaker[Session], clock: FixedClock, settings: Settings
) -> None:
    _fill(db, clock, 9)
    result = run("log", "checkpoint")
    assert result.exit_code == 0, result.output
    key = SM2PublicKey.from_der(run.signer.public_key_der())
    verified = verify_checkpoint(
        unverified_note=result.output, public_key=key, origin=settings.log_origin
    )
    assert verified.ok
    assert verified.checkpoint is not None
    assert verified.checkpoint.tree_size == 9
    as_json = run("log", "checkpoint", "--json")
    assert as_json.exit_code == 0
    assert json.loads(as_json.output)["tree_size"] == 9


def test_checkpoint_without_a_log_key(run) -> None:  # type: ignore[no-untyped-def]
    result = run("log", "checkpoint", keystore=_KeyStore(None))
    assert result.exit_code == 1
    assert "keys.no_active_key" in result.output


def test_prove(run, db: sessionmaker[Session], clock: FixedClock) -> None:  # type: ignore[no-untyped-def]
    _fill(db, clock, 12)
    assert "log.no_checkpoint" in run("log", "prove", "3").output
    assert run("log", "checkpoint").exit_code == 0
    text = run("log", "prove", "3")
    assert text.exit_code == 0, text.output
    assert "verified   ok" in text.output
    assert "tree size  12" in text.output
    body = json.loads(run("log", "prove", "3", "--json").output)
    assert body["verified"] == "ok"
    assert body["proof"]["checkpoint"]["tree_size"] == 12
    older = json.loads(run("log", "prove", "3", "--tree-size", "7", "--json").output)
    assert older["verified"] is None
    assert older["proof"]["tree_size"] == 7
    bad = run("log", "prove", "12")
    assert bad.exit_code == 1
    assert "log.bad_proof_request" in bad.output


def test_verify(run, db: sessionmaker[Session], clock: FixedClock) -> None:  # type: ignore[no-untyped-def]
    _fill(db, clock, 20)
    assert run("log", "checkpoint").exit_code == 0
    _fill(db, clock, 7)
    assert run("log", "checkpoint").exit_code == 0
    ok = run("log", "verify")
    assert ok.exit_code == 0, ok.output
    assert "log verified: 27 entries, 2 checkpoints" in ok.output
    body = json.loads(run("log", "verify", "--json").output)
    assert body["ok"] is True
    assert body["entries_checked"] == 27

    untrusted = run("log", "verify", "--quiet", keystore=_KeyStore(SM2TestSigner()))
    assert untrusted.exit_code == 1
    assert "log.checkpoint_key_untrusted" in untrusted.output

    with db() as s, s.begin():
        s.execute(update(TlogEntry).where(TlogEntry.idx == 4).values(data=b"{}"))
    broken = run("log", "verify", "--quiet")
    assert broken.exit_code == 1
    assert "log.leaf_hash_mismatch" in broken.output
    assert "failed at 4" in broken.output
