"""The OpenID Provider's one lifetime model (``specs/identity.md`` §4 item 6) and issuer.

Typed, frozen, unknown keys refused; built once from ``Settings`` plus ``TRUST_OIDC_<FIELD>``
environment variables (e.g. ``TRUST_OIDC_ACCESS_TOKEN_SECONDS=300``). Every value is written
out, defaults included:

=============================  =======  =====================================================
field                          default  meaning
=============================  =======  =====================================================
code_seconds                   60       authorisation code, single use
access_token_seconds           600      JWT access token (RFC 9068); also ``expires_in``
id_token_seconds               600      ID token ``exp - iat``
session_idle_seconds           7200     SSO session unused this long ends (2 h); a use is
                                        a request of the browser that reads the session
                                        (authorisation, account pages), a login, and a
                                        successful refresh of one of its session-bound
                                        refresh tokens; never moves the absolute expiry
session_absolute_seconds       43200    SSO session ends this long after it began (12 h),
                                        whatever its use; a later login in the same
                                        session (``prompt=login``, step-up) does not
                                        extend it
refresh_idle_seconds           43200    a refresh token unused this long expires (12 h)
refresh_absolute_seconds       604800   no refresh token of a grant lives past this (7 d)
                                        after the grant (the login or device approval)
refresh_grace_seconds          10       racing refreshes: the previous token returns the
                                        same successor this long; reuse later revokes the
                                        whole grant (family)
interaction_seconds            900      a login/consent page flow must finish within (15 min)
acr_elevated_seconds           1800     a session's acr above loa:1 satisfies a *hard* minimum
                                        (client min_acr, essential acr) only this long after
                                        its authentication; then a step-up is asked again
                                        (spec §3: elevated acr must not stick to a session)
clock_skew_seconds             60       leeway when checking times from others (from
                                        ``Settings.clock_skew_seconds``)
=============================  =======  =====================================================

How the limits combine (Keycloak's model of online and offline sessions, made explicit):

=======================  ==========================================================================
grant                    its refresh tokens (and access tokens, at userinfo and introspection) live
=======================  ==========================================================================
session-bound (default)  while the SSO session is live (not ended, before its idle and absolute
                         expiry) **and** before the token's refresh idle and the grant's refresh
                         absolute expiry. They die with the session: logout, expiry, replacement.
                         A refresh counts as a use of the session (a person working in one portal
                         is not logged out after ``session_idle``), so the session's idle expiry
                         moves - never its absolute one: no refresh outlives
                         ``session_absolute`` after the login.
``offline_access``       the scope was requested, the client is allowed it, and the person
                         consented to it (the consent page; OIDC Core §11). Not bound to the
                         session: refresh idle and refresh absolute only. The session's end
                         still sends the portal its back-channel logout; the grant survives an
                         RP-initiated logout, expiry and replacement (Back-Channel Logout 1.0
                         §2.7), and is revoked when the person ends the session on the sessions
                         page or logs out everywhere, by an administrator, a password change,
                         RFC 7009 revocation, refresh-token reuse or code replay.
=======================  ==========================================================================

``refresh_expires_in`` in every token response is the earliest of these limits at that moment
(for a session-bound grant: token idle, grant absolute, session idle, session absolute), so it
is always correct unless something else uses the session first (which moves it later).

Expired sessions are *ended*, not just deleted: the job ``identity.expire-sessions`` (every
30 seconds; the 10-minute cleanup ``identity.oidc_service_resources.cleanup`` does it too)
ends each session that ran out through ``identity.oidc_service_sessions.end_sessions`` with
reason ``expired`` - back-channel logouts queued once per (session, portal), session-bound
grants revoked -; the cleanup deletes the row once the access tokens issued in it have
expired. Refresh and userinfo check the session themselves, so nothing waits for a job to stop
working.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from trust.config import Settings
from trust.errors import Misconfigured

__all__ = ["OidcSettings", "load_oidc_settings"]


class OidcSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str
    secure_cookies: bool = False
    code_seconds: int = Field(default=60, ge=5, le=600)
    access_token_seconds: int = Field(default=600, ge=30, le=86400)
    id_token_seconds: int = Field(default=600, ge=30, le=86400)
    refresh_idle_seconds: int = Field(default=43200, ge=60)
    refresh_absolute_seconds: int = Field(default=604800, ge=60)
    refresh_grace_seconds: int = Field(default=10, ge=0, le=120)
    session_idle_seconds: int = Field(default=7200, ge=60)
    session_absolute_seconds: int = Field(default=43200, ge=60)
    interaction_seconds: int = Field(default=900, ge=60, le=7200)
    acr_elevated_seconds: int = Field(default=1800, ge=60)
    clock_skew_seconds: int = Field(default=60, ge=0, le=600)

    @model_validator(mode="after")
    def _ordered(self) -> OidcSettings:
        if self.refresh_idle_seconds > self.refresh_absolute_seconds:
            raise ValueError("refresh_idle_seconds exceeds refresh_absolute_seconds")
        if self.session_idle_seconds > self.session_absolute_seconds:
            raise ValueError("session_idle_seconds exceeds session_absolute_seconds")
        return self

    def seconds(self, name: str) -> timedelta:
        return timedelta(seconds=int(getattr(self, f"{name}_seconds")))


def load_oidc_settings(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> OidcSettings:
    env = os.environ if environ is None else environ
    base = settings.public_base_url.rstrip("/")
    values: dict[str, Any] = {
        "issuer": base,
        "secure_cookies": base.startswith("https://"),
        "clock_skew_seconds": settings.clock_skew_seconds,
    }
    for name in OidcSettings.model_fields:
        if name in ("issuer", "secure_cookies"):
            continue
        key = f"TRUST_OIDC_{name.upper()}"
        if key in env:
            values[name] = env[key]
    values.update(overrides or {})
    try:
        return OidcSettings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "oidc"
        raise Misconfigured(f"invalid OIDC setting {where}: {first['msg']}") from exc
