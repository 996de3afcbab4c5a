"""Signing keys seen from a relying party: the next key is in the JWKS before it signs (an RP
with a cached JWKS verifies tokens after a rotation), SM2 keys only in the separate set, and the
main set still imports into joserfc (Authlib's loader) with an SM2 key present."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from identity.oidc_service_context import OidcContext
from identity.oidc_service_resources import prune_retired_signing_keys, retired_key_grace
from identity.oidc_service_token_endpoint import SIGNER_CACHE_SECONDS, signer_cache_ttl
from identity.oidc_settings import load_oidc_settings
from identity.records import PersonRecord
from keys.interfaces import KeyStatus, KeyUsage
from keys.software import SoftwareKeyStore
from tests.integration.identity._factories import PASSWORD
from tests.integration.identity.oidc import _rp
from tests.integration.identity.oidc.conftest import Live
from trust.signing import SignatureAlgorithm


def _id_token(live: Live, agent: Any, rp: Any) -> str:
    s = _rp.start(live.url, rp)
    final, _ = agent.run(
        s.url, stop_at=rp.client.redirect_uris[0], login="zhangsan", password=PASSWORD
    )
    response = _rp.exchange(live.url, rp, _rp.query(final)["code"], s.verifier)
    token: str = response.json()["id_token"]
    return token


def test_rotation_is_published_before_signing(live: Live, person: PersonRecord) -> None:
    """Another process rotates the key (a keystore of its own). Within the signer cache
    (``SIGNER_CACHE_SECONDS``) this server may still sign with the key it just retired, and
    those tokens verify with the RP's cached and the current JWKS alike; after it, the new key
    signs, and the RP's JWKS cached before the rotation already holds it."""
    rp = live.client("rot", redirect_uris=["http://127.0.0.1:9/rot"])
    agent = live.agent()
    first = _id_token(live, agent, rp)
    cached = requests.get(f"{live.url}/oidc/jwks").json()  # an RP caches this
    kid_before = jwt.decode(first, KeySet.import_key_set(cached), algorithms=["ES256"]).header[
        "kid"
    ]
    keystore = SoftwareKeyStore.from_settings(live.settings)
    with live.db() as s, s.begin():
        new = keystore.rotate(
            session=s, clock=live.clock, usage=KeyUsage.TOKEN_SIGNING,
            algorithm=SignatureAlgorithm.ES256,
        )  # fmt: skip
    current_set = requests.get(f"{live.url}/oidc/jwks").json()
    within = _id_token(live, agent, rp)
    assert jwt.decode(within, KeySet.import_key_set(cached), algorithms=["ES256"]).header[
        "kid"
    ] == kid_before  # fmt: skip
    assert jwt.decode(within, KeySet.import_key_set(current_set), algorithms=["ES256"])
    live.clock.advance(timedelta(seconds=SIGNER_CACHE_SECONDS))
    second = _id_token(live, agent, rp)
    header = jwt.decode(second, KeySet.import_key_set(cached), algorithms=["ES256"]).header
    assert header["kid"] == new.key_id != kid_before
    current = {k["kid"] for k in requests.get(f"{live.url}/oidc/jwks").json()["keys"]}
    assert {kid_before, new.key_id} <= current  # the retired key still verifies old tokens
    assert len(current) == 3  # retired, active and the new pending key


def test_sm2_keys_only_in_the_separate_set(live: Live, person: PersonRecord) -> None:
    rp = live.client("sm2", redirect_uris=["http://127.0.0.1:9/sm2"])
    requests.get(f"{live.url}/oidc/jwks")  # ES256 keys exist
    keystore = SoftwareKeyStore.from_settings(live.settings)
    with live.db() as s, s.begin():
        sm2 = keystore.generate(
            session=s, clock=live.clock, usage=KeyUsage.TOKEN_SIGNING,
            algorithm=SignatureAlgorithm.SM2_SM3, label="SM2 token signing",
        )  # fmt: skip
    main = requests.get(f"{live.url}/oidc/jwks").json()
    separate = requests.get(f"{live.url}/oidc/jwks/sm2").json()
    assert sm2.key_id not in {k["kid"] for k in main["keys"]}
    assert [k["kid"] for k in separate["keys"]] == [sm2.key_id]
    assert separate["keys"][0]["crv"] == "SM2"
    # Authlib's loader imports the whole main set: it must not meet an SM2 key.
    keyset = KeySet.import_key_set(main)
    token = _id_token(live, live.agent(), rp)
    assert jwt.decode(token, keyset, algorithms=["ES256"]).claims["aud"] == rp.client.client_id


def test_retired_key_is_dropped_once_every_token_it_signed_has_expired(
    live: Live, person: PersonRecord
) -> None:
    """A retired key stays published for the longest token lifetime plus the clock skew
    (600 s + 60 s by default) after its retirement, then drops out of the JWKS by itself; the
    periodic job ``prune_retired_signing_keys`` destroys it (private key erased)."""
    rp = live.client("retire", redirect_uris=["http://127.0.0.1:9/retire"])
    agent = live.agent()
    old_token = _id_token(live, agent, rp)
    old_kid = jwt.decode(
        old_token, KeySet.import_key_set(requests.get(f"{live.url}/oidc/jwks").json()),
        algorithms=["ES256"],
    ).header["kid"]  # fmt: skip
    ctx = OidcContext(load_oidc_settings(live.settings), live.keys)
    assert retired_key_grace(ctx) == timedelta(seconds=660)
    # A process may sign with a just-retired key for signer_cache_ttl: its tokens (600 s)
    # still expire while the key is published.
    assert timedelta(seconds=600) + signer_cache_ttl(ctx) <= retired_key_grace(ctx)
    keystore = SoftwareKeyStore.from_settings(live.settings)
    with live.db() as s, s.begin():
        keystore.rotate(
            session=s, clock=live.clock, usage=KeyUsage.TOKEN_SIGNING,
            algorithm=SignatureAlgorithm.ES256,
        )  # fmt: skip

    def published() -> set[str]:
        return {k["kid"] for k in requests.get(f"{live.url}/oidc/jwks").json()["keys"]}

    live.clock.advance(timedelta(seconds=659))
    assert old_kid in published()
    with live.db() as s, s.begin():
        kept = prune_retired_signing_keys(session=s, clock=live.clock, ctx=ctx, keystore=keystore)
    assert kept.destroyed == ()
    live.clock.advance(timedelta(seconds=1))
    assert old_kid not in published()
    assert len(published()) == 2  # the active key and the next one
    with live.db() as s, s.begin():
        pruned = prune_retired_signing_keys(session=s, clock=live.clock, ctx=ctx, keystore=keystore)
    assert pruned.destroyed == (old_kid,)
    with live.db() as s:
        assert keystore.get(session=s, key_id=old_kid).status is KeyStatus.DESTROYED
    with live.db() as s, s.begin():
        again = prune_retired_signing_keys(session=s, clock=live.clock, ctx=ctx, keystore=keystore)
    assert again.destroyed == ()
    # Tokens of the active key still verify, and the old ID token no longer does.
    fresh = _id_token(live, live.agent(), rp)
    keyset = KeySet.import_key_set(requests.get(f"{live.url}/oidc/jwks").json())
    assert jwt.decode(fresh, keyset, algorithms=["ES256"]).claims["aud"] == rp.client.client_id
    with pytest.raises(JoseError):
        jwt.decode(old_token, keyset, algorithms=["ES256"])
