"""Two ``trustctl serve`` processes on one PostgreSQL behave as one service (Foundation item 7).

- authentication back-off counts failures across both processes (it lives in the database);
- log appends from both processes interleave into one contiguous, verifiable log;
- a bearer token issued through one process works on the other.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import skip_or_fail
from trust.checkchars import org_code_check_char, uscc_check_char
from trust.db import make_engine

pytestmark = pytest.mark.postgres

FAILURE_LIMIT = 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _uscc(n: int) -> str:
    body = f"{70000000 + n:08d}"
    first17 = "91350100" + body + org_code_check_char(body)
    return first17 + uscc_check_char(first17)


def _trustctl(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", "from trust.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    base_url = os.environ.get("TRUST_TEST_DATABASE_URL")
    if not base_url or not base_url.startswith("postgresql"):
        skip_or_fail("two-process test needs PostgreSQL (set TRUST_TEST_DATABASE_URL)")
    assert base_url is not None
    schema = f"mp_{secrets.token_hex(5)}"
    admin = make_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base_url else "?"
    url = f"{base_url}{sep}options=-csearch_path%3D{schema}"
    data_dir = tmp_path_factory.mktemp("mp")
    env = {
        **os.environ,
        "TRUST_DATA_DIR": str(data_dir),
        "TRUST_DATABASE_URL": url,
        "TRUST_ENVIRONMENT": "test",
        "TRUST_AUTH_FAILURE_LIMIT": str(FAILURE_LIMIT),
    }
    _trustctl(env, "init")
    org = json.loads(
        _trustctl(
            env,
            "org",
            "add",
            "--name",
            "并发测试局",
            "--uscc",
            _uscc(1),
            "--kind",
            "department",
            "--json",
        )
    )
    _trustctl(
        env,
        "user",
        "add",
        "--login",
        "mp.admin",
        "--name",
        "管理员",
        "--role",
        "system_admin",
        "--json",
    )
    token = json.loads(_trustctl(env, "user", "token", "mp.admin", "--json"))["token"]
    client = json.loads(
        _trustctl(env, "client", "add-service", "--org", org["id"], "--name", "审批系统", "--json")
    )
    ports = [_free_port(), _free_port()]
    logs = [(data_dir / f"server-{p}.log").open("wb") for p in ports]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", "from trust.cli import main; main()", "serve", "--port", str(p)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for p, log in zip(ports, logs, strict=True)
    ]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    try:
        deadline = time.monotonic() + 60
        for u in urls:
            while True:
                try:
                    if httpx.get(f"{u}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"server {u} did not become ready")
                time.sleep(0.3)
        yield {"urls": urls, "token": token, "client": client, "env": env, "url": url}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=20)
        for log in logs:
            log.close()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_token_from_one_process_works_on_the_other(deployment: dict[str, object]) -> None:
    urls = deployment["urls"]
    assert isinstance(urls, list)
    headers = {"Authorization": f"Bearer {deployment['token']}"}
    seen = {httpx.get(f"{u}/whoami", headers=headers, timeout=10).json()["id"] for u in urls}
    assert len(seen) == 1


def test_concurrent_log_appends_from_both_processes_form_one_log(
    deployment: dict[str, object],
) -> None:
    urls = deployment["urls"]
    assert isinstance(urls, list)
    headers = {"Authorization": f"Bearer {deployment['token']}"}
    engine = make_engine(str(deployment["url"]))
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM tlog_entries")).scalar_one()

    def create(i: int) -> int:
        body = {"name": f"并发组织{i}", "uscc": _uscc(100 + i), "kind": "company"}
        r = httpx.post(f"{urls[i % 2]}/admin/organisations", json=body, headers=headers, timeout=30)
        return r.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(create, range(24)))
    try:
        with engine.connect() as conn:
            indexes = [r[0] for r in conn.execute(text("SELECT idx FROM tlog_entries ORDER BY 1"))]
    finally:
        engine.dispose()
    assert codes == [201] * 24
    assert len(indexes) == before + 24
    assert indexes == list(range(len(indexes)))  # contiguous, no duplicate, no gap
    env = deployment["env"]
    assert isinstance(env, dict)
    _trustctl(env, "log", "checkpoint")
    out = _trustctl(env, "log", "verify", "--json")
    report = json.loads(out)
    assert report["ok"] is True, report


def test_auth_backoff_is_shared_between_processes(deployment: dict[str, object]) -> None:
    """Runs last: the per-IP back-off it provokes also blocks the other tests' loopback calls."""
    urls = deployment["urls"]
    client = deployment["client"]
    assert isinstance(urls, list)
    assert isinstance(client, dict)
    bad = httpx.BasicAuth(client["client_id"], "wrong-secret")
    statuses = []
    for i in range(FAILURE_LIMIT):  # alternate: neither process alone reaches the limit
        r = httpx.get(f"{urls[i % 2]}/whoami", auth=bad, timeout=10)
        statuses.append(r.status_code)
    assert statuses == [401] * FAILURE_LIMIT
    for u in urls:  # both now refuse, even with the right secret
        r = httpx.get(
            f"{u}/whoami",
            auth=httpx.BasicAuth(client["client_id"], client["client_secret"]),
            timeout=10,
        )
        assert r.status_code == 429, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert int(r.headers["retry-after"]) > 0
