"""TimeStampReq parsing and TimeStampResp building (RFC 3161 §2.4.1, §2.4.2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import core, tsp

from tests.unit.ca._support import run_openssl
from trust.crypto import sha256, sm3
from trust.tsa.errors import (
    TsaBadAlg,
    TsaBadDataFormat,
    TsaBadRequest,
    TsaRefusal,
    TsaUnacceptedExtension,
)
from trust.tsa.tsp import (
    TimeStampRespWithOptionalToken,
    is_der_sequence,
    parse_request,
    rejection_response,
)

SM3_OID = "1.2.156.10197.1.401"


def _req(**overrides: object) -> bytes:
    fields: dict[str, object] = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": SM3_OID}, "hashed_message": sm3(b"x")},
        "nonce": 12345,
        "cert_req": True,
    }
    fields.update(overrides)
    return bytes(tsp.TimeStampReq(fields).dump())


def test_openssl_query_is_parsed(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_bytes(b"hello\n")
    run_openssl("ts", "-query", "-data", "data.txt", "-sm3", "-cert", "-out", "q.tsq", cwd=tmp_path)
    req = parse_request((tmp_path / "q.tsq").read_bytes())
    assert req.digest_algorithm_oid == SM3_OID
    assert req.digest == sm3(b"hello\n")
    assert req.cert_req is True
    assert req.nonce is not None
    assert req.nonce > 0
    assert req.policy_oid is None


def test_sha256_and_policy_and_no_nonce() -> None:
    der = _req(
        message_imprint={"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": sha256(b"x")},
        nonce=None,
        cert_req=False,
        req_policy="1.2.3.4",
    )
    req = parse_request(der)
    assert (req.nonce, req.cert_req, req.policy_oid) == (None, False, "1.2.3.4")


@pytest.mark.parametrize(
    ("der", "error", "failure"),
    [
        (b"", TsaBadRequest, "bad_request"),
        (b"garbage", TsaBadRequest, "bad_request"),
        (b"\x30\x03\x02\x01\x01", TsaBadRequest, "bad_request"),
        (b"\x30" + b"\x84\xff\xff\xff\xff", TsaBadRequest, "bad_request"),
        (b"\x30\x82" + b"\x00" * 5000, TsaBadRequest, "bad_request"),
        (_req(version=2), TsaBadRequest, "bad_request"),
        (_req() + b"\x00", TsaBadRequest, "bad_request"),
        (
            _req(
                message_imprint={
                    "hash_algorithm": {"algorithm": "sha1"},
                    "hashed_message": b"1" * 20,
                }
            ),
            TsaBadAlg,
            "bad_alg",
        ),
        (
            _req(
                message_imprint={
                    "hash_algorithm": {"algorithm": SM3_OID, "parameters": core.OctetString(b"x")},
                    "hashed_message": sm3(b"x"),
                }
            ),
            TsaBadAlg,
            "bad_alg",
        ),
        (
            _req(
                message_imprint={
                    "hash_algorithm": {"algorithm": SM3_OID},
                    "hashed_message": b"1" * 20,
                }
            ),
            TsaBadDataFormat,
            "bad_data_format",
        ),
        (
            _req(extensions=[{"extn_id": "1.2.3", "critical": False, "extn_value": b"x"}]),
            TsaUnacceptedExtension,
            "unaccepted_extensions",
        ),
        (_req(nonce=-5), TsaBadRequest, "bad_request"),
        (_req(nonce=2**300), TsaBadRequest, "bad_request"),
    ],
)
def test_bad_requests_are_refused_with_their_failure_info(
    der: bytes, error: type[TsaRefusal], failure: str
) -> None:
    with pytest.raises(error) as info:
        parse_request(der)
    assert info.value.failure_info == failure
    assert info.value.http_status == 400
    assert info.value.code.startswith("tsa.")


def test_rejection_response_shape() -> None:
    der = rejection_response("bad_alg", "no")
    resp = TimeStampRespWithOptionalToken.load(der)
    assert resp["status"]["status"].native == "rejection"
    assert resp["status"]["fail_info"].native == {"bad_alg"}
    assert resp["status"]["status_string"].native == ["no"]
    assert resp["time_stamp_token"].native is None
    # PKIFailureInfo badAlg is bit 0: 03 02 07 80 (DER named-bit-list, trailing zeros removed)
    assert bytes.fromhex("03020780") in der


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x30\x00", True),
        (b"\x30\x03\x02\x01\x01", True),
        (b"\x30\x81\x80" + b"\x00" * 0x80, True),
        (b"\x30\x82\x01\x00" + b"\x00" * 0x100, True),
        (b"", False),
        (b"\x30", False),
        (b"garbage", False),
        (b"\x02\x01\x01", False),  # an INTEGER, not a SEQUENCE
        (b"\x30\x03\x02\x01", False),  # truncated
        (b"\x30\x03\x02\x01\x01\x00", False),  # trailing byte
        (b"\x30\x80\x02\x01\x01\x00\x00", False),  # BER indefinite length
        (b"\x30\x81\x03\x02\x01\x01", False),  # long form for a short length
        (b"\x30\x82\x00\x81" + b"\x00" * 0x81, False),  # leading zero length byte
        (b"\x30\x85\x00\x00\x00\x00\x01\x00", False),  # five length bytes
        (b"\x30\x84\xff\xff\xff\xff", False),
    ],
)
def test_is_der_sequence(data: bytes, expected: bool) -> None:
    assert is_der_sequence(data) is expected
