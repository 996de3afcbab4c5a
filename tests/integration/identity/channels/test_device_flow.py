"""RFC 8628 end to end over real HTTP against the live app: the kiosk asks for a device code,
shows the QR (decoded here from the kiosk page's PNG with zxing-cpp, an independent decoder),
the phone - already logged in through a portal (SSO) - approves, and the kiosk's polling gets
authorization_pending, slow_down, then tokens whose ID token carries the phone's session."""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin

import requests
import zxingcpp
from PIL import Image

from identity.device import DEVICE_CODE_GRANT, normalise_user_code
from identity.oidc_service_clients import RegisteredClient
from identity.records import PersonRecord
from tests.integration.identity._factories import PASSWORD
from tests.integration.identity.oidc import _rp
from tests.integration.identity.oidc._agent import UserAgent
from tests.integration.identity.oidc.conftest import Live


def _kiosk(live: Live) -> RegisteredClient:
    return live.client(
        "政务服务自助终端", grant_types=[DEVICE_CODE_GRANT], scopes=["openid", "profile"]
    )


def _phone_logged_in(live: Live) -> tuple[UserAgent, str]:
    """A phone browser that logged in at a portal; returns it and the portal's ID token sid."""
    portal = live.client("门户甲", redirect_uris=["http://127.0.0.1:9/portal-a/cb"])
    started = _rp.start(live.url, portal)
    agent = live.agent()
    final, _pages = agent.run(
        started.url, stop_at=portal.client.redirect_uris[0], login="zhangsan", password=PASSWORD
    )
    token = _rp.exchange(live.url, portal, _rp.query(final)["code"], started.verifier)
    assert token.status_code == 200, token.text
    claims, _ = _rp.id_token_claims(live.url, token.json()["id_token"])
    return agent, str(claims["sid"])


def _device_authorization(live: Live, kiosk: RegisteredClient, **data: str) -> requests.Response:
    return requests.post(
        f"{live.url}/oidc/device_authorization",
        data=data,
        auth=(kiosk.client.client_id, kiosk.client_secret or ""),
    )


def _poll(live: Live, kiosk: RegisteredClient, device_code: str) -> requests.Response:
    return requests.post(
        f"{live.url}/oidc/token",
        data={"grant_type": DEVICE_CODE_GRANT, "device_code": device_code},
        auth=(kiosk.client.client_id, kiosk.client_secret or ""),
    )


def _qr_from_kiosk_page(live: Live, user_code: str) -> str:
    page = requests.get(f"{live.url}/oidc/device/kiosk", params={"user_code": user_code})
    assert page.status_code == 200
    src = re.search(r'<img id="device-qr" src="([^"]+)"', page.text)
    assert src is not None
    png = requests.get(urljoin(live.url, html.unescape(src.group(1))))
    assert png.headers["content-type"] == "image/png"
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert len(results) == 1
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode
    return str(results[0].text)


def _form(body: str) -> dict[str, str]:
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body))
    return {k: html.unescape(v) for k, v in fields.items()}


def test_device_grant_end_to_end(live: Live, person: PersonRecord) -> None:
    kiosk = _kiosk(live)
    phone, phone_sid = _phone_logged_in(live)

    started = _device_authorization(live, kiosk, scope="openid profile")
    assert started.status_code == 200, started.text
    assert started.headers["cache-control"] == "no-store"
    body: dict[str, Any] = started.json()
    assert body["verification_uri"] == f"{live.url}/oidc/device"
    assert normalise_user_code(body["user_code"]) is not None
    assert body["interval"] == 5

    first = _poll(live, kiosk, body["device_code"])
    assert (first.status_code, first.json()["error"]) == (400, "authorization_pending")
    # Polling again at once (the clock did not move): slow down.
    fast = _poll(live, kiosk, body["device_code"])
    assert fast.json()["error"] == "slow_down"

    scanned = _qr_from_kiosk_page(live, body["user_code"])
    assert scanned == body["verification_uri_complete"]

    confirm = phone.http.get(scanned)
    assert confirm.status_code == 200
    assert "政务服务自助终端" in confirm.text
    assert body["user_code"] in confirm.text
    fields = _form(confirm.text)
    done = phone.http.post(
        f"{live.url}/oidc/device", data=fields | {"decision": "approve"}, allow_redirects=False
    )
    assert done.status_code == 200
    assert "已同意" in done.text

    live.clock.advance(timedelta(seconds=11))  # respect the grown interval (5 + 5)
    issued = _poll(live, kiosk, body["device_code"])
    assert issued.status_code == 200, issued.text
    tokens = issued.json()
    claims, header = _rp.id_token_claims(live.url, tokens["id_token"])
    assert header["alg"] == "ES256"
    assert claims["aud"] == kiosk.client.client_id
    assert claims["sid"] == phone_sid  # bound to the phone's SSO session
    assert _rp.userinfo(live.url, tokens["access_token"]).status_code == 200

    live.clock.advance(timedelta(seconds=11))
    again = _poll(live, kiosk, body["device_code"])
    assert again.json()["error"] == "invalid_grant"


def test_denied_and_expired(live: Live, person: PersonRecord) -> None:
    kiosk = _kiosk(live)
    phone, _sid = _phone_logged_in(live)
    denied_response = _device_authorization(live, kiosk)
    assert denied_response.status_code == 200, denied_response.text
    denied = denied_response.json()
    page = phone.http.get(denied["verification_uri_complete"])
    phone.http.post(f"{live.url}/oidc/device", data=_form(page.text) | {"decision": "deny"})
    assert _poll(live, kiosk, denied["device_code"]).json()["error"] == "access_denied"

    expired = _device_authorization(live, kiosk).json()
    live.clock.advance(timedelta(seconds=601))
    assert _poll(live, kiosk, expired["device_code"]).json()["error"] == "expired_token"
    # The phone can no longer approve it either.
    late = phone.http.get(expired["verification_uri_complete"])
    assert late.status_code == 404


def test_device_authorization_refuses_bad_clients(live: Live, person: PersonRecord) -> None:
    kiosk = _kiosk(live)
    bad_secret = requests.post(
        f"{live.url}/oidc/device_authorization", auth=(kiosk.client.client_id, "wrong"), data={}
    )
    assert (bad_secret.status_code, bad_secret.json()["error"]) == (401, "invalid_client")
    portal = live.client("门户乙")  # authorization_code only
    refused = _device_authorization(live, portal)
    assert refused.json()["error"] == "unauthorized_client"
    bad_scope = _device_authorization(live, kiosk, scope="openid realname_id")
    assert bad_scope.json()["error"] == "invalid_scope"
    # Another client cannot redeem the kiosk's device code.
    other = _kiosk(live)
    code = _device_authorization(live, kiosk).json()["device_code"]
    assert _poll(live, other, code).json()["error"] == "invalid_grant"


def test_phone_without_session_and_forged_form(live: Live, person: PersonRecord) -> None:
    kiosk = _kiosk(live)
    body = _device_authorization(live, kiosk).json()
    stranger = requests.get(body["verification_uri_complete"])
    assert stranger.status_code == 401
    assert "请先登录" in stranger.text
    phone, _sid = _phone_logged_in(live)
    forged = phone.http.post(
        f"{live.url}/oidc/device",
        data={"user_code": body["user_code"], "decision": "approve", "csrf": "0" * 64},
    )
    assert forged.status_code == 403
    assert _poll(live, kiosk, body["device_code"]).json()["error"] == "authorization_pending"


def test_wrong_user_codes_are_rate_limited(live: Live, person: PersonRecord) -> None:
    """RFC 8628 §5.1: guessing user codes is throttled per session (10 per 10 minutes)."""
    kiosk = _kiosk(live)
    body = _device_authorization(live, kiosk).json()
    phone, _sid = _phone_logged_in(live)
    for _ in range(10):
        wrong = phone.http.get(f"{live.url}/oidc/device", params={"user_code": "BBBB-BBBB"})
        assert wrong.status_code == 404
    # Now even the right code is refused until the window passes.
    blocked = phone.http.get(body["verification_uri_complete"])
    assert blocked.status_code == 429
    live.clock.advance(timedelta(minutes=10))
    fresh = _device_authorization(live, kiosk).json()
    assert phone.http.get(fresh["verification_uri_complete"]).status_code == 200
