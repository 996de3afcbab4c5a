"""The event record appended to the log, and its canonical leaf bytes (pure)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from trust.errors import InvalidInput

__all__ = ["AppendedEvent", "LogEvent", "encode_event", "format_logged_at"]

_MAX_KIND: Final = 128
_MAX_NAME: Final = 256


@dataclass(frozen=True, slots=True)
class LogEvent:
    #: Dotted event kind, e.g. ``key.generated``, ``ca.certificate_issued``, ``seal.used``.
    kind: str
    #: What the event is about: a key id, a certificate serial, a licence identifier ...
    subject: str
    #: Who caused it: ``system``, ``user:<id>``, ``client:<id>``, ``cli``.
    actor: str
    #: JSON-serialisable facts. Never secrets or personal data beyond what the record needs.
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AppendedEvent:
    index: int
    leaf_hash: bytes
    logged_at: datetime


def format_logged_at(at: datetime) -> str:
    """RFC 3339 UTC with microseconds and ``Z``, as written into the leaf."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_event(event: LogEvent, logged_at: datetime | str) -> bytes:
    """The leaf data: canonical JSON (sorted keys, no spaces, UTF-8, no NaN) of ``actor``,
    ``kind``, ``logged_at``, ``payload`` and ``subject``. Stored verbatim; the leaf hash is
    ``SM3(0x00 || these bytes)`` (RFC 9162 §2.1.1). ``logged_at`` may be given already
    formatted by ``format_logged_at`` (once for a batch)."""
    if not (0 < len(event.kind) <= _MAX_KIND) or not event.kind.isascii():
        raise InvalidInput("event kind must be 1-128 ASCII characters", code="log.bad_event")
    if not (0 < len(event.subject) <= _MAX_NAME) or not (0 < len(event.actor) <= _MAX_NAME):
        raise InvalidInput("event subject and actor must be 1-256 characters", code="log.bad_event")
    doc = {
        "actor": event.actor,
        "kind": event.kind,
        "logged_at": logged_at if isinstance(logged_at, str) else format_logged_at(logged_at),
        "payload": dict(event.payload),
        "subject": event.subject,
    }
    try:
        text = json.dumps(
            doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"event payload is not JSON: {exc}", code="log.bad_event") from exc
    return text.encode("utf-8")
