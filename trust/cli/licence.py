"""``trustctl licence types|issue|show|revoke|suspend|resume|annul|verify|expire-due``;
the licence demo data. (Holders log in through the identity capability: there is no holder
token any more.)

``issue … --json`` prints the identifier, the typed 核验码, the QR payload and the path of the
sealed PDF; ``verify CODE_OR_QR_PAYLOAD_OR_FILE --json`` prints ``{"result": <fixed code>, …}``
(an existing file is verified as a licence PDF, ``EL1:…`` / ``HTTPS://…/E#…`` as a QR, anything
else as a 核验码). ``load_licence_demo(ctx)`` registers the demo catalogue and issues two demo
licences (called from ``trustctl demo load``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import click

from licences import service, service_issue, service_lifecycle, service_verify
from licences.catalogue import (
    FieldSpec,
    FieldType,
    HolderKind,
    LicenceTypeSpec,
    ValidityRule,
)
from licences.issuance import IssueRequest
from licences.lifecycle import LicenceAction
from licences.service_keys import config_from_settings
from licences.service_verify import Verifier
from trust.cli.context import CliContext, echo_json, handle_errors, pass_ctx
from trust.cli.demo import DEMO_ORGANISATIONS, demo_uscc
from trust.errors import NotFound
from trust.principals import service as principals
from trust.principals.principal import Principal, PrincipalKind
from trust.principals.roles import Grant, Role

__all__ = ["DEMO_TYPES", "cli_issuer", "load_licence_demo", "register"]

_ACTOR = "cli"
_SAMR = demo_uscc("11", "100000", "00000101")  # 演示：国家市场监督管理总局 (synthetic code)
_MOT = demo_uscc("11", "100000", "00000102")  # 演示：交通运输部 (synthetic code)
_MOJ = demo_uscc("11", "100000", "00000103")  # 演示：司法部 (synthetic code)
_MOHURD: Final = "11100000000013338W"  # 住房和城乡建设部 (spec §2.4, a real code)


def _f(name: str, label: str, kind: FieldType = FieldType.TEXT, **kw: Any) -> FieldSpec:
    return FieldSpec(name=name, label=label, type=kind, **kw)


DEMO_TYPES: Final = (
    LicenceTypeSpec(
        code=_SAMR + "001",
        name="营业执照",
        defining_authority_name="国家市场监督管理总局",
        holder_kind=HolderKind.LEGAL,
        fields=(
            _f(
                "entity_type",
                "类型",
                FieldType.CHOICE,
                choices=("有限责任公司", "股份有限公司", "个人独资企业", "合伙企业"),
            ),
            _f("legal_representative", "法定代表人", max_length=50),
            _f("registered_capital", "注册资本", max_length=50),
            _f("established_on", "成立日期", FieldType.DATE),
            _f("address", "住所", max_length=200),
            _f("business_scope", "经营范围", max_length=500),
        ),
        validity=ValidityRule.LONG_TERM,
        number_prefix="",
    ),
    LicenceTypeSpec(
        code=_SAMR + "002",
        name="食品经营许可证",
        defining_authority_name="国家市场监督管理总局",
        holder_kind=HolderKind.LEGAL,
        fields=(
            _f("legal_representative", "法定代表人（负责人）", max_length=50),
            _f("address", "经营场所", max_length=200),
            _f(
                "main_business",
                "主体业态",
                FieldType.CHOICE,
                choices=("食品销售经营者", "餐饮服务经营者", "单位食堂"),
            ),
            _f("business_items", "经营项目", max_length=300),
            _f("daily_supervisor", "日常监督管理人员", mandatory=False, max_length=50),
        ),
        validity=ValidityRule.YEARS,
        validity_years=5,
        number_prefix="JY",
    ),
    LicenceTypeSpec(
        code=_MOHURD + "012",
        name="建筑工程施工许可证",
        defining_authority_name="住房和城乡建设部",
        holder_kind=HolderKind.LEGAL,
        fields=(
            _f("project_name", "工程名称", max_length=100),
            _f("construction_address", "建设地址", max_length=200),
            _f("contract_price", "合同价格（万元）", FieldType.INTEGER),
            _f("contractor", "施工单位", max_length=100),
            _f("contractor_code", "施工单位统一社会信用代码", FieldType.USCC),
            _f("supervisor", "监理单位", mandatory=False, max_length=100),
            _f("contract_period", "合同工期", max_length=50),
        ),
        validity=ValidityRule.GIVEN,
        validity_years=3,
        number_prefix="SG",
    ),
    LicenceTypeSpec(
        code=_MOT + "001",
        name="道路运输经营许可证",
        defining_authority_name="交通运输部",
        holder_kind=HolderKind.LEGAL,
        fields=(
            _f("address", "地址", max_length=200),
            _f("economic_type", "经济类型", max_length=50),
            _f("business_scope", "经营范围", max_length=300),
        ),
        validity=ValidityRule.YEARS,
        validity_years=4,
        number_prefix="DY",
    ),
    LicenceTypeSpec(
        code=_MOJ + "001",
        name="律师执业证",
        defining_authority_name="司法部",
        holder_kind=HolderKind.NATURAL,
        fields=(
            _f("gender", "性别", FieldType.CHOICE, choices=("男", "女")),
            _f("practice_org", "执业机构", max_length=100),
            _f(
                "practice_category",
                "执业证类别",
                FieldType.CHOICE,
                choices=("专职律师", "兼职律师", "公职律师", "公司律师"),
            ),
            _f("qualification_no", "法律职业资格证书编号", max_length=30),
        ),
        validity=ValidityRule.LONG_TERM,
        number_prefix="ZY",
    ),
)

_DEMO_COMPANY = next(o for o in DEMO_ORGANISATIONS if o.key == "co")
_DEMO_LICENCES: Final = (
    IssueRequest(
        type_code=_SAMR + "001",
        holder_name=_DEMO_COMPANY.name,
        holder_code=_DEMO_COMPANY.uscc,
        fields={
            "entity_type": "有限责任公司",
            "legal_representative": "张三",
            "registered_capital": "壹仟万元整",
            "established_on": "2020-05-18",
            "address": "演示市鼓楼区软件大道 1 号",
            "business_scope": "软件开发；信息技术咨询服务；数据处理服务。",
        },
        idempotency_key="demo-licence-business-001",
    ),
    IssueRequest(
        type_code=_MOJ + "001",
        holder_name="李四",
        holder_code="11010519491231002X",  # GB 11643's own example number
        fields={
            "gender": "女",
            "practice_org": "演示律师事务所",
            "practice_category": "专职律师",
            "qualification_no": "A20193501000001",
        },
        idempotency_key="demo-licence-lawyer-001",
    ),
)


def cli_issuer(organisation_id: str) -> Principal:
    """The command-line operator as 发证人 of ``organisation_id``."""
    return Principal(
        kind=PrincipalKind.USER,
        id="cli",
        display="trustctl",
        organisation_id=None,
        grants=frozenset({Grant(Role.LICENCE_ISSUER, organisation_id)}),
        authenticated_by="cli",
    )


def _out_dir(ctx: CliContext) -> Path:
    path = ctx.settings.data_dir / "licences"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_pdf(directory: Path, identifier: str, pdf: bytes) -> Path:
    path = directory / f"{identifier}.pdf"
    path.write_bytes(pdf)
    return path


def _issue(
    ctx: CliContext, org_ref: str, request: IssueRequest, out: Path | None
) -> dict[str, Any]:
    config = config_from_settings(ctx.settings)
    with ctx.transaction() as session:
        org = principals.find_organisation(session=session, ref=org_ref)
        issued = service_issue.issue_licence(
            session=session,
            clock=ctx.clock,
            keystore=ctx.keystore,
            config=config,
            principal=cli_issuer(org.id),
            request=replace(request, organisation_id=org.id),
        )
    path = _write_pdf(out or _out_dir(ctx), issued.record.identifier, issued.document_pdf)
    return {**issued.to_dict(), "document_path": str(path)}


def load_licence_demo(ctx: CliContext) -> dict[str, Any]:
    """Register the demo catalogue and issue two demo licences with the demo department's seal
    (idempotent: a second run registers nothing new and returns the same licences)."""
    with ctx.transaction() as session:
        for spec in DEMO_TYPES:
            service.register_type(session=session, clock=ctx.clock, spec=spec, actor="cli:demo")
    amr = next(o for o in DEMO_ORGANISATIONS if o.key == "amr")
    with ctx.transaction() as session:
        try:
            principals.find_organisation(session=session, ref=amr.uscc)
        except NotFound:
            return {"types": [t.name for t in DEMO_TYPES], "licences": []}
    licences = [_issue(ctx, amr.uscc, request, None) for request in _DEMO_LICENCES]
    return {
        "types": [t.name for t in DEMO_TYPES],
        "licences": [
            {
                "identifier": item["identifier"],
                "licence_name": item["licence"]["licence_name"],
                "verification_code": item["verification_code"],
                "document_path": item["document_path"],
            }
            for item in licences
        ],
    }


# --------------------------------------------------------------------------- commands


@click.group("licence")
def licence_group() -> None:
    """Electronic licences (电子证照): catalogue, issue, show, lifecycle, verify."""


@licence_group.command("types")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def types_cmd(ctx: CliContext, as_json: bool) -> None:
    """List the licence catalogue."""
    with ctx.transaction() as session:
        records = service.list_types(session=session)
    if as_json:
        echo_json([r.to_dict() for r in records])
        return
    if not records:
        click.echo("no licence types (run `trustctl demo load`)")
    for r in records:
        click.echo(f"{r.spec.code}  {r.spec.holder_kind.label:<8} {r.spec.name}")


def _fields(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--field")
        out[name.strip()] = value
    return out


@licence_group.command("issue")
@click.option("--org", "org_ref", required=True, help="Issuing organisation id or USCC")
@click.option("--type", "type_code", required=True, help="21-character licence type code")
@click.option("--holder-name", required=True)
@click.option("--holder-code", required=True, help="Citizen ID number or USCC")
@click.option("--field", "fields", multiple=True, help="Face field NAME=VALUE (repeatable)")
@click.option("--valid-from", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--valid-until", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--number", "licence_number", help="证照编号 (default: generated)")
@click.option("--idempotency-key")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="PDF directory")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def issue_cmd(
    ctx: CliContext,
    org_ref: str,
    type_code: str,
    holder_name: str,
    holder_code: str,
    fields: tuple[str, ...],
    valid_from: Any,
    valid_until: Any,
    licence_number: str | None,
    idempotency_key: str | None,
    out: Path | None,
    as_json: bool,
) -> None:
    """Issue a licence: sealed PDF, identifier, 核验码 and QR payload."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    request = IssueRequest(
        type_code=type_code,
        holder_name=holder_name,
        holder_code=holder_code,
        fields=_fields(fields),
        valid_from=valid_from.date() if valid_from else None,
        valid_until=valid_until.date() if valid_until else None,
        licence_number=licence_number,
        idempotency_key=idempotency_key,
    )
    result = _issue(ctx, org_ref, request, out)
    if as_json:
        echo_json(
            {
                "identifier": result["identifier"],
                "verification_code": result["verification_code"],
                "qr_payload": result["qr_payload"],
                "qr_url": result["qr_url"],
                "document_path": result["document_path"],
                "document_sm3": result["document_sm3"],
                "replayed": result["replayed"],
            }
        )
        return
    click.echo(result["identifier"])
    click.echo(f"核验码 {result['verification_code']}")
    click.echo(result["document_path"])


def _operator(session: Any, ref: str) -> Principal:
    row = service.load_licence(session, ref)
    return cli_issuer(row.issuer_org_id)


@licence_group.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def show_cmd(ctx: CliContext, ref: str, as_json: bool) -> None:
    """Show a licence by id or identifier (metadata, status, history)."""
    with ctx.transaction() as session:
        record = service.get_licence(session=session, principal=_operator(session, ref), ref=ref)
        history = service.licence_history(session=session, licence_id=record.id)
    data = {**record.to_dict(), "history": history}
    if as_json:
        echo_json(data)
        return
    click.echo(f"{record.identifier}  {record.licence_name}  {data['status_zh']}")
    click.echo(f"持证主体 {record.holder_name}  颁证单位 {record.issuer_name}")


def _change_status(
    ctx: CliContext, ref: str, action: LicenceAction, reason: str, as_json: bool
) -> None:
    with ctx.transaction() as session:
        record = service_lifecycle.change_status(
            session=session,
            clock=ctx.clock,
            principal=_operator(session, ref),
            ref=ref,
            action=action,
            reason=reason,
        )
    if as_json:
        echo_json(record.to_dict())
        return
    click.echo(f"{record.identifier}  {record.state.value}")


def _status_command(name: str, action: LicenceAction, help_text: str) -> None:
    @licence_group.command(name, help=help_text)
    @click.argument("ref")
    @click.option("--reason", required=True)
    @click.option("--json", "as_json", is_flag=True)
    @pass_ctx
    @handle_errors
    def command(ctx: CliContext, ref: str, reason: str, as_json: bool) -> None:
        _change_status(ctx, ref, action, reason, as_json)


_status_command("suspend", LicenceAction.SUSPEND, "Suspend a licence (暂扣).")
_status_command("resume", LicenceAction.RESUME, "Resume a suspended licence (发还).")
_status_command("annul", LicenceAction.ANNUL, "Annul a licence (注销).")


@licence_group.command("revoke")
@click.argument("ref")
@click.option("--reason", required=True)
@click.option(
    "--kind",
    type=click.Choice(["revoke", "revoke_penalty", "withdraw"]),
    default="revoke",
    show_default=True,
    help="revoke 撤销, revoke_penalty 吊销, withdraw 撤回",
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def revoke_cmd(ctx: CliContext, ref: str, reason: str, kind: str, as_json: bool) -> None:
    """Revoke a licence (撤销 / 吊销 / 撤回)."""
    _change_status(ctx, ref, LicenceAction(kind), reason, as_json)


@licence_group.command("verify")
@click.argument("value")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def verify_cmd(ctx: CliContext, value: str, as_json: bool) -> None:
    """Verify a 核验码, a QR payload (EL1:… or the URL) or a licence PDF file."""
    who = Verifier(client="cli")
    with ctx.transaction() as session:
        if value.startswith("EL1") or value[:8].upper() == "HTTPS://":
            result = service_verify.verify_qr(
                session=session, clock=ctx.clock, keystore=ctx.keystore, text=value, who=who
            )
        elif _is_file(value):
            result = service_verify.verify_pdf(
                session=session, clock=ctx.clock, data=Path(value).read_bytes(), who=who
            )
        else:
            result = service_verify.verify_code(
                session=session,
                clock=ctx.clock,
                config=config_from_settings(ctx.settings),
                raw_code=value,
                who=who,
            )
    if as_json:
        echo_json(result.to_dict())
        return
    click.echo(f"{result.result.value}  {result.reason}")


def _is_file(value: str) -> bool:
    # A QR text may hold "/" and long runs that are no valid path (ENAMETOOLONG): not a file.
    try:
        return len(value) < 4096 and Path(value).is_file()
    except OSError:
        return False


@licence_group.command("expire-due")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def expire_due_cmd(ctx: CliContext, as_json: bool) -> None:
    """Mark licences past their 有效期止 as expired and update their status-list entries
    (the periodic job does the same)."""
    summary = service_lifecycle.expire_due_licences(
        session_factory=ctx.sessions, clock=ctx.clock, actor="cli"
    )
    if as_json:
        echo_json({"expired": list(summary.expired), "lists_updated": summary.lists_updated})
        return
    click.echo(str(summary))


def register(cli: click.Group) -> None:
    cli.add_command(licence_group)
