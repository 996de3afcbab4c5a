"""Liveness (``/healthz``: the process answers, no database) and readiness (``/readyz``: database
reachable, schema at the migration head, keystore usable, crypto backend working)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel

from trust.errors import Unavailable
from trust.web.problems import problem_responses
from trust.web.status import readiness

__all__ = ["router"]

router = APIRouter(tags=["health"])


class Liveness(BaseModel):
    status: Literal["ok"]


class CheckRead(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: Literal["ready"]
    checks: dict[str, CheckRead]


@router.get("/healthz", summary="存活检查（不访问数据库）")
def healthz() -> Liveness:
    return Liveness(status="ok")


@router.get(
    "/readyz",
    summary="就绪检查",
    responses=problem_responses(503),
)
def readyz(request: Request) -> Readiness:
    state = request.app.state
    checks = {
        name: CheckRead(ok=c.ok, detail=c.detail)
        for name, c in readiness(state.session_factory, state.keystore).items()
    }
    if not all(c.ok for c in checks.values()):
        failing = sorted(name for name, c in checks.items() if not c.ok)
        raise Unavailable(
            f"服务未就绪：{', '.join(failing)}",
            code="service.not_ready",
            extra={"checks": {name: c.model_dump() for name, c in checks.items()}},
        )
    return Readiness(status="ready", checks=checks)
