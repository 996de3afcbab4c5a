"""``trustctl seal`` through click's test runner against the test database: make, list,
stamp (form by file type), verify (JSON with ``verdict``, exit 0 / 1 / 2 / 3), lifecycle,
usage, and ``load_seal_demo`` (idempotent)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy.orm import Session, sessionmaker

from seals import fonts
from tests.conftest import MakeCliCtx
from tests.factories.principals import make_org
from tests.integration.seals.test_hostile import nested_der, zip_bomb
from tests.unit.seals._ses_support import minimal_ofd, need_cjk_font, sample
from tests.unit.seals.pdf_fixtures import broken_xref, make_pdf
from trust.cli import demo as demo_cli
from trust.cli.ca import ensure_ca
from trust.cli.context import CliContext
from trust.cli.demo import DEMO_ORGANISATIONS
from trust.cli.root import COMMAND_MODULES
from trust.cli.seal import load_seal_demo, register
from trust.clock import FixedClock
from trust.principals import service as principals


def _group() -> click.Group:
    @click.group()
    def trustctl() -> None:
        """Stand-in root."""

    register(trustctl)
    return trustctl


@pytest.fixture
def ctx(make_cli_ctx: MakeCliCtx) -> CliContext:
    return make_cli_ctx()


@pytest.fixture
def org_uscc(ctx: CliContext, db: sessionmaker[Session], clock: FixedClock) -> str:
    with db() as s, s.begin():
        ensure_ca(session=s, clock=clock, keystore=ctx.keystore, settings=ctx.settings)
        return make_org(s, clock, name="演示市市场监督管理局").uscc


def run(ctx: CliContext, *args: str) -> Result:
    return CliRunner().invoke(_group(), list(args), obj=ctx, catch_exceptions=False)


def test_registered() -> None:
    assert "trust.cli.seal" in COMMAND_MODULES
    commands = set(_group().commands["seal"].commands)  # type: ignore[attr-defined]
    assert {"make", "list", "stamp", "verify", "suspend", "resume", "revoke", "usage"} <= commands


def _make(ctx: CliContext, uscc: str, tmp_path: Path) -> str:
    need_cjk_font()
    result = run(
        ctx,
        "seal",
        "make",
        "--org",
        uscc,
        "--type",
        "行政审批专用章",
        "--name",
        "演示市市场监督管理局行政审批专用章",
        "--out",
        str(tmp_path / "seal.esl"),
    )
    assert result.exit_code == 0, result.output
    seal_id, esl_path = result.output.split()
    assert seal_id.startswith("seal_")
    assert Path(esl_path).read_bytes()[:1] == b"\x30"
    return seal_id


def test_make_list_stamp_verify(ctx: CliContext, org_uscc: str, tmp_path: Path) -> None:
    seal_id = _make(ctx, org_uscc, tmp_path)
    listed = json.loads(run(ctx, "seal", "list", "--org", org_uscc, "--json").output)
    assert [(s["id"], s["status"]) for s in listed] == [(seal_id, "active")]

    verified = run(ctx, "seal", "verify", str(tmp_path / "seal.esl"), "--json")
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.output)["verdict"] == "VALID"

    (tmp_path / "decision.pdf").write_bytes(make_pdf(pages=2))
    (tmp_path / "decision.ofd").write_bytes(minimal_ofd())
    (tmp_path / "decision.txt").write_bytes(b"decision 2026-001\n")
    stamped = {
        "decision.pdf": ("out.pdf", ["--keyword", "（盖章）", "--timestamp"]),
        "decision.ofd": ("out.ofd", ["--x", "20", "--y", "30"]),
        "decision.txt": ("out.sig", ["--timestamp"]),
    }
    for source, (target, extra) in stamped.items():
        result = run(
            ctx,
            "seal",
            "stamp",
            seal_id,
            str(tmp_path / source),
            "--out",
            str(tmp_path / target),
            *extra,
        )
        assert result.exit_code == 0, result.output
        assert "usage use_" in result.output
    for target in ("out.pdf", "out.ofd"):
        result = run(ctx, "seal", "verify", str(tmp_path / target), "--json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        assert report["verdict"] == "VALID"
        [sig] = report["signatures"]
        timestamped = target == "out.pdf"
        assert sig["checks"]["timestamp"]["status"] == ("pass" if timestamped else "not_checked")
    sig = run(
        ctx,
        "seal",
        "verify",
        str(tmp_path / "out.sig"),
        "--original",
        str(tmp_path / "decision.txt"),
    )
    assert sig.exit_code == 0
    assert sig.output.startswith("VALID (有效)")
    no_original = run(ctx, "seal", "verify", str(tmp_path / "out.sig"), "--json")
    assert no_original.exit_code == 2
    assert json.loads(no_original.output)["verdict"] == "INDETERMINATE"
    usage = json.loads(run(ctx, "seal", "usage", seal_id, "--json").output)
    assert [u["form"] for u in usage].count("bytes") == 1
    assert len(usage) == 3
    assert {u["actor"] for u in usage} == {"user:cli"}


def test_verify_exit_codes(ctx: CliContext, tmp_path: Path, db: sessionmaker[Session]) -> None:
    modified = tmp_path / "test-1.ofd"
    modified.write_bytes(sample("esl-demo", "test-1.ofd"))
    invalid = run(ctx, "seal", "verify", str(modified), "--json")
    assert invalid.exit_code == 1
    report = json.loads(invalid.output)
    assert (report["verdict"], report["reason"]) == ("INVALID", "document_modified")
    untrusted = tmp_path / "test.ofd"
    untrusted.write_bytes(sample("esl-demo", "test.ofd"))
    result = run(ctx, "seal", "verify", str(untrusted), "--json")
    assert result.exit_code == 2
    assert json.loads(result.output)["verdict"] == "INDETERMINATE"
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    result = run(ctx, "seal", "verify", str(junk))
    assert result.exit_code == 3
    assert "seal.unknown_file_kind" in result.output


def test_lifecycle_commands(ctx: CliContext, org_uscc: str, tmp_path: Path) -> None:
    seal_id = _make(ctx, org_uscc, tmp_path)
    assert run(ctx, "seal", "suspend", seal_id, "--reason", "遗失").output.split()[1] == "suspended"
    (tmp_path / "a.txt").write_bytes(b"a")
    refused = CliRunner().invoke(
        _group(),
        ["seal", "stamp", seal_id, str(tmp_path / "a.txt"), "--out", str(tmp_path / "a.sig")],
        obj=ctx,
    )
    assert refused.exit_code == 1
    assert "[seal.suspended]" in refused.output
    assert run(ctx, "seal", "resume", seal_id, "--reason", "找回").output.split()[1] == "active"
    assert run(ctx, "seal", "revoke", seal_id, "--reason", "撤并").output.split()[1] == "revoked"


def test_load_seal_demo_is_idempotent(
    ctx: CliContext, db: sessionmaker[Session], clock: FixedClock
) -> None:
    need_cjk_font()
    amr = next(o for o in DEMO_ORGANISATIONS if o.key == "amr")
    assert load_seal_demo(ctx)["seal"] is None  # no demo organisation yet
    with db() as s, s.begin():
        principals.create_organisation(
            session=s, clock=clock, name=amr.name, uscc=amr.uscc, kind=amr.kind, actor="test"
        )
    first = load_seal_demo(ctx)
    assert first["created"] is True
    assert first["seal"]["type_label"] == "行政审批专用章"
    assert first["seal"]["status"] == "active"
    second = load_seal_demo(ctx)
    assert second["created"] is False
    assert second["seal"]["id"] == first["seal"]["id"]


@pytest.fixture
def no_cjk_font(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A machine without any CJK font (a fresh clone on a bare system)."""
    fonts._cached_find.cache_clear()
    monkeypatch.setattr(fonts, "_SERIF_CANDIDATES", ())
    monkeypatch.setattr(fonts, "_SANS_CANDIDATES", ())
    yield
    fonts._cached_find.cache_clear()


@pytest.mark.usefixtures("no_cjk_font")
def test_demo_load_without_a_cjk_font_carries_on_without_the_seal(ctx: CliContext) -> None:
    @click.group()
    def trustctl() -> None:
        """Stand-in root."""

    demo_cli.register(trustctl)
    register(trustctl)
    result = CliRunner().invoke(trustctl, ["demo", "load"], obj=ctx, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "demo seal skipped" in result.stderr
    assert "[seal.no_cjk_font]" in result.stderr
    assert "fonts-noto-cjk" in result.stderr
    assert "organisation:" in result.stdout  # the rest of the demo data was loaded
    with ctx.transaction() as session:
        amr = next(o for o in DEMO_ORGANISATIONS if o.key == "amr")
        org = principals.find_organisation(session=session, ref=amr.uscc)
        assert org.name == amr.name
    # Making a seal with a drawn picture is refused with the same clear code.
    made = run(ctx, "seal", "make", "--org", amr.uscc, "--type", "admin_approval", "--name", "章")
    assert made.exit_code == 1
    assert "[seal.no_cjk_font]" in made.stderr


def test_verify_reports_hostile_files_with_exit_status_3(ctx: CliContext, tmp_path: Path) -> None:
    cases = {
        "bomb.ofd": (zip_bomb(64), "ofd.entry_too_large"),
        "nested.sig": (nested_der(), "seal.der_too_deep"),
        "broken.pdf": (broken_xref(make_pdf(pages=1)), "seal.pdf_malformed"),
    }
    for name, (data, code) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        result = run(ctx, "seal", "verify", str(path), "--json")
        assert result.exit_code == 3, (name, result.output)
        assert f"[{code}]" in result.stderr
        assert result.stdout == ""
