"""The Chinese pages without a browser: the public verify page and report, the interim staff
login (HttpOnly SameSite=Strict cookie, CSRF on every form), seal management and 用章记录."""

from __future__ import annotations

import re

import pytest

from seals.api_pages import STAFF_COOKIE, csrf_for, reason_zh
from tests.api._support import TestClient
from tests.integration.seals._web import Api
from tests.unit.seals._ses_support import sample
from tests.unit.seals.pdf_fixtures import make_pdf


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert match is not None, f"no hidden {name}"
    return match.group(1)


def login(client: TestClient, token: str) -> None:
    page = client.get("/staff/login")
    assert page.status_code == 200
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    r = client.post(
        "/staff/login",
        data={"token": token, "csrf": _hidden(page.text, "csrf")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/seals/manage"
    staff_cookie = next(
        c for c in r.headers.get_list("set-cookie") if c.startswith(f"{STAFF_COOKIE}=")
    )
    assert "HttpOnly" in staff_cookie
    assert "samesite=strict" in staff_cookie.lower()


def test_verify_page_shows_the_report_in_chinese(api: Api) -> None:
    page = api.client.get("/seals/verify")
    assert page.status_code == 200
    assert "验章" in page.text
    assert 'enctype="multipart/form-data"' in page.text
    seal_id = str(api.seal()["id"])
    stamped = api.client.post(
        f"/seals/{seal_id}/stamp/pdf",
        files={"file": ("a.pdf", make_pdf(pages=1))},
        headers=api.stamper.headers,
    ).content
    report = api.client.post("/seals/verify/page", files={"file": ("a.pdf", stamped)})
    assert report.status_code == 200
    html = report.text
    assert "有效（VALID）" in html
    assert "行政审批专用章" in html
    assert "证书链可信" in html
    assert "签名覆盖整个文件" in html
    modified = api.client.post(
        "/seals/verify/page", files={"file": ("t.ofd", sample("esl-demo", "test-1.ofd"))}
    )
    assert "无效（INVALID）" in modified.text
    assert "文件在签章后被修改" in modified.text
    escaped = api.client.post("/seals/verify/page", files={"file": ("<b>x</b>.pdf", stamped)})
    assert "&lt;b&gt;x&lt;/b&gt;.pdf" in escaped.text
    assert "<b>x</b>" not in escaped.text
    bad = api.client.post("/seals/verify/page", files={"file": ("x.txt", b"hello")})
    assert bad.status_code == 400
    assert "seal.unknown_file_kind" in bad.text


def test_staff_login_manage_and_actions(api: Api) -> None:
    seal_id = str(api.seal()["id"])
    api.client.post(
        f"/seals/{seal_id}/stamp/bytes",
        content=b"data",
        headers={**api.stamper.headers, "content-type": "application/octet-stream"},
    )
    assert api.client.get("/seals/manage", follow_redirects=False).headers["location"] == (
        "/staff/login"
    )
    login(api.client, api.custodian.token)
    listing = api.client.get("/seals/manage")
    assert "某市市场监督管理局行政审批专用章" in listing.text
    detail = api.client.get(f"/seals/manage/{seal_id}")
    assert detail.status_code == 200
    assert "用章记录" in detail.text
    assert 'id="usage"' in detail.text
    assert "测试stamper" in detail.text
    csrf = _hidden(detail.text, "csrf")
    assert csrf == csrf_for(api.custodian.token)
    forged = api.client.post(
        f"/seals/manage/{seal_id}/action", data={"action": "suspend", "reason": "x", "csrf": "no"}
    )
    assert forged.status_code == 403
    assert forged.json()["code"] == "seal.csrf_failed"
    done = api.client.post(
        f"/seals/manage/{seal_id}/action",
        data={"action": "suspend", "reason": "暂停测试", "csrf": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert (
        api.client.get(f"/seals/{seal_id}", headers=api.custodian.headers).json()["status"]
        == "suspended"
    )
    refused = api.client.post(
        f"/seals/manage/{seal_id}/action",
        data={"action": "suspend", "reason": "again", "csrf": csrf},
    )
    assert refused.status_code == 409
    assert "不能执行" in refused.text
    out = api.client.post("/staff/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert api.client.get("/seals/manage", follow_redirects=False).status_code == 303


def test_a_stale_session_cookie_is_dropped(api: Api) -> None:
    api.client.cookies.set(STAFF_COOKIE, "tok_nothing.secret")
    r = api.client.get("/seals/manage", follow_redirects=False)
    assert r.status_code == 303
    assert f'{STAFF_COOKIE}=""' in r.headers["set-cookie"]


def test_login_refuses_bad_tokens_and_missing_csrf(api: Api) -> None:
    page = api.client.get("/staff/login")
    csrf = _hidden(page.text, "csrf")
    bad = api.client.post("/staff/login", data={"token": "tok_x.nope", "csrf": csrf})
    assert bad.status_code == 401
    assert "令牌无效" in bad.text
    no_csrf = api.client.post("/staff/login", data={"token": api.custodian.token, "csrf": "x"})
    assert no_csrf.status_code == 403


def test_stamper_sees_the_seal_but_not_its_history(api: Api) -> None:
    seal_id = str(api.seal()["id"])
    login(api.client, api.stamper.token)
    detail = api.client.get(f"/seals/manage/{seal_id}")
    assert "查看用章记录需要" in detail.text


@pytest.mark.parametrize(
    ("code", "text"),
    [
        ("cert.valid_at_signing_time", "证书在签章时处于有效期内"),
        ("seal.valid_at_signing_time_expired_now", "印章在签章时处于有效期内（目前已过期）"),
        ("cert.expired_at_create_date", "证书在制章时已过期"),
        ("trust.no_trusted_anchor", "证书链未连到受信任的根证书（信任未建立）"),
        ("trust.something_new", "证书链检查未通过（trust.something_new）"),
        ("unheard.of", "unheard.of"),
    ],
)
def test_reason_wording(code: str, text: str) -> None:
    assert reason_zh(code) == text
