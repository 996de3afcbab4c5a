"""Logout rules, pure: logout-token claims (OpenID Connect Back-Channel Logout 1.0 §2.4),
their validation as a relying party performs it (§2.6), the delivery retry schedule, and the
post-logout redirect of RP-Initiated Logout 1.0 §3.

* One logout token per ``sid`` and client: ``iss``, ``aud`` (the client id), ``iat``, ``exp``
  (short: ``LOGOUT_TOKEN_SECONDS``), ``jti``, ``sub`` (the client's pairwise subject), ``sid``,
  ``events`` with the member ``http://schemas.openid.net/event/backchannel-logout`` whose value
  is ``{}``; ``nonce`` is prohibited (§2.4). Signed with ``typ`` ``logout+jwt`` (§2.4, 1.0 final).
* Retries: exponential backoff ``base * 2^(attempt-1)`` capped at ``cap``; after
  ``max_attempts`` the row is marked failed (reconstructed rule: the spec leaves retry policy to
  the OP, §2.7 only says the OP should retry on failure).
* Post-logout redirect (RP-Initiated Logout §3, §2): the URI must exactly match one of the
  client's registered ``post_logout_redirect_uris``; ``state`` is appended as a query
  parameter, keeping any query the registered URI already has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "BACKCHANNEL_EVENT",
    "LOGOUT_TOKEN_SECONDS",
    "LOGOUT_TOKEN_TYP",
    "LogoutTokenCheck",
    "RetryPolicy",
    "check_logout_token_claims",
    "logout_token_claims",
    "post_logout_redirect",
]

BACKCHANNEL_EVENT: Final = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYP: Final = "logout+jwt"  # noqa: S105 - a media type
#: §2.4 recommends a short lifetime ("about two minutes") - tokens are signed at delivery time.
LOGOUT_TOKEN_SECONDS: Final = 120
_REQUIRED: Final = ("iss", "aud", "iat", "exp", "jti", "events")


def logout_token_claims(
    *, issuer: str, client_id: str, sub: str | None, sid: str | None, jti: str, now: int
) -> dict[str, Any]:
    """The claims of one logout token (§2.4). At least one of ``sub`` and ``sid``."""
    if sub is None and sid is None:
        raise ValueError("a logout token names a sub, a sid or both")
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": client_id,
        "iat": now,
        "exp": now + LOGOUT_TOKEN_SECONDS,
        "jti": jti,
        "events": {BACKCHANNEL_EVENT: {}},
    }
    if sub is not None:
        claims["sub"] = sub
    if sid is not None:
        claims["sid"] = sid
    return claims


@dataclass(frozen=True, slots=True)
class LogoutTokenCheck:
    """§2.6 validation of a logout token's claims (the signature is checked by the caller).
    ``valid`` only if every check passed; ``reason`` names the first failure."""

    valid: bool
    reason: str | None
    sid: str | None
    sub: str | None


def _fail(reason: str) -> LogoutTokenCheck:
    return LogoutTokenCheck(False, reason, None, None)


def check_logout_token_claims(
    claims: Mapping[str, Any], *, issuer: str, client_id: str, now: int, leeway: int
) -> LogoutTokenCheck:
    """§2.6 steps 3-7 over already signature-checked claims; fails closed."""
    if any(name not in claims for name in _REQUIRED):
        return _fail("missing_claim")
    if claims["iss"] != issuer:
        return _fail("issuer")
    aud = claims["aud"]
    audiences = aud if isinstance(aud, list) else [aud]
    if client_id not in audiences:
        return _fail("audience")
    iat, exp = claims["iat"], claims["exp"]
    if not isinstance(iat, int) or not isinstance(exp, int):
        return _fail("times_malformed")
    if exp + leeway <= now or iat - leeway > now:
        return _fail("expired_or_future")
    events = claims["events"]
    if not isinstance(events, Mapping) or not isinstance(events.get(BACKCHANNEL_EVENT), Mapping):
        return _fail("events")
    # §2.4: "A nonce Claim MUST NOT be present."
    if "nonce" in claims:
        return _fail("nonce_present")
    sid, sub = claims.get("sid"), claims.get("sub")
    if not isinstance(sid, str) and not isinstance(sub, str):
        return _fail("no_sub_or_sid")
    return LogoutTokenCheck(
        True,
        None,
        sid if isinstance(sid, str) else None,
        sub if isinstance(sub, str) else None,
    )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Delivery attempts: the n-th failure waits ``base * 2^(n-1)`` (at most ``cap``)."""

    base_seconds: int = 5
    cap_seconds: int = 3600
    max_attempts: int = 10

    def delay_after(self, attempts: int) -> timedelta:
        exponent = max(attempts - 1, 0)
        return timedelta(
            seconds=min(self.base_seconds * (2 ** min(exponent, 30)), self.cap_seconds)
        )

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts


def post_logout_redirect(
    *, unverified_uri: str, registered: Sequence[str], state: str | None
) -> str | None:
    """The URI to redirect to after logout, or ``None`` if it is not registered (exact,
    character-for-character match; no normalisation)."""
    if unverified_uri not in registered:
        return None
    if state is None:
        return unverified_uri
    parts = urlsplit(unverified_uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.append(("state", state))
    return urlunsplit(parts._replace(query=urlencode(query)))
