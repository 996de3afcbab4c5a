"""``POST /tsa`` (RFC 3161 §3.4): an OpenSSL-made query is answered with a token that verifies
against the service's own trust list; a well-formed DER query the TSA refuses gets a rejection
TimeStampResp with its failure bit; a wrong media type (415), an empty body or non-DER bytes
(400) get problem+json with a stable code; never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import tsp
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from tests.api._support import TestClient, assert_problem
from tests.integration.ca._web import build_app, client_for, init_ca
from tests.unit.ca._support import run_openssl
from trust.ca import service as ca_service
from trust.cli.ca import CaSetup
from trust.clock import FixedClock
from trust.config import Settings
from trust.tsa.tsp import TimeStampRespWithOptionalToken
from trust.tsa.verify import verify_timestamp_token

QUERY = {"Content-Type": "application/timestamp-query"}
DATA = b"licence 330100-2026-000001\n"


@pytest.fixture
def app(settings: Settings, db: sessionmaker[Session], clock: FixedClock) -> FastAPI:
    return build_app(settings, db, clock)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with client_for(app) as c:
        yield c


@pytest.fixture
def setup(
    app: FastAPI, db: sessionmaker[Session], clock: FixedClock, settings: Settings
) -> CaSetup:
    return init_ca(app, db, clock, settings)


@pytest.fixture
def query(tmp_path: Path) -> bytes:
    (tmp_path / "data.txt").write_bytes(DATA)
    run_openssl("ts", "-query", "-data", "data.txt", "-sm3", "-cert", "-out", "q.tsq", cwd=tmp_path)
    return (tmp_path / "q.tsq").read_bytes()


def _status(body: bytes) -> tuple[str, set[str] | None]:
    status = TimeStampRespWithOptionalToken.load(body)["status"]
    return status["status"].native, status["fail_info"].native


def test_openssl_query_gets_a_verifiable_token(
    setup: CaSetup,
    client: TestClient,
    query: bytes,
    db: sessionmaker[Session],
    settings: Settings,
    clock: FixedClock,
) -> None:
    response = client.post("/tsa", content=query, headers=QUERY)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/timestamp-reply"
    reply = tsp.TimeStampResp.load(response.content)
    assert reply["status"]["status"].native == "granted"
    with db() as s:
        anchors = ca_service.trust_anchors_der(session=s)
        result = verify_timestamp_token(
            reply["time_stamp_token"].dump(),
            data=DATA,
            nonce=tsp.TimeStampReq.load(query)["nonce"].native,
            trust_anchors_der=anchors,
            revocation=ca_service.StoredRevocation(s),
        )
    assert result.valid, result.checks
    assert result.policy_oid == settings.tsa_policy_oid
    assert result.gen_time == clock.now()
    assert result.tsa_certificate is not None
    assert result.chain is not None
    assert result.chain.anchor == anchors[0]


def test_wrong_media_type_is_415(setup: CaSetup, client: TestClient, query: bytes) -> None:
    response = client.post(
        "/tsa", content=query, headers={"Content-Type": "application/octet-stream"}
    )
    assert_problem(response, 415, "tsa.unsupported_media_type")
    assert_problem(client.post("/tsa", content=query), 415, "tsa.unsupported_media_type")


#: Not a time-stamp query at all: HTTP 400 problem+json (RFC 3161 answers requests, not noise).
NOT_DER = {
    "empty": b"",
    "text": b"garbage",
    "truncated": b"\x30\x84\xff\xff\xff\xff",
    "sequence of zeros, wrong length": b"\x30" * 5000,
    "BER indefinite length": b"\x30\x80\x02\x01\x01\x00\x00",
    "trailing byte": b"\x30\x03\x02\x01\x01\x00",
    "non-minimal length": b"\x30\x81\x03\x02\x01\x01",
    "not a SEQUENCE": b"\x02\x01\x01",
}
#: Well-formed DER that is not an acceptable TimeStampReq: RFC 3161 §2.4.2 rejection.
BAD_CONTENT = {
    "empty SEQUENCE": b"\x30\x00",
    "SEQUENCE { INTEGER 1 }": b"\x30\x03\x02\x01\x01",
    "a large SEQUENCE": b"\x30\x82\x13\x88" + b"\x05\x00" * 2500,
}


@pytest.mark.parametrize("body", NOT_DER.values(), ids=NOT_DER.keys())
def test_bytes_that_are_not_der_get_a_problem(
    setup: CaSetup, client: TestClient, body: bytes
) -> None:
    response = client.post("/tsa", content=body, headers=QUERY)
    problem = assert_problem(response, 400, "tsa.bad_request")
    assert "TimeStampReq" in problem["detail"]


@pytest.mark.parametrize("body", BAD_CONTENT.values(), ids=BAD_CONTENT.keys())
def test_well_formed_der_with_bad_content_gets_a_rejection(
    setup: CaSetup, client: TestClient, body: bytes
) -> None:
    response = client.post("/tsa", content=body, headers=QUERY)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/timestamp-reply"
    assert _status(response.content) == ("rejection", {"bad_request"})


def test_refused_queries_keep_their_rfc3161_failure_bits(
    setup: CaSetup, client: TestClient, tmp_path: Path
) -> None:
    """Real OpenSSL queries the TSA will not serve: a digest it does not accept (badAlg) and a
    policy it does not have (unacceptedPolicy) are TimeStampResp rejections, not problems."""
    (tmp_path / "data.txt").write_bytes(DATA)
    run_openssl("ts", "-query", "-data", "data.txt", "-sha1", "-out", "sha1.tsq", cwd=tmp_path)
    run_openssl(
        "ts",
        "-query",
        "-data",
        "data.txt",
        "-sm3",
        "-tspolicy",
        "1.2.3.4.5",
        "-out",
        "policy.tsq",
        cwd=tmp_path,
    )
    expected = {"sha1.tsq": {"bad_alg"}, "policy.tsq": {"unaccepted_policy"}}
    for name, fail_info in expected.items():
        response = client.post("/tsa", content=(tmp_path / name).read_bytes(), headers=QUERY)
        assert response.status_code == 200
        assert _status(response.content) == ("rejection", fail_info), name


def test_without_a_tsa_key_the_reply_is_system_failure(client: TestClient, query: bytes) -> None:
    response = client.post("/tsa", content=query, headers=QUERY)
    assert response.status_code == 200
    assert _status(response.content) == ("rejection", {"system_failure"})
