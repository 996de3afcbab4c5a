"""``trustctl licence`` through click's test runner against the test database, on top of the
demo data (``load_demo`` + ``load_seal_demo`` + ``load_licence_demo``): types, issue --json,
verify --json by code, QR payload and file, show, revoke (INVALID at once), idempotent demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import MakeCliCtx
from trust.cli.ca import ensure_ca
from trust.cli.context import CliContext
from trust.cli.demo import DEMO_ORGANISATIONS, load_demo
from trust.cli.licence import DEMO_TYPES, load_licence_demo, register
from trust.cli.seal import load_seal_demo
from trust.clock import FixedClock
from trust.crypto import sm3

AMR = next(o for o in DEMO_ORGANISATIONS if o.key == "amr")
#: ``trustctl licence issue`` of a demo 道路运输经营许可证 (4 years) by the demo department
ISSUE_TRANSPORT_LICENCE = (
    "licence",
    "issue",
    "--org",
    AMR.uscc,
    "--type",
    DEMO_TYPES[3].code,
    "--holder-name",
    "演示运输有限公司",
    "--holder-code",
    "91350100M000100Y43",
    "--field",
    "address=演示市某路 2 号",
    "--field",
    "economic_type=有限责任公司",
    "--field",
    "business_scope=道路普通货物运输",
)


def _group() -> click.Group:
    @click.group()
    def trustctl() -> None:
        """Stand-in root."""

    register(trustctl)
    return trustctl


@pytest.fixture
def ctx(make_cli_ctx: MakeCliCtx, db: sessionmaker[Session], clock: FixedClock) -> CliContext:
    context = make_cli_ctx()
    with db() as s, s.begin():
        ensure_ca(session=s, clock=clock, keystore=context.keystore, settings=context.settings)
    load_demo(context)
    load_seal_demo(context)
    return context


def run(ctx: CliContext, *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(_group(), list(args), obj=ctx, catch_exceptions=False)
    assert result.exit_code == code, result.output
    if code != 0:
        return result.output
    return json.loads(result.output) if "--json" in args else result.output


def test_demo_catalogue_and_licences_are_idempotent(ctx: CliContext) -> None:
    first = load_licence_demo(ctx)
    assert first["types"] == [
        "营业执照",
        "食品经营许可证",
        "建筑工程施工许可证",
        "道路运输经营许可证",
        "律师执业证",
    ]
    assert len(first["licences"]) == 2
    assert all(item["verification_code"] for item in first["licences"])
    again = load_licence_demo(ctx)
    assert [i["identifier"] for i in again["licences"]] == [
        i["identifier"] for i in first["licences"]
    ]
    assert all(i["verification_code"] is None for i in again["licences"])
    types = run(ctx, "licence", "types", "--json")
    assert [t["code"] for t in types] == sorted(t.code for t in DEMO_TYPES)
    lawyer = next(t for t in types if t["name"] == "律师执业证")
    assert lawyer["holder_kind"] == "natural"
    assert lawyer["holder_type_code"] == "111"
    demo_code = first["licences"][0]["verification_code"]
    assert run(ctx, "licence", "verify", demo_code, "--json")["result"] == "VALID"


def test_issue_verify_revoke(ctx: CliContext, tmp_path: Path) -> None:
    load_licence_demo(ctx)
    issued = run(ctx, *ISSUE_TRANSPORT_LICENCE, "--out", str(tmp_path / "out"), "--json")
    assert set(issued) >= {"identifier", "verification_code", "qr_payload", "document_path"}
    pdf = Path(issued["document_path"]).read_bytes()
    assert pdf.startswith(b"%PDF")
    assert sm3(pdf).hex() == issued["document_sm3"]
    for value in (issued["verification_code"], issued["qr_payload"], issued["document_path"]):
        out = run(ctx, "licence", "verify", value, "--json")
        assert out["result"] == "VALID", (value[:20], out)
    shown = run(ctx, "licence", "show", issued["identifier"], "--json")
    assert shown["licence_name"] == "道路运输经营许可证"
    assert shown["valid_until"] == "2030-11-21"
    revoked = run(
        ctx,
        "licence",
        "revoke",
        issued["identifier"],
        "--reason",
        "吊销",
        "--kind",
        "revoke_penalty",
        "--json",
    )
    assert revoked["status"] == "revoked_penalty"
    for value in (issued["verification_code"], issued["qr_payload"]):
        assert run(ctx, "licence", "verify", value, "--json")["result"] == "INVALID"
    assert run(ctx, "licence", "verify", "0000-0000-0000-0000", "--json")["result"] == "NOT_FOUND"
    bad = issued["qr_payload"][:-3] + ("AAA" if not issued["qr_payload"].endswith("AAA") else "BBB")
    assert run(ctx, "licence", "verify", bad, "--json")["result"] == "BAD_SIGNATURE"


def test_issue_refuses_bad_holder_code(ctx: CliContext) -> None:
    load_licence_demo(ctx)
    out = run(
        ctx,
        "licence",
        "issue",
        "--org",
        AMR.uscc,
        "--type",
        DEMO_TYPES[4].code,
        "--holder-name",
        "张三",
        "--holder-code",
        "110105194912310021",
        "--json",
        code=1,
    )
    assert "licence.request.bad_holder_code" in out


def test_expire_due(ctx: CliContext) -> None:
    from datetime import timedelta

    load_licence_demo(ctx)
    assert run(ctx, "licence", "expire-due", "--json") == {"expired": [], "lists_updated": 0}
    issued = run(ctx, *ISSUE_TRANSPORT_LICENCE, "--json")
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.advance(timedelta(days=4 * 366))
    assert run(ctx, "licence", "expire-due", "--json") == {
        "expired": [issued["identifier"]],
        "lists_updated": 1,
    }
    assert run(ctx, "licence", "verify", issued["verification_code"], "--json")["result"] == (
        "EXPIRED"
    )


def test_verify_never_takes_a_long_qr_text_for_a_file(ctx: CliContext) -> None:
    """A Base45 QR text may contain "/" and runs longer than a file name may be
    (ENAMETOOLONG): it is verified as a QR (or a code), never a crash."""
    long_run = "A" * 300
    out = run(ctx, "licence", "verify", f"EL1:{long_run}/B", "--json")
    assert out["result"] == "BAD_SIGNATURE"
    assert run(ctx, "licence", "verify", f"{long_run}/B", "--json")["result"] == "NOT_FOUND"
