"""Annotated dependency aliases: how a route receives its collaborators.

``create_app`` puts the collaborators on ``app.state``: ``settings``, ``session_factory``,
``clock`` and ``keystore``. A request gets one database transaction (``SessionDep``) that is
committed after the route function returns and *before* the response is sent, or rolled back if
anything raised; a route never commits by itself.

``BatchDep`` is the app's group committer (``trust.db_batch``) over the same session factory,
for hot endpoints whose small writes are committed together with other requests' (in one
transaction of their own, before the response is sent); such a route does not also use
``SessionDep``.

The accessors of ``app.state`` are ``async def``: FastAPI runs a plain ``def`` dependency in its
thread pool, a hop that costs more than everything these functions do.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from keys.interfaces import KeyStore
from trust.clock import Clock
from trust.config import Settings
from trust.db_batch import BatchCommitter

__all__ = [
    "BatchDep",
    "ClockDep",
    "KeyStoreDep",
    "SessionDep",
    "SettingsDep",
    "batch_committer",
]


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def _keystore(request: Request) -> KeyStore:
    keystore: KeyStore = request.app.state.keystore
    return keystore


def _session(request: Request) -> Iterator[Session]:
    factory = request.app.state.session_factory
    with factory() as session, session.begin():
        yield session


def batch_committer(state: Any) -> BatchCommitter:
    """The group committer of ``app.state`` over its current ``session_factory`` (made on first
    use, and made anew when the factory was replaced, as tests do)."""
    factory = state.session_factory
    current: BatchCommitter | None = getattr(state, "db_batch", None)
    if current is None or current.factory is not factory:
        if current is not None:
            current.close(timeout=0)  # finishes its queued work in its own thread
        current = BatchCommitter(factory)
        state.db_batch = current
    return current


async def _batch(request: Request) -> BatchCommitter:
    return batch_committer(request.app.state)


SettingsDep = Annotated[Settings, Depends(_settings)]
ClockDep = Annotated[Clock, Depends(_clock)]
KeyStoreDep = Annotated[KeyStore, Depends(_keystore)]
SessionDep = Annotated[Session, Depends(_session, scope="function")]
BatchDep = Annotated[BatchCommitter, Depends(_batch)]
