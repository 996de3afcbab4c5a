"""Server-rendered pages: Chinese, accessible structure, no scripts, status and links."""

from __future__ import annotations

from tests.api._support import TestClient
from trust.db import make_engine, session_factory


def test_home_page(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<html lang="zh-CN">' in html
    assert "<title>一网通办信任服务</title>" in html
    assert 'href="#main"' in html
    assert '<main id="main"' in html
    assert "<script" not in html
    assert "服务运行正常" in html
    for name in ("统一身份认证", "电子印章", "电子证照", "电子档案"):
        assert name in html
    assert 'href="/openapi.yaml"' in html
    assert 'href="/docs"' in html
    assert "透明日志" in html
    for page in ("/account", "/seals/verify", "/licences/verify", "/archive"):
        assert f'href="{page}"' in html
        assert client.get(page, follow_redirects=False).status_code in (200, 303, 401)


def test_home_page_lists_the_periodic_jobs_with_their_last_outcome(client: TestClient) -> None:
    from trust.jobs.schedule import JobContext, run_job

    state = client.app.state
    html = client.get("/").text
    assert "定期任务" in html
    assert "archive.fixity" in html
    assert "每 1 小时" in html
    assert "尚未运行" in html
    job = next(j for j in state.jobs if j.name == "identity.cleanup")
    ctx = JobContext(state.settings, state.session_factory, state.clock, state.keystore)
    assert run_job(ctx, job, holder="test", force=True) is not None
    html = client.get("/").text
    assert "成功（" in html


def test_home_page_still_renders_without_a_database(client: TestClient) -> None:
    broken = session_factory(make_engine("sqlite:////nonexistent/dir/x.db"))
    client.app.state.session_factory = broken
    response = client.get("/")
    assert response.status_code == 200
    assert "服务部分不可用" in response.text


def test_api_docs_page_lists_operations(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "/admin/organisations" in response.text
    assert "<script" not in response.text


def test_docs_are_ours_not_swagger_ui_from_a_cdn(client: TestClient) -> None:
    html = client.get("/docs").text
    assert "<h1>API 文档</h1>" in html
    assert "cdn" not in html.lower()
    assert client.get("/redoc").status_code == 404
