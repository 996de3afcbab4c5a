"""A scripted browser over the app's ``TestClient`` (an ``httpx.Client`` keeping cookies):
follows the OP's own redirects by hand, fills the login, second-factor and consent forms, and
stops at the portal's redirect URI."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from identity.oidc_service_clients import RegisteredClient

_FORM = re.compile(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', re.S)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def forms(body: str) -> dict[str, dict[str, str]]:
    """Every POST form of a page: action -> its hidden fields."""
    out: dict[str, dict[str, str]] = {}
    for action, inner in _FORM.findall(body):
        fields = {k: html.unescape(v) for k, v in _HIDDEN.findall(inner)}
        out[html.unescape(action)] = out.get(html.unescape(action), {}) | fields
    return out


def form_with(body: str, suffix: str) -> tuple[str, dict[str, str]]:
    """The (first) form whose action ends with ``suffix``."""
    for action, fields in forms(body).items():
        if action.endswith(suffix):
            return action, fields
    raise AssertionError(f"no form ending in {suffix!r}: {body[:600]}")


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@dataclass
class Started:
    url: str
    verifier: str


def start(rp: RegisteredClient, **extra: Any) -> Started:
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    params = {
        "response_type": "code",
        "client_id": rp.client.client_id,
        "redirect_uri": rp.client.redirect_uris[0],
        "scope": "openid",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    } | extra
    return Started(f"/oidc/authorize?{urlencode(params)}", verifier)


@dataclass
class Trip:
    """Where a flow ended: the portal URL (with ``code``) or an OP page, and what was seen."""

    final: httpx.Response
    portal_url: str | None
    stages: list[str] = field(default_factory=list)
    #: The PKCE verifier of the request (set by ``login``), for the code exchange.
    verifier: str = ""


def follow(browser: httpx.Client, response: httpx.Response, stop_at: str) -> Trip:
    """Follow the OP's redirects until a page, or a redirect to ``stop_at``."""
    trip = Trip(response, None)
    for _ in range(10):
        location = response.headers.get("location")
        if response.status_code not in (302, 303) or not location:
            trip.final = response
            return trip
        if location.startswith(stop_at):
            trip.final, trip.portal_url = response, location
            return trip
        response = browser.get(location)
    raise AssertionError("too many redirects")


def login(
    browser: httpx.Client,
    rp: RegisteredClient,
    *,
    login: str | None = None,
    password: str | None = None,
    code: Callable[[], str] | None = None,
    **extra: Any,
) -> Trip:
    """A whole code flow; returns the trip (``portal_url`` set when a code came back)."""
    started = start(rp, **extra)
    stop = rp.client.redirect_uris[0]
    trip = follow(browser, browser.get(started.url), stop)
    trip.verifier = started.verifier
    for _ in range(6):
        if trip.portal_url is not None:
            return trip
        body = trip.final.text
        assert trip.final.status_code == 200, body[:600]
        if "/login" in body and 'name="password"' in body:
            trip.stages.append("login")
            assert login is not None, "login page not expected"
            assert password is not None
            action, fields = form_with(body, "/login")
            response = browser.post(action, data=fields | {"login": login, "password": password})
        elif "/second-factor" in body:
            trip.stages.append("second-factor")
            assert code is not None, "second factor not expected"
            action, fields = form_with(body, "/second-factor")
            response = browser.post(action, data=fields | {"code": code()})
        elif "/consent" in body:
            trip.stages.append("consent")
            action, fields = form_with(body, "/consent")
            response = browser.post(action, data=fields | {"decision": "allow"})
        else:
            return trip
        stages = trip.stages
        trip = follow(browser, response, stop)
        trip.stages, trip.verifier = stages, started.verifier
    raise AssertionError("too many steps")


def exchange(
    browser: httpx.Client, rp: RegisteredClient, portal_url: str, verifier: str
) -> httpx.Response:
    """The portal's code exchange at the token endpoint (client secret basic)."""
    return browser.post(
        "/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": query(portal_url)["code"],
            "redirect_uri": rp.client.redirect_uris[0],
            "code_verifier": verifier,
        },
        auth=(rp.client.client_id, rp.client_secret or ""),
    )
