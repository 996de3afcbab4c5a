"""Brokered login from an upstream OpenID provider (the national platform): configuration and
the pure checks ("一地注册、各地互认"). OIDC Core §3.1.3.7 (ID token validation), RFC 7636
(PKCE S256), OpenID Connect for Identity Assurance 1.0 (``verified_claims``).

* Configuration (``FederationSettings.from_environ``): ``TRUST_FEDERATION_ISSUER``,
  ``TRUST_FEDERATION_CLIENT_ID``, ``TRUST_FEDERATION_CLIENT_SECRET`` (all three, or none:
  federation off), ``TRUST_FEDERATION_NAME`` (button label), ``TRUST_FEDERATION_LEEWAY``
  (seconds, default 60).
* ID token checks, every parameter written out: signature against the upstream JWKS with the
  algorithm allow-list ``ES256``/``RS256`` (never ``none``/HMAC), ``iss`` exactly the configured
  issuer, ``aud`` contains our client id (and ``azp`` is it when several audiences), ``exp``
  and ``iat`` with leeway, ``nonce`` equal (constant time) to the one we sent, ``sub`` present,
  ``auth_time`` (optional) an integer no later than now plus leeway.
* Fresh authentication (``upstream_authenticated_since``): when our authorisation request
  needs one (``prompt=login``, ``max_age``, a step-up or a hard ``acr`` minimum), the broker
  asks the upstream for ``prompt=login`` and ``max_age=0`` (OIDC Core §3.1.2.1: "max_age=0 is
  equivalent to prompt=login", and makes ``auth_time`` REQUIRED in the ID token). The
  upstream login counts as the interaction's own fresh login only if its ``auth_time`` shows
  that the person authenticated during this broker login - an upstream that ignores the
  request and answers from its own SSO session does not pass.
* Configuration also: ``TRUST_FEDERATION_MIN_LINK_LEVEL`` (2-4, default 2): the proofing level
  the upstream must assert before one of its logins may be linked to an *existing* local account.
* What the upstream asserts (``UpstreamAssertion``, OpenID Connect for Identity Assurance 1.0
  §5): the proofing level is ``verified_claims.verification.assurance_level`` (``P1``-``P4``),
  else its ``acr`` on the shared ladder ``urn:ywtb:loa:N``, else 1. The name and the citizen ID
  number count as *verified* only when they appear inside ``verified_claims.claims`` with the
  same value as released (``name``, ``cn_citizen_id``). Unverified identity data never earns a
  proofing level here (``proofing_level`` is then 1). (Reconstructed rule: the upstream's level
  is trusted as is; a deployment maps a foreign ladder in ``_ACR_LEVELS``.)
* Linking (``link_refusal``) fails closed: an upstream login is linked to an existing local
  account only if the name and the ID number are marked verified and the asserted level is at
  least ``min_link_level`` - otherwise anyone able to make the upstream assert an ID number
  (self-registration there) would take over the local account.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from trust.crypto import constant_time_equal
from trust.errors import InvalidInput, VerificationFailed

__all__ = [
    "START_PATH",
    "FederationLink",
    "FederationSettings",
    "LinkRefusal",
    "UpstreamAssertion",
    "UpstreamIdentity",
    "federation_login_link",
    "fresh_login_needed",
    "link_refusal",
    "pkce_pair",
    "read_upstream_assertion",
    "upstream_authenticated_since",
    "validate_upstream_id_token",
]

#: Where a browser starts a broker login (``identity.channels_api_federation``).
START_PATH: Final = "/oidc/federation/start"
_ALGORITHMS: Final = ["ES256", "RS256"]
_ACR_LEVELS: Final = {f"urn:ywtb:loa:{n}": n for n in (1, 2, 3, 4)}


class UpstreamTokenRejected(VerificationFailed):
    code = "identity.federation_token_rejected"
    title = "上级身份平台的令牌未通过校验"


@dataclass(frozen=True, slots=True, repr=False)
class FederationSettings:
    issuer: str
    client_id: str
    client_secret: str
    name: str = "国家政务服务平台"
    leeway_seconds: int = 60
    #: Proofing level (2-4) the upstream must assert to link to an existing local account.
    min_link_level: int = 2

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> FederationSettings | None:
        issuer = environ.get("TRUST_FEDERATION_ISSUER", "").rstrip("/")
        client_id = environ.get("TRUST_FEDERATION_CLIENT_ID", "")
        secret = environ.get("TRUST_FEDERATION_CLIENT_SECRET", "")
        if not (issuer or client_id or secret):
            return None
        if not (issuer and client_id and secret):
            raise InvalidInput(
                "TRUST_FEDERATION_ISSUER, _CLIENT_ID and _CLIENT_SECRET go together",
                code="identity.federation_misconfigured",
            )
        if not issuer.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise InvalidInput(
                "upstream issuer must be https", code="identity.federation_misconfigured"
            )
        leeway = _int_setting(environ, "TRUST_FEDERATION_LEEWAY", "60")
        min_link = _int_setting(environ, "TRUST_FEDERATION_MIN_LINK_LEVEL", "2")
        if not 2 <= min_link <= 4:
            raise InvalidInput(
                "TRUST_FEDERATION_MIN_LINK_LEVEL must be 2, 3 or 4",
                code="identity.federation_misconfigured",
            )
        name = environ.get("TRUST_FEDERATION_NAME", "国家政务服务平台")
        return cls(issuer, client_id, secret, name, max(0, min(leeway, 600)), min_link)

    def __repr__(self) -> str:
        return f"<FederationSettings issuer={self.issuer!r} (secret hidden)>"


def _int_setting(environ: Mapping[str, str], name: str, default: str) -> int:
    try:
        return int(environ.get(name, default))
    except ValueError:
        raise InvalidInput(
            f"{name} must be an integer", code="identity.federation_misconfigured"
        ) from None


@dataclass(frozen=True, slots=True)
class FederationLink:
    """The login page's "使用国家政务服务平台账号登录" link (template variable ``federation``)."""

    url: str
    label: str


def federation_login_link(
    environ: Mapping[str, str], *, interaction_id: str
) -> FederationLink | None:
    """The link for the login page of interaction ``interaction_id``: the broker login returns
    to that interaction, which then finds the new SSO session. ``None`` when federation is not
    configured (or misconfigured: ``/oidc/federation/start`` says why)."""
    try:
        fed = FederationSettings.from_environ(environ)
    except InvalidInput:
        return None
    if fed is None or not interaction_id.isascii() or not interaction_id.isidentifier():
        return None
    return_to = quote(f"/oidc/interaction/{interaction_id}", safe="")
    return FederationLink(f"{START_PATH}?return_to={return_to}", f"使用{fed.name}账号登录")


def fresh_login_needed(
    *,
    prompt: tuple[str, ...] | list[str],
    max_age: int | None,
    step_up: bool = False,
    hard_acr_minimum: bool = False,
) -> bool:
    """Whether the authorisation request a broker login serves needs a *fresh* authentication
    (OIDC Core §3.1.2.1 ``prompt=login`` and ``max_age``; a step-up; a hard ``acr`` minimum
    above ``loa:1``, whose elevated level must be recent): then the upstream is asked for
    ``prompt=login`` and ``max_age=0``."""
    return "login" in prompt or max_age is not None or step_up or hard_acr_minimum


def pkce_pair() -> tuple[str, str]:
    """RFC 7636 ``(code_verifier, S256 code_challenge)``."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class UpstreamIdentity:
    """A checked upstream ID token."""

    issuer: str
    sub: str
    acr: str | None
    amr: tuple[str, ...]
    claims: dict[str, Any]
    #: When the person authenticated at the upstream (seconds since the epoch), if it said.
    auth_time: int | None = None


def _reject(reason: str) -> UpstreamTokenRejected:
    return UpstreamTokenRejected(f"upstream ID token rejected: {reason}")


def validate_upstream_id_token(
    *,
    unverified_token: str,
    jwks: Mapping[str, Any],
    issuer: str,
    client_id: str,
    nonce: str,
    now: int,
    leeway: int,
) -> UpstreamIdentity:
    """OIDC Core §3.1.3.7 steps 1-11 for the code flow; ``UpstreamTokenRejected`` otherwise."""
    try:
        keyset = KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]
        token = jwt.decode(unverified_token, keyset, algorithms=_ALGORITHMS)
    except (JoseError, ValueError, KeyError, TypeError):
        raise _reject("signature") from None
    claims = dict(token.claims)
    if claims.get("iss") != issuer:
        raise _reject("issuer")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if client_id not in audiences:
        raise _reject("audience")
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise _reject("azp")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int) or not isinstance(iat, int):
        raise _reject("times")
    if exp + leeway <= now:
        raise _reject("expired")
    if iat - leeway > now:
        raise _reject("issued in the future")
    got_nonce = claims.get("nonce")
    if not isinstance(got_nonce, str) or not constant_time_equal(
        got_nonce.encode(), nonce.encode()
    ):
        raise _reject("nonce")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise _reject("sub")
    auth_time = claims.get("auth_time")
    if auth_time is not None and (
        not isinstance(auth_time, int) or isinstance(auth_time, bool) or auth_time - leeway > now
    ):
        raise _reject("auth_time")
    acr = claims.get("acr")
    amr = claims.get("amr")
    return UpstreamIdentity(
        issuer=issuer,
        sub=sub,
        acr=acr if isinstance(acr, str) else None,
        amr=tuple(str(m) for m in amr) if isinstance(amr, list) else (),
        claims=claims,
        auth_time=auth_time,
    )


def upstream_authenticated_since(who: UpstreamIdentity, *, since: int, leeway: int) -> bool:
    """The upstream says the person authenticated at or after ``since`` (the start of our
    broker login, less the leeway for the upstream's clock). No ``auth_time``: unknown, so
    ``False``."""
    return who.auth_time is not None and who.auth_time >= since - leeway


@dataclass(frozen=True, slots=True, repr=False)
class UpstreamAssertion:
    """What the upstream's userinfo asserts about the person (unchecked against our records)."""

    #: 1-4 as asserted (``verified_claims`` assurance level, else ``acr``, else 1).
    asserted_level: int
    name: str | None
    id_number: str | None
    phone: str | None
    #: The released value also appears in ``verified_claims.claims`` (OIDC4IA §5).
    name_verified: bool
    id_number_verified: bool

    @property
    def identity_verified(self) -> bool:
        return self.name_verified and self.id_number_verified

    @property
    def proofing_level(self) -> int:
        """The level we may record: the asserted one for verified identity data, else 1."""
        return self.asserted_level if self.identity_verified else 1

    def __repr__(self) -> str:
        return f"<UpstreamAssertion level={self.asserted_level} (personal data hidden)>"


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and constant_time_equal(a.encode(), b.encode())


def read_upstream_assertion(userinfo: Mapping[str, Any], acr: str | None) -> UpstreamAssertion:
    """The upstream's claims: level, name, ID number and which of them are marked verified."""
    level = _ACR_LEVELS.get(acr or "", 1)
    verified_claims: Mapping[str, Any] = {}
    block = userinfo.get("verified_claims")
    if isinstance(block, Mapping):
        verification = block.get("verification")
        if isinstance(verification, Mapping):
            asserted = verification.get("assurance_level")
            if isinstance(asserted, str) and asserted in ("P1", "P2", "P3", "P4"):
                level = int(asserted[1])
        inner = block.get("claims")
        if isinstance(inner, Mapping):
            verified_claims = inner
    name, id_number = _str(userinfo.get("name")), _str(userinfo.get("cn_citizen_id"))
    if id_number is not None:
        id_number = id_number.upper()
    verified_id = _str(verified_claims.get("cn_citizen_id"))
    return UpstreamAssertion(
        asserted_level=level,
        name=name,
        id_number=id_number,
        phone=_str(userinfo.get("phone_number")),
        name_verified=_same(name, _str(verified_claims.get("name"))),
        id_number_verified=_same(id_number, verified_id.upper() if verified_id else None),
    )


@dataclass(frozen=True, slots=True)
class LinkRefusal:
    """Why an upstream login may not be linked to an existing local account."""

    code: str
    detail: str


def link_refusal(assertion: UpstreamAssertion, *, min_level: int) -> LinkRefusal | None:
    """``None`` when the upstream login may be linked to an existing local account."""
    if not assertion.name_verified:
        return LinkRefusal(
            "identity.federation_name_unverified", "上级身份平台未声明姓名已核验，不能关联已有账户"
        )
    if not assertion.id_number_verified:
        return LinkRefusal(
            "identity.federation_id_unverified",
            "上级身份平台未声明身份证号已核验，不能关联已有账户",
        )
    if assertion.asserted_level < min_level:
        return LinkRefusal(
            "identity.federation_level_too_low",
            f"上级身份平台的实名核验等级（P{assertion.asserted_level}）低于关联已有账户"
            f"所需的等级（P{min_level}）",
        )
    return None
