"""``trustctl archive`` through click's runner against the test database: ingest (folder and
zip, JSON out, refusal with the failed checks), fixity naming a flipped byte, export validated
by LoC ``bagit``, search, items, transfer and receipt, appraisal, the inventory sweep, and the
demo (a decision stamped through the seals service)."""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive.model import ArchiveFile, ArchivePackage
from archive.service_tools import archive_store
from keys.software import SoftwareKeyStore
from tests.conftest import MakeCliCtx
from tests.integration.archive.conftest import setup_archive
from tests.unit.archive.case_factory import write_case
from trust.cli.archive import load_archive_demo, register
from trust.cli.context import CliContext
from trust.clock import FixedClock
from trust.crypto import sm3_hex


def _group() -> click.Group:
    @click.group()
    def trustctl() -> None:
        """Stand-in root."""

    register(trustctl)
    return trustctl


@pytest.fixture
def ctx(make_cli_ctx: MakeCliCtx) -> CliContext:
    return make_cli_ctx()


def _run(ctx: CliContext, *args: str) -> Result:
    return CliRunner().invoke(_group(), list(args), obj=ctx, catch_exceptions=False)


@pytest.fixture
def ready(ctx: CliContext, db: sessionmaker[Session], clock: FixedClock) -> CliContext:
    keystore = ctx.keystore
    assert isinstance(keystore, SoftwareKeyStore)
    setup_archive(db, clock, keystore, ctx.settings)
    return ctx


def test_ingest_fixity_export_search(ready: CliContext, tmp_path: Path) -> None:
    folder = write_case(tmp_path / "case").path
    out = _run(ready, "archive", "ingest", str(folder), "--json")
    assert out.exit_code == 0, out.output
    answer = json.loads(out.output)
    assert answer["accepted"]
    assert answer["archival_code"] == "A439-WS·2026·D30·XK·ZC-005"

    zipped = tmp_path / "case.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for p in folder.rglob("*"):
            if p.is_file():
                zf.write(p, p.relative_to(folder).as_posix())
    again = json.loads(_run(ready, "archive", "ingest", str(zipped), "--json").output)
    assert again["accepted"]
    assert not again["created"]

    ok = _run(ready, "archive", "fixity", "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["failed"] == 0

    exported = tmp_path / "export"
    assert (
        _run(ready, "archive", "export", answer["archival_code"], "--out", str(exported)).exit_code
        == 0
    )
    import bagit  # type: ignore[import-untyped]

    bagit.Bag(str(exported)).validate()

    found = json.loads(_run(ready, "archive", "search", "--applicant", "科技有限", "--json").output)
    assert [i["archival_code"] for i in found["items"]] == [answer["archival_code"]]
    assert (found["total"], found["total_capped"], found["next"]) == (1, False, None)
    short = _run(ready, "archive", "search", "--text", "许可")
    assert short.exit_code != 0
    assert "archive.search_too_short" in short.output

    with ready.sessions() as s:
        row = s.scalars(
            select(ArchiveFile).where(ArchiveFile.path.like("%0002-营业执照.jpg"))
        ).one()
        address = row.sm3
    path = archive_store(ready.settings).path_of(address)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    data = bytearray(path.read_bytes())
    data[100] ^= 0x80
    path.write_bytes(bytes(data))
    bad = _run(ready, "archive", "fixity", answer["archival_code"], "--json")
    assert bad.exit_code == 1
    report = json.loads(bad.output)["packages"][0]
    assert [(f["path"], f["state"]) for f in report["files"]] == [
        ("data/representations/original/data/0002-营业执照.jpg", "changed")
    ]
    text = _run(ready, "archive", "fixity", answer["archival_code"])
    assert "changed: data/representations/original/data/0002-营业执照.jpg" in text.output


def test_a_refused_ingest_prints_the_failed_checks(ready: CliContext, tmp_path: Path) -> None:
    def flip(files: dict[str, bytes]) -> None:
        jpg = bytearray(files["0002-营业执照.jpg"])
        jpg[300] ^= 0x01
        files["0002-营业执照.jpg"] = bytes(jpg)

    folder = write_case(tmp_path / "case", tamper=flip).path
    out = _run(ready, "archive", "ingest", str(folder), "--json")
    assert out.exit_code == 1
    answer = json.loads(out.output)
    assert answer == {
        "accepted": False,
        "code": "archive.checks_failed",
        "failures": answer["failures"],
    }
    assert ("0002-营业执照.jpg", "digest.mismatch") in {
        (f["subject"], f["reason"]) for f in answer["failures"]
    }
    human = _run(ready, "archive", "ingest", str(folder))
    assert human.exit_code == 1
    assert "digest.mismatch" in human.output


def test_items_and_the_demo(ctx: CliContext) -> None:
    from tests.unit.seals._ses_support import need_cjk_font
    from trust.cli.demo import load_demo
    from trust.cli.seal import load_seal_demo

    listed = json.loads(_run(ctx, "archive", "items", "--load-demo", "--json").output)
    assert "食品经营许可（新办）" in [i["name"] for i in listed]
    load_demo(ctx)
    need_cjk_font()
    load_seal_demo(ctx)
    summary = load_archive_demo(ctx)
    assert summary["service_items"] >= 4
    assert summary.get("demo_case"), summary
    found = json.loads(_run(ctx, "archive", "search", "--item", "食品经营", "--json").output)
    assert found["total"] == 1
    assert found["items"][0]["outcome"] == "refused"


def test_transfer_receipt_appraisal_and_inventory(
    ready: CliContext, tmp_path: Path, clock: FixedClock
) -> None:
    folder = write_case(tmp_path / "case").path
    code = json.loads(_run(ready, "archive", "ingest", str(folder), "--json").output)[
        "archival_code"
    ]
    made = _run(ready, "archive", "transfer", code, "--receiver", "某某市档案馆", "--json")
    assert made.exit_code == 0, made.output
    record = json.loads(made.output)
    bag = Path(record["location"])
    assert bag.name == record["id"]
    import bagit  # type: ignore[import-untyped]

    bagit.Bag(str(bag)).validate()
    receipt = tmp_path / "receipt.json"
    receipt.write_text(
        json.dumps(
            {
                "transfer_id": record["id"],
                "transfer_root_sm3": sm3_hex((bag / "tagmanifest-sm3.txt").read_bytes()),
                "manifest_sm3": sm3_hex((bag / "data/transfer-manifest.json").read_bytes()),
                "result": "accepted",
            }
        ),
        encoding="utf-8",
    )
    got = _run(ready, "archive", "receipt", record["id"], str(receipt), "--json")
    assert got.exit_code == 0, got.output
    assert (json.loads(got.output)["state"], json.loads(got.output)["receipt_check"]) == (
        "received",
        "signature.absent",
    )
    # an object nobody references (what a killed ingest leaves) goes with the inventory sweep
    store = archive_store(ready.settings)
    orphan = store.put_stream(io.BytesIO(b"left by a dead ingest")).address
    clock.set(datetime.now(UTC) + timedelta(days=1))  # file ages are wall-clock times
    swept = _run(ready, "archive", "inventory", "--grace-hours", "1", "--json")
    assert swept.exit_code == 0, swept.output
    assert json.loads(swept.output)["inventory"]["removed_addresses"] == [orphan]
    assert not store.exists(orphan)
    assert _run(ready, "archive", "fixity", code).exit_code == 0  # the package is untouched
    with ready.sessions() as s, s.begin():
        for row in s.scalars(select(ArchivePackage)):
            row.retention_end = date(2020, 12, 31)
    flagged = _run(ready, "archive", "appraisal")
    assert f"{code}/v1: 保管期满，进入鉴定" in flagged.output
