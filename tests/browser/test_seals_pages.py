"""The seal pages in a real browser: upload a stamped (and timestamped) PDF on the public verify
page and read 有效 / VALID with the seal, organisation and checks (screenshot
``seal_verify.png``); log in as
a custodian through the interim staff login and see the seal's 用章记录 (``seal_manage.png``).

The server runs on its own data directory, seeded beforehand through the services (CA, an
organisation, a custodian with an API token, an active seal and a stamped PDF)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from keys.software import SoftwareKeyStore
from seals import service
from seals.lifecycle import SealType
from seals.policy import StampForm
from seals.service import SealApplication
from seals.service_stamp import Stamped, StampOptions, stamp_document
from tests.browser.conftest import TEST_MASTER_KEY, _free_port, _wait_until_up
from tests.conftest import REPO_ROOT
from tests.factories.principals import make_org, make_staff
from tests.integration.seals.conftest import person
from tests.unit.seals.pdf_fixtures import make_pdf
from trust.cli.ca import ensure_ca
from trust.clock import SystemClock
from trust.config import load_settings
from trust.db import make_engine, session_factory
from trust.migrations.registry import load_all_models
from trust.principals.roles import Role

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Seeded:
    url: str
    stamped_pdf: Path
    custodian_token: str
    seal_id: str


def _seed(data_dir: Path) -> tuple[Path, str, str]:
    settings = load_settings(
        environ={},
        overrides={"environment": "test", "data_dir": data_dir, "master_key": TEST_MASTER_KEY},
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    load_all_models().create_all(engine)
    sessions, clock = session_factory(engine), SystemClock()
    keystore = SoftwareKeyStore.from_settings(settings)
    with sessions() as s, s.begin():
        ensure_ca(session=s, clock=clock, keystore=keystore, settings=settings)
        org = make_org(s, clock, name="演示市市场监督管理局")
        custodian = make_staff(s, clock, login="custodian", role=Role.SEAL_CUSTODIAN, org_id=org.id)
        stamper = make_staff(s, clock, login="stamper", role=Role.SEAL_USER, org_id=org.id)
    manager = person(f"{custodian.user_id}", (Role.SEAL_CUSTODIAN, org.id))
    user = person(f"{stamper.user_id}", (Role.SEAL_USER, org.id))
    with sessions() as s, s.begin():
        record = service.apply_seal(
            session=s,
            clock=clock,
            principal=manager,
            application=SealApplication(
                organisation_id=org.id,
                seal_type=SealType.ADMIN_APPROVAL,
                name="演示市市场监督管理局行政审批专用章",
                reason="新设行政审批窗口",
            ),
        )
        service.make_seal(
            session=s,
            clock=clock,
            keystore=keystore,
            settings=settings,
            principal=manager,
            seal_id=record.id,
            reason="制章",
        )
        service.activate_seal(
            session=s, clock=clock, principal=manager, seal_id=record.id, reason="启用"
        )
    with sessions() as s, s.begin():
        stamped = stamp_document(
            session=s,
            clock=clock,
            keystore=keystore,
            principal=user,
            seal_id=record.id,
            form=StampForm.PDF,
            document=make_pdf(pages=2),
            options=StampOptions(keyword="（盖章）", timestamp=True),
            tsa_policy_oid=settings.tsa_policy_oid,
        )
    assert isinstance(stamped, Stamped)
    engine.dispose()
    out = data_dir.parent / "决定书-盖章.pdf"
    out.write_bytes(stamped.output)
    return out, custodian.token, record.id


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, cjk_font: object) -> Iterator[Seeded]:
    base = tmp_path_factory.mktemp("seal-pages")
    data_dir = base / "var"
    pdf, token, seal_id = _seed(data_dir)
    port = _free_port()
    env = {
        **os.environ,
        "TRUST_ENVIRONMENT": "test",
        "TRUST_DATA_DIR": str(data_dir),
        "TRUST_MASTER_KEY": TEST_MASTER_KEY,
        "PYTHONPATH": str(REPO_ROOT),
    }
    env.pop("TRUST_DATABASE_URL", None)
    env.pop("TRUST_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.browser._server", str(port)], cwd=REPO_ROOT, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, proc)
        yield Seeded(url, pdf, token, seal_id)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_verify_page_shows_valid_for_a_stamped_pdf(
    page: Any, seeded: Seeded, artifacts: Path
) -> None:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    assert page.goto(seeded.url + "/seals/verify").status == 200
    assert page.locator("h1").inner_text() == "验章"
    page.set_input_files("#file", str(seeded.stamped_pdf))
    with page.expect_navigation():
        page.get_by_role("button", name="开始验证").click()
    verdict = page.locator("#verdict")
    assert "有效（VALID）" in verdict.inner_text()
    assert "valid" in (verdict.get_attribute("class") or "")
    colour = verdict.locator(".word").evaluate("e => getComputedStyle(e).color")
    assert colour == "rgb(26, 127, 55)"  # the stylesheet loaded under the CSP
    body = page.locator("main").inner_text()
    for text in (
        "演示市市场监督管理局行政审批专用章",
        "行政审批专用章",
        "演示市市场监督管理局",
        "证书链可信",
        "签名覆盖整个文件",
        "签章人证书在签章时有效",
        "时间戳有效",  # the TSA token in the CMS, over the signature value
    ):
        assert text in body, text
    page.screenshot(path=str(artifacts / "seal_verify.png"), full_page=True)
    assert errors == []


def test_custodian_sees_the_usage_history(page: Any, seeded: Seeded, artifacts: Path) -> None:
    page.goto(seeded.url + "/seals/manage")
    assert page.url.endswith("/staff/login")
    page.fill("#token", seeded.custodian_token)
    with page.expect_navigation():
        page.get_by_role("button", name="登录").click()
    assert page.url.endswith("/seals/manage")
    page.get_by_role("link", name="演示市市场监督管理局行政审批专用章").click()
    page.wait_for_url(f"**/seals/manage/{seeded.seal_id}")
    rows = page.locator("#usage tbody tr")
    assert rows.count() == 1
    assert "PDF" in rows.first.inner_text()
    assert page.get_by_role("heading", name="用章记录").count() == 1
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["ywtb_staff"]["httpOnly"] is True
    assert cookies["ywtb_staff"]["sameSite"] == "Strict"
    page.screenshot(path=str(artifacts / "seal_manage.png"), full_page=True)
