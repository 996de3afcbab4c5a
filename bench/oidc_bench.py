"""OpenID Provider token endpoint under load: ours against panva's ``oidc-provider`` (npm), both on
loopback, measured by the same generator (``bench.http_load``) in the same run, in alternating
rounds, at 32 keep-alive connections.

Two measurements, each as requests/s (ratio ours/peer, target >= 1.0) and p99 latency:

- ``client_credentials``: ``POST`` to the token endpoint with ``client_secret_basic``; the answer
  is an ES256 JWT access token (RFC 9068). The peer issues ES256 ``at+jwt`` through resource
  indicators (a default resource whose ``accessTokenFormat`` is ``jwt``).
- ``authorization_code`` exchange with PKCE S256: each request carries its own one-time code
  (pre-created: on our side through the service layer, ``create_grant`` + ``issue_code``, as the
  authorize flow does; on the peer through its own ``Grant`` + ``AuthorizationCode`` models via a
  bench-only route); the answer holds an ES256 JWT access token and an ES256 ID token, no
  refresh token on either side (neither client may refresh).

Two peer configurations, differing only in where the provider keeps codes and grants, and each
measurement is compared with both (the row names say which):

- ``in-memory store``: a Map in the node process (``server.mjs``; like the provider's own
  ``MemoryAdapter``, which its documentation says is not for production): a restart loses every
  code and grant, and two processes cannot share them. Ours is durable, so this is the upper
  bound of what the peer could do, not a like-for-like comparison;
- ``Redis store``: ``server.mjs``'s Redis adapter on a private ``redis-server`` started for the
  run with an append-only file fsynced every second (Redis's documented durable setting; our
  PostgreSQL commits with a synchronous fsync, our SQLite in WAL with ``synchronous=NORMAL``).
  Shared by several processes and kept across a restart, like our store. When ``redis-server``
  is not installed these rows say "not available".

A third row per measurement gives each server process's CPU time per request (user + system,
all threads, from ``/proc``; the store's own process - Redis, PostgreSQL - not included; SQLite
runs inside ours): on a shared machine whose load moves requests/s from run to run, this is the
steadier figure of how much work each side does per request.

A last row gives, for context, the requests/s of the bare FastAPI ``GET /small`` under the same
uvicorn flags in the same run (the ceiling of any FastAPI endpoint on this machine).

The servers run one process each: uvicorn with one worker (``--no-access-log``) for ours, one
node process per peer. Ours runs on SQLite and, when reachable, PostgreSQL (a private
database). Our token endpoint is taken from ``/.well-known/openid-configuration``; if discovery
or the endpoint is not there, our rows say "not available" and the peers are still measured.

The peer is installed on first use with ``npm ci`` into ``bench/peers/node/node_modules``
(``oidc-provider`` and ``ioredis``, versions pinned in ``package-lock.json``).
Run: ``python -m bench --only oidc_bench [--quick]`` or ``python -m bench.oidc_bench``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from bench.http_load import (
    LoadResult,
    ServedApp,
    build_request,
    comparison_rows,
    cpu_seconds,
    databases,
    free_port,
    load,
    pool,
    serve_fastapi_peer,
    serve_our_app,
    serve_process,
    uvicorn_pid,
)

NODE_DIR = Path(__file__).resolve().parent / "peers" / "node"
PEER_NAME = "node oidc-provider"
#: The two peer configurations: store -> (row label, peer column).
PEER_STORES: dict[str, tuple[str, str]] = {
    "memory": ("in-memory peer", "oidc-provider, Map (not durable)"),
    "redis": ("Redis peer", "oidc-provider, Redis AOF 1s"),
}
TARGET = 1.0
REDIRECT_URI = "https://rp.bench.example/cb"
VERIFIER = "bench-pkce-verifier-" + "x" * 40  # 60 characters, RFC 7636 alphabet
CHALLENGE = (
    base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode("ascii")).digest())
    .rstrip(b"=")
    .decode("ascii")
)


@dataclass(frozen=True)
class Target:
    """One OP as the generator sees it: base URL, token path, what to send."""

    base_url: str
    token_path: str
    client_id: str
    client_secret: str
    cc_scope: str
    make_codes: Callable[[int], list[str]]
    #: The server's process (for its CPU time per request); ``None`` when not found.
    pid: int | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    def _post(self, form: dict[str, str]) -> bytes:
        basic = base64.b64encode(
            f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}".encode()
        ).decode("ascii")
        return build_request(
            "POST",
            self.token_path,
            host=self.host,
            headers={
                "Authorization": f"Basic {basic}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            body=urlencode(form).encode("ascii"),
        )

    def client_credentials_request(self) -> bytes:
        return self._post({"grant_type": "client_credentials", "scope": self.cc_scope})

    def code_requests(self, n: int) -> list[bytes]:
        return [
            self._post(
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": REDIRECT_URI,
                    "code_verifier": VERIFIER,
                }
            )
            for code in self.make_codes(n)
        ]


# ------------------------------------------------------------------------------------ peer


def ensure_node_peer() -> str | None:
    """Install the peer with ``npm ci`` if needed; None when ready, else why not."""
    modules = NODE_DIR / "node_modules"
    if all((modules / name / "package.json").exists() for name in ("oidc-provider", "ioredis")):
        return None
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return "node/npm not installed"
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True
    )
    if done.returncode != 0:
        return f"npm ci failed: {done.stderr.strip()[-300:]}"
    return None


def _post_json(url: str) -> Any:
    req = urllib.request.Request(url, method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=120) as response:
        return json.load(response)


@contextlib.contextmanager
def serve_private_redis() -> Iterator[str]:
    """A ``redis-server`` of our own on a free loopback port, persisting to an append-only file
    fsynced every second in a temporary directory (no RDB snapshots); yields its URL."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server not installed")
    with tempfile.TemporaryDirectory(prefix="oidc-peer-redis-") as tmp:
        port = free_port()
        argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp, "--save", ""]
        argv += ["--appendonly", "yes", "--appendfsync", "everysec", "--daemonize", "no"]
        with (Path(tmp) / "redis.log").open("wb") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=log)
            try:
                _wait_redis(port, proc)
                yield f"redis://127.0.0.1:{port}/0"
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _wait_redis(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("redis-server did not answer")


@contextlib.contextmanager
def serve_node_peer(store: str = "memory", redis_url: str | None = None) -> Iterator[Target]:
    """The peer with its ``store`` (``PEER_STORES``; ``redis`` needs ``redis_url``)."""
    client_id, secret = "bench-client", secrets.token_urlsafe(32)
    config = {
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uri": REDIRECT_URI,
        "resource": "urn:bench:api",
        "scope": "api:read",
        "store": store,
        "redis_url": redis_url,
    }
    with tempfile.TemporaryDirectory(prefix="oidc-peer-") as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(config))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        node = shutil.which("node") or "node"
        with serve_process(
            [node, "server.mjs", str(port), str(path)],
            ready_url=base + "/.well-known/openid-configuration",
            cwd=NODE_DIR,
            env={"NODE_ENV": "production"},
            log=Path(tmp) / "peer.log",  # its start-up warnings (node 20, memory store) go here
        ) as proc:
            token_path = urlsplit(_discover(base)["token_endpoint"]).path

            def make_codes(n: int) -> list[str]:
                codes: list[str] = []
                while len(codes) < n:
                    batch = min(2000, n - len(codes))
                    url = f"{base}/bench/codes?n={batch}&challenge={CHALLENGE}"
                    codes += _post_json(url)["codes"]
                return codes

            yield Target(base, token_path, client_id, secret, "api:read", make_codes, proc.pid)


# ------------------------------------------------------------------------------------- ours


def _discover(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(base_url + "/.well-known/openid-configuration", timeout=10) as r:
        data: dict[str, Any] = json.load(r)
    return data


def _citizen_id(i: int) -> str:
    from trust.checkchars import citizen_id_check_char

    first17 = f"11010119900101{i % 1000:03d}"
    return first17 + citizen_id_check_char(first17)


def our_target(served: ServedApp) -> Target:
    """Register a confidential client and a person through the service layer; codes are created
    through ``create_grant`` + ``issue_code``. Raises when the OIDC provider is not there yet."""
    from identity.authorize import AuthorizationRequest
    from identity.keying import IdentityKeys
    from identity.oidc_service_clients import register_client
    from identity.oidc_service_context import OidcContext
    from identity.oidc_service_tokens import create_grant, issue_code
    from identity.oidc_settings import load_oidc_settings
    from identity.service_accounts import register_person
    from trust.clock import SystemClock

    discovery = _discover(served.base_url)
    token_endpoint = urlsplit(discovery["token_endpoint"])
    clock = SystemClock()
    settings = served.settings
    keys = IdentityKeys.from_settings(settings)
    ctx = OidcContext(load_oidc_settings(settings), keys)
    with served.session_scope() as session:
        registered = register_client(
            session=session,
            clock=clock,
            name="压测客户端",
            redirect_uris=[REDIRECT_URI],
            kind="confidential",
            scopes=["openid", "profile"],
            grant_types=["authorization_code", "client_credentials"],
            actor="bench",
        )
        person_ids = [
            register_person(
                session=session,
                clock=clock,
                keys=keys,
                name="张测试",
                id_number=_citizen_id(i),
                phone=f"1380000{i:04d}",
                actor="bench",
            ).id
            for i in range(16)
        ]
    client_id = registered.client.client_id
    assert registered.client_secret is not None

    def make_codes(n: int) -> list[str]:
        codes: list[str] = []
        with served.session_scope() as session:
            now = clock.now()
            for i in range(n):
                grant_id = create_grant(
                    session=session,
                    clock=clock,
                    ctx=ctx,
                    client_id=client_id,
                    person_id=person_ids[i % len(person_ids)],
                    scope=["openid"],
                    acr="urn:ywtb:loa:2",
                    amr=["pwd"],
                    auth_time=now,
                )
                req = AuthorizationRequest(
                    client_id=client_id,
                    redirect_uri=REDIRECT_URI,
                    scopes=("openid",),
                    code_challenge=CHALLENGE,
                    nonce=secrets.token_urlsafe(16),
                )
                codes.append(
                    issue_code(session=session, clock=clock, ctx=ctx, grant_id=grant_id, req=req)
                )
        return codes

    return Target(
        served.base_url,
        token_endpoint.path,
        client_id,
        registered.client_secret,
        "profile",
        make_codes,
        uvicorn_pid(served.base_url),
    )


# ------------------------------------------------------------------------------- measuring


def _check_one(target: Target, request: bytes) -> str | None:
    """Send one request (not measured) and return None when it answers 200 with an access token,
    else a short reason: guards against benchmarking error responses."""
    result = load(target.base_url, [request], connections=1, duration=None, warmup=0.0)
    if result.statuses.get(200) != 1:
        return f"token endpoint answered {dict(result.statuses)} (errors {result.errors})"
    return None


def _not_available(
    name: str, reason: str, peer: LoadResult | None, peer_name: str = PEER_NAME
) -> dict[str, Any]:
    print(f"{name}: not available: {reason[:300]}")
    return {
        "name": f"{name} req/s (n/a)",
        "value": 0.0,
        "unit": "req/s",
        "peer": peer_name,
        "peer_value": peer.rps if peer else None,
        "ratio": None,
        "target": TARGET,
        "not_available": reason[:300],
    }


def _measure_round_robin(
    targets: dict[str, Target],
    kind: str,
    *,
    duration: float,
    warmup: float,
    rounds: int,
    codes: dict[str, int],
    server_cpu: dict[str, float],
) -> dict[str, LoadResult]:
    """Each target in turn, ``rounds`` times (so that a shared machine's drift falls on all
    alike); each side's rounds pooled. ``codes``: authorisation codes to pre-create per round
    for each target; a run ends when they are used up or after ``duration``. ``server_cpu``
    receives each server process's CPU time per request in µs (user + system, all threads;
    the store - Redis, PostgreSQL - not included), a figure the load of a shared machine
    disturbs far less than requests/s."""

    def measure(target: Target, n_codes: int) -> tuple[LoadResult, float | None]:
        if kind == "client_credentials":
            source: bytes | list[bytes] = target.client_credentials_request()
        else:
            source = target.code_requests(n_codes)
        # The server's CPU time over the measured part (from the end of the warm-up on).
        at_warmup: list[float | None] = []
        timer = threading.Timer(warmup, lambda: at_warmup.append(cpu_seconds(target.pid)))
        timer.start()
        result = load(target.base_url, source, duration=duration, warmup=warmup)
        timer.join()
        after = cpu_seconds(target.pid)
        before = at_warmup[0] if at_warmup else None
        if before is None or after is None or not result.requests:
            return result, None
        return result, 1e6 * (after - before) / result.requests

    runs: dict[str, list[LoadResult]] = {name: [] for name in targets}
    cpus: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, target in targets.items():
            result, cpu = measure(target, codes.get(name, 0))
            runs[name].append(result)
            if cpu is not None:
                cpus[name].append(cpu)
    server_cpu.update({name: sum(v) / len(v) for name, v in cpus.items() if v})
    return {name: pool(results) for name, results in runs.items()}


def _codes_for(cc: LoadResult | None, seconds: float, cap: int) -> int:
    """Codes enough for ``seconds`` at the client-credentials rate (an exchange does more work)."""
    rate = cc.rps if cc is not None and cc.rps > 0 else cap
    return max(300, min(cap, int(rate * seconds * 1.5)))


@contextlib.contextmanager
def _peers() -> Iterator[tuple[dict[str, Target], dict[str, str]]]:
    """The working peer configurations, and why the others are not available."""
    with contextlib.ExitStack() as stack:
        peers: dict[str, Target] = {}
        missing: dict[str, str] = {}
        peers["memory"] = stack.enter_context(serve_node_peer("memory"))
        try:
            redis_url = stack.enter_context(serve_private_redis())
            peers["redis"] = stack.enter_context(serve_node_peer("redis", redis_url))
        except (RuntimeError, OSError) as exc:
            missing["redis"] = str(exc)
        for name, peer in peers.items():
            for check in (peer.client_credentials_request(), peer.code_requests(1)[0]):
                failure = _check_one(peer, check)
                if failure:
                    raise RuntimeError(f"peer ({name}) not working: {failure}")
        yield peers, missing


def _ours(served: ServedApp) -> tuple[Target | None, str]:
    try:
        ours = our_target(served)
        for check in (ours.client_credentials_request(), ours.code_requests(1)[0]):
            failure = _check_one(ours, check)
            if failure:
                raise RuntimeError(failure)
    except Exception as exc:  # not there yet, or broken: reported as a row
        return None, f"{type(exc).__name__}: {exc}"
    return ours, ""


def _rows_for(
    name: str,
    results: dict[str, LoadResult],
    missing: dict[str, str],
    reason: str,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    ours = results.get("ours")
    for store, (label, peer_name) in PEER_STORES.items():
        row_name = f"{name} vs {label}"
        peer = results.get(store)
        if peer is None:
            rows.append(_not_available(row_name, missing.get(store, "?"), None, peer_name))
        elif ours is None:
            rows.append(_not_available(row_name, reason, peer, peer_name))
            rows.append(_peer_only_p99(row_name, peer, peer_name))
        else:
            rows += comparison_rows(row_name, ours, peer, peer_name=peer_name, target=TARGET)
    return rows


def _bench_database(
    db: str,
    peers: dict[str, Target],
    missing: dict[str, str],
    *,
    duration: float,
    warmup: float,
    rounds: int,
    code_cap: int,
    notes: dict[str, Any],
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with serve_our_app(db) as served:
        ours, reason = _ours(served)
        targets = {**peers, **({"ours": ours} if ours is not None else {})}
        cc: dict[str, LoadResult] = {}
        for kind in ("client_credentials", "authorization_code"):
            name = f"{kind} ({db})"
            seconds = duration + warmup
            codes = {t: _codes_for(cc.get(t), seconds, code_cap) for t in targets}
            cpu: dict[str, float] = {}
            results = _measure_round_robin(
                targets,
                kind,
                duration=duration,
                warmup=warmup,
                rounds=rounds,
                codes=codes,
                server_cpu=cpu,
            )
            if kind == "client_credentials":
                cc = results
            notes[name] = {
                t: r.summary()
                | {"server_cpu_us_per_request": round(cpu[t], 1) if t in cpu else None}
                for t, r in results.items()
            }
            if ours is None:
                notes[name]["ours"] = reason
            rows += _rows_for(name, results, missing, reason)
            rows.append(_cpu_row(name, cpu))
    return rows


def _cpu_row(name: str, cpu: dict[str, float]) -> dict[str, Any]:
    """Server CPU per request, ours beside each peer's (lower is better; no ratio)."""
    peers = ", ".join(
        f"{label.removesuffix(' peer')} {cpu[store]:.0f}"
        for store, (label, _name) in PEER_STORES.items()
        if store in cpu
    )
    return {
        "name": f"{name} server CPU/req",
        "value": cpu.get("ours", 0.0),
        "unit": "µs",
        "peer": f"peers (µs): {peers}" if peers else None,
        "peer_value": None,
        "ratio": None,
        "target": None,
    }


def _reference_row(duration: float, warmup: float, notes: dict[str, Any]) -> dict[str, Any]:
    """Context for the ratios: what a bare FastAPI endpoint under the same uvicorn does here."""
    with serve_fastapi_peer() as url:
        small = build_request("GET", "/small", host=urlsplit(url).netloc)
        ref = load(url, small, duration=duration, warmup=warmup)
    notes["reference: bare FastAPI GET /small"] = ref.summary()
    return {
        "name": "reference: bare FastAPI GET /small",
        "value": ref.rps,
        "unit": "req/s",
        "peer": None,
        "ratio": None,
        "target": None,
    }


def run(quick: bool = False) -> dict[str, Any]:
    duration, warmup, rounds = (3.0, 0.5, 1) if quick else (8.0, 1.0, 2)
    code_cap = 6000 if quick else 20000
    out: dict[str, Any] = {"title": f"OIDC token endpoint vs {PEER_NAME}", "rows": []}
    why = ensure_node_peer()
    if why is not None:
        out["rows"].append(_not_available("OIDC peer", why, None))
        return out
    notes: dict[str, Any] = {"load_average_before": os.getloadavg()}
    with _peers() as (peers, missing):
        for db in databases():
            try:
                out["rows"] += _bench_database(
                    db,
                    peers,
                    missing,
                    duration=duration,
                    warmup=warmup,
                    rounds=rounds,
                    code_cap=code_cap,
                    notes=notes,
                )
            except (RuntimeError, OSError) as exc:  # our server did not start: say so, go on
                out["rows"].append(_not_available(f"OIDC ({db})", str(exc), None))
        out["rows"].append(_reference_row(duration, warmup, notes))
    notes["load_average_after"] = os.getloadavg()
    out["figures"] = notes
    return out


def _peer_only_p99(name: str, peer: LoadResult, peer_name: str = PEER_NAME) -> dict[str, Any]:
    return {
        "name": f"{name} p99",
        "value": 0.0,
        "unit": "ms",
        "peer": f"{peer_name} p99 {peer.p99_ms:.1f} ms",
        "peer_value": peer.p99_ms,
        "ratio": None,
        "target": None,
    }


def _print(rows: Sequence[dict[str, Any]]) -> None:
    for row in rows:
        print(json.dumps(row, ensure_ascii=False, default=str))


if __name__ == "__main__":
    _print(run(quick=True)["rows"])
