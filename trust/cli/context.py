"""What every ``trustctl`` command receives: settings, a session factory, a clock, a keystore.

Built lazily, once per invocation, so that ``trustctl --help`` needs no database or master key.
Errors from the service become one clear line on stderr and exit status 1 (``run``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property, wraps
from typing import Any, ParamSpec, TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from keys.interfaces import KeyStore
from trust.clock import Clock, SystemClock
from trust.config import Settings, load_settings
from trust.db import make_engine, session_factory
from trust.errors import TrustError

__all__ = ["CliContext", "echo_json", "fail", "handle_errors", "pass_ctx"]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class CliContext:
    overrides: dict[str, Any] = field(default_factory=dict)
    clock: Clock = field(default_factory=SystemClock)

    @cached_property
    def settings(self) -> Settings:
        return load_settings(overrides=self.overrides)

    @cached_property
    def engine(self) -> Engine:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        return make_engine(self.settings.resolved_database_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    @cached_property
    def keystore(self) -> KeyStore:
        from trust.cli.wiring import build_keystore

        return build_keystore(self.settings)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any exception."""
        with self.sessions() as session, session.begin():
            yield session


pass_ctx = click.make_pass_decorator(CliContext, ensure=True)


def fail(message: str) -> None:
    """One clear line on stderr, exit status 1."""
    click.echo(f"trustctl: error: {message}", err=True)
    sys.exit(1)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn service errors into one line and a non-zero exit; never a traceback."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except TrustError as exc:
            fail(f"{exc.detail} [{exc.code}]")
            raise AssertionError("unreachable") from exc
        except OSError as exc:
            fail(str(exc))
            raise AssertionError("unreachable") from exc

    return wrapper


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str))
