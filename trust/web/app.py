"""``create_app(settings)``: the HTTP composition root.

It checks that our generic top-level packages really are ours (layout §5), configures the SM2
backend, builds the engine and session factory, picks the keystore (software by default), and
mounts the middleware, the problem+json handlers, the static files and every router of
``trust.web.routes.ROUTER_MODULES``. Nothing is kept in process memory that another
``trustctl serve`` process would need: sessions, counters and logs live in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import importlib.util
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Final, cast

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig
from sqlalchemy import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

import trust
from keys.interfaces import KeyStore
from trust.clock import Clock, SystemClock
from trust.config import Settings
from trust.db import make_engine, session_factory
from trust.errors import Misconfigured
from trust.jobs.registry import load_jobs
from trust.jobs.schedule import JobContext, PeriodicJob, check_intervals
from trust.web.fastroute import has_fast_route
from trust.web.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from trust.web.problems import document_problems, install_problem_handlers
from trust.web.routes import load_routers
from trust.web.scheduler import run_scheduler
from trust.web.security import api_token_verifier

__all__ = [
    "DISTRIBUTION",
    "OWN_PACKAGES",
    "TrustAPI",
    "check_package_ownership",
    "create_app",
]

DISTRIBUTION: Final = "ywtb-trust"
OWN_PACKAGES: Final = ("trust", "identity", "seals", "licences", "archive", "keys")
API_TITLE: Final = "一网通办信任服务 API"
API_DESCRIPTION: Final = (
    "一网通办信任基础设施：统一身份认证、电子印章、电子证照、电子档案及其共用的证书、时间戳与透明日志。"
    "错误均以 RFC 9457 application/problem+json 返回，code 字段稳定。"
)
_WEB_DIR: Final = Path(__file__).resolve().parent


def _normalise(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def check_package_ownership() -> None:
    """Layout §5.3: each of our generic package names resolves under our own source root and,
    if an installed distribution claims it, that distribution is exactly ours."""
    root = Path(trust.__file__).resolve().parent.parent
    claims = importlib.metadata.packages_distributions()
    for name in OWN_PACKAGES:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        if origin is None or not Path(origin).resolve().is_relative_to(root):
            raise Misconfigured(
                f"package {name!r} resolves to {origin!r}, outside {root}: another distribution "
                "shadows ours; install into a dedicated environment",
                code="startup.package_not_ours",
            )
        owners = {_normalise(d) for d in claims.get(name, [])}
        if owners and owners != {DISTRIBUTION}:
            raise Misconfigured(
                f"package {name!r} is also provided by {sorted(owners)}; only {DISTRIBUTION} may",
                code="startup.package_not_ours",
            )


_NO_TELEMETRY: Final[TelemetryConfig] = {"tracing": False, "metrics": False, "logs": False}


class TrustAPI(FastAPI):
    """FastAPI whose OpenAPI document describes our problem+json errors, and whose fast routes
    (``trust.web.fastroute``) enter the middleware stack at our own outermost middleware.

    Why. FastAPI 0.165 puts three layers of its own outside the user middleware
    (``ServerErrorMiddleware``, ``ExceptionTelemetryMiddleware``, ``AppBodyLimitMiddleware``).
    Each is a coroutine frame that every resumption of the request passes through again (after
    reading the body, after the group commit, after each message sent), and the first also
    wraps ``send``. For the fast routes they cost more than the endpoint's own Python work:
    entering below them raised typed-code verification from 5,300 to 6,600 requests/s on
    SQLite and the code exchange by 10 % on PostgreSQL (interleaved A/B runs, 2026-12-07).
    What they do is not needed there: ``RequestContextMiddleware`` answers unexpected errors
    with the 500 problem before ``ServerErrorMiddleware`` would see them, and the other two do
    nothing unless FastAPI's telemetry or its own body limit is configured - then
    ``skip_outer_layers`` is False and every request takes the whole stack.
    """

    #: Set by ``create_app``: whether fast routes may enter below FastAPI's outer layers.
    skip_outer_layers: bool = False
    #: Where fast routes enter: our outermost middleware inside the built stack, when
    #: ``skip_outer_layers`` (set when the stack is built), else None.
    _fast_entry: ASGIApp | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        self._fast_entry = (
            _inner_layer(stack, RequestContextMiddleware) if self.skip_outer_layers else None
        )
        return stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        entry = self._fast_entry
        if entry is not None and scope["type"] == "http" and has_fast_route(self, scope):
            scope["app"] = self
            await entry(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        schema = super().openapi()
        document_problems(schema)
        return schema


def _inner_layer(stack: ASGIApp, kind: type) -> ASGIApp | None:
    """The first layer of ``kind`` going inwards from ``stack`` (each layer's ``.app``)."""
    layer: Any = stack
    for _ in range(32):
        if isinstance(layer, kind):
            return cast(ASGIApp, layer)
        layer = getattr(layer, "app", None)
        if layer is None:
            return None
    return None


def _configure_crypto(settings: Settings) -> None:
    try:
        from trust.crypto.backend import configure
    except ImportError:  # the facade without a selectable backend
        return
    configure(settings.crypto_backend)


def _lifespan(
    engine: Engine, jobs: JobContext | None, declared: tuple[PeriodicJob, ...]
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(run_scheduler(jobs, declared)) if jobs is not None else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            # trust.web.deps.batch_committer: its queued work finished, its connections closed
            # (a later start of the same app makes a new one)
            committer, _app.state.db_batch = getattr(_app.state, "db_batch", None), None
            if committer is not None:
                await asyncio.to_thread(committer.close)
            engine.dispose()

    return lifespan


def create_app(
    settings: Settings, *, keystore: KeyStore | None = None, clock: Clock | None = None
) -> FastAPI:
    check_package_ownership()
    _configure_crypto(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if keystore is None:
        from keys.software import SoftwareKeyStore  # the one place the web picks an implementation

        keystore = SoftwareKeyStore.from_settings(settings)
    engine = make_engine(settings.resolved_database_url)
    jobs = load_jobs()
    check_intervals(settings, jobs)
    sessions = session_factory(engine)
    clock = clock or SystemClock()
    job_context = (
        JobContext(settings=settings, session_factory=sessions, clock=clock, keystore=keystore)
        if settings.scheduler
        else None
    )
    app = TrustAPI(
        title=API_TITLE,
        version=trust.__version__,
        description=API_DESCRIPTION,
        servers=[{"url": "/", "description": "本服务"}],
        docs_url=None,  # Swagger UI would load scripts from a CDN; /docs is rendered here
        redoc_url=None,
        lifespan=_lifespan(engine, job_context, jobs),
        telemetry=None if settings.opentelemetry else _NO_TELEMETRY,
    )
    app.skip_outer_layers = not settings.opentelemetry and app.max_body_size is None
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = sessions
    app.state.clock = clock
    app.state.keystore = keystore
    app.state.jobs = jobs
    #: Extension point (``trust.web.security``): the identity work appends its OIDC verifier.
    app.state.bearer_verifiers = (api_token_verifier,)
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(
        RequestContextMiddleware, always_hsts=settings.public_base_url.startswith("https://")
    )
    app.mount("/static", StaticFiles(directory=_WEB_DIR / "static"), name="static")
    for router in load_routers():
        app.include_router(router)
    return app
