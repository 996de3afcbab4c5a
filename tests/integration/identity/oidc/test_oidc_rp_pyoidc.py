"""pyoidc (``oic``) as a second independent, unmodified relying party: discovery and JWKS via
``provider_config``, code + PKCE S256, ID-token validation inside ``do_access_token_request``
(signature through its own key jar, iss, aud, nonce), userinfo, refresh."""

from __future__ import annotations

import warnings
from urllib.parse import urlsplit

import pytest

from identity.records import PersonRecord
from tests.integration.identity._factories import PASSWORD
from tests.integration.identity.oidc.conftest import Live

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from oic import rndstr
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
