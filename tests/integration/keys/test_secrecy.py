"""No API, log or error ever shows private bytes.

Every lifecycle operation runs with all loggers at DEBUG (SQL statements and parameters
included), then the private key of every generated key - as PKCS#8 and as the bare scalar, in
raw, hex, base64 and decimal form - is searched for in: reprs and strs of every object handed
out, exception texts of every refusal, every log record, every transparency-log event payload,
the JWK sets, and every row of every table (the wrapped blob included: it must be ciphertext).
"""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from keys.interfaces import KeyUsage
from keys.jwks import jwks_for, sm2_jwks_for
from keys.model import KeyRecord
from keys.software import SoftwareKeyStore
from tests.integration.keys.conftest import PrivateMaterial, private_material, snapshot
from trust.clock import FixedClock
from trust.errors import TrustError
from trust.signing import SignatureAlgorithm
from trust.tlog import LogEvent


def test_private_bytes_appear_nowhere(
    keystore: SoftwareKeyStore,
    wrong_keystore: SoftwareKeyStore,
    db: sessionmaker[Session],
    clock: FixedClock,
    events: list[LogEvent],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    texts: list[str] = []
    errors: list[TrustError] = []
    try:
        with db() as s, s.begin():
            for alg in SignatureAlgorithm:
                keystore.rotate(session=s, clock=clock, usage=KeyUsage.TOKEN_SIGNING, algorithm=alg)
                keystore.rotate(session=s, clock=clock, usage=KeyUsage.TOKEN_SIGNING, algorithm=alg)
            seal = keystore.rotate(session=s, clock=clock, usage=KeyUsage.SEAL_HOLDER, owner="o")
            signer = keystore.signer(session=s, key_id=seal.key_id)
            signer.sign(b"x")
            texts += [repr(signer), str(signer), repr(keystore), str(keystore)]
            texts += [repr(keystore._master_key), repr(s.get(KeyRecord, seal.key_id))]
            for info in keystore.list(session=s):
                texts += [repr(info), str(info)]
            texts.append(json.dumps(jwks_for(keystore=keystore, session=s)))
            texts.append(json.dumps(sm2_jwks_for(keystore=keystore, session=s)))
            retired = [i for i in keystore.list(session=s) if i.status.value == "retired"]
            keystore.destroy(session=s, clock=clock, key_id=retired[0].key_id, reason="test")
            for attempt in (
                lambda: keystore.signer(session=s, key_id=retired[1].key_id),
                lambda: keystore.destroy(session=s, clock=clock, key_id=seal.key_id, reason="x"),
                lambda: wrong_keystore.signer(session=s, key_id=seal.key_id),
            ):
                with pytest.raises(TrustError) as refused:
                    attempt()
                errors.append(refused.value)
        with db() as s, s.begin():  # tamper, then fail to unwrap
            s.execute(update(KeyRecord).where(KeyRecord.key_id == seal.key_id).values(owner="p"))
        with db() as s, pytest.raises(TrustError) as tampered:
            SoftwareKeyStore(keystore._master_key).signer(session=s, key_id=seal.key_id)
        errors.append(tampered.value)
        with db() as s, s.begin():
            s.execute(update(KeyRecord).where(KeyRecord.key_id == seal.key_id).values(owner="o"))
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)

    secrets: list[PrivateMaterial] = []
    with db() as s:
        for info in keystore.list(session=s):
            if info.status.value != "destroyed":
                secrets.append(private_material(keystore, s, info.key_id))
    assert len(secrets) == 7  # 2 x (active, pending, retired) + seal (active, pending) - 1

    for exc in errors:
        texts += [str(exc), repr(exc), exc.detail, json.dumps(exc.extra, default=str)]
        assert exc.__cause__ is None or not isinstance(exc.__cause__, ValueError)
    log_text = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert "key.generated" in log_text  # the keystore does log; it just logs no secrets
    events_text = json.dumps([[e.kind, e.subject, e.actor, dict(e.payload)] for e in events])
    assert len(events) == 16  # 2 x 2 rotations x 3 + seal rotation 3 + destroy 1
    tables = repr(snapshot(db))
    for secret in secrets:
        for i, text in enumerate(texts):
            secret.assert_absent(text, f"text #{i}: {text[:60]}")
        secret.assert_absent(log_text, "log records")
        secret.assert_absent(events_text, "transparency-log events")
        secret.assert_absent(tables, "database rows")


def test_the_scanner_finds_a_planted_leak(
    keystore: SoftwareKeyStore, session: Session, clock: FixedClock
) -> None:
    info = keystore.generate(session=session, clock=clock, usage=KeyUsage.CA, label="root")
    secret = private_material(keystore, session, info.key_id)
    assert len(secret.scalar) == 32
    for needle in secret.needles():
        with pytest.raises(AssertionError, match="private key material"):
            secret.assert_absent(b"prefix " + needle + b" suffix", "planted")
        if needle.isascii():  # textual forms (hex, base64, decimal) also inside a str
            with pytest.raises(AssertionError):
                secret.assert_absent("text " + needle.decode("ascii"), "planted")
