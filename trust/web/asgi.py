"""The ASGI entry point for uvicorn: ``uvicorn trust.web.asgi:app --factory`` (what
``trustctl serve`` runs). Settings come from ``TRUST_*`` variables and ``TRUST_CONFIG``; each
worker process builds its own app, and they share nothing but the database."""

from __future__ import annotations

import sys

from fastapi import FastAPI

from trust.config import load_settings
from trust.web.app import create_app

__all__ = ["app"]


def app() -> FastAPI:
    settings = load_settings()
    # Process-wide, so set here (the server's entry), not in create_app (tests build many apps).
    sys.setswitchinterval(settings.gil_switch_interval_ms / 1000)
    return create_app(settings)
