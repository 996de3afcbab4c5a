"""What the OpenID Provider's services receive besides session and clock: ``OidcContext``.

Server keys of the OIDC layer are derived one-way from the identity keys (which come from the
service master key, ``identity.keying``), one label per purpose:

- ``pairwise``: HMAC-SM3 key of pairwise ``sub`` values (``identity.tokens.pairwise_sub``);
- ``refresh``: HMAC-SM3 key of refresh-token MACs;
- ``csrf``: HMAC-SM3 key of the CSRF tokens of the login, organisation and consent forms.

The context also holds the per-process caches of the token endpoint's hot path (one context per
app, so per process): ``clients`` (client rows, ``identity.oidc_service_clients``) and
``signers`` (the active token-signing key, ``identity.oidc_service_tokens``). Each cache's
lifetime, and why it is safe, is documented where it is filled.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final, Generic, TypeVar

from identity.keying import IdentityKeys
from identity.oidc_settings import OidcSettings
from keys.interfaces import KeyStore, Signer
from trust.crypto import hmac_sm3

if TYPE_CHECKING:  # the clients module does not import this one; only the type is needed
    from identity.oidc_service_clients import ClientSnapshot

__all__ = ["OidcContext", "TtlCache"]

K = TypeVar("K")
V = TypeVar("V")

_MAX_ENTRIES: Final = 1024


def _derive(keys: IdentityKeys, label: str) -> bytes:
    return hmac_sm3(keys.code_mac, f"ywtb-trust/identity/oidc/{label}/v1".encode("ascii"))


class TtlCache(Generic[K, V]):
    """A small thread-safe map whose entries expire ``ttl`` after they were stored, measured on
    the service clock (tests move it). An entry stored at a time later than ``now`` (the clock
    went back) counts as expired too. Bounded: when full, expired entries are dropped, and if
    that is not enough, everything.

    Renewal ahead of expiry, so that a busy cache never expires under its users all at once
    (each of them would then read the database): after ``RENEW_AT`` of its lifetime an entry is
    *due*. ``get`` then returns ``None`` to one caller - which reloads and ``put``s it - and the
    value to everyone else until it expires; if that caller fails, another one is picked after
    ``RETRY`` of the lifetime. ``get_unless_due`` is for a caller about to do I/O anyway: a due
    entry is reloaded by it."""

    RENEW_AT: Final = 0.8
    RETRY: Final = 0.1

    __slots__ = ("_entries", "_lock", "_max")

    def __init__(self, max_entries: int = _MAX_ENTRIES) -> None:
        #: key -> (stored, renew_at, expires, claimed_until, value)
        self._entries: dict[K, tuple[datetime, datetime, datetime, datetime, V]] = {}
        self._lock = threading.Lock()
        self._max = max_entries

    def get(self, key: K, now: datetime) -> V | None:
        hit = self._entries.get(key)  # one dict read: atomic under the GIL
        if hit is None:
            return None
        stored, renew_at, expires, claimed_until, value = hit
        if not stored <= now < expires:
            return None
        if now < renew_at or now < claimed_until:
            return value
        with self._lock:
            if self._entries.get(key) is not hit:  # renewed or claimed meanwhile
                return value
            retry = (expires - stored) * self.RETRY
            self._entries[key] = (stored, renew_at, expires, now + retry, value)
        return None  # this caller renews it

    def get_unless_due(self, key: K, now: datetime) -> V | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        stored, renew_at, _expires, _claimed, value = hit
        return value if stored <= now < renew_at else None

    def put(self, key: K, value: V, *, now: datetime, ttl: timedelta) -> None:
        if ttl <= timedelta(0):
            return
        with self._lock:
            if key not in self._entries and len(self._entries) >= self._max:
                live = {k: v for k, v in self._entries.items() if v[0] <= now < v[2]}
                self._entries = live if len(live) < self._max else {}
            self._entries[key] = (now, now + ttl * self.RENEW_AT, now + ttl, now, value)

    def discard(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries = {}

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True, slots=True, repr=False)
class OidcContext:
    settings: OidcSettings
    keys: IdentityKeys
    #: The keystore whose published token keys verify our own tokens coming back (an
    #: ``id_token_hint`` at the authorisation endpoint); ``None`` where none is needed (CLI).
    keystore: KeyStore | None = None
    pairwise_key: bytes = field(init=False)
    refresh_key: bytes = field(init=False)
    csrf_key: bytes = field(init=False)
    #: Client snapshots by client id (``identity.oidc_service_clients.CLIENT_CACHE_SECONDS``).
    clients: TtlCache[str, ClientSnapshot] = field(init=False, default_factory=TtlCache)
    #: The active ES256 token signer with its keystore
    #: (``identity.oidc_service_tokens.SIGNER_CACHE_SECONDS``).
    signers: TtlCache[str, tuple[KeyStore, Signer]] = field(init=False, default_factory=TtlCache)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pairwise_key", _derive(self.keys, "pairwise"))
        object.__setattr__(self, "refresh_key", _derive(self.keys, "refresh"))
        object.__setattr__(self, "csrf_key", _derive(self.keys, "csrf"))

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    def __repr__(self) -> str:
        return f"<OidcContext issuer={self.settings.issuer!r} (keys hidden)>"
