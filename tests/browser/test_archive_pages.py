"""The archive pages in a real browser: an archivist signs in through the staff login, searches
by applicant, opens the case (metadata, timeline, files, seal statuses), reads the DA/T 70 check
report, runs a fixity check from the fixity page (CSRF-protected form) and reads 通过. A stored
object is then changed on disk and the next check names the file.

The server runs on its own data directory, seeded through the services beforehand."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from archive.service import ingest_case
from archive.service_tools import archive_store, archive_tools
from keys.software import SoftwareKeyStore
from tests.browser.conftest import TEST_MASTER_KEY, _free_port, _wait_until_up
from tests.conftest import REPO_ROOT
from tests.factories.principals import make_org, make_staff
from tests.integration.archive.conftest import setup_archive
from tests.unit.archive.case_factory import write_case
from trust.clock import SystemClock
from trust.config import load_settings
from trust.db import make_engine, session_factory
from trust.migrations.registry import load_all_models
from trust.principals.roles import Role

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Seeded:
    url: str
    token: str
    code: str
    package_id: str
    jpg_object: Path


def _seed(base: Path) -> tuple[Path, str, str, str, Path]:
    data_dir = base / "var"
    settings = load_settings(
        environ={},
        overrides={"environment": "test", "data_dir": data_dir, "master_key": TEST_MASTER_KEY},
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    load_all_models().create_all(engine)
    sessions, clock = session_factory(engine), SystemClock()
    keystore = SoftwareKeyStore.from_settings(settings)
    setup_archive(sessions, clock, keystore, settings)  # type: ignore[arg-type]
    with sessions() as s, s.begin():
        org = make_org(s, clock, name="演示市政务服务数据管理局")
        archivist = make_staff(s, clock, login="archivist", role=Role.ARCHIVIST, org_id=org.id)
    folder = write_case(base / "case").path
    with sessions() as s, s.begin():
        done = ingest_case(
            session=s,
            clock=clock,
            keystore=keystore,
            tools=archive_tools(session=s, settings=settings),
            source=folder,
            actor="seed",
        )
    from sqlalchemy import select

    from archive.model import ArchiveFile

    with sessions() as s:
        row = s.scalars(
            select(ArchiveFile).where(ArchiveFile.path.like("%0002-营业执照.jpg"))
        ).one()
        jpg = archive_store(settings).path_of(row.sm3)
    engine.dispose()
    return data_dir, archivist.token, done.package.archival_code, done.package.id, jpg


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    base = tmp_path_factory.mktemp("archive-pages")
    data_dir, token, code, package_id, jpg = _seed(base)
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
        yield Seeded(url, token, code, package_id, jpg)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _login(page: Any, seeded: Seeded) -> None:
    page.goto(seeded.url + "/archive")
    assert page.url.endswith("/staff/login")
    page.fill("#token", seeded.token)
    with page.expect_navigation():
        page.get_by_role("button", name="登录").click()


def test_search_view_report_and_fixity(page: Any, seeded: Seeded, artifacts: Path) -> None:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    _login(page, seeded)
    assert page.goto(seeded.url + "/archive").status == 200
    assert page.locator("h1").inner_text() == "档案检索"
    page.fill("#applicant", "科技")
    page.fill("#purpose", "行政复议调卷")
    with page.expect_navigation():
        page.get_by_role("button", name="检索").click()
    assert "共 1 件" in page.locator("main").inner_text()
    page.screenshot(path=str(artifacts / "archive_search.png"), full_page=True)

    with page.expect_navigation():
        page.get_by_role("link", name=seeded.code).click()
    body = page.locator("main").inner_text()
    for text in (
        f"档案详情：{seeded.code}",
        "利用目的：行政复议调卷",
        "食品经营许可（新办）",
        "某某科技有限公司",
        "准予",
        "受理",
        "0006-准予许可决定书.pdf",
        "签章验证状态",
        "有效",
    ):
        assert text in body, text
    page.screenshot(path=str(artifacts / "archive_case.png"), full_page=True)

    with page.expect_navigation():
        page.get_by_role("link", name="四性检测报告").click()
    report = page.locator("main").inner_text()
    for text in (
        "四性检测报告",
        "结论：通过",
        "真实性",
        "完整性",
        "可用性",
        "安全性",
        "DA/T 70-2018",
    ):
        assert text in report, text
    page.screenshot(path=str(artifacts / "archive_report.png"), full_page=True)

    page.goto(f"{seeded.url}/archive/view/{seeded.package_id}/fixity")
    assert "尚未检查" in page.locator("main").inner_text()
    with page.expect_navigation():
        page.get_by_role("button", name="立即检查").click()
    result = page.locator("main").inner_text()
    assert "结论：通过" in result
    assert "log.included" in result
    page.screenshot(path=str(artifacts / "archive_fixity.png"), full_page=True)

    os.chmod(seeded.jpg_object, stat.S_IRUSR | stat.S_IWUSR)
    data = bytearray(seeded.jpg_object.read_bytes())
    data[200] ^= 0x04
    seeded.jpg_object.write_bytes(bytes(data))
    with page.expect_navigation():
        page.get_by_role("button", name="立即检查").click()
    failed = page.locator("main").inner_text()
    assert "结论：不通过" in failed
    assert "data/representations/original/data/0002-营业执照.jpg" in failed
    assert "已改变" in failed
    assert errors == []


def test_a_forged_fixity_form_is_refused(page: Any, seeded: Seeded) -> None:
    _login(page, seeded)
    response = page.request.post(
        f"{seeded.url}/archive/view/{seeded.package_id}/fixity", form={"csrf": "forged"}
    )
    assert response.status == 403
