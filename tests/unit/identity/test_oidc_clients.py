"""Client metadata rules: redirect URIs, kinds, grant types, sectors; discovery document."""

from __future__ import annotations

import pytest

from identity.clients import check_client_metadata
from identity.discovery import discovery_document
from identity.oidc_errors import InvalidClientRegistration


def test_confidential_defaults_and_sector() -> None:
    meta = check_client_metadata(
        name="  某市  政务服务网 ", kind="confidential", redirect_uris=["https://p.example/cb"]
    )
    assert meta.name == "某市 政务服务网"
    assert meta.sector_id == "p.example"
    assert meta.grant_types == ("authorization_code", "refresh_token")
    assert "realname_id" not in meta.allowed_scopes  # the ID number needs an explicit choice


@pytest.mark.parametrize(
    "uri",
    [
        "http://p.example/cb",  # plain http off loopback
        "https://p.example/cb#frag",
        "javascript:alert(1)",
        "",
        "cn.app://cb",  # private-use scheme only for public clients
    ],
)
def test_bad_redirect_uris(uri: str) -> None:
    with pytest.raises(InvalidClientRegistration):
        check_client_metadata(name="x", kind="confidential", redirect_uris=[uri])


def test_public_clients() -> None:
    meta = check_client_metadata(name="App", kind="public", redirect_uris=["cn.gov.app://cb"])
    assert meta.kind == "public"
    with pytest.raises(InvalidClientRegistration):
        check_client_metadata(
            name="App",
            kind="public",
            redirect_uris=["cn.gov.app://cb"],
            grant_types=["client_credentials"],
        )


def test_loopback_http_and_mixed_hosts() -> None:
    check_client_metadata(
        name="dev", kind="confidential", redirect_uris=["http://127.0.0.1:8101/cb"]
    )
    with pytest.raises(InvalidClientRegistration):
        check_client_metadata(
            name="x",
            kind="confidential",
            redirect_uris=["https://a.example/cb", "https://b.example/cb"],
        )
    meta = check_client_metadata(
        name="x",
        kind="confidential",
        redirect_uris=["https://a.example/cb", "https://b.example/cb"],
        sector_identifier="gov.example",
    )
    assert meta.sector_id == "gov.example"


def test_other_refusals() -> None:
    with pytest.raises(InvalidClientRegistration):
        check_client_metadata(name="x", kind="secret", redirect_uris=["https://a.example/"])
    with pytest.raises(InvalidClientRegistration):
        check_client_metadata(
            name="x", kind="confidential", redirect_uris=["https://a.example/"], scopes=["bogus"]
        )
    with pytest.raises(InvalidClientRegistration):
        check_client_metadata(
            name="x", kind="confidential", redirect_uris=["https://a.example/"], min_acr="gold"
        )
    with pytest.raises(InvalidClientRegistration):
        check_client_metadata(name="x", kind="confidential", redirect_uris=[])


def test_discovery_document() -> None:
    doc = discovery_document("https://op.example/")
    assert doc["issuer"] == "https://op.example"
    assert doc["jwks_uri"] == "https://op.example/oidc/jwks"
    assert doc["jwks_uri_sm2"] == "https://op.example/oidc/jwks/sm2"
    assert doc["end_session_endpoint"] == "https://op.example/oidc/logout"
    assert doc["device_authorization_endpoint"] == "https://op.example/oidc/device_authorization"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["subject_types_supported"] == ["pairwise"]
    assert "none" not in doc["id_token_signing_alg_values_supported"]
