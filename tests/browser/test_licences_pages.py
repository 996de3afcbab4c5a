"""The licence pages in a real browser (Chromium): the public verify page opened from the QR URL
verifies the issuer's SM2 signature IN THE BROWSER (sm-crypto) against the signed trust list
(refused when expired or not yet valid by the device's clock), without sending the fragment to
the server, then checks the live status on request from the issuer's signed status list named
by the QR's status reference; a changed fragment gives BAD_SIGNATURE; the 核验码 and
PDF-upload forms; the issuer's list and detail pages with a lifecycle action; the holder's page
reached by logging in through the real identity login page, with a share grant created through
its form (screenshots ``licence_*.png``).

The server runs on its own data directory, seeded beforehand through the services (CA, a
department with an active 行政审批专用章, an issuer with an API token, the demo catalogue, two
licences signed and sealed by our Python code, and a citizen registered and verified against
the simulated registries who represents the first licence's company)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from identity import service as identity_service
from identity.config import load_identity_config
from identity.keying import IdentityKeys
from identity.registry_sim import sim_router
from identity.sim_data import SimCitizen, load_sim_registry
from identity.verifiers import build_verifiers
from keys.software import SoftwareKeyStore
from licences import service, service_issue
from licences.issuance import IssueRequest
from licences.service_keys import config_from_settings
from licences.service_share import create_share, holder_for
from licences.service_verify import Verifier, verify_code
from seals import service as seals_service
from seals.lifecycle import SealType
from seals.service import SealApplication
from tests.api._support import TestClient
from tests.browser.conftest import TEST_MASTER_KEY, _free_port, _wait_until_up
from tests.conftest import REPO_ROOT
from tests.factories.principals import make_org, make_staff, make_uscc
from tests.integration.licences._people import PASSWORD
from tests.integration.seals.conftest import person
from trust.cli.ca import ensure_ca
from trust.cli.licence import DEMO_TYPES
from trust.clock import SystemClock
from trust.config import load_settings
from trust.db import make_engine, session_factory
from trust.migrations.registry import load_all_models
from trust.principals.roles import Role

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Seeded:
    url: str
    issuer_token: str
    first: dict[str, Any]
    second: dict[str, Any]
    pdf: Path
    citizen: SimCitizen
    share_token: str  # the second licence shared with the issuer's staff account


def _request(holder: str, code: str) -> IssueRequest:
    return IssueRequest(
        type_code=DEMO_TYPES[0].code,
        holder_name=holder,
        holder_code=code,
        fields={
            "entity_type": "有限责任公司",
            "legal_representative": "张三",
            "registered_capital": "壹佰万元整",
            "established_on": "2021-01-04",
            "address": "演示市某路 3 号",
            "business_scope": "软件开发。",
        },
    )


def _seed(data_dir: Path, url: str) -> Seeded:
    settings = load_settings(
        environ={},
        overrides={
            "environment": "test",
            "data_dir": data_dir,
            "master_key": TEST_MASTER_KEY,
            "public_base_url": url,
        },
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    load_all_models().create_all(engine)
    sessions, clock = session_factory(engine), SystemClock()
    keystore = SoftwareKeyStore.from_settings(settings)
    with sessions() as s, s.begin():
        ensure_ca(session=s, clock=clock, keystore=keystore, settings=settings)
        org = make_org(s, clock, name="演示市市场监督管理局")
        issuer = make_staff(s, clock, login="issuer", role=Role.LICENCE_ISSUER, org_id=org.id)
        for spec in DEMO_TYPES:
            service.register_type(session=s, clock=clock, spec=spec, actor="test")
    manager = person("usr_custodian", (Role.SEAL_CUSTODIAN, org.id))
    with sessions() as s, s.begin():
        record = seals_service.apply_seal(
            session=s,
            clock=clock,
            principal=manager,
            application=SealApplication(
                organisation_id=org.id,
                seal_type=SealType.ADMIN_APPROVAL,
                name="演示市市场监督管理局行政审批专用章",
                reason="发证",
            ),
        )
        seals_service.make_seal(
            session=s,
            clock=clock,
            keystore=keystore,
            settings=settings,
            principal=manager,
            seal_id=record.id,
            reason="制章",
        )
        seals_service.activate_seal(
            session=s, clock=clock, principal=manager, seal_id=record.id, reason="启用"
        )
    citizen, company = _citizen_representing_a_company(settings, sessions, clock)
    issued = []
    config = config_from_settings(settings)
    codes = [company, make_uscc()]
    for holder, code in zip(("演示科技有限公司", "演示贸易有限公司"), codes, strict=True):
        with sessions() as s, s.begin():
            issued.append(
                service_issue.issue_licence(
                    session=s,
                    clock=clock,
                    keystore=keystore,
                    config=config,
                    principal=person(issuer.user_id, (Role.LICENCE_ISSUER, org.id)),
                    request=_request(holder, code),
                )
            )
    holder = holder_for(
        config=config, actor="person:seed", citizen_id=None, organisations=[(company, "公司")]
    )
    with sessions() as s, s.begin():
        create_share(
            session=s,
            clock=clock,
            config=config,
            holder=holder,
            ref=issued[0].record.id,
            fields=["holder_name", "address"],
            purpose="办理银行开户",
            recipient="client:cli_bank",
            expires_in=timedelta(days=2),
            max_uses=3,
        )
        verify_code(
            session=s,
            clock=clock,
            config=config,
            raw_code=str(issued[0].verification_code),
            who=Verifier(ip="10.1.2.3"),
        )
    trader = holder_for(
        config=config, actor="person:seed", citizen_id=None, organisations=[(codes[1], "公司")]
    )
    with sessions() as s, s.begin():
        _share, share_token = create_share(
            session=s,
            clock=clock,
            config=config,
            holder=trader,
            ref=issued[1].record.id,
            fields=["holder_name", "address", "document"],
            purpose="办理租赁备案",
            recipient=f"user:{issuer.user_id}",
            expires_in=timedelta(days=2),
            max_uses=2,
        )
    engine.dispose()
    pdf = data_dir.parent / "营业执照.pdf"
    pdf.write_bytes(issued[0].document_pdf)
    return Seeded(
        url, issuer.token, issued[0].to_dict(), issued[1].to_dict(), pdf, citizen, share_token
    )


def _citizen_representing_a_company(
    settings: Any, sessions: Any, clock: SystemClock
) -> tuple[SimCitizen, str]:
    """A citizen registered and verified against the simulated population registry, legal
    representative of a company verified against the simulated enterprise registry (the
    registry is reached over HTTP through an in-process app, as the server itself would)."""
    sim = load_sim_registry()
    citizen = sim.citizens[0]
    company = next(e for e in sim.enterprises if e.legal_rep_id_number == citizen.id_number)
    registry = FastAPI()
    registry.include_router(sim_router, prefix="/sim")
    http = TestClient(registry, base_url=settings.public_base_url)
    verifiers = build_verifiers(load_identity_config(settings, environ={}), http)
    keys = IdentityKeys.from_settings(settings)
    with sessions() as s, s.begin():
        person = identity_service.register_person(
            session=s,
            clock=clock,
            keys=keys,
            name=citizen.name,
            id_number=citizen.id_number,
            phone=citizen.phone,
            password=PASSWORD,
        )
        identity_service.verify_population(
            session=s, clock=clock, keys=keys, verifiers=verifiers, person_id=person.id
        )
        org = identity_service.register_organisation(
            session=s,
            clock=clock,
            name=company.name,
            uscc=company.uscc,
            legal_rep_id=person.id,
            actor="test",
        )
        identity_service.verify_enterprise(
            session=s, clock=clock, keys=keys, verifiers=verifiers, legal_person_id=org.id
        )
    return citizen, company.uscc


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, cjk_font: object) -> Iterator[Seeded]:
    base = tmp_path_factory.mktemp("licence-pages")
    data_dir = base / "var"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    seeded = _seed(data_dir, url)
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
        yield seeded
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _fragment(seeded: Seeded) -> str:
    return str(seeded.first["qr_url"]).partition("#")[2]


def _live_result(page: Any) -> str:
    live = page.locator("#live-result")
    page.wait_for_function(
        "() => { const r = document.querySelector('#live-result').dataset.result;"
        " return r && r !== 'PENDING'; }"
    )
    return str(live.get_attribute("data-result"))


def test_offline_signature_check_in_the_browser(page: Any, seeded: Seeded, artifacts: Path) -> None:
    fragment = _fragment(seeded)
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url + " " + (r.post_data or "")))
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    assert page.goto(f"{seeded.url}/E#{fragment}").status == 200
    result = page.locator("#offline-result")
    result.wait_for(state="visible")
    assert result.get_attribute("data-result") == "VALID"
    body = page.locator("#offline").inner_text()
    assert "签名有效" in body
    assert "演示市市场监督管理局" in body
    assert "演示**有限公司" in body
    assert seeded.first["identifier"] in body
    # The trust list used, with its issue time.
    assert "信任列表第 1 版" in page.locator("#trust-list-info").inner_text()
    # The fragment never left the browser: only the page, scripts and the trust list were fetched.
    assert not any(fragment[:40] in s for s in sent), sent
    assert any(s.startswith(f"{seeded.url}/licences/trust-list") for s in sent)
    page.screenshot(path=str(artifacts / "licence_verify_offline.png"), full_page=True)
    page.get_by_role("button", name="在线查询当前状态").click()
    assert _live_result(page) == "VALID"
    assert "有效" in page.locator("#live-result").inner_text()
    # Live status came from the issuer's signed status list named by the status reference:
    # the server learnt the list, never the licence (no QR payload was posted).
    list_id = seeded.first["licence"]["status_list_id"]
    assert any(s.startswith(f"{seeded.url}/licences/status-lists/{list_id} ") for s in sent)
    assert not any("/licences/verify/qr" in s for s in sent), sent
    assert not any(fragment[:40] in s for s in sent)
    assert errors == []


def test_trust_list_outside_its_validity_is_refused_in_the_browser(
    page: Any, seeded: Seeded
) -> None:
    """Spec §9.8: the page refuses a trust list that has expired, or is not yet valid, by the
    device's clock (the list is valid for 7 days from its issue)."""
    fragment = _fragment(seeded)
    for shift, text in ((timedelta(days=8), "信任列表已过期"), (-timedelta(hours=1), "尚未生效")):
        context = page.context.browser.new_context(locale="zh-CN")
        try:
            other = context.new_page()
            other.clock.install(time=datetime.now(UTC) + shift)
            other.goto(f"{seeded.url}/E#{fragment}")
            result = other.locator("#offline-result")
            result.wait_for(state="visible")
            assert result.get_attribute("data-result") == "TRUST_LIST_UNUSABLE"
            assert text in other.locator("#offline-verdict").inner_text()
            assert other.locator("#live-check").is_hidden()
        finally:
            context.close()


def test_changed_fragment_is_bad_signature_in_the_browser(page: Any, seeded: Seeded) -> None:
    fragment = _fragment(seeded)
    for i in (40, len(fragment) // 2, len(fragment) - 10):
        ch = fragment[i]
        changed = fragment[:i] + ("A" if ch != "A" else "B") + fragment[i + 1 :]
        page.goto(f"{seeded.url}/E#{changed}")
        result = page.locator("#offline-result")
        result.wait_for(state="visible")
        assert result.get_attribute("data-result") == "BAD_SIGNATURE", i
        assert page.locator("#live-check").is_hidden()


def test_vendored_sm_crypto_checks_python_signatures(page: Any, seeded: Seeded) -> None:
    """The vendored sm-crypto, as loaded by the page under its CSP, against SM2 signatures made
    by our Python crypto facade: the right message verifies; a changed message, a changed
    signature and another key do not."""
    from trust.crypto import decode_signature
    from trust.crypto.private_keys import generate_sm2

    key, other = generate_sm2(), generate_sm2()
    message = "电子证照 EL1 Sig_structure".encode()
    r, s, _ = decode_signature(key.sign(message))
    sig = f"{r:064x}{s:064x}"
    page.goto(f"{seeded.url}/licences/verify")
    check = """([msg, sig, pub]) => window.sm2.doVerifySignature(
        msg, sig, pub, {der: false, hash: true, userId: '1234567812345678'})"""
    pub, other_pub = key.public_key().point.hex(), other.public_key().point.hex()
    changed = bytes([message[0] ^ 1]) + message[1:]
    bad_sig = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    assert page.evaluate(check, [list(message), sig, pub]) is True
    assert page.evaluate(check, [list(changed), sig, pub]) is False
    assert page.evaluate(check, [list(message), bad_sig, pub]) is False
    assert page.evaluate(check, [list(message), sig, other_pub]) is False


def test_code_and_pdf_forms(page: Any, seeded: Seeded, artifacts: Path) -> None:
    page.goto(f"{seeded.url}/licences/verify")
    page.fill("#code", str(seeded.first["verification_code"]).lower())
    with page.expect_navigation():
        page.get_by_role("button", name="核验", exact=True).click()
    verdict = page.locator(".licence-result")
    assert verdict.get_attribute("data-result") == "VALID"
    assert "营业执照" in verdict.inner_text()
    assert "演示**有限公司" in verdict.inner_text()
    page.screenshot(path=str(artifacts / "licence_verify_code.png"), full_page=True)
    page.fill("#code", "7KQ4-M2XA-9PHT-D3WT")
    with page.expect_navigation():
        page.get_by_role("button", name="核验", exact=True).click()
    assert page.locator(".licence-result").get_attribute("data-result") == "NOT_FOUND"
    page.set_input_files("#file", str(seeded.pdf))
    with page.expect_navigation():
        page.get_by_role("button", name="上传并核验").click()
    assert page.locator(".licence-result").get_attribute("data-result") == "VALID"


def _staff_login(page: Any, seeded: Seeded, path: str) -> None:
    """Open a staff page signed out (sent to the staff login), sign in as the issuer."""
    page.goto(f"{seeded.url}{path}")
    assert page.url.endswith("/staff/login")
    page.fill("#token", seeded.issuer_token)
    with page.expect_navigation():
        page.get_by_role("button", name="登录").click()


def test_issuer_list_detail_and_suspend(page: Any, seeded: Seeded, artifacts: Path) -> None:
    _staff_login(page, seeded, "/licences/manage")
    page.goto(f"{seeded.url}/licences/manage")
    rows = page.locator("table.licences tbody tr")
    assert rows.count() == 2
    page.screenshot(path=str(artifacts / "licence_manage.png"), full_page=True)
    page.goto(f"{seeded.url}/licences/manage/{seeded.second['id']}")
    assert page.locator("#licence-identifier").inner_text() == seeded.second["identifier"]
    page.select_option("#action", "suspend")
    page.fill("#reason", "责令停业整顿")
    with page.expect_navigation():
        page.get_by_role("button", name="提交").click()
    assert page.locator("#licence-status").get_attribute("data-status") == "suspended"
    page.screenshot(path=str(artifacts / "licence_detail.png"), full_page=True)
    page.goto(f"{seeded.url}/licences/verify")
    page.fill("#code", str(seeded.second["verification_code"]))
    with page.expect_navigation():
        page.get_by_role("button", name="核验", exact=True).click()
    assert page.locator(".licence-result").get_attribute("data-result") == "SUSPENDED"
    # The QR's live check reads the same from the issuer's signed status list.
    page.goto(f"{seeded.url}/E#{str(seeded.second['qr_url']).partition('#')[2]}")
    page.locator("#offline-result").wait_for(state="visible")
    page.get_by_role("button", name="在线查询当前状态").click()
    assert _live_result(page) == "SUSPENDED"


def test_a_staff_recipient_redeems_a_share_code(page: Any, seeded: Seeded, artifacts: Path) -> None:
    _staff_login(page, seeded, "/licences/shares/redeem/page")
    page.goto(f"{seeded.url}/licences/shares/redeem/page")
    page.get_by_label("共享码（以 shr_ 开头）").fill(seeded.share_token)
    with page.expect_navigation():
        page.get_by_role("button", name="查看").click()
    result = page.locator("#share-result")
    assert result.get_attribute("data-result") in ("VALID", "SUSPENDED")  # another test suspends
    fields = page.locator("#share-fields").inner_text()
    assert "演示贸易有限公司" in fields
    assert "持证主体名称（完整）" in fields
    assert page.locator("#share-purpose").inner_text() == "办理租赁备案"
    assert page.locator("#share-uses-left").inner_text() == "1"
    with page.expect_download() as download:
        page.locator("#share-document").click()
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF-")
    page.screenshot(path=str(artifacts / "licence_share_redeemed.png"), full_page=True)
    # The code once more spends the grant; a third time it is refused with one message.
    for expected in ("0", None):
        page.get_by_label("共享码（以 shr_ 开头）").fill(seeded.share_token)
        with page.expect_navigation():
            page.get_by_role("button", name="查看").click()
        if expected is not None:
            assert page.locator("#share-uses-left").inner_text() == expected
    assert page.locator("#share-error").inner_text() == "共享码无效或已失效"


def test_holder_logs_in_through_identity_and_shares(
    page: Any, seeded: Seeded, artifacts: Path
) -> None:
    page.goto(f"{seeded.url}/licences/mine")
    assert "请先登录" in page.content() or "登录统一身份认证" in page.content()
    page.screenshot(path=str(artifacts / "licence_holder_login.png"), full_page=True)
    with page.expect_navigation():
        page.get_by_role("link", name="登录统一身份认证").click()
    # The identity capability's own login page (OpenID Connect login of this service).
    assert "/oidc/interaction/" in page.url
    page.fill("#login", seeded.citizen.phone)
    page.fill("#password", PASSWORD)
    with page.expect_navigation(url=f"{seeded.url}/licences/mine"):
        page.get_by_role("button", name="登录", exact=True).click()
    assert seeded.citizen.name in page.locator("#holder-person").inner_text()
    sections = page.locator("section.holder-licence")
    assert sections.count() == 1  # only the company's licence
    assert "营业执照" in sections.first.inner_text()
    assert page.locator("table.verifications tbody tr").count() >= 1
    assert "10.1.2.*" in page.locator("table.verifications").inner_text()
    share = page.locator("table.shares tbody tr")
    assert share.count() == 1
    assert "办理银行开户" in share.inner_text()
    page.screenshot(path=str(artifacts / "licence_holder.png"), full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="撤销授权").click()
    assert "已撤销" in page.locator("table.shares tbody tr").inner_text()
    # A new share grant through the form: fields, purpose, recipient, expiry, uses.
    section = page.locator("section.holder-licence").first
    section.get_by_label("持证主体名称（完整）").check()
    section.get_by_label("住所").check()
    section.get_by_label("用证事由（必填，不超过 200 字）").fill("办理租房登记")
    section.get_by_label("被授权方", exact=False).fill("client:cli_landlord")
    section.get_by_label("有效期（天，1 至 7）").fill("3")
    section.get_by_label("最多使用次数（1 至 100）").fill("2")
    with page.expect_navigation():
        section.get_by_role("button", name="创建共享授权").click()
    token = page.locator("#share-token").inner_text()
    assert token.startswith("shr_")
    assert "/licences/shares/redeem" in page.locator("#share-redeem-url").inner_text()
    page.screenshot(path=str(artifacts / "licence_holder_share.png"), full_page=True)
    rows = page.locator("table.shares tbody tr")
    assert rows.count() == 2
    assert "办理租房登记" in rows.nth(1).inner_text()
    page.goto(f"{seeded.url}/licences/mine")
    assert token not in page.content()  # shown once
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["ywtb_sso"]["httpOnly"] is True
