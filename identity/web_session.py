"""Who is calling the person-facing identity routes: ``CurrentPersonDep``.

Interim mechanism: a signed cookie ``ywtb_person`` =
``<person id>.<expiry, Unix seconds>.<BASE64URL(HMAC-SM3(session_mac key, "<id>.<expiry>"))>``,
checked in constant time. The MAC key is derived from the master key (``identity.keying``).

TODO(identity/oidc): replace the cookie with the OpenID Provider's SSO session (its session
cookie and ``auth_time``/``amr``), keeping the dependency name ``CurrentPersonDep`` so that the
routes do not change. Tests override ``current_person_id`` with ``app.dependency_overrides``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Final

from fastapi import Depends, Request

from identity.config import IdentityConfig, load_identity_config
from identity.keying import IdentityKeys
from trust.config import Settings
from trust.crypto import constant_time_equal, hmac_sm3
from trust.errors import Unauthenticated

__all__ = [
    "COOKIE_NAME",
    "CurrentPersonDep",
    "IdentityContext",
    "current_person_id",
    "identity_context",
    "issue_person_session",
    "read_person_session",
]

COOKIE_NAME: Final = "ywtb_person"
DEFAULT_TTL: Final = timedelta(hours=8)


@dataclass(frozen=True, slots=True)
class IdentityContext:
    """Built once per app from its settings (and ``TRUST_IDENTITY_*``), kept on ``app.state``."""

    config: IdentityConfig
    keys: IdentityKeys


def identity_context(request: Request) -> IdentityContext:
    state = request.app.state
    ctx = getattr(state, "identity", None)
    if not isinstance(ctx, IdentityContext):
        settings: Settings = state.settings
        ctx = IdentityContext(load_identity_config(settings), IdentityKeys.from_settings(settings))
        state.identity = ctx
    return ctx


def _mac(keys: IdentityKeys, body: str) -> str:
    raw = hmac_sm3(keys.session_mac, body.encode("ascii"))
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def issue_person_session(
    keys: IdentityKeys, person_id: str, *, now: datetime, ttl: timedelta = DEFAULT_TTL
) -> str:
    body = f"{person_id}.{int((now + ttl).timestamp())}"
    return f"{body}.{_mac(keys, body)}"


def read_person_session(keys: IdentityKeys, unverified_value: str, *, now: datetime) -> str | None:
    """The person id of a valid, unexpired cookie value, else ``None``."""
    parts = unverified_value.split(".")
    if len(parts) != 3 or not parts[0].startswith("psn_") or not parts[1].isdigit():
        return None
    body = f"{parts[0]}.{parts[1]}"
    if not constant_time_equal(_mac(keys, body), parts[2]):
        return None
    if int(parts[1]) <= now.timestamp():
        return None
    return parts[0]


def current_person_id(request: Request) -> str:
    """The authenticated natural person; 401 ``identity.no_session`` otherwise."""
    value = request.cookies.get(COOKIE_NAME)
    ctx = identity_context(request)
    now = request.app.state.clock.now()
    person_id = read_person_session(ctx.keys, value, now=now) if value else None
    if person_id is None:
        raise Unauthenticated("请先登录", code="identity.no_session")
    return person_id


CurrentPersonDep = Annotated[str, Depends(current_person_id)]
