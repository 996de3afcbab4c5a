"""Annotated dependency aliases: how a route receives its collaborators.

``create_app`` puts the collaborators on ``app.state``: ``settings``, ``session_factory``,
``clock`` and ``keystore``. A request gets one database transaction (``SessionDep``) that is
committed after the route function returns and *before* the response is sent, or rolled back if
anything raised; a route never commits by itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from keys.interfaces import KeyStore
from trust.clock import Clock
from trust.config import Settings

__all__ = ["ClockDep", "KeyStoreDep", "SessionDep", "SettingsDep"]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def _keystore(request: Request) -> KeyStore:
    keystore: KeyStore = request.app.state.keystore
    return keystore


def _session(request: Request) -> Iterator[Session]:
    factory = request.app.state.session_factory
    with factory() as session, session.begin():
        yield session


SettingsDep = Annotated[Settings, Depends(_settings)]
ClockDep = Annotated[Clock, Depends(_clock)]
KeyStoreDep = Annotated[KeyStore, Depends(_keystore)]
SessionDep = Annotated[Session, Depends(_session, scope="function")]
