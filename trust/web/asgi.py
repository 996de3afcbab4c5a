"""The ASGI entry point for uvicorn: ``uvicorn trust.web.asgi:app --factory`` (what
``trustctl serve`` runs). Settings come from ``TRUST_*`` variables and ``TRUST_CONFIG``; each
worker process builds its own app, and they share nothing but the database."""

from __future__ import annotations

from fastapi import FastAPI

from trust.config import load_settings
from trust.web.app import create_app

__all__ = ["app"]


def app() -> FastAPI:
    return create_app(load_settings())
