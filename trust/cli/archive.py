"""``trustctl archive``: init, ingest, verify, fixity, export, search, items, appraisal,
transfer, receipt, inventory.

- ``init``: the CA (if missing) and the archive's SM2 key with its certificate (profile archive);
- ``ingest PATH [--json]``: a case folder (``case.json`` with ``files/`` or beside its files) or a
  zip of one; prints the 档号 or every failed check (exit status 1 when refused); a progress bar
  by bytes while the submission is copied and while the package is stored;
- ``verify REF``: fixity of one package now, recorded;
- ``fixity [REF] [--limit N] [--json]``: one package, or the sweep (least recently checked
  first, one transaction per package; suitable for cron), recorded;
- ``export REF --out DIR``: the bag, as stored (validates with any RFC 8493 tool), with a
  progress bar by bytes;
- ``search``: the catalogue by case number, 档号, applicant, item, dates, text;
- ``appraisal``: packages whose retention ended go to appraisal (never deleted);
- ``transfer REF... --receiver NAME``: a transfer bag (移交) under the data directory;
  ``receipt TRANSFER RECEIPT.json [--signature FILE]``: the receiving archives' receipt;
- ``inventory [--grace-hours H]``: the store against the catalogue (removes what dead ingests
  left behind, names missing objects) and expired uploads.

``load_archive_demo(ctx)`` is called by ``trustctl demo load``.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TransferSpeedColumn,
)
from sqlalchemy.orm import Session

from archive import preservation, retrieval, sweeps, transfer
from archive.inventory import sweep_inventory
from archive.retrieval import SearchQuery
from archive.service import LOCAL_TZ, Ingested, IngestProgress, ingest_case
from archive.service_errors import IngestRefused
from archive.service_items import DEMO_ITEMS, list_service_items, upsert_service_item
from archive.service_records import find_package_row
from archive.service_tools import archive_store, archive_tools, transfers_root, uploads_root
from archive.service_uploads import expire_uploads
from keys.interfaces import KeyStore, KeyUsage
from trust.ca.profiles import Profile
from trust.cli.context import CliContext, echo_json, handle_errors, pass_ctx
from trust.clock import Clock
from trust.config import Settings
from trust.crypto import sm3_hex
from trust.errors import NotFound

__all__ = ["ensure_archive_key", "load_archive_demo", "register"]

ACTOR = "cli"
_STAGE_LABELS = {
    "normalising": "读取提交包",
    "normalised": "四性检测",
    "checked": "封装 BagIt",
    "bagged": "签名与时间戳",
    "staged": "写入存储",
    "publishing": "写入存储",
    "published": "登记与日志",
    "recorded": "提交事务",
}


def ensure_archive_key(
    *, session: Session, clock: Clock, keystore: KeyStore, settings: Settings
) -> str:
    """The CA (if missing), then the active ARCHIVE key and its certificate: returns the key id."""
    from trust.cli.ca import certified_service_key, ensure_ca  # CA bootstrapping lives there

    ensure_ca(session=session, clock=clock, keystore=keystore, settings=settings)
    key_id, _serial = certified_service_key(
        session,
        clock,
        keystore,
        settings,
        usage=KeyUsage.ARCHIVE,
        profile=Profile.ARCHIVE,
        common_name=f"{settings.ca_name} 电子档案",
        created=[],
    )
    return key_id


def _byte_bar(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
    )


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[IngestProgress], None]]:
    """A progress bar by bytes for the stages that move bytes, a spinner for the others."""
    if not enabled:
        yield lambda _event: None
        return
    with _byte_bar(Console(stderr=True)) as bar:
        task = bar.add_task("归档", total=None)

        def step(event: IngestProgress) -> None:
            label = _STAGE_LABELS.get(event.stage, event.stage)
            if event.total:
                bar.update(task, description=label, completed=event.done, total=event.total)
            else:
                bar.update(task, description=label, completed=0, total=None)

        yield step


def _ingest(ctx: CliContext, path: Path, show_progress: bool) -> Ingested:
    with ctx.transaction() as session, _progress(show_progress) as step:
        tools = archive_tools(session=session, settings=ctx.settings)
        return ingest_case(
            session=session,
            clock=ctx.clock,
            keystore=ctx.keystore,
            tools=tools,
            source=path,
            actor=ACTOR,
            progress=step,
        )


@click.group("archive")
def archive_group() -> None:
    """Electronic archive of cases (办件电子化归档)."""


@archive_group.command("init")
@pass_ctx
@handle_errors
def init_cmd(ctx: CliContext) -> None:
    """Create the archive's SM2 key and certificate (and the CA) if missing."""
    with ctx.transaction() as session:
        key_id = ensure_archive_key(
            session=session, clock=ctx.clock, keystore=ctx.keystore, settings=ctx.settings
        )
    click.echo(f"archive key {key_id}")


@archive_group.command("ingest")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON")
@pass_ctx
@handle_errors
def ingest_cmd(ctx: CliContext, path: Path, as_json: bool) -> None:
    """Archive the case at PATH (folder with case.json, or a zip of one)."""
    try:
        done = _ingest(ctx, path, show_progress=not as_json)
    except IngestRefused as exc:
        failures = exc.extra.get("failures", [])
        if as_json:
            echo_json({"accepted": False, "code": exc.code, "failures": failures})
        else:
            click.echo(f"归档被拒绝：{len(failures)} 项检测未通过", err=True)
            for f in failures:
                click.echo(
                    f"  [{f['dimension_label']}] {f['subject']}: {f['reason']} {f['message']}"
                )
        raise SystemExit(1) from None
    record = done.package
    if as_json:
        echo_json(
            {
                "accepted": True,
                "created": done.created,
                "archival_code": record.archival_code,
                "case_number": record.case_number,
                "version": record.version,
                "root_sm3": record.root_sm3,
                "log_index": record.log_index,
            }
        )
    else:
        click.echo(record.archival_code)


def _fixity_one(ctx: CliContext, ref: str) -> dict[str, Any]:
    with ctx.transaction() as session:
        tools = archive_tools(session=session, settings=ctx.settings)
        outcome = preservation.check_package_fixity(
            session=session,
            clock=ctx.clock,
            keystore=ctx.keystore,
            store=tools.store,
            ref=ref,
            actor=ACTOR,
            timestamps=tools.timestamps,
        )
    return outcome.report


def _print_fixity(r: dict[str, Any]) -> None:
    named = [f"{f['state']}: {f['path']}" for f in r["files"]]
    line = f"{r['archival_code']}: {r['outcome']}"
    if r["outcome"] != "pass":
        line += " " + "; ".join(named + [p["code"] for p in r["problems"]])
        for key in ("signature", "timestamp", "log"):
            if not r[key]["ok"]:
                line += f"; {r[key]['reason']}"
    click.echo(line)


@archive_group.command("fixity")
@click.argument("ref", required=False)
@click.option("--limit", type=click.IntRange(min=1), help="At most this many packages")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def fixity_cmd(ctx: CliContext, ref: str | None, limit: int | None, as_json: bool) -> None:
    """Fixity of one package (REF: 档号, 档号/vN, id, case number) or the sweep of all, least
    recently checked first, one transaction per package; exit 1 on a failure."""
    if ref is not None:
        report = _fixity_one(ctx, ref)
        if as_json:
            echo_json(
                {"checked": 1, "failed": int(report["outcome"] != "pass"), "packages": [report]}
            )
        else:
            _print_fixity(report)
        if report["outcome"] != "pass":
            raise SystemExit(1)
        return
    with ctx.transaction() as session:
        total = len(preservation.fixity_targets(session=session, limit=limit))
    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=as_json) as bar:
        task = bar.add_task("固定性检查", total=total)
        done = sweeps.sweep_fixity(
            session_factory=ctx.sessions,
            clock=ctx.clock,
            keystore=ctx.keystore,
            settings=ctx.settings,
            actor=ACTOR,
            limit=limit,
            on_package=lambda _id, _ok: bar.advance(task),
        )
    if as_json:
        echo_json(done.to_dict())
    else:
        for report in done.failures:
            _print_fixity(report)
        for problem in done.problems:
            click.echo(f"{problem['package_id']}: error {problem['code']}")
        click.echo(done.line())
    if done.failed or done.errors:
        raise SystemExit(1)


@archive_group.command("verify")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def verify_cmd(ctx: CliContext, ref: str, as_json: bool) -> None:
    """Verify one package now (re-hash, signature, timestamp, log inclusion); recorded."""
    report = _fixity_one(ctx, ref)
    if as_json:
        echo_json(report)
    else:
        click.echo(f"{report['archival_code']}: {report['outcome']}")
    if report["outcome"] != "pass":
        raise SystemExit(1)


@archive_group.command("export")
@click.argument("ref")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--purpose", default="导出归档信息包", show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar")
@pass_ctx
@handle_errors
def export_cmd(ctx: CliContext, ref: str, out: Path, purpose: str, quiet: bool) -> None:
    """Write the stored bag of REF into the empty directory OUT."""
    with ctx.transaction() as session:
        row = find_package_row(session, ref)
        total, ref = row.total_bytes, row.id
    with (
        _byte_bar(Console(stderr=True)) as bar,
        ctx.transaction() as session,
    ):
        task = bar.add_task("导出", total=total, visible=not quiet)
        record = retrieval.export_package(
            session=session,
            clock=ctx.clock,
            store=archive_store(ctx.settings),
            ref=ref,
            dest=out,
            actor=ACTOR,
            purpose=purpose,
            on_chunk=lambda n: bar.advance(task, n),
        )
    click.echo(f"{record.archival_code} -> {out}")


@archive_group.command("search")
@click.option("--case-number")
@click.option("--code", "archival_code")
@click.option("--applicant")
@click.option("--item")
@click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--text", help="A part of the metadata text (3 characters or more)")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--after", help="The cursor of the next page (printed after a page)")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def search_cmd(
    ctx: CliContext,
    case_number: str | None,
    archival_code: str | None,
    applicant: str | None,
    item: str | None,
    date_from: Any,
    date_to: Any,
    text: str | None,
    limit: int,
    after: str | None,
    as_json: bool,
) -> None:
    """Search the catalogue (applicant: 3+ characters match anywhere, 1-2 the start)."""
    query = SearchQuery(
        case_number=case_number,
        archival_code=archival_code,
        applicant=applicant,
        item=item,
        date_from=date_from.date() if date_from else None,
        date_to=date_to.date() if date_to else None,
        text=text,
        limit=limit,
        after=after,
    )
    with ctx.transaction() as session:
        result = retrieval.search(session=session, query=query)
    if as_json:
        echo_json(
            {
                "total": result.total,
                "total_capped": result.total_capped,
                "next": result.next,
                "items": [r.to_dict() for r in result.items],
            }
        )
        return
    click.echo(f"超过 {result.total:,} 件" if result.total_capped else f"共 {result.total:,} 件")
    for r in result.items:
        click.echo(f"{r.archival_code}  {r.case_number} v{r.version}  {r.item_name}  {r.closed_on}")
    if result.next:
        click.echo(f"下一页：--after {result.next}")


@archive_group.command("items")
@click.option("--load-demo", is_flag=True, help="Register the demonstration service items")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def items_cmd(ctx: CliContext, load_demo: bool, as_json: bool) -> None:
    """List (or load) service items with their required-materials lists."""
    with ctx.transaction() as session:
        if load_demo:
            for it in DEMO_ITEMS:
                upsert_service_item(session=session, clock=ctx.clock, item=it)
        items = [i.to_dict() for i in list_service_items(session=session)]
    if as_json:
        echo_json(items)
    else:
        for i in items:
            click.echo(f"{i['code']}  {i['name']}  ({len(i['required_materials'])} 项材料)")


@archive_group.command("appraisal")
@pass_ctx
@handle_errors
def appraisal_cmd(ctx: CliContext) -> None:
    """Move packages whose retention has ended to appraisal (never deletes)."""
    done = sweeps.sweep_appraisal(session_factory=ctx.sessions, clock=ctx.clock, actor=ACTOR)
    with ctx.transaction() as session:
        for package_id in done.flagged:
            row = find_package_row(session, package_id)
            click.echo(f"{row.archival_code}/v{row.version}: 保管期满，进入鉴定")


@archive_group.command("transfer")
@click.argument("refs", nargs=-1, required=True)
@click.option("--receiver", required=True, help="The receiving archives (接收方)")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def transfer_cmd(ctx: CliContext, refs: tuple[str, ...], receiver: str, as_json: bool) -> None:
    """Write a transfer bag (移交) of the packages REFS under the data directory."""
    with ctx.transaction() as session:
        record = transfer.create_transfer(
            session=session,
            clock=ctx.clock,
            keystore=ctx.keystore,
            store=archive_store(ctx.settings),
            refs=list(refs),
            root=transfers_root(ctx.settings),
            receiver=receiver,
            actor=ACTOR,
        )
    if as_json:
        echo_json(record.to_dict())
    else:
        click.echo(f"{record.id}  {record.package_count} 件  root {record.root_sm3}")
        click.echo(record.location)


@archive_group.command("receipt")
@click.argument("transfer_id")
@click.argument("receipt", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--signature",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Detached GB/T 35275 signature (DER) over RECEIPT",
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def receipt_cmd(
    ctx: CliContext, transfer_id: str, receipt: Path, signature: Path | None, as_json: bool
) -> None:
    """Record the receiving archives' receipt (回执) of TRANSFER_ID."""
    with ctx.transaction() as session:
        tools = archive_tools(session=session, settings=ctx.settings)
        record = transfer.record_receipt(
            session=session,
            clock=ctx.clock,
            trust=tools.trust,
            transfer_id=transfer_id,
            receipt=receipt.read_bytes(),
            signature=signature.read_bytes() if signature else None,
            actor=ACTOR,
        )
    if as_json:
        echo_json(record.to_dict())
    else:
        click.echo(f"{record.id}: {record.state} ({record.receipt_check})")


@archive_group.command("inventory")
@click.option("--grace-hours", type=click.FloatRange(min=0), default=6.0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def inventory_cmd(ctx: CliContext, grace_hours: float, as_json: bool) -> None:
    """The store against the catalogue, and expired uploads (exit 1 when objects are missing)."""
    grace = timedelta(hours=grace_hours)
    summary = sweep_inventory(
        session_factory=ctx.sessions, clock=ctx.clock, settings=ctx.settings, grace=grace
    )
    uploads = expire_uploads(
        session_factory=ctx.sessions, clock=ctx.clock, root=uploads_root(ctx.settings)
    )
    if as_json:
        echo_json({"inventory": summary.to_dict(), "uploads": uploads.line()})
    else:
        click.echo(summary.line())
        click.echo(f"uploads: {uploads.line()}")
    if summary.missing:
        raise SystemExit(1)


def load_archive_demo(ctx: CliContext) -> dict[str, Any]:
    """Demo data: the archive key, the service items, and - when the seals demo has an active
    seal - one archived case whose decision PDF is stamped through the seals service."""
    with ctx.transaction() as session:
        key_id = ensure_archive_key(
            session=session, clock=ctx.clock, keystore=ctx.keystore, settings=ctx.settings
        )
        for it in DEMO_ITEMS:
            upsert_service_item(session=session, clock=ctx.clock, item=it)
    summary: dict[str, Any] = {"archive_key": key_id, "service_items": len(DEMO_ITEMS)}
    with ctx.transaction() as session:  # the demo case is archived once, not on every load
        from trust.cli.demo import DEMO_ORGANISATIONS

        company = next(org for org in DEMO_ORGANISATIONS if org.key == "co")
        found = retrieval.search(
            session=session,
            query=SearchQuery(item=DEMO_ITEMS[0].code, applicant=company.name, limit=1),
        )
    if found.items:
        summary["demo_case"] = found.items[0].archival_code
        return summary
    with tempfile.TemporaryDirectory() as tmp:
        folder = demo_case(ctx, Path(tmp))
        if folder is None:
            summary["demo_case"] = None
            return summary
        try:
            done = _ingest(ctx, folder, show_progress=False)
            summary["demo_case"] = done.package.archival_code
        except IngestRefused as exc:
            summary["demo_case_refused"] = [f["reason"] for f in exc.extra.get("failures", [])]
    return summary


# --------------------------------------------------------------------------- demo case


def _pdf(lines: list[str]) -> bytes:
    """A one-page A4 PDF of Chinese text lines (STSong-Light, no embedded font)."""
    text = b"".join(
        b"BT /F1 14 Tf 72 %d Td <%s> Tj ET\n"
        % (760 - 28 * i, line.encode("utf-16-be").hex().encode())
        for i, line in enumerate(lines)
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"endstream",
        b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light-UniGB-UCS2-H "
        b"/Encoding /UniGB-UCS2-H /DescendantFonts [6 0 R] >>",
        b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 4 >> "
        b"/FontDescriptor 7 0 R >>",
        b"<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 "
        b"/FontBBox [-25 -254 1000 880] /ItalicAngle 0 /Ascent 880 /Descent -120 "
        b"/CapHeight 880 /StemV 93 >>",
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _jpeg() -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (480, 320), (245, 245, 235))
    ImageDraw.Draw(img).rectangle((20, 20, 460, 300), outline=(0, 0, 120), width=4)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def _stamp_decision(ctx: CliContext, document: bytes) -> tuple[bytes, str] | None:
    from seals import service as seals_service
    from seals.lifecycle import SealStatus, SealType
    from seals.policy import StampForm
    from seals.service_stamp import Stamped, StampOptions, stamp_document
    from trust.cli.demo import DEMO_ORGANISATIONS
    from trust.cli.seal import cli_principal
    from trust.principals import service as principals

    amr = next(org for org in DEMO_ORGANISATIONS if org.key == "amr")
    with ctx.transaction() as session:
        try:
            org = principals.find_organisation(session=session, ref=amr.uscc)
        except NotFound:
            return None
        seals = [
            r
            for r in seals_service.list_seals(
                session=session, clock=ctx.clock, principal=None, organisation_id=org.id
            )
            if r.seal_type is SealType.ADMIN_APPROVAL and r.status is SealStatus.ACTIVE
        ]
        if not seals:
            return None
        done = stamp_document(
            session=session,
            clock=ctx.clock,
            keystore=ctx.keystore,
            principal=cli_principal(org.id),
            seal_id=seals[0].id,
            form=StampForm.PDF,
            document=document,
            options=StampOptions(page=1, x_mm=120, y_mm=180),
            tsa_policy_oid=ctx.settings.tsa_policy_oid,
        )
    return (done.output, org.name) if isinstance(done, Stamped) else None


def demo_case(ctx: CliContext, root: Path) -> Path | None:
    """A refused 食品经营许可 case whose decision is stamped by the demo seal (None when the seals
    demo has no active seal)."""
    from trust.cli.demo import DEMO_ORGANISATIONS

    company = next(org for org in DEMO_ORGANISATIONS if org.key == "co")
    amr = next(org for org in DEMO_ORGANISATIONS if org.key == "amr")
    decision_pdf = _pdf(
        ["不予行政许可决定书", "演示审批不许决字〔2026〕1号", f"申请人：{company.name}"]
    )
    stamped = _stamp_decision(ctx, decision_pdf)
    if stamped is None:
        return None
    decision, agency = stamped
    signed_at = ctx.clock.now()  # the case closes once the decision is signed and delivered
    files = {
        "0001-申请书.pdf": _pdf(["食品经营许可申请书", f"申请人：{company.name}"]),
        "0002-营业执照.jpg": _jpeg(),
        "0003-企业信息.xml": (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<企业信息><名称>{company.name}</名称></企业信息>\n"
        ).encode(),
        "0004-受理通知书.pdf": _pdf(["受理通知书", "演示审批受字〔2026〕1号"]),
        "0005-不予许可决定书.pdf": decision,
    }
    item = DEMO_ITEMS[0]
    t = signed_at.astimezone(LOCAL_TZ)
    nodes = [
        ("申请", t - timedelta(days=6), "申请人（网上申报）", "提交申请"),
        ("受理", t - timedelta(days=6) + timedelta(hours=1), "窗口人员", "予以受理"),
        ("审查", t - timedelta(days=3), "审查人员", "经营场所不符合要求"),
        ("决定", t - timedelta(minutes=5), "审批负责人", "不予许可"),
        ("送达", t, "送达系统", "电子送达"),
        ("办结", t, "系统", "办结"),
    ]
    meta = [
        (1, "application_form", "M01", "食品经营许可申请书", "0001-申请书.pdf", "pdf", 1, False),
        (2, "attachment", "M02", "营业执照", "0002-营业执照.jpg", "jpeg", None, False),
        (3, "attachment", "M04", "企业基本信息", "0003-企业信息.xml", "xml", None, False),
        (4, "notice", None, "受理通知书", "0004-受理通知书.pdf", "pdf", 1, False),
        (5, "decision", None, "不予行政许可决定书", "0005-不予许可决定书.pdf", "pdf", 1, True),
    ]
    case = {
        "schema": "ywtb-case/1",
        "case_number": f"DEMO{t:%Y%m%d}-000001",
        "version": 1,
        "archival_code": None,
        "fonds": "Z001",
        "year": t.year,
        "retention": item.retention,
        "classification": "依申请公开",
        "agency": {"name": agency, "code": amr.uscc},
        "service_item": {
            "code": item.code,
            "name": item.name,
            "type": item.item_type,
            "required_materials": item.to_dict()["required_materials"],
        },
        "applicant": {
            "kind": "legal",
            "name": company.name,
            "id_type": "统一社会信用代码",
            "id_number": company.uscc,
        },
        "nodes": [
            {"node": n, "time": when.isoformat(), "actor": a, "result": r}
            for n, when, a, r in nodes
        ],
        "materials": [
            {
                "seq": seq,
                "role": role,
                "material_code": code,
                "title": title,
                "file": name,
                "original_name": None,
                "size": len(files[name]),
                "sm3": sm3_hex(files[name]),
                "format": fmt,
                "pages": pages,
                "sealed": sealed,
                "detached": [],
            }
            for seq, role, code, title, name, fmt, pages, sealed in meta
        ],
        "decision": {
            "number": "演示审批不许决字〔2026〕1号",
            "material_seq": 5,
            "date": t.date().isoformat(),
        },
        "licences": [],
        "outcome": "refused",
        "register": {"file_count": len(files), "total_bytes": sum(len(b) for b in files.values())},
    }
    folder = root / "demo-case"
    (folder / "files").mkdir(parents=True)
    for name, data in files.items():
        (folder / "files" / name).write_bytes(data)
    (folder / "case.json").write_text(
        json.dumps(case, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return folder


def register(cli: click.Group) -> None:
    cli.add_command(archive_group)
