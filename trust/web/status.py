"""What the service reports about itself: readiness checks (``/readyz``) and the status block of
the home page. Each check is independent; one failing never hides the others, and a capability
that has not landed yet reports as absent instead of breaking the page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import inspect, text
from sqlalchemy.orm import Session, sessionmaker

from keys.interfaces import KeyStore
from trust.errors import TrustError

__all__ = ["Check", "LogStatus", "crypto_backend_name", "log_status", "readiness"]

logger = logging.getLogger("trust.web")


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    #: Short, safe to show publicly (no exception text, paths or URLs).
    detail: str


@dataclass(frozen=True, slots=True)
class LogStatus:
    size: int
    latest_checkpoint_size: int | None
    latest_checkpoint_time: datetime | None


def crypto_backend_name() -> str | None:
    """The configured SM2 backend, or ``None`` if none is usable."""
    try:
        from trust.crypto.backend import active

        return str(active().info.name)
    except (ImportError, TrustError):
        return None


@lru_cache(maxsize=1)
def _head_revision() -> str | None:
    try:
        from trust.migrations.runner import head_revision

        return head_revision()
    except Exception:  # no migrations packaged yet: nothing to compare against
        return None


def _schema(session: Session) -> Check:
    if not inspect(session.connection()).has_table("alembic_version"):
        return Check(True, "unmanaged (no alembic_version table)")
    current = session.scalar(text("SELECT version_num FROM alembic_version"))
    head = _head_revision()
    if head is None or current == head:
        return Check(True, f"at {current}")
    return Check(False, f"at {current}, head is {head}: run `trustctl db upgrade`")


def _run(name: str, factory: sessionmaker[Session], fn: Callable[[Session], Check]) -> Check:
    try:
        with factory() as session, session.begin():
            return fn(session)
    except Exception:
        logger.warning("readiness check %s failed", name, exc_info=True)
        return Check(False, "unavailable")


def _ping(session: Session) -> Check:
    session.execute(text("SELECT 1"))
    return Check(True, "reachable")


def _keystore(keystore: KeyStore, session: Session) -> Check:
    try:
        keystore.check(session=session)
    except TrustError as exc:
        return Check(False, exc.code)
    return Check(True, "usable")


def readiness(factory: sessionmaker[Session], keystore: KeyStore) -> dict[str, Check]:
    database = _run("database", factory, _ping)
    checks = {"database": database}
    if database.ok:
        checks["schema"] = _run("schema", factory, _schema)
        checks["keystore"] = _run("keystore", factory, lambda s: _keystore(keystore, s))
    else:
        checks["schema"] = checks["keystore"] = Check(False, "database unavailable")
    backend = crypto_backend_name()
    checks["crypto_backend"] = Check(backend is not None, backend or "unusable")
    return checks


def log_status(factory: sessionmaker[Session]) -> LogStatus | None:
    """Size and latest checkpoint of the transparency log; ``None`` if not available yet."""
    try:
        from trust.tlog.service import latest_checkpoint, log_head

        with factory() as session, session.begin():
            size, _root = log_head(session=session)
            stored = latest_checkpoint(session=session)
    except (ImportError, NotImplementedError, AttributeError):
        return None
    except Exception:
        logger.warning("transparency-log status unavailable", exc_info=True)
        return None
    if stored is None:
        return LogStatus(size=size, latest_checkpoint_size=None, latest_checkpoint_time=None)
    checkpoint = stored.checkpoint
    return LogStatus(
        size=size,
        latest_checkpoint_size=checkpoint.tree_size,
        latest_checkpoint_time=checkpoint.timestamp,
    )
