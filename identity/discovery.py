"""The discovery document (OpenID Connect Discovery 1.0 §3; RFC 8414) (pure).

Endpoints live under ``/oidc/``. The SM2 key set is advertised separately as ``jwks_uri_sm2``
(our own metadata name): SM2 keys never appear in ``jwks_uri`` (``specs/identity.md`` §7.3).
Logout and device endpoints are served by the logout/device modules; their metadata is published
here so that the document stays one.
"""

from __future__ import annotations

from typing import Any, Final

from identity.assurance import ACR_LADDER
from identity.authorize import SUPPORTED_SCOPES

__all__ = ["ENDPOINTS", "discovery_document"]

ENDPOINTS: Final = {
    "authorization_endpoint": "/oidc/authorize",
    "token_endpoint": "/oidc/token",
    "userinfo_endpoint": "/oidc/userinfo",
    "jwks_uri": "/oidc/jwks",
    "jwks_uri_sm2": "/oidc/jwks/sm2",
    "introspection_endpoint": "/oidc/introspect",
    "revocation_endpoint": "/oidc/revoke",
    "end_session_endpoint": "/oidc/logout",
    "device_authorization_endpoint": "/oidc/device_authorization",
}
_CLIENT_AUTH: Final = ["client_secret_basic", "client_secret_post", "none"]


def discovery_document(issuer: str) -> dict[str, Any]:
    base = issuer.rstrip("/")
    doc: dict[str, Any] = {"issuer": base}
    doc.update({name: base + path for name, path in ENDPOINTS.items()})
    doc.update(
        {
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:device_code",
            ],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "userinfo_signing_alg_values_supported": ["none"],
            "token_endpoint_auth_methods_supported": _CLIENT_AUTH,
            "introspection_endpoint_auth_methods_supported": _CLIENT_AUTH[:2],
            "revocation_endpoint_auth_methods_supported": _CLIENT_AUTH,
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": list(SUPPORTED_SCOPES),
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "acr",
                "amr",
                "sid",
                "azp",
                "at_hash",
                "name",
                "phone_number",
                "phone_number_verified",
                "verified_claims",
                "cn_citizen_id",
                "legal_person",
            ],
            "claims_parameter_supported": True,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "require_request_uri_registration": False,
            "acr_values_supported": [a.value for a in ACR_LADDER],
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
            "display_values_supported": ["page", "popup", "touch"],
            "ui_locales_supported": ["zh-CN"],
            "claims_locales_supported": ["zh-CN"],
            "authorization_response_iss_parameter_supported": True,
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            "frontchannel_logout_supported": False,
        }
    )
    return doc
