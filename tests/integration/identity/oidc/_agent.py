"""A scripted user agent for the OIDC pages (``specs/identity.md`` §6.2): a ``requests``
session keeping cookies, following redirects by hand, filling the login, second-factor,
organisation and consent forms, and stopping when the redirect reaches the relying party."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin

import requests

_ACTION = re.compile(r'<form method="post" action="([^"]+)"')
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Pages:
    """What the agent saw on the way (for assertions)."""

    stages: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class UserAgent:
    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.http = requests.Session()

    def _stage(self, body: str) -> str:
        for stage in ("login", "second-factor", "organisation", "consent"):
            if f'/{stage}"' in body:
                return stage
        return "other"

    def run(
        self,
        url: str,
        *,
        stop_at: str,
        login: str | None = None,
        password: str | None = None,
        code: Callable[[], str] | None = None,
        org: str = "",
        consent: str = "allow",
        max_steps: int = 20,
    ) -> tuple[str, Pages]:
        """Drive the flow from ``url`` until a redirect to ``stop_at``; returns that URL."""
        pages = Pages()
        response = self.http.get(url, allow_redirects=False)
        for _ in range(max_steps):
            location = response.headers.get("location")
            if response.status_code in (302, 303) and location:
                target = urljoin(response.url, location)
                if target.startswith(stop_at):
                    return target, pages
                response = self.http.get(target, allow_redirects=False)
                continue
            body = response.text
            if response.status_code != 200:
                raise AssertionError(f"unexpected {response.status_code}: {body[:500]}")
            stage = self._stage(body)
            pages.stages.append(stage)
            alert = re.search(r'role="alert">([^<]+)<', body)
            if alert:
                pages.errors.append(html.unescape(alert.group(1)))
            action_match, csrf_match = _ACTION.search(body), _CSRF.search(body)
            if action_match is None or csrf_match is None:
                raise AssertionError(f"no form on page: {body[:800]}")
            action = urljoin(self.base, html.unescape(action_match.group(1)))
            data = {"csrf": html.unescape(csrf_match.group(1))}
            if stage == "login":
                if login is None or password is None:
                    raise AssertionError("login page not expected")
                data |= {"login": login, "password": password}
            elif stage == "second-factor":
                assert code is not None, "second factor not expected"
                data["code"] = code()
            elif stage == "organisation":
                data["org"] = org
            elif stage == "consent":
                data["decision"] = consent
            response = self.http.post(action, data=data, allow_redirects=False)
        raise AssertionError("too many steps")
