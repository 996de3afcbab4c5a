"""``trustctl init | serve | db upgrade | status``: set-up and operation of one installation."""

from __future__ import annotations

from pathlib import Path
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


def _upgrade_db(ctx: CliContext) -> tuple[str | None, str]:
    """Migrate to the head; the revisions before (``None``: an empty database) and after."""
    from trust.migrations.runner import current_revision, upgrade

    before = current_revision(ctx.engine)
    upgrade(ctx.settings.resolved_database_url)
    return before, current_revision(ctx.engine) or "?"


def _sqlite_file_missing(ctx: CliContext) -> bool:
    """The configured database is an SQLite file that does not exist yet (nothing initialised:
    ``status`` must not create it)."""
    from sqlalchemy.engine import make_url

    url = make_url(ctx.settings.resolved_database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return False
    return not Path(url.database).exists()


def _backend_text(info: dict[str, str]) -> str:
    return f"{info['name']} ({info['version']}, {info['library']})"


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
    before, after = _upgrade_db(ctx)
    summary["schema_revision"] = after
    summary["schema_upgraded_from"] = before if before != after else None
    from trust.cli.ca import ensure_ca

    summary["ca"] = ensure_ca(ctx)
    summary["changed"] = bool(
        summary["master_key"].startswith("created")
        or summary["schema_upgraded_from"] is not None
        or before is None
        or summary["ca"]["created"]
    )
    if as_json:
        echo_json(summary)
        return
    click.echo(f"crypto backend : {_backend_text(summary['crypto_backend'])}")
    click.echo(f"master key     : {summary['master_key']}")
    upgraded = summary["schema_upgraded_from"]
    click.echo(f"schema         : {after}" + (f" (upgraded from {upgraded})" if upgraded else ""))
    for key, value in summary["ca"].items():
        click.echo(f"{key:<15}: {value}")
    if summary["changed"]:
        click.echo("initialised: the items marked created above are new")
    else:
        click.echo("nothing changed: master key, schema, CA and service keys were already in place")


@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@pass_ctx
@handle_errors
def db_upgrade(ctx: CliContext) -> None:
    """Apply Alembic migrations up to the single head."""
    before, after = _upgrade_db(ctx)
    if before == after:
        click.echo(f"schema already at head {after}: nothing to do")
    else:
        click.echo(f"schema upgraded from {before or 'empty'} to {after}")


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

    from trust.web.http_protocol import HTTP_PROTOCOL
    from trust.web.middleware import server_log_config

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
        # uvicorn's access log writes query strings (tokens, codes, personal data); the app
        # logs method, path, status, duration and request id instead (trust.web.access).
        access_log=False,
        log_config=server_log_config("INFO"),
        # A response's header block and body in one socket write (trust.web.http_protocol).
        http=HTTP_PROTOCOL,
    )


@click.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@handle_errors
def status_cmd(ctx: CliContext, as_json: bool) -> None:
    """Report the crypto backend in use, the schema revision and the data directory."""
    from trust.migrations.runner import current_revision, head_revision

    missing = _sqlite_file_missing(ctx)
    report: dict[str, Any] = {
        "crypto_backend": _crypto_report(ctx),
        "data_dir": str(ctx.settings.data_dir.resolve()),
        "database": ctx.settings.resolved_database_url
        if missing
        else ctx.engine.url.render_as_string(hide_password=True),
        "schema_revision": None if missing else current_revision(ctx.engine),
        "schema_head": head_revision(),
    }
    report["schema_up_to_date"] = report["schema_revision"] == report["schema_head"]
    if as_json:
        echo_json(report)
        return
    click.echo(f"crypto backend  : {_backend_text(report['crypto_backend'])}")
    click.echo(f"data dir        : {report['data_dir']}")
    click.echo(f"database        : {report['database']}")
    click.echo(f"schema revision : {report['schema_revision'] or 'none (not initialised)'}")
    click.echo(f"schema head     : {report['schema_head']}")
    if not report["schema_up_to_date"]:
        fail("schema is not at the head revision: run `trustctl db upgrade` (or `trustctl init`)")


def register(cli: click.Group) -> None:
    cli.add_command(init_cmd)
    cli.add_command(db_group)
    cli.add_command(serve_cmd)
    cli.add_command(status_cmd)
