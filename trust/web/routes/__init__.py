"""The routers ``create_app`` mounts, in this order. Each module exposes ``router``; a module
that cannot be imported stops the start-up (a missing capability is a broken installation)."""

from __future__ import annotations

import importlib
from typing import Final

from fastapi import APIRouter

__all__ = ["ROUTER_MODULES", "load_routers"]

ROUTER_MODULES: Final[tuple[str, ...]] = (
    "trust.web.routes.health",
    "trust.web.routes.pages",
    "trust.web.routes.principals",
    "trust.web.routes.log",
    "trust.web.routes.ca",
    "trust.web.routes.tsa",
    "identity.api",
    "identity.oidc_api",
    "identity.channels_api",
    "seals.api",
    "licences.api",
    "archive.api",
)


def load_routers(modules: tuple[str, ...] = ROUTER_MODULES) -> list[APIRouter]:
    routers: list[APIRouter] = []
    for name in modules:
        router = importlib.import_module(name).router
        if not isinstance(router, APIRouter):
            raise TypeError(f"{name}.router is not an APIRouter")
        routers.append(router)
    return routers
