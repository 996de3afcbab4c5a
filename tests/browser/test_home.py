"""The home page in a real browser: Chinese title and heading, service status, keyboard access,
no console errors (a Content-Security-Policy violation would be one), and a screenshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser


def test_home_page(page: Any, server_url: str, artifacts: Path) -> None:
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    response = page.goto(server_url + "/")
    assert response.status == 200
    assert page.title() == "一网通办信任服务"
    assert page.locator("h1").inner_text() == "一网通办信任服务"
    status = page.locator("[role=status]").inner_text()
    assert status == "服务运行正常"
    assert "正常" in page.locator(".status").inner_text()
    for name in ("统一身份认证", "电子印章", "电子证照", "电子档案"):
        assert page.get_by_role("heading", name=name).count() == 1
    # The stylesheet loaded under the CSP (the header band is the brand colour, not default).
    band = page.locator(".site-header").evaluate("e => getComputedStyle(e).backgroundColor")
    assert band == "rgb(168, 7, 26)"
    page.screenshot(path=str(artifacts / "home.png"), full_page=True)

    # Keyboard: the first Tab reaches the skip link, which is then visible and leads to <main>.
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "跳到主要内容"
    assert page.locator(".skip-link").bounding_box()["y"] >= 0
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    assert console_errors == []


def test_api_docs_page(page: Any, server_url: str, artifacts: Path) -> None:
    page.goto(server_url + "/docs")
    assert page.locator("h1").inner_text() == "API 文档"
    assert page.get_by_text("/admin/organisations", exact=True).first.is_visible()
    page.screenshot(path=str(artifacts / "docs.png"))
