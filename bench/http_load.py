"""HTTP load harness: N keep-alive connections against a URL, requests/s and p50/p99 latency, and
the servers it drives (our app and the peers) as subprocesses on loopback.

Load generator
    ``load(target, source, connections=32, duration=..., warmup=...)`` runs one asyncio client
    (uvloop when installed) holding ``connections`` persistent HTTP/1.1 connections, each sending
    its next request as soon as the previous response is complete (closed loop, no pipelining).
    Responses are parsed by ``httptools`` (the C parser uvicorn uses). The same generator drives
    our server and every peer. It was chosen over ``autocannon`` (npm) after measuring both on
    this 2-core machine against the bare FastAPI peer (``python -m bench.http_load --compare``,
    2026-11-22, 32 connections, 8 s runs, two alternating rounds): it spent about 46 us of CPU per
    request against autocannon 8's 62-70 us (after its 0.23 s node start-up), and the server
    reached the same requests/s under either (2,796 and 1,984 vs 1,961 and 2,171 req/s: within
    the noise of the shared machine). Less generator CPU leaves more of the 2 cores to the server
    under test; it also runs inside the bench process and sends a different body per request
    (one-time authorisation codes) without a custom autocannon script.

    ``source`` is what is sent: one ``bytes`` request sent over and over, a list of pre-built
    requests each sent once (the run ends when the list is used up, e.g. one authorisation code
    each), or a callable ``f(i) -> bytes`` building request ``i``. ``build_request()`` makes the
    bytes. Latency percentiles are nearest-rank over the requests *started* after ``warmup``.

Servers (context managers, torn down on exit)
    ``serve_our_app(database=...)`` runs ``python -m uvicorn trust.web.asgi:app --factory``
    as ``trustctl serve`` does (``UVICORN_FLAGS``: its HTTP protocol, one worker,
    ``--no-access-log``) on a free loopback port, on SQLite in a temporary
    data directory, or on a private PostgreSQL database created for the run (``postgres_base_url()``
    finds the server: ``TRUST_BENCH_DATABASE_URL``, else ``postgresql://postgres@127.0.0.1:5432/test``
    when it answers). The schema is created from the models first. It yields a ``ServedApp``
    whose ``settings`` let a bench seed data through the service layer (``session_scope()``).
    ``serve_fastapi_peer()`` serves ``bench/peers/fastapi_peer.py`` the same way.
    ``serve_process(argv, ready_url=...)`` is the generic form.

Helper for endpoint benchmarks against the bare FastAPI peer (e.g. bench/licences_bench.py)::

    from bench.http_load import compare_with_fastapi_peer, build_request

    def make_requests(served: ServedApp) -> RequestSource:
        # seed through the service layer with served.session_scope(), or over HTTP at
        # served.base_url; return what to send (bytes, a list of bytes, or f(i) -> bytes)
        code = ...
        return build_request("GET", f"/licences/verify/{code}", host=served.host)

    rows = compare_with_fastapi_peer(
        "verify by code", make_requests, method="GET", target=0.5, quick=quick
    )
    # rows: "<name> (sqlite) req/s" with the peer's req/s and the ratio ours/peer,
    # "<name> (sqlite) p99" in ms beside the peer's, and the same for PostgreSQL when it is
    # reachable; in the bench "rows" format (extra keys "ours"/"peer_figures" hold p50, errors).

For a POST, pass ``method="POST"`` and ``peer_body=`` a body of the same size: the peer's
``POST /small`` reads it all. A third row gives each server process's CPU time per request (user
+ system of all its threads, from ``/proc``, over the measured part of each run; a database
server's own process is not included, SQLite runs inside ours): on a shared machine whose load
moves requests/s from run to run, it is the steadier figure of the work done per request.
Measurement alternates peer and ours in rounds (two, one with ``quick``) so that drift on a
shared machine affects both alike; each side's figures pool its rounds. ``make_requests`` is
called once per database and a list source is sent from its start in every round, so one-time
requests (codes) need a callable handing out fresh ones from a pre-seeded pool. Responses other
than ``ok_statuses`` count as errors and put a "warning" on the row.

Run ``python -m bench.http_load`` for a self-check against the bare FastAPI peer, and
``python -m bench.http_load --compare`` to measure this generator against autocannon.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httptools

from trust.web.http_protocol import HTTP_PROTOCOL

REPO_ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = 32
BENCH_MASTER_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0" * 2  # bench-only data, thrown away after
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
#: ``trustctl serve``'s settings as uvicorn flags (its HTTP protocol included), for our app and
#: the bare FastAPI peer alike.
UVICORN_FLAGS = (
    "--http",
    HTTP_PROTOCOL,
    "--workers",
    "1",
    "--no-access-log",
    "--no-server-header",
    "--proxy-headers",
    "--log-level",
    "warning",
)

RequestSource = bytes | Sequence[bytes] | Callable[[int], bytes]


# --------------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``: the smallest value such that at
    least ``q`` % of the values are at or below it. ``values`` need not be sorted."""
    if not values:
        raise ValueError("no values")
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100), at least 1
    return ordered[int(rank) - 1]


@dataclass(frozen=True)
class LoadResult:
    """Figures of one load run. Latencies in milliseconds; ``statuses`` counts HTTP status codes
    of measured responses; ``errors`` counts broken connections and unexpected statuses."""

    requests: int
    seconds: float
    errors: int
    statuses: Mapping[int, int]
    latencies_ms: Sequence[float] = field(repr=False)
    client_cpu_seconds: float = 0.0
    #: CPU time of the server process over the measured part (``load(..., server_pid=)``).
    server_cpu_seconds: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 99)

    @property
    def client_cpu_us_per_request(self) -> float:
        return 1e6 * self.client_cpu_seconds / self.requests if self.requests else 0.0

    @property
    def server_cpu_us_per_request(self) -> float | None:
        if self.server_cpu_seconds is None or not self.requests:
            return None
        return 1e6 * self.server_cpu_seconds / self.requests

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 2) if self.latencies_ms else None,
            "p99_ms": round(self.p99_ms, 2) if self.latencies_ms else None,
            "errors": self.errors,
            "statuses": dict(self.statuses),
            "client_cpu_us_per_request": round(self.client_cpu_us_per_request, 1),
            "server_cpu_us_per_request": (
                None
                if self.server_cpu_us_per_request is None
                else round(self.server_cpu_us_per_request, 1)
            ),
        }


def pool(results: Sequence[LoadResult]) -> LoadResult:
    """Rounds of one measurement as one: requests and seconds add up, latencies pool."""
    statuses: dict[int, int] = {}
    for r in results:
        for status, n in r.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    return LoadResult(
        requests=sum(r.requests for r in results),
        seconds=sum(r.seconds for r in results),
        errors=sum(r.errors for r in results),
        statuses=statuses,
        latencies_ms=[x for r in results for x in r.latencies_ms],
        client_cpu_seconds=sum(r.client_cpu_seconds for r in results),
        server_cpu_seconds=(
            None
            if any(r.server_cpu_seconds is None for r in results)
            else sum(r.server_cpu_seconds or 0.0 for r in results)
        ),
    )


# ------------------------------------------------------------------------------ the generator


def build_request(
    method: str,
    path: str,
    *,
    host: str,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
) -> bytes:
    """One HTTP/1.1 keep-alive request as bytes (Content-Length set when there is a body)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "User-Agent: trust-bench"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body is not None or method in {"POST", "PUT", "PATCH"}:
        lines.append(f"Content-Length: {len(body or b'')}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class _Connection(asyncio.Protocol):
    """One keep-alive connection: ``request()`` sends bytes and waits for the complete response."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._done: asyncio.Future[int] | None = None
        self._keep_alive = True
        self.closed = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("connection closed"))

    # httptools callbacks
    def on_message_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()
        if self._done is not None and not self._done.done():
            self._done.set_result(self._parser.get_status_code())

    def _fail(self, exc: BaseException) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_exception(exc)

    async def request(self, data: bytes) -> int:
        assert self._transport is not None
        self._done = self._loop.create_future()
        self._transport.write(data)
        status = await self._done
        if not self._keep_alive:
            self.close()
        return status

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()


class _Source:
    def __init__(self, source: RequestSource) -> None:
        self._i = 0
        self._one: bytes | None = None
        self._list: Sequence[bytes] | None = None
        self._fn: Callable[[int], bytes] | None = None
        if isinstance(source, bytes):
            self._one = source
        elif callable(source):
            self._fn = source
        else:
            self._list = source
        self.exhausted = False

    def next(self) -> bytes | None:
        i = self._i
        self._i += 1
        if self._one is not None:
            return self._one
        if self._list is not None:
            if i < len(self._list):
                return self._list[i]
            self.exhausted = True
            return None
        assert self._fn is not None
        return self._fn(i)


async def _run(
    host: str,
    port: int,
    source: RequestSource,
    connections: int,
    duration: float | None,
    warmup: float,
    ok_statuses: frozenset[int],
    server_pid: int | None = None,
) -> LoadResult:
    loop = asyncio.get_running_loop()
    requests = _Source(source)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    started = time.perf_counter()
    measure_from = started + warmup
    deadline = measure_from + duration if duration is not None else None
    last_end = measure_from

    async def connect() -> _Connection:
        _, protocol = await loop.create_connection(lambda: _Connection(loop), host, port)
        return protocol

    async def worker() -> None:
        nonlocal errors, last_end
        conn = await connect()
        try:
            while True:
                data = requests.next()
                if data is None:
                    return
                t0 = time.perf_counter()
                if deadline is not None and t0 >= deadline:
                    return
                try:
                    status = await conn.request(data)
                except (OSError, httptools.HttpParserError):
                    errors += t0 >= measure_from
                    conn.close()
                    conn = await connect()
                    continue
                t1 = time.perf_counter()
                if t0 >= measure_from:
                    latencies.append((t1 - t0) * 1000.0)
                    statuses[status] = statuses.get(status, 0) + 1
                    errors += status not in ok_statuses
                    last_end = max(last_end, t1)
                if conn.closed:
                    conn = await connect()
        finally:
            conn.close()

    server_cpu: list[float | None] = []

    async def server_cpu_at_warmup() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        server_cpu.append(cpu_seconds(server_pid))

    cpu0 = time.process_time()
    at_warmup = asyncio.ensure_future(server_cpu_at_warmup())
    await asyncio.gather(*(worker() for _ in range(connections)))
    server_end = cpu_seconds(server_pid)
    at_warmup.cancel()
    cpu = time.process_time() - cpu0
    server_start = server_cpu[0] if server_cpu else None
    end = deadline if deadline is not None and not requests.exhausted else last_end
    return LoadResult(
        requests=len(latencies),
        seconds=max(end - measure_from, 1e-9),
        errors=errors,
        statuses=statuses,
        latencies_ms=latencies,
        client_cpu_seconds=cpu,
        server_cpu_seconds=(
            None if server_start is None or server_end is None else server_end - server_start
        ),
    )


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def load(
    base_url: str,
    source: RequestSource,
    *,
    connections: int = CONNECTIONS,
    duration: float | None = 5.0,
    warmup: float = 1.0,
    ok_statuses: Sequence[int] = (200,),
    server_pid: int | None = None,
) -> LoadResult:
    """Drive ``connections`` keep-alive connections at ``base_url`` (scheme://host:port; paths are
    inside the requests) with ``source`` for ``warmup`` + ``duration`` seconds, or until a list
    source is used up when ``duration`` is None. Only requests started after ``warmup`` count.
    With ``server_pid``, the server process's CPU time over the same part is measured too."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or parts.hostname is None:
        raise ValueError("only http:// URLs on a host are supported")
    if duration is None and not (isinstance(source, Sequence) and not isinstance(source, bytes)):
        raise ValueError("a run without duration needs a list of requests")
    coroutine_args = (
        parts.hostname,
        parts.port or 80,
        source,
        connections,
        duration,
        warmup,
        frozenset(ok_statuses),
        server_pid,
    )

    def _drive() -> LoadResult:
        loop = _new_loop()
        try:
            return loop.run_until_complete(_run(*coroutine_args))
        finally:
            loop.close()

    # A thread of its own: the caller's thread may already run an event loop (a session-wide
    # Playwright browser in the suite does), and a thread can run only one at a time.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_drive).result()


# ----------------------------------------------------------------------------------- serving


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process and all its threads (Linux ``/proc``), else None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def uvicorn_pid(base_url: str) -> int | None:
    """The uvicorn process listening on ``base_url``'s port (its command line names it)."""
    wanted = f"--port\0{urlsplit(base_url).port}\0".encode()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"uvicorn" in cmdline and wanted in cmdline + b"\0":
            return int(entry.name)
    return None


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server {proc.args!r} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"server did not answer {url} in {timeout} s")


@contextlib.contextmanager
def serve_process(
    argv: Sequence[str],
    *,
    ready_url: str,
    env: Mapping[str, str] | None = None,
    unset: Collection[str] = (),
    cwd: Path = REPO_ROOT,
    log: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``argv``, wait until ``ready_url`` answers 200, stop it (SIGTERM, then SIGKILL).
    Its environment: this process's, without the variables named in ``unset``, plus ``env``.
    With ``log``, the process's stdout and stderr go to that file, whose end is shown if the
    process fails to start."""
    inherited = {k: v for k, v in os.environ.items() if k not in unset}
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(log.open("wb")) if log is not None else None
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env={**inherited, **(env or {})}, stdout=out, stderr=out
        )
        try:
            try:
                wait_ready(ready_url, proc)
            except RuntimeError as exc:
                if log is None:
                    raise
                raise RuntimeError(f"{exc}; its output ends: {log.read_text()[-1500:]}") from exc
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _uvicorn_argv(factory: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *UVICORN_FLAGS,
    ]


@contextlib.contextmanager
def serve_fastapi_peer() -> Iterator[str]:
    """The bare FastAPI peer under uvicorn with our flags; yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"PYTHONPATH": str(REPO_ROOT)}
    with serve_process(
        _uvicorn_argv("bench.peers.fastapi_peer:app", port), ready_url=base + "/healthz", env=env
    ):
        yield base


def postgres_base_url() -> str | None:
    """``TRUST_BENCH_DATABASE_URL``, else the local test server if it answers, else None."""
    url = os.environ.get("TRUST_BENCH_DATABASE_URL") or LOCAL_POSTGRES
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("select 1"))
        engine.dispose()
    except Exception:
        return None
    return url


@contextlib.contextmanager
def private_postgres_database(base_url: str) -> Iterator[str]:
    """A fresh database on the server of ``base_url``, dropped afterwards; yields its URL."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    name = f"trust_bench_{secrets.token_hex(4)}"
    admin = sqlalchemy.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass(frozen=True)
class ServedApp:
    """Our app as served for a bench: base URL, database label, the settings it runs with."""

    base_url: str
    database: str  # "sqlite" | "postgresql"
    env: Mapping[str, str]
    #: The uvicorn process (for its CPU time), when known.
    pid: int | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    @property
    def settings(self) -> Any:
        from trust.config import load_settings

        return load_settings(environ=self.env)

    @contextlib.contextmanager
    def session_scope(self) -> Iterator[Any]:
        """A SQLAlchemy session on the served database, committed on success (for seeding)."""
        from trust.db import make_engine, session_factory

        engine = make_engine(self.settings.resolved_database_url)
        try:
            with session_factory(engine)() as session, session.begin():
                yield session
        finally:
            engine.dispose()


def _create_schema(env: Mapping[str, str]) -> None:
    from trust.config import load_settings
    from trust.db import make_engine
    from trust.migrations.registry import load_all_models

    settings = load_settings(environ=env)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    try:
        load_all_models().create_all(engine)
    finally:
        engine.dispose()


@contextlib.contextmanager
def serve_our_app(
    database: str = "sqlite", *, extra_env: Mapping[str, str] | None = None
) -> Iterator[ServedApp]:
    """``trust.web.asgi:app`` under uvicorn (one worker, no access log) on a free loopback port,
    on SQLite in a temporary directory or on a private PostgreSQL database."""
    with contextlib.ExitStack() as stack:
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="trust-bench-"))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            "TRUST_ENVIRONMENT": "test",
            "TRUST_DATA_DIR": data_dir,
            "TRUST_MASTER_KEY": BENCH_MASTER_KEY,
            "TRUST_PUBLIC_BASE_URL": base,
            # Periodic jobs (trust.jobs) would compete with the measured requests.
            "TRUST_SCHEDULER": "false",
            "PYTHONPATH": str(REPO_ROOT),
            **(extra_env or {}),
        }
        if database == "postgresql":
            server = postgres_base_url()
            if server is None:
                raise RuntimeError("no PostgreSQL server reachable")
            env["TRUST_DATABASE_URL"] = stack.enter_context(private_postgres_database(server))
        elif database != "sqlite":
            raise ValueError(f"unknown database {database!r}")
        # The served database is the one chosen here, whatever the caller's environment says.
        chosen_elsewhere = ("TRUST_DATABASE_URL", "TRUST_CONFIG")
        full_env = {k: v for k, v in os.environ.items() if k not in chosen_elsewhere}
        full_env.update(env)
        _create_schema(full_env)
        proc = stack.enter_context(
            serve_process(
                _uvicorn_argv("trust.web.asgi:app", port),
                ready_url=base + "/healthz",
                env=env,
                unset=chosen_elsewhere,
            )
        )
        yield ServedApp(base_url=base, database=database, env=full_env, pid=proc.pid)


def databases() -> list[str]:
    """The databases to bench on: SQLite always, PostgreSQL when reachable."""
    return ["sqlite"] + (["postgresql"] if postgres_base_url() is not None else [])


# ---------------------------------------------------------------------------- comparisons


def alternate(
    measure_ours: Callable[[], LoadResult],
    measure_peer: Callable[[], LoadResult],
    rounds: int = 2,
) -> tuple[LoadResult, LoadResult]:
    """Measure peer and ours in alternating rounds (peer first) and pool each side's rounds."""
    ours: list[LoadResult] = []
    peer: list[LoadResult] = []
    for _ in range(rounds):
        peer.append(measure_peer())
        ours.append(measure_ours())
    return pool(ours), pool(peer)


def comparison_rows(
    name: str, ours: LoadResult, peer: LoadResult, *, peer_name: str, target: float | None
) -> list[dict[str, Any]]:
    """Two rows in the bench format: requests/s (ratio ours/peer, higher is better) and p99
    latency in ms (the peer's p99 beside ours; no ratio, as lower is better there); and a third,
    server CPU time per request in µs (ratio peer/ours, so that higher is better here too), when
    both results measured it."""
    ratio = ours.rps / peer.rps if peer.rps else None
    warning = {}
    if ours.errors or peer.errors:
        warning = {"warning": f"errors: ours {ours.errors}, peer {peer.errors}"}
    rows: list[dict[str, Any]] = [
        {
            **warning,
            "name": f"{name} req/s",
            "value": ours.rps,
            "unit": "req/s",
            "peer": peer_name,
            "peer_value": peer.rps,
            "ratio": ratio,
            "target": target,
            "ours": ours.summary(),
            "peer_figures": peer.summary(),
        },
        {
            "name": f"{name} p99",
            "value": ours.p99_ms if ours.latencies_ms else 0.0,
            "unit": "ms",
            "peer": f"{peer_name} p99 {peer.p99_ms:.1f} ms" if peer.latencies_ms else peer_name,
            "peer_value": peer.p99_ms if peer.latencies_ms else None,
            "ratio": None,
            "target": None,
        },
    ]
    ours_cpu, peer_cpu = ours.server_cpu_us_per_request, peer.server_cpu_us_per_request
    if ours_cpu is not None and peer_cpu is not None:
        rows.append(
            {
                "name": f"{name} server CPU/req",
                "value": ours_cpu,
                "unit": "µs",
                "peer": f"{peer_name} {peer_cpu:.0f} µs",
                "peer_value": peer_cpu,
                "ratio": peer_cpu / ours_cpu if ours_cpu else None,
                "target": None,
            }
        )
    return rows


def compare_with_fastapi_peer(
    name: str,
    make_requests: Callable[[ServedApp], RequestSource],
    *,
    method: str = "GET",
    peer_body: bytes | None = None,
    peer_headers: Mapping[str, str] | None = None,
    target: float | None = 0.5,
    quick: bool = False,
    connections: int = CONNECTIONS,
    ok_statuses: Sequence[int] = (200,),
    database_list: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Serve our app (per database) and the bare FastAPI peer, drive both at ``connections``
    with the same generator in alternating rounds, and return rows in the bench format.

    ``make_requests(served)`` seeds what it needs and returns the request source for our app
    (bytes, list of bytes, or ``f(i) -> bytes``); the peer gets ``method /small`` (with
    ``peer_body`` for a POST)."""
    duration, warmup, rounds = (2.0, 0.5, 1) if quick else (6.0, 1.0, 2)
    rows: list[dict[str, Any]] = []
    with serve_fastapi_peer() as peer_url:
        host = urlsplit(peer_url).netloc
        peer_pid = uvicorn_pid(peer_url)
        peer_request = build_request(
            method, "/small", host=host, headers=peer_headers, body=peer_body
        )
        for db in database_list or databases():
            with serve_our_app(db) as served:
                source = make_requests(served)

                def ours_once(
                    source: RequestSource = source, served: ServedApp = served
                ) -> LoadResult:
                    return load(
                        served.base_url,
                        source,
                        connections=connections,
                        duration=duration,
                        warmup=warmup,
                        ok_statuses=ok_statuses,
                        server_pid=served.pid,
                    )

                def peer_once() -> LoadResult:
                    return load(
                        peer_url,
                        peer_request,
                        connections=connections,
                        duration=duration,
                        warmup=warmup,
                        server_pid=peer_pid,
                    )

                ours, peer = alternate(ours_once, peer_once, rounds)
            rows += comparison_rows(
                f"{name} ({db})", ours, peer, peer_name="bare FastAPI", target=target
            )
    return rows


# ------------------------------------------------------------------ autocannon, for comparison


def autocannon(base_url: str, path: str, *, connections: int, seconds: int) -> dict[str, Any]:
    """Run ``npx autocannon`` (if installed under AUTOCANNON_DIR or on PATH) and return its JSON
    summary plus the CPU seconds its process used; used only by ``--compare``."""
    where = os.environ.get("AUTOCANNON_DIR")
    exe = shutil.which("autocannon") or (
        str(Path(where) / "node_modules" / ".bin" / "autocannon") if where else None
    )
    if exe is None or not Path(exe).exists():
        raise RuntimeError("autocannon not found (npm install autocannon; set AUTOCANNON_DIR)")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [exe, "-j", "-c", str(connections), "-d", str(seconds), base_url + path],
        check=True,
        capture_output=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    data: dict[str, Any] = json.loads(out.stdout)
    data["cpu_seconds"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return data


def _self_check(compare: bool, seconds: float) -> None:
    with serve_fastapi_peer() as url:
        req = build_request("GET", "/small", host=urlsplit(url).netloc)
        for _ in range(2):
            result = load(url, req, duration=seconds, warmup=1.0)
            print("python generator:", json.dumps(result.summary()))
            if compare:
                ac = autocannon(url, "/small", connections=CONNECTIONS, seconds=int(seconds) + 1)
                total = ac["requests"]["total"]
                print(
                    "autocannon:",
                    json.dumps(
                        {
                            "rps": ac["requests"]["average"],
                            "p50_ms": ac["latency"]["p50"],
                            "p99_ms": ac["latency"]["p99"],
                            "errors": ac["errors"] + ac["non2xx"],
                            "client_cpu_us_per_request": round(1e6 * ac["cpu_seconds"] / total, 1),
                        }
                    ),
                )


if __name__ == "__main__":
    _self_check("--compare" in sys.argv, 8.0)
