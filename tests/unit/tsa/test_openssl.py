"""The OpenSSL 3 CLI against the TSA: it makes the query, and independently checks the reply.

OpenSSL's ``ts`` command only understands the PKCS#7 signedData content type, so for the
GB/T 35275 token it is ``asn1parse`` that shows the TSTInfo, and ``dgst -sm3 -sigopt distid``
that verifies the SM2 signature over the signed attributes. A copy of the token relabelled
with the PKCS#7 signedData OID (same SignedData bytes) shows that ``openssl ts -reply -text``
reads the TSTInfo itself.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import cms, tsp

from tests.unit.ca._support import ID_OPT, run_openssl
from tests.unit.tsa._support import AT, POLICY, TsaFixture, make_tsa
from trust.ca.x509 import certificate_to_pem
from trust.clock import FixedClock
from trust.crypto import sm3
from trust.tsa.service import respond
from trust.tsa.tsp import TimeStampRespWithOptionalToken
from trust.tsa.verify import verify_timestamp_token

DATA = b"case file 2026-0001\n"


@pytest.fixture
def exchange(tmp_path: Path) -> tuple[TsaFixture, Path]:
    """An OpenSSL-made query answered by ``respond``: q.tsq, resp.tsr, token.der in tmp_path."""
    pki = make_tsa()
    (tmp_path / "data.txt").write_bytes(DATA)
    run_openssl("ts", "-query", "-data", "data.txt", "-sm3", "-cert", "-out", "q.tsq", cwd=tmp_path)
    reply = respond(
        clock=FixedClock(AT + timedelta(hours=2)),
        signer=pki.tsa.signer,
        query_der=(tmp_path / "q.tsq").read_bytes(),
        policy_oid=POLICY,
    )
    (tmp_path / "resp.tsr").write_bytes(reply)
    token = TimeStampRespWithOptionalToken.load(reply)["time_stamp_token"].dump()
    (tmp_path / "token.der").write_bytes(token)
    return pki, tmp_path


def _asn1(path: Path, *extra: str) -> str:
    return run_openssl("asn1parse", "-inform", "DER", "-in", str(path), "-i", *extra).stdout


def test_openssl_query_is_answered_and_our_verifier_accepts(
    exchange: tuple[TsaFixture, Path],
) -> None:
    pki, d = exchange
    reply = tsp.TimeStampResp.load((d / "resp.tsr").read_bytes())
    assert reply["status"]["status"].native == "granted"
    query = tsp.TimeStampReq.load((d / "q.tsq").read_bytes())
    result = verify_timestamp_token(
        (d / "token.der").read_bytes(),
        data=DATA,
        nonce=query["nonce"].native,
        trust_anchors_der=[pki.root.der],
    )
    assert result.valid, result.checks
    assert result.digest_algorithm_oid == "1.2.156.10197.1.401"


def test_asn1parse_shows_the_tstinfo(exchange: tuple[TsaFixture, Path]) -> None:
    _, d = exchange
    outer = _asn1(d / "token.der")
    assert ":1.2.156.10197.6.1.4.2.2" in outer  # GB/T 35275 signedData
    assert ":id-smime-ct-TSTInfo" in outer
    assert ":sm3" in outer
    assert ":1.2.156.10197.1.301.1" in outer  # SM2-1 signature algorithm
    assert ":id-smime-aa-signingCertificateV2" in outer
    # The eContent OCTET STRING follows the eContentType; parse what is inside it.
    lines = outer.splitlines()
    at = next(i for i, line in enumerate(lines) if "id-smime-ct-TSTInfo" in line)
    octet = next(line for line in lines[at:] if "OCTET STRING" in line)
    offset = octet.split(":", 1)[0].strip()
    inner = _asn1(d / "token.der", "-strparse", offset)
    assert f":{POLICY}" in inner
    assert f":{sm3(DATA).hex().upper()}" in inner
    assert "GENERALIZEDTIME   :20261122100000Z" in inner
    assert inner.splitlines()[1].strip().endswith("INTEGER           :01")  # version 1


def test_openssl_verifies_the_sm2_signature_and_message_digest(
    exchange: tuple[TsaFixture, Path],
) -> None:
    pki, d = exchange
    token = cms.ContentInfo.load((d / "token.der").read_bytes())
    signer_info = token["content"]["signer_infos"][0]
    # RFC 5652 §5.4: the signature is over the SET OF signed attributes (tag 0x31, not [0]).
    (d / "attrs.der").write_bytes(b"\x31" + signer_info["signed_attrs"].dump()[1:])
    (d / "sig.der").write_bytes(signer_info["signature"].native)
    (d / "tsa.pem").write_text(certificate_to_pem(pki.tsa.der))
    (d / "pub.pem").write_text(
        run_openssl("x509", "-in", "tsa.pem", "-pubkey", "-noout", cwd=d).stdout
    )
    out = run_openssl(
        "dgst",
        "-sm3",
        "-verify",
        "pub.pem",
        "-sigopt",
        ID_OPT,
        "-signature",
        "sig.der",
        "attrs.der",
        cwd=d,
    )
    assert out.stdout.strip() == "Verified OK"
    # messageDigest = SM3 of the TSTInfo, as OpenSSL computes it over the eContent bytes.
    (d / "tst.der").write_bytes(token["content"]["encap_content_info"]["content"].contents)
    digest = run_openssl("dgst", "-sm3", "-r", "tst.der", cwd=d).stdout.split()[0]
    attrs = {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}
    assert attrs["message_digest"].native.hex() == digest


def test_openssl_ts_reads_the_tstinfo_of_the_pkcs7_labelled_copy(
    exchange: tuple[TsaFixture, Path],
) -> None:
    _, d = exchange
    gb = run_openssl("ts", "-reply", "-in", "resp.tsr", "-text", cwd=d, check=False)
    assert gb.returncode != 0  # OpenSSL 3.0 knows only 1.2.840.113549.1.7.2 here
    reply = TimeStampRespWithOptionalToken.load((d / "resp.tsr").read_bytes())
    token = reply["time_stamp_token"]
    relabelled = cms.ContentInfo({"content_type": "signed_data", "content": token["content"]})
    copy = TimeStampRespWithOptionalToken(
        {"status": reply["status"], "time_stamp_token": relabelled}
    )
    (d / "pkcs7.tsr").write_bytes(copy.dump())
    text = run_openssl("ts", "-reply", "-in", "pkcs7.tsr", "-text", cwd=d).stdout
    assert "Status: Granted." in text
    assert f"Policy OID: {POLICY}" in text
    assert "Hash Algorithm: sm3" in text
    assert re.search(r"Time stamp: Nov 22 10:00:00 2026 GMT", text)
    assert "Accuracy: 0x01 seconds" in text
    query_nonce = run_openssl("ts", "-query", "-in", "q.tsq", "-text", cwd=d).stdout
    nonce = re.search(r"Nonce: (0x[0-9A-F]+)", query_nonce)
    assert nonce is not None
    assert f"Nonce: {nonce.group(1)}" in text


def test_malformed_query_gets_a_rejection_openssl_can_read(tmp_path: Path) -> None:
    pki = make_tsa()
    reply = respond(
        clock=FixedClock(AT), signer=pki.tsa.signer, query_der=b"\x30\x05garbage", policy_oid=POLICY
    )
    (tmp_path / "bad.tsr").write_bytes(reply)
    text = run_openssl("ts", "-reply", "-in", "bad.tsr", "-text", cwd=tmp_path).stdout
    assert "Status: Rejected." in text
    assert "Failure info: transaction not permitted or supported" in text  # badRequest (bit 2)
