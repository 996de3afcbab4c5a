"""``verify_file`` with the service's trust list: the shared samples give the README outcomes
(INDETERMINATE while their root is not trusted, ``document_modified`` for test-1.ofd); importing
the ofdrw test root or the OpenSSL test PKI into the trust list changes the outcome as the
README says; our own seals verify VALID, and their maker signature verifies with OpenSSL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from seals import service
from seals.errors import UnknownFileKind
from seals.service_verify import FileKind, detect_kind, verify_file
from seals.ses import parse_seal
from seals.ses_build import SealSpec, make_seal_v4, make_ses_signature_v4
from tests.integration.seals.conftest import World
from tests.unit.ca._support import ID_OPT, run_openssl
from tests.unit.seals._ses_support import PNG_1X1, pem_to_der, sample, vector
from trust.ca import service as ca_service
from trust.crypto import sm3
from trust.crypto.private_keys import load_sm2_pkcs8
from trust.errors import TrustError


def _verify(world: World, data: bytes, hint: str | None = None, **kw: Any) -> dict[str, Any]:
    with world.db() as s:
        return verify_file(data, hint, session=s, clock=world.clock, **kw)


def _import_anchor(world: World, *pems: bytes) -> None:
    with world.db() as s, s.begin():
        for pem in pems:
            ca_service.add_trust_anchor(session=s, clock=world.clock, pem=pem, actor="test")


def _checks(report: dict[str, Any], index: int = 0) -> dict[str, str]:
    return {k: v["status"] for k, v in report["signatures"][index]["checks"].items()}


def test_tax_invoice_is_intact_but_not_trusted(world: World) -> None:
    report = _verify(world, sample("easyofd", "vat_special_einvoice5.ofd"))
    assert report["kind"] == "ofd"
    assert report["verdict"] == "INDETERMINATE"
    [sig] = report["signatures"]
    checks = _checks(report)
    for name in (
        "signer_signature",
        "seal_signature",
        "signer_cert_in_seal",
        "document_hash",
        "ofd_references",
        "signer_cert_valid_at_signing_time",
        "maker_cert_valid",
        "seal_valid_at_signing_time",
    ):
        assert checks[name] == "pass", name
    assert checks["signer_cert_trusted"] == "cannot_check"
    assert sig["checks"]["signer_cert_trusted"]["reason"] == "trust.no_trusted_anchor"
    assert sig["checks"]["ofd_references"]["info"]["ok"] == "13/13"
    assert sig["signing_time"] == "2022-05-05T01:40:17+00:00"
    assert report["uncovered_files"] == ["Doc_0/Signs/Signatures.xml"]
    assert sig["registry"] is None


def test_koal_ofd_samples(world: World) -> None:
    good = _verify(world, sample("esl-demo", "test.ofd"))
    assert good["verdict"] == "INDETERMINATE"
    assert _checks(good)["ofd_references"] == "pass"
    modified = _verify(world, sample("esl-demo", "test-1.ofd"))
    assert modified["verdict"] == "INVALID"
    assert modified["reason"] == "document_modified"
    checks = _checks(modified)
    assert checks["ofd_references"] == "fail"
    assert checks["signer_signature"] == checks["seal_signature"] == "pass"
    assert checks["document_hash"] == "pass"
    seal = _verify(world, sample("esl-demo", "Seal.esl"), "Seal.esl")
    assert seal["kind"] == "seal"
    assert seal["verdict"] == "INDETERMINATE"
    assert "seal.maker_signature_raw_rs" in seal["signatures"][0]["non_conformities"]


def test_ofdrw_samples_change_outcome_once_their_root_is_trusted(world: World) -> None:
    seal_v4 = sample("ofdrw", "gm", "UserV4.esl")
    signed = sample("ofdrw", "gm", "SignedValueV4.dat")
    before_seal = _verify(world, seal_v4, "UserV4.esl")
    before_sig = _verify(world, signed, "SignedValueV4.dat")
    assert before_seal["verdict"] == "INDETERMINATE"
    assert before_sig["verdict"] == "INDETERMINATE"  # no original, untrusted
    assert _checks(before_sig)["signer_signature"] == "pass"
    # The all-zero dataHash fails against any original, reported apart from the signatures.
    wrong = _verify(world, signed, original=b"any original")
    assert wrong["verdict"] == "INVALID"
    assert wrong["reason"] == "document.hash_mismatch"
    assert _checks(wrong)["signer_signature"] == "pass"
    # GM/T 0031-2025 time rules: the v5 seal's maker certificate expired before createDate.
    assert _verify(world, sample("ofdrw", "gm", "UserV5.esl"))["verdict"] == "INVALID"

    _import_anchor(world, sample("ofdrw", "gm", "ROOT.crt.pem"))
    after_seal = _verify(world, seal_v4, "UserV4.esl")
    after_sig = _verify(world, signed, "SignedValueV4.dat")
    # The test root lacks keyCertSign: strict path validation rejects the chain (README).
    assert after_seal["verdict"] == "INVALID"
    assert after_seal["reason"] == "trust.ca_missing_key_cert_sign"
    assert after_sig["verdict"] == "INVALID"
    assert after_sig["signatures"][0]["checks"]["signer_cert_trusted"]["reason"] == (
        "trust.ca_missing_key_cert_sign"
    )


def _openssl_key(name: str) -> Any:
    pem = vector("openssl_sm2_chain", f"{name}.key")
    return load_sm2_pkcs8(pem_to_der(pem))


def _openssl_signature(original: bytes) -> bytes:
    """A seal and seal signature made with the OpenSSL test PKI's keys, dated inside its
    certificates' validity (from 2026-11-22T02:06:47Z)."""
    when = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    maker, signer = _openssl_key("maker"), _openssl_key("signer")
    signer_cert = pem_to_der(vector("openssl_sm2_chain", "signer.pem"))
    seal = make_seal_v4(
        SealSpec(
            vid="TEST",
            es_id="OPENSSL-CHAIN-1",
            seal_type=1,
            name="测试机关公章",
            signer_certs=(signer_cert,),
            create_date=when,
            valid_start=when,
            valid_end=datetime(2028, 1, 1, tzinfo=UTC),
            picture=PNG_1X1,
            picture_width_mm=40,
            picture_height_mm=40,
        ),
        maker_cert=pem_to_der(vector("openssl_sm2_chain", "maker.pem")),
        sign=maker.sign,
    )
    return make_ses_signature_v4(
        seal_der=seal,
        signer_cert=signer_cert,
        time_info=when,
        data_hash=sm3(original),
        property_info="original.txt",
        sign=signer.sign,
    )


def test_openssl_chain_becomes_valid_once_its_cas_are_trusted(world: World) -> None:
    original = b"research sample\n"
    signature = _openssl_signature(original)
    assert _verify(world, signature, original=original)["verdict"] == "INDETERMINATE"
    # The root alone is not enough: an SES_Signature carries no intermediate certificates.
    _import_anchor(world, vector("openssl_sm2_chain", "root.pem"))
    only_root = _verify(world, signature, original=original)
    assert only_root["verdict"] == "INDETERMINATE"
    _import_anchor(world, vector("openssl_sm2_chain", "subca.pem"))
    trusted = _verify(world, signature, original=original)
    assert trusted["verdict"] == "VALID", trusted
    chain = trusted["signatures"][0]["checks"]["signer_cert_trusted"]["info"]["chain"]
    assert "Test SM2 Sub CA" in chain
    # The project's own v4 sample: every signature is fine but the time checks are real.
    own = _verify(
        world,
        vector("own_v4_sample", "SignedValue.dat"),
        original=vector("own_v4_sample", "Signature.xml"),
    )
    assert own["verdict"] == "INVALID"
    assert _checks(own)["signer_cert_valid_at_signing_time"] == "fail"
    assert _checks(own)["signer_signature"] == "pass"


def test_our_made_seal_reverifies_and_openssl_accepts_its_maker_signature(
    world: World, tmp_path: Path
) -> None:
    seal = world.seal()
    with world.db() as s:
        esl = service.seal_esl(session=s, principal=world.custodian, seal_id=seal.id)
    report = _verify(world, esl, "seal.esl")
    assert report["verdict"] == "VALID", report
    assert report["signatures"][0]["registry"]["seal_id"] == seal.id
    parsed = parse_seal(esl)
    (tmp_path / "seal_info.der").write_bytes(parsed.signed_bytes)
    (tmp_path / "maker.der").write_bytes(parsed.maker_cert)
    sig_der = parsed.signed_value
    (tmp_path / "sig.der").write_bytes(sig_der)
    run_openssl(
        "x509",
        "-inform",
        "DER",
        "-in",
        "maker.der",
        "-pubkey",
        "-noout",
        "-out",
        "maker.pub",
        cwd=tmp_path,
    )
    result = run_openssl(
        "dgst",
        "-sm3",
        "-verify",
        "maker.pub",
        "-sigopt",
        ID_OPT,
        "-signature",
        "sig.der",
        "seal_info.der",
        cwd=tmp_path,
    )
    assert "Verified OK" in result.stdout
    tampered = bytearray(parsed.signed_bytes)
    tampered[-1] ^= 1
    (tmp_path / "seal_info.der").write_bytes(bytes(tampered))
    refused = run_openssl(
        "dgst",
        "-sm3",
        "-verify",
        "maker.pub",
        "-sigopt",
        ID_OPT,
        "-signature",
        "sig.der",
        "seal_info.der",
        cwd=tmp_path,
        check=False,
    )
    assert refused.returncode != 0


def test_a_revoked_seal_keeps_signatures_made_before_revocation_valid(world: World) -> None:
    """(Signatures dated after a revocation: test_verify_revocation.py.)"""
    from datetime import timedelta

    from seals.policy import StampForm
    from seals.service_stamp import Stamped

    seal = world.seal()
    before = world.stamp(seal.id, StampForm.BYTES, b"data")
    assert isinstance(before, Stamped)
    world.clock.advance(timedelta(hours=1))
    with world.db() as s, s.begin():
        service.revoke_seal(
            session=s, clock=world.clock, principal=world.custodian, seal_id=seal.id, reason="注销"
        )
    world.clock.advance(timedelta(hours=1))
    # Made before the revocation: still valid (GM/T 0031-2014 §6.2.3 d 4).
    report = _verify(world, before.output, original=b"data")
    assert report["verdict"] == "VALID"
    assert report["signatures"][0]["registry"]["status"] == "revoked"


def test_detect_kind() -> None:
    assert detect_kind(b"%PDF-1.7\n...") is FileKind.PDF
    assert detect_kind(b"PK\x03\x04rest") is FileKind.OFD
    assert detect_kind(sample("esl-demo", "Seal.esl")) is FileKind.SEAL
    assert detect_kind(sample("ofdrw", "gm", "SignedValueV4.dat")) is FileKind.SES_SIGNATURE
    # DER that reads as neither kind: the hinted kind's reading error, not a report.
    with pytest.raises(TrustError) as unsupported:
        detect_kind(b"\x30\x03\x02\x01\x01", "broken.esl")
    assert unsupported.value.code == "seal.unsupported_version"
    with pytest.raises(TrustError) as truncated:
        detect_kind(b"\x30\x05\x02\x01\x01", "broken.sig")
    assert truncated.value.code.startswith("seal.")
    assert truncated.value.code != "seal.unknown_file_kind"
    for junk in (b"hello", b"\x30\x03\x02\x01\x01", b"\x89PNG"):
        with pytest.raises(UnknownFileKind) as info:
            detect_kind(junk)
        assert info.value.code == "seal.unknown_file_kind"
