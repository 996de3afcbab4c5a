"""pyoidc (``oic``) as a second independent, unmodified relying party: discovery and JWKS via
``provider_config``, code + PKCE S256, ID-token validation inside ``do_access_token_request``
(signature through its own key jar, iss, aud, nonce), userinfo, refresh, and RP-initiated
logout: the end-session request is built by pyoidc (``construct_EndSessionRequest`` takes the
``id_token_hint`` from the grant it keeps for the login's ``state``) and followed in the
browser; afterwards its refresh is refused and pyoidc's own introspection client
(``oic.extension.client.Client.do_token_introspection``) reports the tokens inactive."""

from __future__ import annotations

import html
import re
import warnings
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from identity.records import PersonRecord
from tests.integration.identity._factories import PASSWORD
from tests.integration.identity.oidc._agent import UserAgent
from tests.integration.identity.oidc.conftest import Live

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from oic import rndstr
    from oic.extension.client import Client as ExtensionClient
    from oic.oauth2.message import TokenErrorResponse
    from oic.oic import Client
    from oic.oic.message import (
        AccessTokenResponse,
        AuthorizationResponse,
        OpenIDSchema,
        RegistrationResponse,
    )
    from oic.utils.authn.client import CLIENT_AUTHN_METHOD

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _client(live: Live, client_id: str, secret: str, redirect: str) -> Client:
    client = Client(client_authn_method=CLIENT_AUTHN_METHOD)
    client.provider_config(live.url)  # discovery; loads the JWKS into the key jar
    client.store_registration_info(
        RegistrationResponse(
            client_id=client_id,
            client_secret=secret,
            redirect_uris=[redirect],
            id_token_signed_response_alg="ES256",
        )
    )
    return client


def _login(client: Client, redirect: str, agent: UserAgent) -> tuple[str, Any]:
    """Code + PKCE through pyoidc; returns the login's ``state`` and the token response."""
    state, nonce = rndstr(), rndstr()
    pkce_args, verifier = client.add_code_challenge()
    request = client.construct_AuthorizationRequest(
        request_args={
            "client_id": client.client_id,
            "response_type": "code",
            "scope": ["openid", "profile"],
            "nonce": nonce,
            "state": state,
            "redirect_uri": redirect,
            **pkce_args,
        }
    )
    final, _ = agent.run(
        request.request(client.authorization_endpoint),
        stop_at=redirect,
        login="zhangsan",
        password=PASSWORD,
    )
    response = client.parse_response(
        AuthorizationResponse, info=urlsplit(final).query, sformat="urlencoded"
    )
    tokens = client.do_access_token_request(
        state=state,
        request_args={"code": response["code"], "code_verifier": verifier},
        authn_method="client_secret_basic",
    )
    assert isinstance(tokens, AccessTokenResponse), tokens
    return state, tokens


def test_pyoidc_rp_initiated_logout(live: Live, person: PersonRecord) -> None:
    bye = "http://127.0.0.1:9/pyoidc-portal/bye"
    registered = live.client(
        "pyoidc-logout", scopes=["openid", "profile"], post_logout_redirect_uris=[bye]
    )
    redirect = registered.client.redirect_uris[0]
    assert registered.client_secret is not None
    client = _client(live, registered.client.client_id, registered.client_secret, redirect)
    assert client.end_session_endpoint == f"{live.url}/oidc/logout"
    agent = live.agent()
    state, tokens = _login(client, redirect, agent)

    logout_state = rndstr()
    end = client.construct_EndSessionRequest(
        state=state,  # the grant whose ID token becomes the id_token_hint
        request_args={"post_logout_redirect_uri": bye, "state": logout_state},
    )
    assert end["id_token_hint"] == tokens["id_token"].jwt
    confirm = agent.http.get(end.request(client.end_session_endpoint))
    assert confirm.status_code == 200
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', confirm.text))
    done = agent.http.post(
        client.end_session_endpoint,
        data={k: html.unescape(v) for k, v in hidden.items()} | {"decision": "logout"},
        allow_redirects=False,
    )
    assert done.status_code == 303
    back = done.headers["location"]
    assert back.split("?")[0] == bye
    assert parse_qs(urlsplit(back).query) == {"state": [logout_state]}

    refused = client.do_access_token_refresh(state=state, authn_method="client_secret_basic")
    assert isinstance(refused, TokenErrorResponse)
    assert refused["error"] == "invalid_grant"
    inspector = ExtensionClient(client_authn_method=CLIENT_AUTHN_METHOD)
    inspector.client_id, inspector.client_secret = client.client_id, client.client_secret
    inspector.provider_info = client.provider_info
    inspector.introspection_endpoint = client.provider_info["introspection_endpoint"]
    for value in (tokens["refresh_token"], tokens["access_token"]):
        answer = inspector.do_token_introspection(
            request_args={"token": value}, authn_method="client_secret_basic"
        )
        assert answer.to_dict() == {"active": False}


def test_pyoidc_code_pkce_userinfo_refresh(live: Live, person: PersonRecord) -> None:
    registered = live.client("pyoidc-portal", scopes=["openid", "profile"])
    redirect = registered.client.redirect_uris[0]
    assert registered.client_secret is not None
    client = _client(live, registered.client.client_id, registered.client_secret, redirect)
    assert client.provider_info["issuer"] == live.url
    state, nonce = rndstr(), rndstr()
    pkce_args, verifier = client.add_code_challenge()
    assert pkce_args["code_challenge_method"] == "S256"
    request = client.construct_AuthorizationRequest(
        request_args={
            "client_id": client.client_id,
            "response_type": "code",
            "scope": ["openid", "profile"],
            "nonce": nonce,
            "state": state,
            "redirect_uri": redirect,
            **pkce_args,
        }
    )
    url = request.request(client.authorization_endpoint)
    final, _ = live.agent().run(url, stop_at=redirect, login="zhangsan", password=PASSWORD)
    response = client.parse_response(
        AuthorizationResponse, info=urlsplit(final).query, sformat="urlencoded"
    )
    assert response["state"] == state
    tokens = client.do_access_token_request(
        state=state,
        request_args={"code": response["code"], "code_verifier": verifier},
        authn_method="client_secret_basic",
    )
    assert isinstance(tokens, AccessTokenResponse), tokens
    id_token = tokens["id_token"]  # verified by pyoidc: signature, iss, aud, nonce
    assert id_token["nonce"] == nonce
    assert id_token["iss"] == live.url
    assert id_token.jws_header["alg"] == "ES256"
    info = client.do_user_info_request(state=state)
    assert isinstance(info, OpenIDSchema)
    assert info["sub"] == id_token["sub"]
    assert info["name"] == person.name
    refreshed = client.do_access_token_refresh(state=state, authn_method="client_secret_basic")
    assert isinstance(refreshed, AccessTokenResponse), refreshed
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    info2 = client.do_user_info_request(state=state)
    assert info2["sub"] == id_token["sub"]
