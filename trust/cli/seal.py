"""``trustctl seal``: make, list, stamp and verify electronic seals from the command line.

* ``trustctl seal make --org ORG --type TYPE --name NAME [--image PNG] [--valid-days N]
  [--person-name NAME] [--two-person] [--out SEAL.esl]`` applies for, makes and activates a seal
  (ORG: organisation id or USCC; TYPE: ``admin_approval`` / ``行政审批专用章`` / its number) and
  prints the seal id (and the ``.esl`` path with ``--out``);
* ``trustctl seal list [--org ORG] [--json]``;
* ``trustctl seal stamp SEAL_ID FILE --out OUT [--page N --x MM --y MM | --keyword K]
  [--cross-page] [--timestamp] [--property-info TEXT]``: the form follows the file type -
  ``.pdf`` -> PDF, ``.ofd`` -> OFD, anything else -> a detached SES_Signature (``.sig``);
  under the two-person rule it stores a request and prints its id instead;
* ``trustctl seal verify FILE [--original FILE] [--json]`` prints the report (top-level
  ``verdict``). **Exit status: 0 VALID, 1 INVALID, 2 INDETERMINATE, 3 the file could not be
  verified at all** (not a seal, seal signature, PDF or OFD; too large);
* ``trustctl seal suspend|resume|revoke SEAL_ID --reason TEXT``, ``trustctl seal usage
  SEAL_ID``, ``trustctl seal expire`` (record the expiry of seals past their validity).

The command line acts as ``user:cli``, holding the custodian and seal-user roles of the seal's
organisation (a seal restricted to named users or custodians refuses it, as it should).
``load_seal_demo`` makes the demo department's 行政审批专用章 for ``trustctl demo load``; on a
machine without a CJK font it prints a hint and carries on without the demo seal.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Final

import click
from sqlalchemy.orm import Session

from seals import service, service_stamp, service_verify
from seals.fonts import find_cjk_font
from seals.lifecycle import SealStatus, SealType, parse_seal_type
from seals.policy import StampForm
from seals.service import SealApplication, SealRecord
from seals.service_stamp import StampOptions, StampPending
from trust.cli.ca import ensure_ca
from trust.cli.context import CliContext, echo_json, handle_errors, pass_ctx
from trust.cli.demo import DEMO_ORGANISATIONS
from trust.errors import NotFound, TrustError, Unavailable
from trust.principals import service as principals
from trust.principals.principal import Principal, PrincipalKind
from trust.principals.roles import Grant, Role

__all__ = ["EXIT_CODES", "cli_principal", "load_seal_demo", "register"]

#: ``trustctl seal verify`` exit status per verdict; 3 when the file cannot be verified at all.
EXIT_CODES: Final = {"VALID": 0, "INVALID": 1, "INDETERMINATE": 2}
EXIT_UNVERIFIABLE: Final = 3
_FORMS: Final = {".pdf": StampForm.PDF, ".ofd": StampForm.OFD}
_VERDICT_ZH: Final = {"VALID": "有效", "INVALID": "无效", "INDETERMINATE": "无法确定"}


def cli_principal(organisation_id: str) -> Principal:
    """The command-line operator: custodian and seal user of ``organisation_id``."""
    return Principal(
        kind=PrincipalKind.USER,
        id="cli",
        display="trustctl",
        organisation_id=None,
        grants=frozenset(
            {
                Grant(Role.SEAL_CUSTODIAN, organisation_id),
                Grant(Role.SEAL_USER, organisation_id),
                Grant(Role.ADMIN, organisation_id),
            }
        ),
        authenticated_by="cli",
    )


def _seal_json(r: SealRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "seal_type": r.seal_type.value,
        "type_label": r.type_label,
        "organisation_id": r.organisation_id,
        "organisation_name": r.organisation_name,
        "status": r.status.value,
        "valid_from": r.valid_from.isoformat(),
        "valid_to": r.valid_to.isoformat(),
        "two_person_rule": r.two_person_rule,
        "es_id": r.es_id,
        "esl_sm3": r.esl_sm3,
    }


def _make(
    ctx: CliContext, session: Session, application: SealApplication, principal: Principal
) -> SealRecord:
    record = service.apply_seal(
        session=session, clock=ctx.clock, principal=principal, application=application
    )
    service.make_seal(
        session=session,
        clock=ctx.clock,
        keystore=ctx.keystore,
        settings=ctx.settings,
        principal=principal,
        seal_id=record.id,
        reason="trustctl seal make",
    )
    return service.activate_seal(
        session=session,
        clock=ctx.clock,
        principal=principal,
        seal_id=record.id,
        reason="trustctl seal make",
    )


@click.group("seal")
def seal_group() -> None:
    """Electronic seals (电子印章): make, list, stamp, verify."""


@seal_group.command("make")
@click.option("--org", "org_ref", required=True, help="Organisation id or USCC")
@click.option("--type", "seal_type", required=True, help="e.g. admin_approval or 行政审批专用章")
@click.option("--name", required=True, help="Seal name (also the certificate CN)")
@click.option("--image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--valid-days", type=int, default=service.DEFAULT_VALID_DAYS, show_default=True)
@click.option("--person-name", help="法定代表人名章: the name drawn on the square seal")
@click.option("--two-person", is_flag=True, help="Require a second custodian's approval per use")
@click.option("--reason", default="trustctl seal make", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the .esl here")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def make_cmd(
    ctx: CliContext,
    org_ref: str,
    seal_type: str,
    name: str,
    image: Path | None,
    valid_days: int,
    person_name: str | None,
    two_person: bool,
    reason: str,
    out: Path | None,
    as_json: bool,
) -> None:
    """Apply for, make and activate a seal; print its id."""
    with ctx.transaction() as session:
        org = principals.find_organisation(session=session, ref=org_ref)
        record = _make(
            ctx,
            session,
            SealApplication(
                organisation_id=org.id,
                seal_type=parse_seal_type(seal_type),
                name=name,
                reason=reason,
                image=image.read_bytes() if image is not None else None,
                person_name=person_name,
                valid_days=valid_days,
                two_person_rule=two_person,
            ),
            cli_principal(org.id),
        )
        esl = service.seal_esl(session=session, principal=None, seal_id=record.id)
    if out is not None:
        out.write_bytes(esl)
    if as_json:
        echo_json({**_seal_json(record), "esl_path": str(out) if out else None})
        return
    click.echo(record.id)
    if out is not None:
        click.echo(str(out))


@seal_group.command("list")
@click.option("--org", "org_ref", help="Organisation id or USCC")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def list_cmd(ctx: CliContext, org_ref: str | None, as_json: bool) -> None:
    """List seals (all organisations unless --org)."""
    with ctx.transaction() as session:
        org_id = None
        if org_ref is not None:
            org_id = principals.find_organisation(session=session, ref=org_ref).id
        records = service.list_seals(
            session=session, clock=ctx.clock, principal=None, organisation_id=org_id
        )
    if as_json:
        echo_json([_seal_json(r) for r in records])
        return
    if not records:
        click.echo("no seals")
    for r in records:
        click.echo(
            f"{r.id}  {r.status.value:<9} {r.valid_to:%Y-%m-%d}  {r.type_label}  {r.name}"
            f"  ({r.organisation_name})"
        )


@seal_group.command("stamp")
@click.argument("seal_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--page", type=int, default=1, show_default=True, help="Page, from 1")
@click.option("--x", "x_mm", type=float, help="mm from the left edge (seal's top-left corner)")
@click.option("--y", "y_mm", type=float, help="mm from the top edge (seal's top-left corner)")
@click.option("--keyword", help="PDF: centre the seal on this text")
@click.option("--cross-page", is_flag=True, help="PDF: 骑缝章 across all pages")
@click.option(
    "--timestamp", is_flag=True, help="add a timestamp from this service's TSA (all forms)"
)
@click.option("--property-info", help="bytes: the propertyInfo naming the original")
@pass_ctx
@handle_errors
def stamp_cmd(
    ctx: CliContext,
    seal_id: str,
    file: Path,
    out: Path,
    page: int,
    x_mm: float | None,
    y_mm: float | None,
    keyword: str | None,
    cross_page: bool,
    timestamp: bool,
    property_info: str | None,
) -> None:
    """Stamp FILE (.pdf, .ofd, else bytes -> .sig) and write the result to --out."""
    form = _FORMS.get(file.suffix.lower(), StampForm.BYTES)
    options = StampOptions(
        property_info=property_info,
        timestamp=timestamp,
        page=page,
        x_mm=x_mm,
        y_mm=y_mm,
        keyword=keyword,
        cross_page=cross_page,
    )
    with ctx.transaction() as session:
        facts = service.seal_facts(session=session, seal_id=seal_id)
        result = service_stamp.stamp_document(
            session=session,
            clock=ctx.clock,
            keystore=ctx.keystore,
            principal=cli_principal(facts.organisation_id),
            seal_id=seal_id,
            form=form,
            document=file.read_bytes(),
            options=options,
            tsa_policy_oid=ctx.settings.tsa_policy_oid,
        )
    if isinstance(result, StampPending):
        click.echo(
            f"two-person rule: stamping request {result.request.id} stored; a custodian must "
            f"approve it (POST /seals/requests/{result.request.id}/approve)"
        )
        return
    out.write_bytes(result.output)
    click.echo(f"{out}  usage {result.usage.id}  sm3 {result.usage.output_sm3}")


def _print_report(report: dict[str, Any]) -> None:
    verdict = report["verdict"]
    click.echo(f"{verdict} ({_VERDICT_ZH[verdict]})  reason: {report['reason']}")
    click.echo(f"kind: {report['kind']}  sm3: {report['document_sm3']}")
    for sig in report["signatures"]:
        click.echo(
            f"- #{sig['index'] + 1} {sig['verdict']} ({sig['reason']}): "
            f"{sig.get('seal_name') or '?'} / {sig.get('organisation') or '?'} / "
            f"signed {sig.get('signing_time') or '?'}"
        )
        for name, check in sig["checks"].items():
            click.echo(f"    {name:<34} {check['status']:<12} {check['reason']}")


@seal_group.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--original", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON")
@pass_ctx
def verify_cmd(ctx: CliContext, file: Path, original: Path | None, as_json: bool) -> None:
    """Verify a seal (.esl), seal signature (.sig), PDF or OFD.

    Exit status: 0 VALID, 1 INVALID, 2 INDETERMINATE, 3 not verifiable."""
    try:
        with ctx.transaction() as session:
            report = service_verify.verify_file(
                file.read_bytes(),
                file.name,
                session=session,
                clock=ctx.clock,
                original=original.read_bytes() if original is not None else None,
            )
    except TrustError as exc:
        click.echo(f"trustctl: cannot verify: {exc.detail} [{exc.code}]", err=True)
        sys.exit(EXIT_UNVERIFIABLE)
    if as_json:
        echo_json(report)
    else:
        _print_report(report)
    sys.exit(EXIT_CODES[report["verdict"]])


def _lifecycle_cmd(name: str, change: Any, help_text: str) -> None:
    @seal_group.command(name, help=help_text)
    @click.argument("seal_id")
    @click.option("--reason", required=True)
    @pass_ctx
    @handle_errors
    def command(ctx: CliContext, seal_id: str, reason: str) -> None:
        with ctx.transaction() as session:
            facts = service.seal_facts(session=session, seal_id=seal_id)
            record = change(
                session=session,
                clock=ctx.clock,
                principal=cli_principal(facts.organisation_id),
                seal_id=seal_id,
                reason=reason,
            )
        click.echo(f"{record.id}  {record.status.value}")


_lifecycle_cmd("suspend", service.suspend_seal, "Suspend a seal (stamping refused).")
_lifecycle_cmd("resume", service.resume_seal, "Resume a suspended seal.")
_lifecycle_cmd("revoke", service.revoke_seal, "Revoke a seal and its holder certificate.")


@seal_group.command("usage")
@click.argument("seal_id")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def usage_cmd(ctx: CliContext, seal_id: str, as_json: bool) -> None:
    """用章记录 of a seal, newest first."""
    with ctx.transaction() as session:
        records = service_stamp.usage_history(session=session, principal=None, seal_id=seal_id)
    rows = [
        {
            "id": u.id,
            "used_at": u.used_at.isoformat(),
            "actor": u.actor,
            "form": u.form.value,
            "input_sm3": u.input_sm3,
            "output_sm3": u.output_sm3,
            "request_id": u.request_id,
            "log_index": u.log_index,
        }
        for u in records
    ]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['used_at']}  {row['actor']:<24} {row['form']:<5} {row['output_sm3']}")


@seal_group.command("expire")
@pass_ctx
@handle_errors
def expire_cmd(ctx: CliContext) -> None:
    """Record 'expired' for every seal past its validity."""
    with ctx.transaction() as session:
        expired = service.expire_due_seals(session=session, clock=ctx.clock, actor="user:cli")
    for seal_id in expired:
        click.echo(seal_id)


DEMO_SEAL_NAME: Final = "演示市市场监督管理局行政审批专用章"


def load_seal_demo(ctx: CliContext) -> dict[str, Any]:
    """One active 行政审批专用章 for the demo department (``DEMO_ORGANISATIONS`` key ``amr``),
    made unless the department already has one (idempotent). Ensures the CA exists first."""
    amr = next(org for org in DEMO_ORGANISATIONS if org.key == "amr")
    with ctx.transaction() as session:
        ensure_ca(session=session, clock=ctx.clock, keystore=ctx.keystore, settings=ctx.settings)
        try:
            org = principals.find_organisation(session=session, ref=amr.uscc)
        except NotFound:
            return {"seal": None, "created": False, "note": "demo organisation missing"}
        existing = [
            r
            for r in service.list_seals(
                session=session, clock=ctx.clock, principal=None, organisation_id=org.id
            )
            if r.seal_type is SealType.ADMIN_APPROVAL and r.status is SealStatus.ACTIVE
        ]
        if existing:
            return {"seal": _seal_json(existing[0]), "created": False}
        try:  # before anything is written: drawing the seal picture needs a CJK font
            find_cjk_font()
        except Unavailable as exc:
            click.echo(f"trustctl: demo seal skipped: {exc.detail} [{exc.code}]", err=True)
            return {"seal": None, "created": False, "note": exc.detail}
        record = _make(
            ctx,
            session,
            SealApplication(
                organisation_id=org.id,
                seal_type=SealType.ADMIN_APPROVAL,
                name=DEMO_SEAL_NAME,
                reason="演示数据",
            ),
            cli_principal(org.id),
        )
    return {"seal": _seal_json(record), "created": True}


def register(cli: click.Group) -> None:
    cli.add_command(seal_group)
