"""``trustctl log checkpoint | prove | verify`` through click's CliRunner, on the test database
with a stub keystore holding one SM2 log key."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass

import click
import pytest
from click.testing import CliRunner, Result
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


def _two_checkpoints(
    run: Callable[..., Result], db: sessionmaker[Session], clock: FixedClock, first: int, more: int
) -> None:
    """``first`` entries and a signed checkpoint, then ``more`` entries and another."""
    _fill(db, clock, first)
    assert run("log", "checkpoint").exit_code == 0
    _fill(db, clock, more)
    assert run("log", "checkpoint").exit_code == 0


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
    _two_checkpoints(run, db, clock, 20, 7)
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


def _proof_file(tmp_path, name: str, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _one_error_line(result) -> str:  # type: ignore[no-untyped-def]
    """The command failed with exactly one line on stderr (``trustctl: error: ... [code]``)."""
    assert result.exit_code != 0, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("trustctl: error: ")
    return str(lines[0])


def test_consistency_between_two_signed_checkpoints(  # type: ignore[no-untyped-def]
    run, db: sessionmaker[Session], clock: FixedClock, tmp_path
) -> None:
    _two_checkpoints(run, db, clock, 7, 6)

    text = run("log", "consistency", "--from", "7")
    assert text.exit_code == 0, text.output
    assert "first      7" in text.output
    assert "second     13" in text.output  # --to defaults to the latest checkpoint
    assert "verified   ok" in text.output
    assert text.output.count("\u2014 ") == 2  # both signed notes are printed

    body = json.loads(run("log", "consistency", "--from", "7", "--to", "13", "--json").output)
    assert body["kind"] == "consistency"
    assert body["verified"] == "ok"
    assert (body["proof"]["first"], body["proof"]["second"]) == (7, 13)
    assert body["proof"]["path"]  # 7 -> 13 needs a non-empty RFC 9162 proof

    # Sizes without a signed checkpoint, and a reversed range, are one-line errors.
    missing = run("log", "consistency", "--from", "5")
    assert "log.no_checkpoint" in _one_error_line(missing)
    reversed_range = run("log", "consistency", "--from", "13", "--to", "7")
    assert "log.bad_proof_request" in _one_error_line(reversed_range)
    # Checkpoints whose key the keystore does not hold are not "verified".
    foreign = run("log", "consistency", "--from", "7", keystore=_KeyStore(SM2TestSigner()))
    assert "log.checkpoint_unknown_key" in _one_error_line(foreign)


def test_verify_proof_offline_accepts_good_proofs(  # type: ignore[no-untyped-def]
    run, db: sessionmaker[Session], clock: FixedClock, tmp_path
) -> None:
    _two_checkpoints(run, db, clock, 9, 8)
    key = _proof_file(tmp_path, "log.pem", run("log", "public-key").output)
    inclusion = _proof_file(tmp_path, "incl.json", run("log", "prove", "4", "--json").output)
    consistency = _proof_file(
        tmp_path, "cons.json", run("log", "consistency", "--from", "9", "--json").output
    )

    ok = run("log", "verify-proof", inclusion, "--public-key", key)
    assert ok.exit_code == 0, ok.output
    assert "inclusion proof verified: entry 4 is in the tree of size 17" in ok.output
    ok = run("log", "verify-proof", consistency, "--public-key", key, "--json")
    assert ok.exit_code == 0, ok.output
    body = json.loads(ok.output)
    assert (body["kind"], body["ok"], body["first"], body["second"]) == ("consistency", True, 9, 17)
    assert body["note_sources"] == ["document", "document"]

    # The verifier's own saved checkpoint is used in place of the one in the file.
    note = json.loads(run("log", "checkpoint", "--json").output)  # a third one, size 17 again
    saved = _proof_file(tmp_path, "cp17.txt", note["note"])
    own = run("log", "verify-proof", inclusion, "--public-key", key, "--checkpoint", saved)
    assert own.exit_code == 0, own.output
    assert "(checkpoint from given)" in own.output


def test_verify_proof_refuses_tampered_proofs_with_one_line(  # type: ignore[no-untyped-def]
    run, db: sessionmaker[Session], clock: FixedClock, tmp_path
) -> None:
    _two_checkpoints(run, db, clock, 11, 5)
    key = _proof_file(tmp_path, "log.pem", run("log", "public-key").output)
    good_incl = json.loads(run("log", "prove", "6", "--json").output)
    good_cons = json.loads(run("log", "consistency", "--from", "11", "--json").output)

    def refused(doc: object, public_key: str = key) -> str:
        path = _proof_file(tmp_path, "tampered.json", json.dumps(doc))
        return _one_error_line(run("log", "verify-proof", path, "--public-key", public_key))

    # A flipped bit in one path hash.
    doc = json.loads(json.dumps(good_incl))
    node = bytearray(base64.b64decode(doc["proof"]["path"][0]))
    node[0] ^= 1
    doc["proof"]["path"][0] = base64.b64encode(bytes(node)).decode()
    assert "log.root_mismatch" in refused(doc)
    # Another entry's bytes claimed at this index (leaf hash recomputed from the data).
    doc = json.loads(json.dumps(good_incl))
    doc["entry"]["data"] = base64.b64encode(b'{"kind":"forged"}').decode()
    assert "log.leaf_hash_mismatch" in refused(doc)
    # The checkpoint's root rewritten: its signature no longer verifies.
    doc = json.loads(json.dumps(good_cons))
    lines = doc["proof"]["second_checkpoint"]["note"].split("\n")
    lines[2] = base64.b64encode(bytes(32)).decode()
    doc["proof"]["second_checkpoint"]["note"] = "\n".join(lines)
    assert "log.checkpoint_signature_invalid" in refused(doc)
    # A consistency path cut short.
    doc = json.loads(json.dumps(good_cons))
    doc["proof"]["path"] = doc["proof"]["path"][:-1]
    assert "log.proof_wrong_length" in refused(doc)
    # A key that did not sign the checkpoint; a file that is not a proof.
    other = _proof_file(
        tmp_path, "other.pem", SM2PublicKey.from_der(SM2TestSigner().public_key_der()).to_pem()
    )
    assert "log.checkpoint_unknown_key" in refused(good_incl, other)
    path = _proof_file(tmp_path, "junk.json", "[1, 2")
    assert "log.proof_file_malformed" in _one_error_line(
        run("log", "verify-proof", path, "--public-key", key)
    )
    # The untampered proofs still pass with the wrong key alongside the right one (rotation).
    for doc in (good_incl, good_cons):
        path = _proof_file(tmp_path, "good.json", json.dumps(doc))
        result = run("log", "verify-proof", path, "--public-key", other, "--public-key", key)
        assert result.exit_code == 0, result.output
