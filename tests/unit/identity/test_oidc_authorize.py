"""Authorisation-request validation (OIDC Core §3.1.2, RFC 6749 §4.1.2.1) and the ``claims``
parameter (§5.5): page errors versus redirect errors, PKCE, prompt, max_age, acr."""

from __future__ import annotations

import json
from typing import Any

import pytest

from identity.authorize import (
    AuthorizationRequest,
    AuthorizePageError,
    AuthorizeRedirectError,
    ClientView,
    parse_claims_parameter,
    validate_authorization_request,
)

CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
CLIENT = ClientView(
    client_id="rp_1",
    redirect_uris=("https://a.example/cb",),
    allowed_scopes=frozenset({"openid", "profile", "phone"}),
    grant_types=frozenset({"authorization_code", "refresh_token"}),
    min_acr=None,
)


def _params(**over: Any) -> list[tuple[str, str]]:
    base = {
        "response_type": "code",
        "client_id": "rp_1",
        "redirect_uri": "https://a.example/cb",
        "scope": "openid profile",
        "state": "xyz",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    base.update(over)
    return [(k, v) for k, v in base.items() if v is not None]


def test_valid_request() -> None:
    req = validate_authorization_request(_params(nonce="n", max_age="0"), CLIENT)
    assert req.scopes == ("openid", "profile")
    assert req.state == "xyz"
    assert req.nonce == "n"
    assert req.max_age == 0
    assert AuthorizationRequest.from_json(req.to_json()) == req


@pytest.mark.parametrize(
    ("client", "over"),
    [
        (None, {}),
        (CLIENT, {"redirect_uri": None}),
        (CLIENT, {"redirect_uri": "https://a.example/cb/"}),  # exact match only
        (CLIENT, {"redirect_uri": "https://a.example/cb?x=1"}),
        (CLIENT, {"redirect_uri": "https://A.example/cb"}),
    ],
)
def test_page_errors_never_redirect(client: ClientView | None, over: dict[str, Any]) -> None:
    with pytest.raises(AuthorizePageError):
        validate_authorization_request(_params(**over), client)


@pytest.mark.parametrize(
    ("over", "error"),
    [
        ({"response_type": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"prompt": "bogus"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"claims": "{not json"}, "invalid_request"),
        ({"request": "x"}, "request_not_supported"),
        ({"request_uri": "https://x"}, "request_uri_not_supported"),
        ({"response_mode": "fragment"}, "invalid_request"),
    ],
)
def test_redirect_errors_keep_state(over: dict[str, Any], error: str) -> None:
    with pytest.raises(AuthorizeRedirectError) as caught:
        validate_authorization_request(_params(**over), CLIENT)
    assert caught.value.error == error
    assert caught.value.state == "xyz"
    assert caught.value.redirect_uri == "https://a.example/cb"


def test_repeated_parameter_refused() -> None:
    with pytest.raises(AuthorizeRedirectError) as caught:
        validate_authorization_request([*_params(), ("scope", "openid")], CLIENT)
    assert caught.value.error == "invalid_request"


def test_unknown_and_unallowed_scopes_dropped_unknown_params_ignored() -> None:
    req = validate_authorization_request(
        _params(scope="openid realname_id bogus phone", foo="bar"), CLIENT
    )
    assert req.scopes == ("openid", "phone")


def test_client_without_code_grant() -> None:
    client = ClientView("rp_1", CLIENT.redirect_uris, CLIENT.allowed_scopes, frozenset(), None)
    with pytest.raises(AuthorizeRedirectError) as caught:
        validate_authorization_request(_params(), client)
    assert caught.value.error == "unauthorized_client"


def _claims(values: list[str], essential: bool = True) -> str:
    return json.dumps({"id_token": {"acr": {"essential": essential, "values": values}}})


def test_essential_acr_is_a_hard_minimum_at_least_on_the_ladder() -> None:
    req = validate_authorization_request(
        _params(claims=_claims(["urn:ywtb:loa:3", "urn:ywtb:loa:4"])), CLIENT
    )
    assert req.required_acr == "urn:ywtb:loa:3"
    assert req.essential_acr_values == ("urn:ywtb:loa:3", "urn:ywtb:loa:4")


def test_voluntary_acr_values_are_a_wish() -> None:
    req = validate_authorization_request(_params(acr_values="urn:ywtb:loa:2 other"), CLIENT)
    assert req.required_acr is None
    assert req.desired_acr == "urn:ywtb:loa:2"
    req = validate_authorization_request(_params(claims=_claims(["urn:ywtb:loa:2"], False)), CLIENT)
    assert req.required_acr is None


def test_essential_unknown_acr_fails() -> None:
    with pytest.raises(AuthorizeRedirectError) as caught:
        validate_authorization_request(_params(claims=_claims(["urn:other:gold"])), CLIENT)
    assert caught.value.error == "unmet_authentication_requirements"


def test_client_min_acr_cannot_be_downgraded() -> None:
    client = ClientView(
        "rp_1", CLIENT.redirect_uris, CLIENT.allowed_scopes, CLIENT.grant_types, "urn:ywtb:loa:2"
    )
    req = validate_authorization_request(_params(claims=_claims(["urn:ywtb:loa:1"])), client)
    assert req.required_acr == "urn:ywtb:loa:2"


def test_parse_claims_parameter() -> None:
    doc = json.dumps({"userinfo": {"name": None, "phone_number": {"essential": True}}})
    assert parse_claims_parameter(doc) == ((), ("name", "phone_number"), (), False)
    with pytest.raises(ValueError):
        parse_claims_parameter("[]")
    with pytest.raises(ValueError):
        parse_claims_parameter(json.dumps({"id_token": {"acr": {"values": "x"}}}))
