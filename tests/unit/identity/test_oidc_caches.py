"""``identity.oidc_service_context.TtlCache``: entries live ``ttl`` on the service clock, one
caller renews a due entry while the others keep it, a clock going back expires it, the size is
bounded; and the signer cache never outlives the clock skew."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from identity.keying import IdentityKeys
from identity.oidc_service_context import OidcContext, TtlCache
from identity.oidc_service_token_endpoint import SIGNER_CACHE_SECONDS, signer_cache_ttl
from identity.oidc_settings import OidcSettings

T0 = datetime(2026, 11, 22, 8, 0, 0, tzinfo=UTC)
TTL = timedelta(seconds=5)


def test_an_entry_lives_its_ttl_and_no_longer() -> None:
    cache: TtlCache[str, int] = TtlCache()
    assert cache.get("a", T0) is None
    cache.put("a", 1, now=T0, ttl=TTL)
    assert cache.get("a", T0) == 1
    assert cache.get("a", T0 + TTL * 0.79) == 1
    assert cache.get("a", T0 + TTL) is None
    assert cache.get_unless_due("a", T0 + TTL) is None


def test_one_caller_renews_a_due_entry_the_others_keep_it() -> None:
    cache: TtlCache[str, int] = TtlCache()
    cache.put("a", 1, now=T0, ttl=TTL)
    due = T0 + TTL * TtlCache.RENEW_AT
    assert cache.get("a", due) is None  # this caller renews
    assert cache.get("a", due) == 1  # everyone else still gets it
    assert cache.get_unless_due("a", due) is None  # a caller doing I/O anyway reloads it
    # The renewing caller failed: after RETRY of the lifetime another one is picked.
    retry = due + TTL * TtlCache.RETRY
    assert cache.get("a", retry) is None
    assert cache.get("a", retry) == 1
    cache.put("a", 2, now=retry, ttl=TTL)
    assert cache.get("a", retry) == 2
    assert cache.get_unless_due("a", retry) == 2


def test_a_clock_going_back_expires_the_entry() -> None:
    cache: TtlCache[str, int] = TtlCache()
    cache.put("a", 1, now=T0, ttl=TTL)
    assert cache.get("a", T0 - timedelta(seconds=1)) is None


def test_a_zero_ttl_stores_nothing_and_the_size_is_bounded() -> None:
    cache: TtlCache[int, int] = TtlCache(max_entries=3)
    cache.put(0, 0, now=T0, ttl=timedelta(0))
    assert len(cache) == 0
    for i in range(3):
        cache.put(i, i, now=T0, ttl=TTL)
    cache.put(9, 9, now=T0 + TTL, ttl=TTL)  # the others expired: dropped
    assert len(cache) == 1
    for i in range(3):
        cache.put(i, i, now=T0 + TTL, ttl=TTL)  # full of live entries: emptied first
    assert len(cache) <= 3
    assert cache.get(2, T0 + TTL) == 2


def test_the_signer_cache_never_outlives_the_clock_skew() -> None:
    keys = IdentityKeys.derive(bytes(range(32)))
    for skew, expected in ((60, SIGNER_CACHE_SECONDS), (2, 2), (0, 0)):
        ctx = OidcContext(OidcSettings(issuer="https://op.example", clock_skew_seconds=skew), keys)
        assert signer_cache_ttl(ctx) == timedelta(seconds=expected)
