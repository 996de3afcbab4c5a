"""``trustctl demo load``: demonstration data for every capability (organisations, staff, a
service client here; seals, portals, licences and the archive through their own CLI modules).

Everything created here is labelled 演示 (demo) and uses synthetic codes with valid check
characters. Safe to run again: what exists is kept; secrets are printed only when first created.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import click

from trust.checkchars import org_code_check_char, uscc_check_char
from trust.cli.context import CliContext, echo_json, handle_errors, pass_ctx
from trust.errors import NotFound
from trust.principals import service as principals
from trust.principals.roles import OrgKind, Role

__all__ = ["DEMO_ORGANISATIONS", "DEMO_USERS", "demo_uscc", "register"]

_ACTOR = "cli:demo"


def demo_uscc(registration: str, region: str, org_body: str) -> str:
    """A synthetic unified social credit code with valid GB 11714 and GB 32100 check characters.

    ``registration`` is the 2-character authority + entity type (``11`` 机关, ``91`` 企业),
    ``region`` the 6-digit GB/T 2260 code, ``org_body`` the 8-digit organisation-code body.
    """
    first17 = registration + region + org_body + org_code_check_char(org_body)
    return first17 + uscc_check_char(first17)


@dataclass(frozen=True)
class DemoOrg:
    key: str
    name: str
    uscc: str
    kind: OrgKind


@dataclass(frozen=True)
class DemoUser:
    login: str
    name: str
    org_key: str | None
    roles: tuple[Role, ...]


DEMO_ORGANISATIONS = (
    DemoOrg(
        "amr", "演示市市场监督管理局", demo_uscc("11", "350100", "00000001"), OrgKind.DEPARTMENT
    ),
    DemoOrg(
        "gov", "演示市政务服务数据管理局", demo_uscc("11", "350100", "00000002"), OrgKind.DEPARTMENT
    ),
    DemoOrg("co", "演示科技有限公司", demo_uscc("91", "350100", "10000003"), OrgKind.COMPANY),
)

DEMO_USERS = (
    DemoUser("demo.admin", "演示系统管理员", None, (Role.SYSTEM_ADMIN,)),
    DemoUser("demo.custodian", "演示印章管理员", "amr", (Role.SEAL_CUSTODIAN, Role.ADMIN)),
    DemoUser("demo.stamper", "演示用章人", "amr", (Role.SEAL_USER,)),
    DemoUser("demo.issuer", "演示发证人", "amr", (Role.LICENCE_ISSUER,)),
    DemoUser("demo.archivist", "演示档案员", "gov", (Role.ARCHIVIST,)),
    DemoUser("demo.auditor", "演示审计员", "gov", (Role.AUDITOR,)),
)


def _ensure_org(ctx: CliContext, org: DemoOrg) -> tuple[str, bool]:
    with ctx.transaction() as session:
        try:
            return principals.find_organisation(session=session, ref=org.uscc).id, False
        except NotFound:
            record = principals.create_organisation(
                session=session,
                clock=ctx.clock,
                name=org.name,
                uscc=org.uscc,
                kind=org.kind,
                actor=_ACTOR,
            )
            return record.id, True


def _ensure_user(ctx: CliContext, user: DemoUser, org_ids: dict[str, str]) -> tuple[str, bool]:
    with ctx.transaction() as session:
        try:
            return principals.find_user(session=session, login=user.login).id, False
        except NotFound:
            record = principals.create_user(
                session=session,
                clock=ctx.clock,
                login=user.login,
                display_name=user.name,
                actor=_ACTOR,
            )
            for role in user.roles:
                principals.grant_role(
                    session=session,
                    clock=ctx.clock,
                    user_id=record.id,
                    role=role,
                    organisation_id=org_ids[user.org_key] if user.org_key else None,
                    actor=_ACTOR,
                )
            return record.id, True


def load_demo(ctx: CliContext) -> dict[str, Any]:
    org_ids: dict[str, str] = {}
    created: dict[str, Any] = {"organisations": [], "users": [], "secrets": {}}
    for org in DEMO_ORGANISATIONS:
        org_ids[org.key], new = _ensure_org(ctx, org)
        if new:
            created["organisations"].append(f"{org.name} ({org.uscc})")
    for user in DEMO_USERS:
        user_id, new = _ensure_user(ctx, user, org_ids)
        if not new:
            continue
        created["users"].append(user.login)
        if Role.SYSTEM_ADMIN in user.roles:
            with ctx.transaction() as session:
                token = principals.create_api_token(
                    session=session,
                    clock=ctx.clock,
                    user_id=user_id,
                    lifetime=timedelta(days=30),
                    actor=_ACTOR,
                )
            created["secrets"][f"{user.login} API token (Bearer)"] = token.token
    if created["organisations"]:
        with ctx.transaction() as session:
            issued = principals.create_client(
                session=session,
                clock=ctx.clock,
                organisation_id=org_ids["amr"],
                name="演示审批系统",
                roles=(Role.SEAL_USER, Role.LICENCE_ISSUER),
                actor=_ACTOR,
            )
        created["secrets"]["演示审批系统 client_id"] = issued.client.client_id
        created["secrets"]["演示审批系统 client_secret"] = issued.client_secret
    return created


@click.group("demo")
def demo_group() -> None:
    """Demonstration data (labelled 演示)."""


@demo_group.command("load")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def demo_load(ctx: CliContext, as_json: bool) -> None:
    """Demo data for every capability (labelled 演示); idempotent: organisations, staff, a
    service client, a seal, two OIDC portals and a citizen, the licence catalogue with two
    licences, the archive's service items and one archived case."""
    # Imported here: these modules read DEMO_ORGANISATIONS from this one.
    from trust.cli.archive import load_archive_demo
    from trust.cli.licence import load_licence_demo
    from trust.cli.oidc import load_oidc_demo
    from trust.cli.seal import load_seal_demo

    created = load_demo(ctx)
    seal = load_seal_demo(ctx)
    created["seal"] = seal["seal"]
    oidc = load_oidc_demo(ctx)
    created["portals"] = oidc["portals"]
    created["secrets"].update(oidc["secrets"])
    if seal["seal"] is not None:
        created["licences"] = load_licence_demo(ctx)
    else:  # demo licences are sealed with the demo seal
        click.echo("trustctl: demo licences skipped: there is no demo seal", err=True)
        created["licences"] = {"types": [], "licences": []}
    created["archive"] = load_archive_demo(ctx)
    if as_json:
        echo_json(created)
        return
    if seal["created"]:
        click.echo(f"seal        : {seal['seal']['name']} ({seal['seal']['id']})")
    for org in created["organisations"]:
        click.echo(f"organisation: {org}")
    for login in created["users"]:
        click.echo(f"staff user  : {login}")
    for item in created["licences"]["licences"]:
        click.echo(
            f"licence     : {item['licence_name']} {item['identifier']}"
            f"  核验码 {item['verification_code']}"
        )
    archived = created["archive"].get("demo_case")
    if archived:
        click.echo(f"archive     : case archived as {archived}")
    for label, value in created["secrets"].items():
        click.echo(f"{label}: {value}   (shown once)")
    if not created["organisations"] and not created["users"] and not created["secrets"]:
        click.echo("demo data already present")


def register(cli: click.Group) -> None:
    cli.add_command(demo_group)
