"""``trustctl client add | list`` (OIDC relying parties) and ``trustctl oidc cleanup``.

``trustctl client add --name NAME --redirect-uri URI [--redirect-uri …]
[--backchannel-logout-uri URI] [--post-logout-redirect-uri URI] [--public] [--scope S …]
[--grant-type G …] [--sector ID] [--min-acr ACR] --json`` registers a portal, app or
mini-program and prints its ``client_id`` and (confidential clients) ``client_secret`` once.
The commands join the ``client`` group of ``trust.cli.principals`` (service clients).

``load_oidc_demo(ctx)`` creates two demo portals (演示门户A/B, redirect URIs on 127.0.0.1) and a
demo citizen account whose password is printed once; ``trustctl demo load`` calls it.
"""

from __future__ import annotations

import secrets
from typing import Any, Final

import click
from sqlalchemy import select

from identity import service as identity_service
from identity.clients import GRANT_TYPES
from identity.keying import IdentityKeys
from identity.model import Person
from identity.oidc_model import OidcClient
from identity.oidc_service_clients import ClientRecord, list_clients, register_client
from identity.oidc_service_context import OidcContext
from identity.oidc_service_resources import cleanup
from identity.oidc_settings import load_oidc_settings
from identity.sim_data import load_sim_registry
from trust.cli.context import CliContext, echo_json, handle_errors, pass_ctx

__all__ = ["DEMO_PORTALS", "load_oidc_demo", "register"]

ACTOR: Final = "cli"
#: (name, port) of the demo portals; their redirect URIs are on 127.0.0.1.
DEMO_PORTALS: Final = (("演示门户A", 8101), ("演示门户B", 8102))
DEMO_USERNAME: Final = "demo.citizen"


def _client_json(record: ClientRecord, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "client_id": record.client_id,
        "name": record.name,
        "kind": record.kind,
        "redirect_uris": list(record.redirect_uris),
        "post_logout_redirect_uris": list(record.post_logout_redirect_uris),
        "backchannel_logout_uri": record.backchannel_logout_uri,
        "sector_identifier": record.sector_id,
        "scopes": list(record.allowed_scopes),
        "grant_types": list(record.grant_types),
    }
    if secret is not None or record.kind == "confidential":
        out["client_secret"] = secret
    return out


@click.command("add")
@click.option("--name", required=True, help="Portal name, e.g. 某市政务服务网")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Exact redirect URI")
@click.option("--post-logout-redirect-uri", "post_logout", multiple=True)
@click.option("--backchannel-logout-uri", default=None)
@click.option("--public", "public", is_flag=True, help="Public client (app, mini-program)")
@click.option("--scope", "scopes", multiple=True, help="Allowed scope (default: all but ID no.)")
@click.option("--grant-type", "grant_types", multiple=True, type=click.Choice(GRANT_TYPES))
@click.option("--sector", default=None, help="Pairwise sector (default: redirect URI host)")
@click.option("--min-acr", default=None, help="Minimum acr, e.g. urn:ywtb:loa:2")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@pass_ctx
@handle_errors
def client_add_oidc(
    ctx: CliContext,
    name: str,
    redirect_uris: tuple[str, ...],
    post_logout: tuple[str, ...],
    backchannel_logout_uri: str | None,
    public: bool,
    scopes: tuple[str, ...],
    grant_types: tuple[str, ...],
    sector: str | None,
    min_acr: str | None,
    as_json: bool,
) -> None:
    """Register an OIDC relying party; the secret is printed once."""
    with ctx.transaction() as session:
        registered = register_client(
            session=session,
            clock=ctx.clock,
            name=name,
            kind="public" if public else "confidential",
            redirect_uris=redirect_uris,
            post_logout_redirect_uris=post_logout,
            backchannel_logout_uri=backchannel_logout_uri,
            sector_identifier=sector,
            scopes=scopes or None,
            grant_types=grant_types or None,
            min_acr=min_acr,
            actor=ACTOR,
        )
    if as_json:
        echo_json(_client_json(registered.client, registered.client_secret))
        return
    click.echo(f"client_id:     {registered.client.client_id}")
    if registered.client_secret:
        click.echo(f"client_secret: {registered.client_secret}")
        click.echo("the secret is shown once; store it now", err=True)


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@pass_ctx
@handle_errors
def client_list_oidc(ctx: CliContext, as_json: bool) -> None:
    """List OIDC relying parties."""
    with ctx.transaction() as session:
        records = list_clients(session=session)
    if as_json:
        echo_json([_client_json(r) for r in records])
        return
    for r in records:
        click.echo(f"{r.client_id}  {r.kind:<12} {r.name}  {' '.join(r.redirect_uris)}")


def _context(ctx: CliContext) -> OidcContext:
    return OidcContext(load_oidc_settings(ctx.settings), IdentityKeys.from_settings(ctx.settings))


@click.group("oidc")
def oidc_group() -> None:
    """OpenID Provider housekeeping."""


@oidc_group.command("cleanup")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@pass_ctx
@handle_errors
def cleanup_cmd(ctx: CliContext, as_json: bool) -> None:
    """Delete expired codes, tokens, interactions and SSO sessions."""
    with ctx.transaction() as session:
        report = cleanup(session=session, clock=ctx.clock, ctx=_context(ctx))
    if as_json:
        echo_json(report.as_dict())
        return
    for name, count in report.as_dict().items():
        click.echo(f"{name:<15} {count}")


def load_oidc_demo(ctx: CliContext) -> dict[str, Any]:
    """Two demo portals and a demo citizen (simulated registry data). Idempotent: what exists
    is kept; secrets and the password are returned only when first created."""
    out: dict[str, Any] = {"portals": [], "secrets": {}}
    keys = IdentityKeys.from_settings(ctx.settings)
    with ctx.transaction() as session:
        existing = {c.name for c in session.scalars(select(OidcClient))}
        for name, port in DEMO_PORTALS:
            if name in existing:
                continue
            registered = register_client(
                session=session,
                clock=ctx.clock,
                name=name,
                redirect_uris=[f"http://127.0.0.1:{port}/callback"],
                post_logout_redirect_uris=[f"http://127.0.0.1:{port}/"],
                backchannel_logout_uri=f"http://127.0.0.1:{port}/backchannel-logout",
                sector_identifier="demo.ywtb.example",
                actor="cli:demo",
            )
            out["portals"].append(registered.client.client_id)
            out["secrets"][f"{name} client_id"] = registered.client.client_id
            out["secrets"][f"{name} client_secret"] = registered.client_secret
        has_demo = session.scalar(select(Person.id).where(Person.username == DEMO_USERNAME))
        if has_demo is None:
            citizen = load_sim_registry().citizens[-1]
            password = secrets.token_urlsafe(12)
            identity_service.register_person(
                session=session,
                clock=ctx.clock,
                keys=keys,
                name=citizen.name,
                id_number=citizen.id_number,
                phone=citizen.phone,
                password=password,
                username=DEMO_USERNAME,
            )
            out["secrets"][f"演示市民 {DEMO_USERNAME} password"] = password
    return out


def register(cli: click.Group) -> None:
    group = cli.commands.get("client")
    if isinstance(group, click.Group):
        group.add_command(client_add_oidc)
        group.add_command(client_list_oidc)
    cli.add_command(oidc_group)
