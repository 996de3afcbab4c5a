"""Validation of an authorisation request (pure): OIDC Core 1.0 §3.1.2.1-§3.1.2.2, §5.5,
RFC 6749 §3.1 and §4.1.2.1, RFC 7636, RFC 9700 (OAuth 2.0 Security BCP).

Two kinds of failure, as RFC 6749 §4.1.2.1 demands:

* ``AuthorizePageError``: the client is unknown or the ``redirect_uri`` is missing, invalid or
  not registered (exact string match, §3.1.2.1 and RFC 9700 §4.1.3). The error is shown to the
  person on a page and **never** sent to the redirect URI.
* ``AuthorizeRedirectError``: anything else; returned to the (verified) redirect URI with
  ``error``, ``error_description`` and the unchanged ``state``.

Only the authorisation-code flow exists (``response_type=code``), ``response_mode=query``;
``code_challenge_method=S256`` is mandatory for every client, ``plain`` is refused. Request
objects (``request``, ``request_uri``) are not supported and answered with the OIDC Core
§6.2 errors. Parameters we do not understand are ignored (OIDC Core §3.1.2.1).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from identity.assurance import ACR_LADDER, AcrValue, acr_rank
from identity.pkce import is_valid_challenge

__all__ = [
    "SCOPE_LABELS",
    "SUPPORTED_PROMPTS",
    "SUPPORTED_SCOPES",
    "AuthorizationRequest",
    "AuthorizePageError",
    "AuthorizeRedirectError",
    "ClientView",
    "parse_claims_parameter",
    "validate_authorization_request",
]

#: Scopes this provider knows. ``realname_id`` releases the citizen ID number (``cn_citizen_id``)
#: and needs the person's explicit, remembered consent.
SUPPORTED_SCOPES: Final = (
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "realname",
    "realname_id",
    "legal_person",
    "offline_access",
)
#: How each scope is shown to the person (consent screen, device approval, 已授权的网站).
SCOPE_LABELS: Final = {
    "openid": "确认您的身份（为该应用生成的专用标识）",
    "profile": "姓名",
    "email": "电子邮箱",
    "address": "联系地址",
    "phone": "手机号码",
    "realname": "实名核验结果（核验等级与核验方式，不含证件内容）",
    "realname_id": "公民身份号码（完整号码）",
    "legal_person": "您所代表的单位（名称、统一社会信用代码、身份、授权编号）",
    "offline_access": "在您离开后继续访问（长期令牌）",
}
SUPPORTED_PROMPTS: Final = frozenset({"none", "login", "consent", "select_account"})
_MAX_STATE: Final = 1000
_MAX_NONCE: Final = 500
_MAX_HINT: Final = 200
#: An ``id_token_hint`` is a whole ID token (checked by the service, never truncated).
_MAX_ID_TOKEN_HINT: Final = 8192
#: A parameter that appears twice is an error (RFC 6749 §3.1), except these (never used).
_SINGLE: Final = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "acr_values",
    "claims",
    "response_mode",
)


@dataclass(frozen=True, slots=True)
class ClientView:
    """What validation needs to know about the client (from the registry)."""

    client_id: str
    redirect_uris: tuple[str, ...]
    allowed_scopes: frozenset[str]
    grant_types: frozenset[str]
    min_acr: str | None
    active: bool = True


class AuthorizePageError(Exception):
    """Shown on a page, never redirected."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class AuthorizeRedirectError(Exception):
    """Sent to ``redirect_uri`` with ``state`` (RFC 6749 §4.1.2.1)."""

    def __init__(self, error: str, description: str, redirect_uri: str, state: str | None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.redirect_uri = redirect_uri
        self.state = state


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A validated request. ``required_acr`` is the hard minimum (the client's own minimum and
    any essential ``acr`` in ``claims``); ``desired_acr`` the voluntary ``acr_values`` wish."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    code_challenge: str
    state: str | None = None
    nonce: str | None = None
    prompt: tuple[str, ...] = ()
    max_age: int | None = None
    required_acr: str | None = None
    desired_acr: str | None = None
    essential_acr_values: tuple[str, ...] = ()
    userinfo_claims: tuple[str, ...] = ()
    id_token_claims: tuple[str, ...] = ()
    login_hint: str | None = None
    org_hint: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuthorizationRequest:
        values = dict(data)
        for name in ("scopes", "prompt", "essential_acr_values", "userinfo_claims"):
            values[name] = tuple(values.get(name) or ())
        values["id_token_claims"] = tuple(values.get("id_token_claims") or ())
        return cls(**values)


def _single(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, str], set[str]]:
    params: dict[str, str] = {}
    repeated: set[str] = set()
    for name, value in pairs:
        if name in params:
            repeated.add(name)
        params.setdefault(name, value)
    return params, repeated & set(_SINGLE)


def _page_checks(params: Mapping[str, str], client: ClientView | None) -> str:
    if client is None or not client.active:
        raise AuthorizePageError("invalid_client", "未知或已停用的客户端（client_id）")
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri:
        raise AuthorizePageError("invalid_request", "缺少 redirect_uri")
    # OIDC Core §3.1.2.1: "This URI MUST exactly match one of the Redirection URI values for
    # the Client pre-registered at the OpenID Provider" (simple string comparison).
    if redirect_uri not in client.redirect_uris:
        raise AuthorizePageError("invalid_request", "redirect_uri 未登记，不会跳转")
    return redirect_uri


def parse_claims_parameter(
    raw: str | None,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], bool]:
    """OIDC Core §5.5: ``(essential acr values, userinfo claim names, id_token claim names,
    acr essential?)``. Raises ``ValueError`` for malformed JSON or shapes."""
    if raw is None or raw == "":
        return (), (), (), False
    doc = json.loads(raw)
    if not isinstance(doc, dict):
        raise ValueError("claims must be a JSON object")
    names: dict[str, tuple[str, ...]] = {}
    acr_values: tuple[str, ...] = ()
    essential = False
    for member in ("userinfo", "id_token"):
        part = doc.get(member)
        if part is None:
            names[member] = ()
            continue
        if not isinstance(part, dict):
            raise ValueError(f"claims.{member} must be an object")
        names[member] = tuple(str(k) for k in part)
        acr = part.get("acr")
        if member == "id_token" and isinstance(acr, dict):
            essential = acr.get("essential") is True
            values = acr.get("values")
            if isinstance(acr.get("value"), str):
                values = [acr["value"]]
            if values is not None and not (
                isinstance(values, list) and all(isinstance(v, str) for v in values)
            ):
                raise ValueError("claims.id_token.acr.values must be a list of strings")
            acr_values = tuple(values or ())
        elif acr is not None and not isinstance(acr, dict):
            raise ValueError("claims member values must be null or objects")
    return acr_values, names["userinfo"], names["id_token"], essential


def _lowest_known(values: Iterable[str]) -> str | None:
    known = [v for v in values if v in {a.value for a in ACR_LADDER}]
    return min(known, key=acr_rank) if known else None


def _max_acr(*values: str | None) -> str | None:
    present = [v for v in values if v]
    return max(present, key=acr_rank) if present else None


def validate_authorization_request(
    pairs: Sequence[tuple[str, str]], client: ClientView | None
) -> AuthorizationRequest:
    """Validate ``pairs`` (query or form parameters in order) for ``client`` (``None`` when
    the ``client_id`` is unknown)."""
    params, repeated = _single(pairs)
    redirect_uri = _page_checks(params, client)
    assert client is not None
    state = params.get("state")

    def fail(error: str, description: str) -> AuthorizeRedirectError:
        return AuthorizeRedirectError(error, description, redirect_uri, state)

    if state is not None and len(state) > _MAX_STATE:
        raise fail("invalid_request", "state too long")
    if repeated:
        raise fail("invalid_request", f"parameter repeated: {sorted(repeated)[0]}")
    if "request" in params:
        raise fail("request_not_supported", "request objects are not supported")
    if "request_uri" in params:
        raise fail("request_uri_not_supported", "request_uri is not supported")
    response_type = params.get("response_type")
    if not response_type:
        raise fail("invalid_request", "response_type is required")
    if response_type != "code":
        raise fail("unsupported_response_type", "only response_type=code is supported")
    if "authorization_code" not in client.grant_types:
        raise fail("unauthorized_client", "client may not use the authorization code grant")
    if params.get("response_mode", "query") != "query":
        raise fail("invalid_request", "only response_mode=query is supported")
    requested = params.get("scope", "").split()
    if "openid" not in requested:
        raise fail("invalid_scope", "scope must include openid")
    # RFC 6749 §3.3: the server may fully or partially ignore the requested scope.
    scopes = tuple(
        dict.fromkeys(s for s in requested if s in SUPPORTED_SCOPES and s in client.allowed_scopes)
    )
    if "openid" not in scopes:
        raise fail("invalid_scope", "client may not request openid")
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if not challenge:
        raise fail("invalid_request", "code_challenge is required (PKCE, S256)")
    if method != "S256":
        raise fail("invalid_request", "code_challenge_method must be S256")
    if not is_valid_challenge(challenge):
        raise fail("invalid_request", "code_challenge is malformed")
    nonce = params.get("nonce")
    if nonce is not None and len(nonce) > _MAX_NONCE:
        raise fail("invalid_request", "nonce too long")
    prompt = tuple(params.get("prompt", "").split())
    if any(p not in SUPPORTED_PROMPTS for p in prompt):
        raise fail("invalid_request", "unknown prompt value")
    if "none" in prompt and len(prompt) > 1:
        raise fail("invalid_request", "prompt=none cannot be combined")
    max_age: int | None = None
    if "max_age" in params:
        raw = params["max_age"]
        if not raw.isdigit() or len(raw) > 10:
            raise fail("invalid_request", "max_age must be a non-negative integer")
        max_age = int(raw)
    try:
        essential_values, userinfo_claims, id_token_claims, essential = parse_claims_parameter(
            params.get("claims")
        )
    except (ValueError, TypeError):
        raise fail("invalid_request", "claims parameter is malformed") from None
    hard: str | None = client.min_acr
    if essential:
        lowest = _lowest_known(essential_values or [a.value for a in ACR_LADDER])
        if lowest is None:
            # §5.5.1.1: an essential acr none of whose values we can ever satisfy.
            raise fail("unmet_authentication_requirements", "no requested acr is supported")
        hard = _max_acr(hard, lowest)
    desired = _lowest_known(params.get("acr_values", "").split())
    hints: dict[str, str] = {
        k: params[k][:_MAX_HINT] for k in ("display", "ui_locales", "claims_locales") if k in params
    }
    if "id_token_hint" in params:
        if len(params["id_token_hint"]) > _MAX_ID_TOKEN_HINT:
            raise fail("invalid_request", "id_token_hint too long")
        hints["id_token_hint"] = params["id_token_hint"]
    return AuthorizationRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        scopes=scopes,
        code_challenge=challenge,
        state=state,
        nonce=nonce,
        prompt=prompt,
        max_age=max_age,
        required_acr=hard,
        desired_acr=_max_acr(desired, hard),
        essential_acr_values=tuple(v for v in essential_values if v in AcrValue._value2member_map_)
        if essential
        else (),
        userinfo_claims=userinfo_claims,
        id_token_claims=id_token_claims,
        login_hint=params.get("login_hint", "")[:_MAX_HINT] or None,
        org_hint=params.get("org_hint", "")[:_MAX_HINT] or None,
        extra=hints,
    )
