"""Chromium: log in with password + TOTP at portal A, consent, then single sign-on at portal B
without any page - against a real server (uvicorn subprocess, SQLite).

The portals are registered with ``trustctl client add --json`` (the CLI as an operator runs it);
the citizen and the TOTP credential are set up through the identity services on the same
database. The portals' redirect URIs are intercepted in the browser (nothing listens there)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from playwright.sync_api import Error as PlaywrightError

from identity import service as identity_service
from identity.keying import IdentityKeys
from identity.sim_data import load_sim_registry
from identity.totp import totp
from tests.browser.conftest import TEST_MASTER_KEY, _free_port, _wait_until_up
from tests.conftest import REPO_ROOT
from trust.clock import SystemClock
from trust.db import make_engine, session_factory

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def oidc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    port = _free_port()
    data_dir = tmp_path_factory.mktemp("oidc-browser-var")
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TRUST_ENVIRONMENT": "test",
        "TRUST_DATA_DIR": str(data_dir),
        "TRUST_MASTER_KEY": TEST_MASTER_KEY,
        "TRUST_PUBLIC_BASE_URL": url,
        "PYTHONPATH": str(REPO_ROOT),
    }
    env.pop("TRUST_DATABASE_URL", None)
    env.pop("TRUST_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.browser._server", str(port)], cwd=REPO_ROOT, env=env
    )
    try:
        _wait_until_up(url, proc)
        yield url, data_dir
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _trustctl(data_dir: Path, *args: str) -> dict[str, Any]:
    env = {**os.environ, "TRUST_MASTER_KEY": TEST_MASTER_KEY, "TRUST_ENVIRONMENT": "test"}
    env.pop("TRUST_DATABASE_URL", None)
    out = subprocess.run(
        [str(Path(sys.executable).parent / "trustctl"), "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _citizen_with_totp(data_dir: Path) -> bytes:
    engine = make_engine(f"sqlite:///{data_dir / 'trust.db'}")
    keys = IdentityKeys.derive(bytes.fromhex(TEST_MASTER_KEY))
    clock = SystemClock()
    citizen = load_sim_registry().citizens[2]
    try:
        with session_factory(engine)() as s, s.begin():
            person = identity_service.register_person(
                session=s,
                clock=clock,
                keys=keys,
                name=citizen.name,
                id_number=citizen.id_number,
                phone=citizen.phone,
                password=PASSWORD,
                username="wangwu",
            )
            enrolment = identity_service.enrol_totp(
                session=s, clock=clock, keys=keys, person_id=person.id
            )
            b32 = enrolment.secret_base32
            secret = base64.b32decode(b32 + "=" * (-len(b32) % 8))
            # Confirm with the previous step's code, so that the login may use the current one.
            earlier = datetime.now(UTC) - timedelta(seconds=30)
            assert identity_service.confirm_totp(
                session=s, clock=clock, keys=keys, person_id=person.id, code=totp(secret, earlier)
            )
    finally:
        engine.dispose()
    return secret


def _authorize_url(base: str, client: dict[str, Any], scope: str) -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    params = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": client["redirect_uris"][0],
        "scope": scope,
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
    }
    return f"{base}/oidc/authorize?{urlencode(params)}", verifier


def _exchange(base: str, client: dict[str, Any], callback: str, verifier: str) -> dict[str, Any]:
    code = parse_qs(urlsplit(callback).query)["code"][0]
    response = requests.post(
        f"{base}/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": client["redirect_uris"][0],
            "code_verifier": verifier,
        },
        auth=(client["client_id"], client["client_secret"]),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _claims(id_token: str) -> dict[str, Any]:
    payload = id_token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return data


def test_login_totp_consent_then_sso_at_second_portal(
    oidc_server: tuple[str, Path], page: Any, artifacts: Path
) -> None:
    base, data_dir = oidc_server
    portal_a = _trustctl(
        data_dir, "client", "add", "--name", "演示门户A",
        "--redirect-uri", "http://127.0.0.1:8101/callback", "--json",
    )  # fmt: skip
    portal_b = _trustctl(
        data_dir, "client", "add", "--name", "演示门户B",
        "--redirect-uri", "http://127.0.0.1:8102/callback", "--json",
    )  # fmt: skip
    assert portal_a["client_secret"]
    assert portal_a["client_id"] != portal_b["client_id"]
    secret = _citizen_with_totp(data_dir)
    landed: list[str] = []

    def portal(route: Any) -> None:
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>portal</p>")

    page.route("http://127.0.0.1:8101/**", portal)
    page.route("http://127.0.0.1:8102/**", portal)

    url_a, verifier_a = _authorize_url(base, portal_a, "openid profile")
    page.goto(url_a)
    assert page.locator("h1").inner_text() == "统一身份认证登录"
    assert "演示门户A" in page.content()
    page.get_by_label("手机号、用户名或公民身份号码").fill("wangwu")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("text=第二步验证")
    page.get_by_label("动态口令").fill(totp(secret, datetime.now(UTC)))
    page.get_by_role("button", name="验证").click()
    page.wait_for_selector("text=授权确认")
    assert "姓名" in page.content()
    page.screenshot(path=str(artifacts / "oidc-consent.png"))
    page.get_by_role("button", name="同意").click()
    page.wait_for_url("http://127.0.0.1:8101/callback**")
    tokens_a = _exchange(base, portal_a, landed[-1], verifier_a)
    claims_a = _claims(tokens_a["id_token"])
    assert set(claims_a["amr"]) >= {"pwd", "otp"}

    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["ywtb_sso"]["httpOnly"] is True
    assert cookies["ywtb_sso"]["sameSite"] == "Lax"

    # Portal B: straight back with a code, no page in between. (Playwright does not route a
    # navigation's redirect hop, and nothing listens on the portal's port: the request made
    # to the portal is what counts.)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    url_b, verifier_b = _authorize_url(base, portal_b, "openid")
    with contextlib.suppress(PlaywrightError):
        page.goto(url_b)
    assert len(requested) == 2, requested
    assert requested[1].startswith("http://127.0.0.1:8102/callback?code=")
    landed.append(requested[1])
    tokens_b = _exchange(base, portal_b, landed[-1], verifier_b)
    claims_b = _claims(tokens_b["id_token"])
    assert claims_b["sid"] == claims_a["sid"]
    assert claims_b["auth_time"] == claims_a["auth_time"]
    assert claims_b["aud"] == portal_b["client_id"]
