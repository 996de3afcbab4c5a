"""Every module that defines tables, so that ``Base.metadata`` is complete for Alembic and tests."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from trust.db import Base

__all__ = ["MODEL_MODULES", "load_all_models"]

MODEL_MODULES: tuple[str, ...] = (
    "trust.principals.model",
    "trust.tlog.model",
    "trust.ca.model",
    "trust.web.ratelimit_model",
    "trust.jobs.model",
    "keys.model",
    "identity.model",
    "seals.model",
    "identity.oidc_model",
    "identity.channels_model",
    "licences.model",
    "archive.model",
)


def load_all_models() -> MetaData:
    for name in MODEL_MODULES:
        importlib.import_module(name)
    return Base.metadata
