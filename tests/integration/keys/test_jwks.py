"""Public key sets: ES256 in the standard JWKS, SM2 only in the separate set
(``specs/identity.md`` §7.3), pending + active + retired published, destroyed left out."""

from __future__ import annotations

import base64
import itertools
import json

from joserfc.jwk import KeySet
from sqlalchemy.orm import Session

from keys.interfaces import KeyStatus, KeyUsage
from keys.jwks import jwks_for, sm2_jwks_for
from keys.software import SoftwareKeyStore
from trust.clock import FixedClock
from trust.crypto import SM2PublicKey
from trust.signing import SignatureAlgorithm


def _three_generations(
    keystore: SoftwareKeyStore, session: Session, clock: FixedClock, alg: SignatureAlgorithm
) -> dict[KeyStatus, list[str]]:
    for _ in range(3):
        keystore.rotate(session=session, clock=clock, usage=KeyUsage.TOKEN_SIGNING, algorithm=alg)
    infos = [
        i
        for i in keystore.list(session=session, usage=KeyUsage.TOKEN_SIGNING)
        if i.algorithm is alg
    ]
    first_retired = next(i for i in infos if i.status is KeyStatus.RETIRED)
    keystore.destroy(session=session, clock=clock, key_id=first_retired.key_id, reason="expired")
    out: dict[KeyStatus, list[str]] = {s: [] for s in KeyStatus}
    for info in keystore.list(session=session, usage=KeyUsage.TOKEN_SIGNING):
        if info.algorithm is alg:
            out[info.status].append(info.key_id)
    return out


def test_jwks_lists_pending_active_retired_es256_keys_only(
    keystore: SoftwareKeyStore, session: Session, clock: FixedClock
) -> None:
    es = _three_generations(keystore, session, clock, SignatureAlgorithm.ES256)
    sm = _three_generations(keystore, session, clock, SignatureAlgorithm.SM2_SM3)
    assert [len(es[s]) for s in KeyStatus] == [1, 1, 1, 1]  # pending, active, retired, destroyed
    jwks = jwks_for(keystore=keystore, session=session)
    kids = [k["kid"] for k in jwks["keys"]]
    assert kids == es[KeyStatus.ACTIVE] + es[KeyStatus.PENDING] + es[KeyStatus.RETIRED]
    for jwk in jwks["keys"]:
        assert set(jwk) == {"kty", "crv", "x", "y", "kid", "alg", "use"}
        assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "P-256", "ES256", "sig")
    assert not set(kids) & set(itertools.chain(*sm.values()))
    assert "SM2" not in json.dumps(jwks)
    # joserfc / Authlib relying parties load the whole set (the SM2-in-JWKS crash, §7.3)
    assert len(KeySet.import_key_set(jwks).keys) == 3  # type: ignore[arg-type]


def test_sm2_set_is_separate_and_carries_the_public_point(
    keystore: SoftwareKeyStore, session: Session, clock: FixedClock
) -> None:
    sm = _three_generations(keystore, session, clock, SignatureAlgorithm.SM2_SM3)
    keystore.generate(session=session, clock=clock, usage=KeyUsage.TOKEN_SIGNING, label="es")
    sm2 = sm2_jwks_for(keystore=keystore, session=session)
    kids = [k["kid"] for k in sm2["keys"]]
    assert kids == sm[KeyStatus.ACTIVE] + sm[KeyStatus.PENDING] + sm[KeyStatus.RETIRED]
    active = keystore.get(session=session, key_id=sm[KeyStatus.ACTIVE][0])
    point = SM2PublicKey.from_der(active.public_key_der).point
    jwk = sm2["keys"][0]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "SM2", "SM2SM3", "sig")
    pad = "=" * (-len(jwk["x"]) % 4)
    assert base64.urlsafe_b64decode(jwk["x"] + pad) == point[1:33]
    assert base64.urlsafe_b64decode(jwk["y"] + pad) == point[33:65]
    assert "P-256" not in json.dumps(sm2)


def test_sets_are_scoped_to_usage_and_owner(
    keystore: SoftwareKeyStore, session: Session, clock: FixedClock
) -> None:
    keystore.generate(session=session, clock=clock, usage=KeyUsage.TOKEN_SIGNING, label="svc")
    other = keystore.generate(
        session=session, clock=clock, usage=KeyUsage.TOKEN_SIGNING, label="t", owner="tenant-1"
    )
    assert len(jwks_for(keystore=keystore, session=session)["keys"]) == 1
    tenant = jwks_for(keystore=keystore, session=session, owner="tenant-1")
    assert [k["kid"] for k in tenant["keys"]] == [other.key_id]
    assert jwks_for(keystore=keystore, session=session, usage=KeyUsage.CA) == {"keys": []}
