"""``trustctl init | serve | db upgrade | status``: set-up and operation of one installation."""

from __future__ import annotations

from typing import Any

import click

from trust.cli.context import CliContext, echo_json, fail, handle_errors, pass_ctx
from trust.errors import Misconfigured

__all__ = ["register"]


def _crypto_report(ctx: CliContext) -> dict[str, str]:
    from trust.crypto.backend import configure

    info = configure(ctx.settings.crypto_backend)
    return {"name": info.name, "version": info.version_text, "library": info.library_path}


def _ensure_master_key(ctx: CliContext) -> str:
    from keys.masterkey import create_master_key_file

    settings = ctx.settings
    if settings.master_key is not None:
        return "from settings"
    path = settings.resolved_master_key_file
    if path.exists():
        return f"existing file {path}"
    if settings.environment == "production":
        raise Misconfigured(
            f"no master key: set TRUST_MASTER_KEY or provision {path} (mode 0600); "
            "init creates one only outside production"
        )
    create_master_key_file(path)
    return f"created {path} (mode 0600, development use)"


def _upgrade_db(ctx: CliContext) -> str:
    from trust.migrations.runner import current_revision, upgrade

    upgrade(ctx.settings.resolved_database_url)
    return current_revision(ctx.engine) or "?"


@click.command("init")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary")
@pass_ctx
@handle_errors
def init_cmd(ctx: CliContext, as_json: bool) -> None:
    """Create the master key (development), the schema, the CA, and the service keys.

    Safe to run again: what exists is kept, nothing is overwritten.
    """
    ctx.settings.data_dir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"crypto_backend": _crypto_report(ctx)}
    summary["master_key"] = _ensure_master_key(ctx)
    summary["schema_revision"] = _upgrade_db(ctx)
    from trust.cli.ca import ensure_ca

    summary["ca"] = ensure_ca(ctx)
    if as_json:
        echo_json(summary)
        return
    click.echo(
        f"crypto backend : {summary['crypto_backend']['name']} "
        f"({summary['crypto_backend']['version']})"
    )
    click.echo(f"master key     : {summary['master_key']}")
    click.echo(f"schema         : {summary['schema_revision']}")
    for key, value in summary["ca"].items():
        click.echo(f"{key:<15}: {value}")


@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@pass_ctx
@handle_errors
def db_upgrade(ctx: CliContext) -> None:
    """Apply Alembic migrations up to the single head."""
    click.echo(f"schema at {_upgrade_db(ctx)}")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@pass_ctx
@handle_errors
def serve_cmd(ctx: CliContext, host: str, port: int, workers: int) -> None:
    """Serve HTTP (pages, API, CRL, TSA, log) with uvicorn.

    The process keeps no state of its own: run several against one PostgreSQL.
    """
    import os

    import uvicorn

    for key, value in ctx.overrides.items():
        os.environ[f"TRUST_{key.upper()}"] = str(value)
    _crypto_report(ctx)  # fail fast with a clear message before binding the port
    base = f"http://{host}:{port}"
    click.echo(f"一网通办信任服务 listening on {base}/  (API docs {base}/docs)")
    uvicorn.run(
        "trust.web.asgi:app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        server_header=False,
        log_level="info",
    )


@click.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def status_cmd(ctx: CliContext, as_json: bool) -> None:
    """Report the crypto backend in use, the schema revision and the data directory."""
    from trust.migrations.runner import current_revision, head_revision

    report: dict[str, Any] = {
        "crypto_backend": _crypto_report(ctx),
        "data_dir": str(ctx.settings.data_dir.resolve()),
        "database": ctx.engine.url.render_as_string(hide_password=True),
        "schema_revision": current_revision(ctx.engine),
        "schema_head": head_revision(),
    }
    if as_json:
        echo_json(report)
        return
    for key, value in report.items():
        click.echo(f"{key:<16}: {value}")
    if report["schema_revision"] != report["schema_head"]:
        fail("schema is not at the head revision: run `trustctl db upgrade`")


def register(cli: click.Group) -> None:
    cli.add_command(init_cmd)
    cli.add_command(db_group)
    cli.add_command(serve_cmd)
    cli.add_command(status_cmd)
