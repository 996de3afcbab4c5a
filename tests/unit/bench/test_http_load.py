"""The load harness's statistics and client against real HTTP servers on loopback, and the
serving helpers (our app under uvicorn on SQLite and on a private PostgreSQL database).

A small threaded ``http.server`` (HTTP/1.1, keep-alive) counts connections and requests and can be
told to be slow for some requests; the bare FastAPI peer runs under real uvicorn. No assertion is
an upper time bound: slow requests give *lower* bounds on latency that hold on any machine.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.http_load import (
    LoadResult,
    ServedApp,
    build_request,
    comparison_rows,
    cpu_seconds,
    load,
    percentile,
    pool,
    serve_fastapi_peer,
    serve_our_app,
    uvicorn_pid,
)
from tests.conftest import skip_or_fail


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    connections: ClassVar[int] = 0
    bodies: ClassVar[list[bytes]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def setup(self) -> None:
        super().setup()
        with self.lock:
            type(self).connections += 1

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, close: bool = False) -> None:
        body = b'{"ok":true}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.startswith("/slow"):
            time.sleep(0.3)
        if self.path == "/missing":
            self._answer(404)
            return
        self._answer(200, close=self.path == "/close")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            self.bodies.append(body)
        self._answer(200)


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.connections = 0
    _Handler.bodies = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _get(base: str, path: str) -> bytes:
    return build_request("GET", path, host=base.removeprefix("http://"))


# ------------------------------------------------------------------------------- percentiles


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # unsorted on purpose
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 0) == 1.0
    # ten values: p99 is the largest (ceil(9.9) = 10th), p50 the 5th
    ten = [float(v) for v in range(1, 11)]
    assert percentile(ten, 99) == 10.0
    assert percentile(ten, 50) == 5.0
    assert percentile([7.0], 99) == 7.0


def test_percentile_refuses_bad_input() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_pool_adds_counts_and_pools_latencies() -> None:
    a = LoadResult(10, 2.0, 1, {200: 9, 500: 1}, [1.0] * 10, 0.1)
    b = LoadResult(30, 2.0, 0, {200: 30}, [3.0] * 30, 0.2)
    both = pool([a, b])
    assert both.requests == 40
    assert both.rps == 10.0
    assert both.statuses == {200: 39, 500: 1}
    assert both.errors == 1
    assert both.p50_ms == 3.0  # 20th of 40 sorted values: 10 ones then thirty threes
    assert percentile(both.latencies_ms, 25) == 1.0


def test_comparison_rows_ratio_and_warning() -> None:
    ours = LoadResult(300, 1.0, 0, {200: 300}, [2.0] * 300)
    peer = LoadResult(200, 1.0, 2, {200: 198, 400: 2}, [4.0] * 200)
    rps_row, p99_row = comparison_rows("x", ours, peer, peer_name="p", target=1.0)
    assert rps_row["ratio"] == pytest.approx(1.5)
    assert rps_row["value"] == 300.0
    assert rps_row["peer_value"] == 200.0
    assert "peer 2" in rps_row["warning"]
    assert p99_row["unit"] == "ms"
    assert p99_row["value"] == 2.0
    assert p99_row["peer_value"] == 4.0


def test_comparison_rows_add_server_cpu_when_both_measured_it() -> None:
    ours = LoadResult(300, 1.0, 0, {200: 300}, [2.0] * 300, server_cpu_seconds=0.09)
    peer = LoadResult(600, 1.0, 0, {200: 600}, [1.0] * 600, server_cpu_seconds=0.09)
    *_, cpu_row = comparison_rows("x", ours, peer, peer_name="p", target=0.5)
    assert cpu_row["name"] == "x server CPU/req"
    assert cpu_row["value"] == pytest.approx(300.0)  # µs per request
    assert cpu_row["peer_value"] == pytest.approx(150.0)
    assert cpu_row["ratio"] == pytest.approx(0.5)
    unmeasured = LoadResult(300, 1.0, 0, {200: 300}, [2.0] * 300)
    assert len(comparison_rows("x", unmeasured, peer, peer_name="p", target=0.5)) == 2
    pooled = pool([ours, ours])
    assert pooled.server_cpu_seconds == pytest.approx(0.18)
    assert pool([ours, unmeasured]).server_cpu_seconds is None


# ---------------------------------------------------------------------- against a real server


def test_list_source_sends_each_request_once_on_kept_alive_connections(server: str) -> None:
    requests = [
        build_request("POST", "/p", host=server[7:], body=f"code={i}".encode()) for i in range(200)
    ]
    result = load(server, requests, connections=4, duration=None, warmup=0.0)
    assert result.requests == 200
    assert result.statuses == {200: 200}
    assert result.errors == 0
    assert sorted(_Handler.bodies) == sorted(f"code={i}".encode() for i in range(200))
    assert _Handler.connections == 4  # keep-alive: one connection per worker, reused


def test_p99_reflects_slow_requests(server: str) -> None:
    # 100 requests, 2 of them take >= 300 ms on the server: nearest-rank p99 is the 99th
    # smallest latency, which must be one of the two slow ones.
    requests = [_get(server, "/slow" if i in (10, 60) else "/fast") for i in range(100)]
    result = load(server, requests, connections=2, duration=None, warmup=0.0)
    assert result.requests == 100
    assert len(result.latencies_ms) == 100
    assert result.p99_ms >= 300.0
    assert sum(1 for x in result.latencies_ms if x >= 300.0) >= 2
    assert result.p50_ms <= result.p99_ms


def test_unexpected_status_counts_as_error(server: str) -> None:
    requests = [_get(server, "/missing" if i % 4 == 0 else "/fast") for i in range(40)]
    result = load(server, requests, connections=2, duration=None, warmup=0.0)
    assert result.statuses == {200: 30, 404: 10}
    assert result.errors == 10
    assert (
        load(
            server, requests, connections=2, duration=None, warmup=0.0, ok_statuses=(200, 404)
        ).errors
        == 0
    )


def test_connection_close_reconnects(server: str) -> None:
    result = load(server, [_get(server, "/close")] * 20, connections=2, duration=None, warmup=0.0)
    assert result.statuses == {200: 20}
    assert _Handler.connections >= 20  # a new connection after each closing response


def test_callable_source_and_duration(server: str) -> None:
    seen: list[int] = []

    def make(i: int) -> bytes:
        seen.append(i)
        return _get(server, f"/fast?i={i}")

    result = load(server, make, connections=2, duration=0.3, warmup=0.1)
    assert result.requests > 0
    assert result.statuses == {200: result.requests}
    assert seen[:3] == [0, 1, 2]
    assert result.seconds == pytest.approx(0.3, rel=0.01)  # the measured window, not a speed


def test_duration_none_needs_a_list(server: str) -> None:
    with pytest.raises(ValueError):
        load(server, _get(server, "/fast"), duration=None)


def test_against_fastapi_peer_under_uvicorn() -> None:
    with serve_fastapi_peer() as url:
        get = build_request("GET", "/small", host=url[7:])
        post = build_request("POST", "/small", host=url[7:], body=b"a=1&b=2")
        pid = uvicorn_pid(url)
        result = load(
            url, [get, post] * 50, connections=8, duration=None, warmup=0.0, server_pid=pid
        )
    assert pid is not None
    assert result.statuses == {200: 100}
    assert result.errors == 0
    assert result.rps > 0
    # Some CPU time of the server was counted (a clock tick is 10 ms: it may round to 0).
    assert result.server_cpu_seconds is not None
    assert result.server_cpu_seconds >= 0
    assert cpu_seconds(None) is None
    assert uvicorn_pid("http://127.0.0.1:1") is None


# ------------------------------------------------------------------------- serving our app


def _ready_and_db(served: ServedApp) -> LoadResult:
    """``/readyz`` touches the database: all 200 means the served app runs on its schema."""
    request = build_request("GET", "/readyz", host=served.host)
    return load(served.base_url, [request] * 20, connections=4, duration=None, warmup=0.0)


def test_serve_our_app_on_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    """On its own SQLite database even when the environment names another one."""
    monkeypatch.setenv("TRUST_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/nowhere")
    monkeypatch.setenv("TRUST_CONFIG", "/nonexistent/trust.toml")
    with serve_our_app("sqlite") as served:
        result = _ready_and_db(served)
        assert served.pid is not None
        assert served.pid == uvicorn_pid(served.base_url)
        data_dir = Path(served.env["TRUST_DATA_DIR"])
        assert data_dir.is_dir()
        with served.session_scope() as session:  # the bench process sees the same database
            assert session.execute(text("select 1")).scalar() == 1
    assert result.statuses == {200: 20}
    assert not data_dir.exists()  # the temporary data directory is removed afterwards


@pytest.mark.postgres
def test_serve_our_app_on_a_private_postgres_database(monkeypatch: pytest.MonkeyPatch) -> None:
    base = os.environ.get("TRUST_TEST_DATABASE_URL", "")
    if not base:
        skip_or_fail("needs PostgreSQL (set TRUST_TEST_DATABASE_URL)")
    monkeypatch.setenv("TRUST_BENCH_DATABASE_URL", base)
    with serve_our_app("postgresql") as served:
        name = make_url(served.env["TRUST_DATABASE_URL"]).database
        assert name is not None
        assert name.startswith("trust_bench_")
        result = _ready_and_db(served)
    assert result.statuses == {200: 20}
    engine = create_engine(base)
    try:
        with engine.connect() as conn:
            left = conn.execute(
                text("select count(*) from pg_database where datname = :n"), {"n": name}
            ).scalar()
    finally:
        engine.dispose()
    assert left == 0  # dropped on exit
