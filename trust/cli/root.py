"""The root ``trustctl`` group; command modules register themselves in ``COMMAND_MODULES``."""

from __future__ import annotations

import importlib

import click

from trust import __version__
from trust.cli.context import CliContext

__all__ = ["cli", "main"]

#: Each module defines ``register(cli: click.Group) -> None``.
COMMAND_MODULES = (
    "trust.cli.admin",  # init, serve, db upgrade, status
    "trust.cli.keys",  # keys list|rotate
    "trust.cli.ca",  # ca issue|revoke|crl, trust-list add|list
    "trust.cli.log",  # log checkpoint|prove|verify
    "trust.cli.principals",  # org / user / client administration
    "trust.cli.oidc",  # client add|list (OIDC relying parties), oidc cleanup
    "trust.cli.channels",  # oidc deliver-logouts|logout-person|cleanup-channels
    "trust.cli.identity",  # identity sim-registry (simulated authoritative sources)
    "trust.cli.seal",  # seal make|list|stamp|verify (electronic seals)
    "trust.cli.licence",  # licence types|issue|show|revoke|verify|... (electronic licences)
    "trust.cli.archive",  # archive ingest|verify|fixity|export|search|... (electronic archive)
    "trust.cli.jobs",  # jobs list|run (periodic maintenance)
    "trust.cli.demo",  # demo data for `make run`
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trustctl")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Data directory (default ./var)")
@click.option("--database-url", help="SQLAlchemy URL (default: SQLite under the data directory)")
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None, database_url: str | None) -> None:
    """一网通办信任服务 command line: keys, CA, timestamps, transparency log, capabilities."""
    overrides: dict[str, object] = {}
    if data_dir:
        overrides["data_dir"] = data_dir
    if database_url:
        overrides["database_url"] = database_url
    if ctx.obj is None:  # tests may hand in a prepared CliContext
        ctx.obj = CliContext(overrides=overrides)
    else:
        ctx.obj.overrides.update(overrides)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(cli)


def main() -> None:
    _register_all()
    cli(prog_name="trustctl")
