"""Identity configuration: authoritative endpoints, upstream public keys, second-factor and
lockout parameters. Typed, frozen, unknown keys refused; built once from ``Settings`` plus
``TRUST_IDENTITY_<FIELD>`` environment variables by a composition root.

Outside production every endpoint defaults to the simulated registry mounted at
``<public_base_url>/sim`` and the upstream keys to its published test keys (``identity.sim_data``).
In production each endpoint and key must be given, must not point at the simulator, and the
development SMS outbox is refused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from identity.sim_data import load_sim_registry
from trust.config import Settings
from trust.crypto import SM2PublicKey
from trust.errors import Misconfigured

__all__ = ["IdentityConfig", "load_identity_config"]

_ENDPOINTS = ("population_url", "enterprise_url", "bankcard_url", "face_url", "netid_url")


class IdentityConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: Literal["development", "test", "production"] = "development"
    #: Our identifier towards upstream parties: the ``aud`` their assertions must carry.
    audience: str
    population_url: str
    enterprise_url: str
    bankcard_url: str
    face_url: str
    netid_url: str
    #: ``outbox``: messages land in ``identity_sms_outbox`` (development only); ``http``: POST to
    #: ``sms_gateway_url``.
    sms_sender: Literal["outbox", "http"] = "outbox"
    sms_gateway_url: str | None = None
    face_issuer: str = "sim-face-provider"
    face_public_key_pem: str
    netid_issuer: str = "sim-network-identity"
    netid_public_key_pem: str
    http_timeout_seconds: float = 5.0
    #: An assertion older than this (by its ``time``) is refused.
    assertion_max_age_seconds: int = 300
    clock_skew_seconds: int = 60
    #: How long a started face / 网证 verification waits for its assertion.
    challenge_ttl_seconds: int = 600
    totp_issuer: str = "一网通办"
    #: TOTP steps accepted either side of now (RFC 6238 §5.2).
    totp_leeway_steps: int = 1
    #: Failed password attempts per account before the first lockout, and per client IP.
    lockout_threshold: int = 5
    ip_lockout_threshold: int = 50
    #: First lockout; doubles with every further failure, capped.
    lockout_base_seconds: int = 30
    lockout_max_seconds: int = 3600

    @model_validator(mode="after")
    def _production_rules(self) -> IdentityConfig:
        if self.environment == "production":
            if self.sms_sender == "outbox":
                raise ValueError("the SMS outbox is for development; production needs http")
            for name in _ENDPOINTS:
                if "/sim/" in getattr(self, name) + "/":
                    raise ValueError(f"{name} points at the simulated registry")
            sim = load_sim_registry()
            for pem in (self.face_public_key_pem, self.netid_public_key_pem):
                if pem.strip() in (
                    sim.face_provider_key.public_key_pem.strip(),
                    sim.network_id_key.public_key_pem.strip(),
                ):
                    raise ValueError("a published simulator test key is configured")
        if self.sms_sender == "http" and not self.sms_gateway_url:
            raise ValueError("sms_gateway_url is required for sms_sender=http")
        if not (0 <= self.totp_leeway_steps <= 2):
            raise ValueError("totp_leeway_steps must be 0, 1 or 2")
        self.face_public_key  # noqa: B018 - parse the keys now: refuse a bad one at start-up
        self.netid_public_key  # noqa: B018
        return self

    @cached_property
    def face_public_key(self) -> SM2PublicKey:
        return SM2PublicKey.from_pem(self.face_public_key_pem)

    @cached_property
    def netid_public_key(self) -> SM2PublicKey:
        return SM2PublicKey.from_pem(self.netid_public_key_pem)

    @property
    def simulated_sources_allowed(self) -> bool:
        """Answers labelled ``simulated`` are accepted only outside production."""
        return self.environment != "production"


def _defaults(settings: Settings) -> dict[str, Any]:
    base: dict[str, Any] = {
        "environment": settings.environment,
        "audience": settings.public_base_url.rstrip("/"),
        "clock_skew_seconds": settings.clock_skew_seconds,
    }
    if settings.environment == "production":
        return base
    sim_root = settings.public_base_url.rstrip("/") + "/sim"
    sim = load_sim_registry()
    return base | {
        "population_url": f"{sim_root}/population/verify",
        "enterprise_url": f"{sim_root}/enterprise/verify",
        "bankcard_url": f"{sim_root}/bankcard/verify",
        "face_url": f"{sim_root}/face/sessions",
        "netid_url": f"{sim_root}/netid/requests",
        "face_public_key_pem": sim.face_provider_key.public_key_pem,
        "netid_public_key_pem": sim.network_id_key.public_key_pem,
    }


def load_identity_config(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> IdentityConfig:
    env = os.environ if environ is None else environ
    values = _defaults(settings)
    for name in IdentityConfig.model_fields:
        if name == "environment":  # always the service's own environment
            continue
        key = f"TRUST_IDENTITY_{name.upper()}"
        if key in env:
            values[name] = env[key]
    values.update(overrides or {})
    try:
        return IdentityConfig(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "identity"
        raise Misconfigured(f"invalid identity setting {where}: {first['msg']}") from exc
