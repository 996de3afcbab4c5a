"""``trustctl org | user | client``: principals administration from the command line.

``trustctl org add --name N --uscc C --kind department|company``
``trustctl user add --login L --name N [--org ORG --role R]`` (``--role system_admin`` without
``--org``), ``trustctl user token LOGIN [--days D]``,
``trustctl client add-service --org ORG --name N [--role R …]``.
ORG is an organisation id or its unified social credit code. Secrets and tokens are printed once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from trust.cli.context import CliContext, echo_json, handle_errors, pass_ctx
from trust.principals import service
from trust.principals.records import OrganisationRecord, UserRecord
from trust.principals.roles import CLIENT_ROLES, OrgKind, Role

__all__ = ["register"]

ACTOR = "cli"
_ROLES = [r.value for r in Role]


def _org(record: OrganisationRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "uscc": record.uscc,
        "kind": record.kind.value,
        "created_at": record.created_at.isoformat(),
    }


def _user(record: UserRecord) -> dict[str, Any]:
    grants = sorted(
        ({"role": g.role.value, "organisation_id": g.organisation_id} for g in record.grants),
        key=lambda g: (g["organisation_id"] or "", g["role"]),
    )
    return {
        "id": record.id,
        "login": record.login,
        "display_name": record.display_name,
        "status": record.status,
        "grants": grants,
    }


@click.group("org")
def org_group() -> None:
    """Organisations (departments and companies)."""


@org_group.command("add")
@click.option("--name", required=True, help="Registered name, e.g. 某市市场监督管理局")
@click.option("--uscc", required=True, help="Unified social credit code (GB 32100), 18 characters")
@click.option("--kind", required=True, type=click.Choice([k.value for k in OrgKind]))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@pass_ctx
@handle_errors
def org_add(ctx: CliContext, name: str, uscc: str, kind: str, as_json: bool) -> None:
    """Register an organisation under its unified social credit code."""
    with ctx.transaction() as session:
        record = service.create_organisation(
            session=session, clock=ctx.clock, name=name, uscc=uscc, kind=kind, actor=ACTOR
        )
    if as_json:
        echo_json(_org(record))
    else:
        click.echo(f"{record.id}  {record.uscc}  {record.kind.value}  {record.name}")


@org_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@pass_ctx
@handle_errors
def org_list(ctx: CliContext, as_json: bool) -> None:
    """List organisations."""
    with ctx.transaction() as session:
        records = service.list_organisations(session=session)
    if as_json:
        echo_json([_org(r) for r in records])
        return
    for r in records:
        click.echo(f"{r.id}  {r.uscc}  {r.kind.value:<10} {r.name}")


@click.group("user")
def user_group() -> None:
    """Staff users, their roles and API tokens."""


@user_group.command("add")
@click.option("--login", required=True, help="Login name: lower-case letters, digits, . _ -")
@click.option("--name", required=True, help="Display name, e.g. 张三")
@click.option("--org", "org_ref", help="Organisation id or USCC for --role")
@click.option("--role", type=click.Choice(_ROLES), help="Role to grant (system_admin: no --org)")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@pass_ctx
@handle_errors
def user_add(
    ctx: CliContext, login: str, name: str, org_ref: str | None, role: str | None, as_json: bool
) -> None:
    """Create a staff user, optionally granting one role."""
    if org_ref is not None and role is None:
        raise click.UsageError("--org needs --role")
    with ctx.transaction() as session:
        user = service.create_user(
            session=session, clock=ctx.clock, login=login, display_name=name, actor=ACTOR
        )
        if role is not None:
            org_id = service.find_organisation(session=session, ref=org_ref).id if org_ref else None
            user = service.grant_role(
                session=session,
                clock=ctx.clock,
                user_id=user.id,
                role=Role(role),
                organisation_id=org_id,
                actor=ACTOR,
            )
    if as_json:
        echo_json(_user(user))
    else:
        roles = ", ".join(f"{g.role.value}@{g.organisation_id or '*'}" for g in user.grants)
        click.echo(f"{user.id}  {user.login}  {user.display_name}  {roles or '(no roles)'}")


@user_group.command("token")
@click.argument("login")
@click.option("--days", type=click.IntRange(1, 366), default=30, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@pass_ctx
@handle_errors
def user_token(ctx: CliContext, login: str, days: int, as_json: bool) -> None:
    """Issue a bearer API token for a user; it is printed once and cannot be shown again."""
    with ctx.transaction() as session:
        user = service.find_user(session=session, login=login)
        issued = service.create_api_token(
            session=session,
            clock=ctx.clock,
            user_id=user.id,
            lifetime=timedelta(days=days),
            actor=ACTOR,
        )
    if as_json:
        echo_json(
            {
                "token_id": issued.token_id,
                "user_id": issued.user_id,
                "token": issued.token,
                "expires_at": issued.expires_at.isoformat(),
            }
        )
        return
    click.echo(issued.token)
    click.echo(f"expires {issued.expires_at.isoformat()}; shown once, store it now", err=True)


@click.group("client")
def client_group() -> None:
    """Service clients of department systems (client credentials)."""


@client_group.command("add-service")
@click.option("--org", "org_ref", required=True, help="Organisation id or USCC")
@click.option("--name", required=True, help="System name, e.g. 不动产登记系统")
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(sorted(r.value for r in CLIENT_ROLES)),
    help="Role in the organisation",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@pass_ctx
@handle_errors
def client_add(
    ctx: CliContext, org_ref: str, name: str, roles: tuple[str, ...], as_json: bool
) -> None:
    """Create a service client; its secret is printed once and cannot be shown again."""
    with ctx.transaction() as session:
        org = service.find_organisation(session=session, ref=org_ref)
        issued = service.create_client(
            session=session,
            clock=ctx.clock,
            organisation_id=org.id,
            name=name,
            roles=[Role(r) for r in roles],
            actor=ACTOR,
        )
    client = issued.client
    if as_json:
        echo_json(
            {
                "client_id": client.client_id,
                "client_secret": issued.client_secret,
                "organisation_id": client.organisation_id,
                "name": client.name,
                "roles": sorted(r.value for r in client.roles),
            }
        )
        return
    click.echo(f"client_id:     {client.client_id}")
    click.echo(f"client_secret: {issued.client_secret}")
    click.echo("the secret is shown once; store it now", err=True)


def register(cli: click.Group) -> None:
    cli.add_command(org_group)
    cli.add_command(user_group)
    cli.add_command(client_group)
