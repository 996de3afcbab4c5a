"""OpenID Connect Back-Channel Logout 1.0 §2.4 claims and §2.6 checks; retry schedule;
RP-Initiated Logout post-logout redirect."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from identity.logout import (
    BACKCHANNEL_EVENT,
    LOGOUT_TOKEN_SECONDS,
    RetryPolicy,
    check_logout_token_claims,
    logout_token_claims,
    post_logout_redirect,
)

ISS = "https://id.example.gov.cn"
NOW = 1_795_000_000


def _claims(**over: Any) -> dict[str, Any]:
    claims = logout_token_claims(
        issuer=ISS, client_id="portal-b", sub="pairwise-sub", sid="sid_1", jti="lgt_1", now=NOW
    )
    claims.update(over)
    return claims


def test_claims_per_spec() -> None:
    claims = _claims()
    assert claims == {
        "iss": ISS,
        "aud": "portal-b",
        "iat": NOW,
        "exp": NOW + LOGOUT_TOKEN_SECONDS,
        "jti": "lgt_1",
        "sub": "pairwise-sub",
        "sid": "sid_1",
        "events": {BACKCHANNEL_EVENT: {}},
    }
    assert "nonce" not in claims
    assert LOGOUT_TOKEN_SECONDS <= 300


def test_sub_or_sid_required() -> None:
    with pytest.raises(ValueError):
        logout_token_claims(issuer=ISS, client_id="c", sub=None, sid=None, jti="j", now=NOW)
    only_sid = logout_token_claims(issuer=ISS, client_id="c", sub=None, sid="s", jti="j", now=NOW)
    assert "sub" not in only_sid


def _check(claims: dict[str, Any], now: int = NOW) -> str | None:
    return check_logout_token_claims(
        claims, issuer=ISS, client_id="portal-b", now=now, leeway=30
    ).reason


def test_check_accepts_a_good_token() -> None:
    result = check_logout_token_claims(
        _claims(), issuer=ISS, client_id="portal-b", now=NOW, leeway=30
    )
    assert result.valid
    assert result.sid == "sid_1"
    assert result.sub == "pairwise-sub"


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"iss": "https://evil.example"}, "issuer"),
        ({"aud": "portal-a"}, "audience"),
        ({"nonce": "n"}, "nonce_present"),
        ({"events": {}}, "events"),
        ({"events": {BACKCHANNEL_EVENT: "yes"}}, "events"),
        ({"exp": NOW - 100}, "expired_or_future"),
        ({"iat": NOW + 100}, "expired_or_future"),
        ({"iat": "now"}, "times_malformed"),
    ],
)
def test_check_rejects(over: dict[str, Any], reason: str) -> None:
    assert _check(_claims(**over)) == reason


def test_check_requires_claims_and_subject() -> None:
    claims = _claims()
    del claims["jti"]
    assert _check(claims) == "missing_claim"
    claims = _claims()
    del claims["sub"], claims["sid"]
    assert _check(claims) == "no_sub_or_sid"


def test_check_accepts_audience_list() -> None:
    assert _check(_claims(aud=["x", "portal-b"])) is None


def test_backoff_doubles_and_caps() -> None:
    policy = RetryPolicy(base_seconds=5, cap_seconds=60, max_attempts=4)
    delays = [policy.delay_after(n) for n in (1, 2, 3, 4, 5, 50)]
    assert delays == [timedelta(seconds=s) for s in (5, 10, 20, 40, 60, 60)]
    assert not policy.exhausted(3)
    assert policy.exhausted(4)


def test_post_logout_redirect_exact_match_and_state() -> None:
    registered = ["https://portal.example/bye?from=op", "https://portal.example/out"]
    assert (
        post_logout_redirect(
            unverified_uri="https://portal.example/out", registered=registered, state=None
        )
        == "https://portal.example/out"
    )
    with_state = post_logout_redirect(
        unverified_uri="https://portal.example/bye?from=op", registered=registered, state="s 1&x"
    )
    assert with_state is not None
    assert parse_qs(urlsplit(with_state).query) == {"from": ["op"], "state": ["s 1&x"]}
    for bad in (
        "https://portal.example/out/",
        "https://portal.example/OUT",
        "https://portal.example/out?x=1",
        "https://evil.example/out",
    ):
        assert post_logout_redirect(unverified_uri=bad, registered=registered, state="s") is None
