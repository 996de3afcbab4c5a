"""Authlib as an independent, unmodified relying party (``specs/identity.md`` §6.1): its
``OAuth2Session`` (requests) builds the authorisation URL with PKCE S256 and a nonce, exchanges
the code, refreshes; its OIDC mixin validates the ID token through our JWKS with joserfc
(``KeySet.import_key_set`` of the whole set: one bad key there would break it, §7.3); it logs
out with ``create_logout_url`` (RP-Initiated Logout through the ``end_session_endpoint`` of the
discovery metadata it loaded), after which its refresh token is refused and introspection says
the tokens are inactive. Only public Authlib APIs are used.

The RP class is assembled from Authlib's own framework-neutral building blocks exactly as its
Flask and Django integrations assemble theirs (``OAuth2Mixin, OpenIDMixin, BaseApp`` with
``client_cls = OAuth2Session``); nothing of Authlib is patched.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from authlib.integrations.base_client import BaseApp, OAuth2Mixin, OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session, OAuthError

from identity.records import PersonRecord
from tests.integration.identity._factories import PASSWORD
from tests.integration.identity.oidc.conftest import Live


class AuthlibRP(OAuth2Mixin, OpenIDMixin, BaseApp):  # type: ignore[misc]
    client_cls = OAuth2Session

    def _on_update_token(
        self, token: Any, refresh_token: Any = None, access_token: Any = None
    ) -> None:
        self.updated = token


def _rp(live: Live, client_id: str, secret: str | None, auth_method: str) -> AuthlibRP:
    return AuthlibRP(
        None,
        name="portal",
        client_id=client_id,
        client_secret=secret,
        server_metadata_url=f"{live.url}/.well-known/openid-configuration",
        client_kwargs={
            "scope": "openid profile phone",
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": auth_method,
        },
    )


def _session(registered: Any, auth_method: str, token: Any) -> OAuth2Session:
    """Authlib's public ``OAuth2Session`` for the token endpoint calls of the portal."""
    return OAuth2Session(
        registered.client.client_id,
        registered.client_secret,
        token_endpoint_auth_method=auth_method,
        token=token,
    )


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_authlib_code_pkce_userinfo_refresh(
    live: Live, person: PersonRecord, auth_method: str
) -> None:
    registered = live.client("authlib-portal", scopes=["openid", "profile", "phone"])
    redirect = registered.client.redirect_uris[0]
    rp = _rp(live, registered.client.client_id, registered.client_secret, auth_method)
    auth = rp.create_authorization_url(redirect_uri=redirect)
    assert "code_challenge_method=S256" in auth["url"]
    final, pages = live.agent().run(
        auth["url"], stop_at=redirect, login="zhangsan", password=PASSWORD
    )
    assert pages.stages == ["login", "consent"]
    # Authlib checks state and extracts the code from the full redirect URL.
    token = rp.fetch_access_token(
        redirect_uri=redirect,
        authorization_response=final,
        state=auth["state"],
        code_verifier=auth["code_verifier"],
    )
    claims = rp.parse_id_token(token, nonce=auth["nonce"])
    assert claims["iss"] == live.url
    assert claims["aud"] == registered.client.client_id
    assert claims["acr"] == "urn:ywtb:loa:1"
    assert claims["amr"] == ["pwd"]
    assert claims["sub"] != person.id
    info = rp.userinfo(token=token)
    assert info["sub"] == claims["sub"]
    assert info["name"] == person.name
    assert info["phone_number"] == f"+86{person.phone}"
    # Refresh with rotation: a new refresh token, and the new access token works.
    with _session(registered, auth_method, token) as session:
        refreshed = session.refresh_token(rp.load_server_metadata()["token_endpoint"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert refreshed["refresh_expires_in"] > 0
    info2 = rp.userinfo(token=refreshed)
    assert info2["sub"] == claims["sub"]
    refreshed_claims = rp.parse_id_token(refreshed, nonce=None)
    assert refreshed_claims["sub"] == claims["sub"]


def test_authlib_public_client_pkce(live: Live, person: PersonRecord) -> None:
    """A public client (app, mini-program): no secret, PKCE binds the code."""
    registered = live.client(
        "mini-program", kind="public", redirect_uris=["cn.gov.ywtb.app://callback"]
    )
    assert registered.client_secret is None
    rp = _rp(live, registered.client.client_id, None, "none")
    redirect = "cn.gov.ywtb.app://callback"
    auth = rp.create_authorization_url(redirect_uri=redirect)
    final, _ = live.agent().run(auth["url"], stop_at=redirect, login="zhangsan", password=PASSWORD)
    token = rp.fetch_access_token(
        redirect_uri=redirect,
        authorization_response=final.replace("cn.gov.ywtb.app://callback", "https://app/cb"),
        state=auth["state"],
        code_verifier=auth["code_verifier"],
    )
    claims = rp.parse_id_token(token, nonce=auth["nonce"])
    assert claims["aud"] == registered.client.client_id


def _hidden(body: str) -> dict[str, str]:
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body)
    return {k: html.unescape(v) for k, v in fields}


def test_authlib_rp_initiated_logout(live: Live, person: PersonRecord) -> None:
    bye = "http://127.0.0.1:9/authlib-portal/bye"
    registered = live.client(
        "authlib-logout", scopes=["openid", "profile"], post_logout_redirect_uris=[bye]
    )
    redirect = registered.client.redirect_uris[0]
    rp = _rp(live, registered.client.client_id, registered.client_secret, "client_secret_basic")
    auth = rp.create_authorization_url(redirect_uri=redirect)
    agent = live.agent()
    final, _ = agent.run(auth["url"], stop_at=redirect, login="zhangsan", password=PASSWORD)
    token = rp.fetch_access_token(
        redirect_uri=redirect,
        authorization_response=final,
        state=auth["state"],
        code_verifier=auth["code_verifier"],
    )
    claims = rp.parse_id_token(token, nonce=auth["nonce"])
    metadata = rp.load_server_metadata()
    assert metadata["end_session_endpoint"] == f"{live.url}/oidc/logout"

    logout = rp.create_logout_url(post_logout_redirect_uri=bye, id_token_hint=token["id_token"])
    assert logout["url"].startswith(metadata["end_session_endpoint"] + "?")
    confirm = agent.http.get(logout["url"])
    assert confirm.status_code == 200
    assert "authlib-logout" in confirm.text  # the page names the portal
    done = agent.http.post(
        metadata["end_session_endpoint"],
        data=_hidden(confirm.text) | {"decision": "logout"},
        allow_redirects=False,
    )
    assert done.status_code == 303
    back = done.headers["location"]
    assert back.split("?")[0] == bye
    assert parse_qs(urlsplit(back).query) == {"state": [logout["state"]]}

    with _session(registered, "client_secret_basic", token) as session:
        with pytest.raises(OAuthError) as refused:
            session.refresh_token(metadata["token_endpoint"])
        assert refused.value.error == "invalid_grant"
        for value in (token["refresh_token"], token["access_token"]):
            answer = session.introspect_token(metadata["introspection_endpoint"], token=value)
            assert answer.status_code == 200
            assert answer.json() == {"active": False}
    # The SSO session is over too: a silent login is refused.
    again = rp.create_authorization_url(redirect_uri=redirect, prompt="none")
    silent = agent.http.get(again["url"], allow_redirects=False)
    assert parse_qs(urlsplit(silent.headers["location"]).query)["error"] == ["login_required"]
    assert claims["sid"]
