"""The archive pages in a real browser: an archivist signs in through the staff login, searches
by applicant with a purpose, opens the case (metadata, timeline, files, seal statuses), clicks
the download links - one original file, the whole package, the access copy - with nothing but
the staff cookie, reads the DA/T 70 check report, runs a fixity check from the fixity page
(CSRF-protected form) and reads 通过. A stored object is then changed on disk and the next check
names the file. Every search, view and download is in the access register with its purpose; a
link without our link token asks for the purpose and records nothing.

The server runs on its own data directory, seeded through the services beforehand."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from archive.model import ArchiveAccess
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
    database: str
    decision_pdf: bytes
    #: a second case archived in two versions: its 档号 and the two package ids
    versioned: tuple[str, str, str]


VERSIONED_CASE = "SP20260601-000777"


def _versioned(version: int) -> Callable[[dict[str, Any]], None]:
    def mutate(case: dict[str, Any]) -> None:
        case["case_number"] = VERSIONED_CASE
        case["version"] = version
        case["archival_code"] = None
        case["applicant"]["name"] = "演示餐饮管理有限公司"
        case["decision"]["number"] = "某审批许决字〔2026〕777号"

    return mutate


def _seed(base: Path) -> tuple[Path, str, str, str, Path, tuple[str, str, str]]:
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
    versions = []
    for n in (1, 2):
        with sessions() as s, s.begin():
            versions.append(
                ingest_case(
                    session=s,
                    clock=clock,
                    keystore=keystore,
                    tools=archive_tools(session=s, settings=settings),
                    source=write_case(base / f"versioned-{n}", mutate=_versioned(n)).path,
                    actor="seed",
                ).package
            )
    versioned = (versions[0].archival_code, versions[0].id, versions[1].id)
    from sqlalchemy import select

    from archive.model import ArchiveFile

    with sessions() as s:
        row = s.scalars(
            select(ArchiveFile).where(
                ArchiveFile.package_id == done.package.id,
                ArchiveFile.path.like("%0002-营业执照.jpg"),
            )
        ).one()
        jpg = archive_store(settings).path_of(row.sm3)
    engine.dispose()
    return data_dir, archivist.token, done.package.archival_code, done.package.id, jpg, versioned


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    base = tmp_path_factory.mktemp("archive-pages")
    data_dir, token, code, package_id, jpg, versioned = _seed(base)
    database = f"sqlite:///{(data_dir / 'trust.db').resolve()}"
    decision = (base / "case" / "files" / "0006-准予许可决定书.pdf").read_bytes()
    port = _free_port()
    env = {
        **os.environ,
        "TRUST_ENVIRONMENT": "test",
        "TRUST_DATA_DIR": str(data_dir),
        "TRUST_MASTER_KEY": TEST_MASTER_KEY,
        "PYTHONPATH": str(REPO_ROOT),
        # no periodic jobs: the fixity sweep would check the package before the test does
        "TRUST_SCHEDULER": "false",
    }
    env.pop("TRUST_DATABASE_URL", None)
    env.pop("TRUST_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.browser._server", str(port)], cwd=REPO_ROOT, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, proc)
        yield Seeded(url, token, code, package_id, jpg, database, decision, versioned)
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


def _accesses(seeded: Seeded) -> list[tuple[str, str]]:
    engine = make_engine(seeded.database)
    try:
        with session_factory(engine)() as s:
            rows = s.scalars(select(ArchiveAccess).order_by(ArchiveAccess.at, ArchiveAccess.id))
            return [(r.action, r.purpose) for r in rows]
    finally:
        engine.dispose()


def _download(page: Any, link: str) -> bytes:
    with page.expect_download() as info:
        page.get_by_role("link", name=link).click()
    path = info.value.path()
    assert path is not None
    return Path(path).read_bytes()


def test_search_view_download_report_and_fixity(page: Any, seeded: Seeded, artifacts: Path) -> None:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    _login(page, seeded)
    before = len(_accesses(seeded))
    assert page.goto(seeded.url + "/archive").status == 200
    assert page.locator("h1").inner_text() == "档案检索"
    assert "检索结果" not in page.locator("main").inner_text()  # nothing searched yet
    assert len(_accesses(seeded)) == before
    page.fill("#applicant", "科技有限")
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

    # the page's download links work with the staff cookie alone
    assert _download(page, "0006-准予许可决定书.pdf") == seeded.decision_pdf
    package = _download(page, "下载归档信息包")
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        assert any(n.endswith("/tagmanifest-sm3.txt") for n in zf.namelist())
        assert any(n.endswith("/0006-准予许可决定书.pdf") for n in zf.namelist())
    copy = _download(page, "下载利用副本（非原件）")
    with zipfile.ZipFile(io.BytesIO(copy)) as zf:
        assert "非原件" in zf.read("利用副本说明.txt").decode()

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

    with page.expect_navigation():
        page.get_by_role("link", name=seeded.code).click()
    with page.expect_navigation():
        page.get_by_role("link", name="固定性检查结果").click()
    assert "尚未检查" in page.locator("main").inner_text()
    with page.expect_navigation():
        page.get_by_role("button", name="立即检查").click()
    result = page.locator("main").inner_text()
    assert "结论：通过" in result
    assert "log.included" in result
    assert "利用目的：行政复议调卷" in result
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

    # every one of those is in the access register, with the purpose given
    recorded = _accesses(seeded)[before:]
    actions = [a for a, _ in recorded]
    for action in (
        "search",
        "view",
        "download_file",
        "download_package",
        "access_copy",
        "view_fixity",
    ):
        assert action in actions, (action, actions)
    assert {why for _, why in recorded} == {"行政复议调卷"}


def test_a_link_without_our_token_asks_for_the_purpose_and_records_nothing(
    page: Any, seeded: Seeded
) -> None:
    _login(page, seeded)
    before = len(_accesses(seeded))
    for path in ("/package.zip", "/fixity", "/files/0006-准予许可决定书.pdf", ""):
        url = f"{seeded.url}/archive/view/{seeded.package_id}{path}?purpose=x&t=forged"
        assert page.goto(url).status == 200
        assert page.locator("h1").inner_text() == "登记利用目的"
    assert len(_accesses(seeded)) == before
    page.fill("#purpose", "核对原件")
    with page.expect_navigation():
        page.get_by_role("button", name="确认并继续").click()
    assert "档案详情" in page.locator("h1").inner_text()
    assert _accesses(seeded)[before:] == [("view", "核对原件")]


def test_a_forged_fixity_form_is_refused(page: Any, seeded: Seeded) -> None:
    _login(page, seeded)
    response = page.request.post(
        f"{seeded.url}/archive/view/{seeded.package_id}/fixity", form={"csrf": "forged"}
    )
    assert response.status == 403


def test_the_case_page_lists_every_version_and_links_to_each(
    page: Any, seeded: Seeded, artifacts: Path
) -> None:
    code, v1, v2 = seeded.versioned
    _login(page, seeded)
    page.goto(seeded.url + "/archive")
    page.fill("#case_number", VERSIONED_CASE)
    page.fill("#purpose", "核对各版本")
    with page.expect_navigation():
        page.get_by_role("button", name="检索").click()
    assert "共 2 件" in page.locator("main").inner_text()
    with page.expect_navigation():
        page.locator(f"a[href^='/archive/view/{v2}?']").click()
    versions = page.locator("table.archive-versions")
    assert "（第 2 版）" in page.locator("table.archive-meta").inner_text()
    assert versions.locator("tbody tr").count() == 2
    current = versions.locator("a[aria-current='page']")
    assert (current.inner_text(), current.get_attribute("href").split("?")[0]) == (
        "版本 2",
        f"/archive/view/{v2}",
    )
    assert "（当前查看）" in versions.locator("tbody tr").nth(1).inner_text()
    times = versions.locator("tbody tr td:nth-child(2)").all_inner_texts()
    assert len(times) == 2
    assert all(t.startswith("20") for t in times), times
    page.screenshot(path=str(artifacts / "archive_versions.png"), full_page=True)

    with page.expect_navigation():
        versions.get_by_role("link", name="版本 1").click()
    assert page.locator("h1").inner_text() == f"档案详情：{code}"
    assert page.url.split("?")[0].endswith(f"/archive/view/{v1}")
    assert "（第 1 版）" in page.locator("table.archive-meta").inner_text()
    assert versions.locator("a[aria-current='page']").inner_text() == "版本 1"
    assert (
        page.locator("table.archive-versions tbody tr td:nth-child(2)").all_inner_texts() == times
    )
    with page.expect_navigation():
        versions.get_by_role("link", name="版本 2").click()
    assert page.url.split("?")[0].endswith(f"/archive/view/{v2}")
    assert "利用目的：核对各版本" in page.locator("main").inner_text()


def test_a_short_text_query_is_explained_on_the_form(
    page: Any, seeded: Seeded, artifacts: Path
) -> None:
    _login(page, seeded)
    before = len(_accesses(seeded))
    page.goto(seeded.url + "/archive")
    assert "至少 3 个字" in page.locator("#text-hint").inner_text()
    page.fill("#applicant", "演示")  # 2 characters: the start of the name
    page.fill("#purpose", "查找")
    with page.expect_navigation():
        page.get_by_role("button", name="检索").click()
    assert "共 2 件" in page.locator("main").inner_text()
    page.goto(
        seeded.url
        + "/archive?text=%E8%AE%B8&purpose=x&t="
        + page.locator("input[name=t]").get_attribute("value")
    )
    assert page.get_by_role("alert").inner_text() == "元数据全文检索至少需要 3 个字"
    page.screenshot(path=str(artifacts / "archive_search_too_short.png"), full_page=True)
    assert "检索结果" not in page.locator("main").inner_text()
    assert [a for a, _ in _accesses(seeded)[before:]] == ["search"]  # the refused one is not
