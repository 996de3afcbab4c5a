"""Typed, validated, frozen settings. Loaded once by a composition root and passed down.

Sources, later wins: defaults, an optional TOML file (``TRUST_CONFIG``), environment variables
``TRUST_<FIELD>`` (upper case). Unknown keys are refused.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from trust.errors import Misconfigured

__all__ = ["Settings", "load_settings"]

Environment = Literal["development", "test", "production"]
CryptoBackendName = Literal["auto", "openssl", "tongsuopy"]


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: Environment = "development"
    data_dir: Path = Path("var")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file under data_dir"
    )
    #: Master key for key custody: 64 hex characters (SM4-128 key + HMAC key derivation input).
    #: Either given here (a secret store injects it) or read from ``master_key_file``.
    master_key: SecretStr | None = None
    master_key_file: Path | None = Field(default=None, description="default: data_dir/master.key")
    crypto_backend: CryptoBackendName = "auto"
    public_base_url: str = "http://127.0.0.1:8000"
    #: Requests larger than this are refused with 413 before the body is read in full.
    max_request_bytes: int = 32 * 1024 * 1024
    #: The server process's GIL switch interval (``sys.setswitchinterval``), in milliseconds.
    #: Python's 5 ms default lets the busy event loop keep the GIL for up to 5 ms each time the
    #: group committer's thread (``trust.db_batch``) comes back from a database round trip; a
    #: PostgreSQL batch makes five. At 0.5 ms typed-code verification on PostgreSQL served
    #: 10-30 % more requests per second at 32 connections (bench/licences_bench.py).
    gil_switch_interval_ms: float = Field(default=0.5, gt=0, le=100)
    #: FastAPI's built-in OpenTelemetry spans, metrics and logs, for a process whose global
    #: providers are configured (e.g. ``opentelemetry-instrument``). Off, no request asks the
    #: providers whether they are configured (three lookups per request).
    opentelemetry: bool = False
    #: Origin line of transparency-log checkpoints (C2SP signed-note style).
    log_origin: str = "ywtb-trust.example/log"
    #: Accepted clock skew for time comparisons with other systems (tokens, timestamps).
    clock_skew_seconds: int = 60
    #: Authentication failures allowed per client/IP within ``auth_failure_window_seconds``.
    auth_failure_limit: int = 10
    auth_failure_window_seconds: int = 300
    #: TSA policy OID put into every TSTInfo (RFC 3161 §2.4.2); a private arc by default.
    tsa_policy_oid: str = "1.2.156.112233.1.1"
    ca_name: str = "一网通办信任服务"
    #: Virus scanner of the archive ingest besides its built-in EICAR detector: "clamav"
    #: (clamscan) or "clamd" (clamdscan) is required, and ingest is refused while it is missing;
    #: "auto" uses clamscan when installed with a signature database, else reports it missing.
    archive_virus_scanner: Literal["auto", "clamav", "clamd"] = "auto"
    #: clamscan's signature database directory (default: ClamAV's own, /var/lib/clamav).
    archive_clamav_database: Path | None = None
    #: Run due periodic jobs (``trust.jobs``) inside every ``trustctl serve`` process. Turn it off
    #: where a timer runs ``trustctl jobs run --due`` instead.
    scheduler: bool = True
    #: Seconds between runs per job name (``trustctl jobs list`` shows the names and defaults);
    #: 0 disables a job. From the environment as ``name=seconds,name=seconds``.
    job_intervals: dict[str, int] = Field(default_factory=dict)

    @field_validator("job_intervals", mode="before")
    @classmethod
    def _parse_job_intervals(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        parsed: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            name, sep, seconds = item.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"expected name=seconds, got {item!r}")
            parsed[name.strip()] = seconds.strip()
        return parsed

    @field_validator("job_intervals", mode="after")
    @classmethod
    def _check_job_intervals(cls, value: dict[str, int]) -> dict[str, int]:
        negative = sorted(name for name, seconds in value.items() if seconds < 0)
        if negative:
            raise ValueError(f"negative intervals for {negative}")
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment == "production":
            if self.database_url is None or self.database_url.startswith("sqlite"):
                raise ValueError("production requires a PostgreSQL database_url")
            if self.public_base_url.startswith("http://"):
                raise ValueError("production requires an https public_base_url")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'trust.db').resolve()}"

    @property
    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or (self.data_dir / "master.key")

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in Settings.model_fields:
        key = f"TRUST_{name.upper()}"
        if key in environ:
            out[name] = environ[key]
    return out


def load_settings(
    *, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build settings from file, environment and explicit overrides; refuse bad values clearly."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_file = env.get("TRUST_CONFIG")
    if config_file:
        try:
            values.update(tomllib.loads(Path(config_file).read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise Misconfigured(f"cannot read configuration file {config_file}: {exc}") from exc
    values.update(_from_env(env))
    values.update(overrides or {})
    try:
        return Settings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise Misconfigured(f"invalid setting {where}: {first['msg']}") from exc
