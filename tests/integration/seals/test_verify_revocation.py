"""The seals verification service (``verify_file``) judges the signer certificate's revocation at
the signing time (GM/T 0031-2014 §6.2.3 d; eseal spec §5.3): a signature made with our seal
before its holder certificate was revoked stays VALID; one dated after the revocation is
INVALID, and a backdated ``timeInfo`` does not help once a TSA timestamp shows the real time.

Also through the service: a foreign certificate whose names carry UTF-8 bytes in IA5String
chains through ``trust.ca.path`` once its root is imported (eseal spec §9).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from keys.interfaces import KeyUsage
from seals import service
from seals.policy import StampForm
from seals.service_stamp import Stamped
from seals.service_verify import verify_file
from seals.ses import parse_seal
from seals.ses_build import make_ses_signature_v4
from tests.integration.seals.conftest import World
from tests.unit.seals._ses_support import der_to_pem, make_pki, make_test_seal
from tests.unit.seals.test_quirks import provincial_signer
from trust.ca import service as ca_service
from trust.clock import FixedClock
from trust.crypto import sm3
from trust.crypto.algorithms import OID_SM3
from trust.tsa.service import timestamp as tsa_timestamp

DOCUMENT = b"approval decision 2026-0042\n"


def _verify(world: World, data: bytes, original: bytes) -> dict[str, Any]:
    with world.db() as s:
        return verify_file(data, "stamp.sig", session=s, clock=world.clock, original=original)


def _check(report: dict[str, Any], name: str) -> tuple[str, str]:
    check = report["signatures"][0]["checks"][name]
    return check["status"], check["reason"]


def _signature(world: World, seal_id: str, *, dated: datetime, tsa_at: datetime | None) -> bytes:
    """A bytes-form seal signature by the seal's real holder key, with ``timeInfo`` = ``dated``
    and, when ``tsa_at`` is given, a token from the service's TSA issued at that time (made with
    the builders: the stamping service refuses a revoked certificate, rightly)."""
    with world.db() as s:
        record = service.get_seal(
            session=s, clock=world.clock, principal=world.custodian, seal_id=seal_id
        )
        esl = service.seal_esl(session=s, principal=world.custodian, seal_id=seal_id)
        assert record.holder_key_id is not None
        signer = world.keystore.signer(session=s, key_id=record.holder_key_id)
        tsa = world.keystore.active_signer(session=s, usage=KeyUsage.TIMESTAMP)
    # The certificate listed in the seal (the keystore no longer offers a revoked one).
    (holder_cert,) = parse_seal(esl).property.certs
    stamp_time: Callable[[bytes], bytes] | None = None
    if tsa_at is not None:
        tsa_clock = FixedClock(tsa_at)

        def _stamp_time(signature: bytes) -> bytes:
            return tsa_timestamp(
                clock=tsa_clock,
                signer=tsa,
                digest_algorithm_oid=OID_SM3,
                digest=sm3(signature),
                policy_oid=world.settings.tsa_policy_oid,
            )

        stamp_time = _stamp_time
    return make_ses_signature_v4(
        seal_der=esl,
        signer_cert=holder_cert,
        time_info=dated,
        data_hash=sm3(DOCUMENT),
        property_info="decision.txt",
        sign=signer.sign,
        timestamp=stamp_time,
    )


def test_revocation_is_judged_at_the_signing_time(world: World) -> None:
    seal = world.seal()
    made = world.stamp(seal.id, StampForm.BYTES, DOCUMENT)
    assert isinstance(made, Stamped)
    before_revocation = world.clock.now()

    world.clock.advance(timedelta(hours=1))
    revoked_at = world.clock.now()
    assert seal.holder_cert_serial is not None
    with world.db() as s, s.begin():
        ca_service.revoke(
            session=s,
            clock=world.clock,
            serial=seal.holder_cert_serial,
            reason="keyCompromise",
            actor="test",
        )
    world.clock.advance(timedelta(hours=1))
    after_revocation = world.clock.now()

    # Made before the revocation: VALID (§6.2.3 d 4: "revoked after the signing time").
    valid = _verify(world, made.output, DOCUMENT)
    assert valid["verdict"] == "VALID", valid
    assert _check(valid, "signer_cert_trusted")[0] == "pass"
    assert valid["signatures"][0]["signing_time"] == before_revocation.isoformat()

    # Dated after the revocation: INVALID (§6.2.3 d 3), on the certificate's trust check.
    late = _signature(world, seal.id, dated=after_revocation, tsa_at=None)
    invalid = _verify(world, late, DOCUMENT)
    assert invalid["verdict"] == "INVALID", invalid
    assert _check(invalid, "signer_cert_trusted") == ("fail", "trust.revoked")
    assert invalid["reason"] == "trust.revoked"
    assert _check(invalid, "signer_signature") == ("pass", "ok")  # intact, yet invalid
    assert _check(invalid, "document_hash") == ("pass", "ok")

    # The signer's own claim of time decides without a timestamp (eseal spec §5.3) ...
    backdated = _signature(world, seal.id, dated=before_revocation, tsa_at=None)
    assert _verify(world, backdated, DOCUMENT)["verdict"] == "VALID"
    # ... but a TSA token showing the real time overrides a backdated timeInfo.
    caught = _signature(world, seal.id, dated=before_revocation, tsa_at=after_revocation)
    report = _verify(world, caught, DOCUMENT)
    assert report["signatures"][0]["time_basis"] == "timestamp"
    assert report["signatures"][0]["signing_time"] == after_revocation.isoformat()
    assert _check(report, "timestamp")[0] == "pass"
    assert report["verdict"] == "INVALID"
    assert _check(report, "signer_cert_trusted") == ("fail", "trust.revoked")
    # And a token from before the revocation keeps a signature valid.
    early = _signature(
        world, seal.id, dated=before_revocation, tsa_at=revoked_at - timedelta(minutes=5)
    )
    assert _verify(world, early, DOCUMENT)["verdict"] == "VALID"


def test_ia5string_names_with_utf8_bytes_chain_through_the_service(world: World) -> None:
    pki = make_pki()
    signer = provincial_signer(pki)
    signed_at = datetime(2026, 11, 1, tzinfo=UTC)
    der = make_ses_signature_v4(
        seal_der=make_test_seal(pki, signer_certs=(signer.cert,)),
        signer_cert=signer.cert,
        time_info=signed_at,
        data_hash=sm3(DOCUMENT),
        property_info="decision.txt",
        sign=signer.sign,
    )
    untrusted = _verify(world, der, DOCUMENT)
    assert untrusted["verdict"] == "INDETERMINATE"
    assert _check(untrusted, "signer_cert_trusted")[0] == "cannot_check"

    with world.db() as s, s.begin():
        ca_service.add_trust_anchor(
            session=s, clock=world.clock, pem=der_to_pem(pki.root.cert), actor="test"
        )
    trusted = _verify(world, der, DOCUMENT)
    assert trusted["verdict"] == "VALID", trusted
    entry = trusted["signatures"][0]
    assert entry["organisation"] == "某省政务服务中心"
    assert "CN=张三（签章人）" in entry["signer_subject"]
    assert _check(trusted, "signer_cert_trusted")[0] == "pass"
