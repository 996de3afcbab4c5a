"""The CA over HTTP: CRL, chain, certificate status and download, issuance from a CSR and
revocation (system administrators only), and the trust list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from tests.api._support import TestClient, assert_problem
from tests.factories.principals import Staff, make_staff
from tests.integration.ca._web import build_app, client_for, init_ca
from tests.unit.ca._support import ID_OPT, run_openssl
from trust.ca.crl import parse_crl
from trust.ca.x509 import parse_certificate, pem_to_der_list
from trust.cli.ca import CaSetup
from trust.clock import FixedClock
from trust.config import Settings
from trust.principals.roles import Role


@pytest.fixture
def app(settings: Settings, db: sessionmaker[Session], clock: FixedClock) -> FastAPI:
    return build_app(settings, db, clock)


@pytest.fixture
def setup(
    app: FastAPI, db: sessionmaker[Session], clock: FixedClock, settings: Settings
) -> CaSetup:
    return init_ca(app, db, clock, settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with client_for(app) as c:
        yield c


@pytest.fixture
def admin(db: sessionmaker[Session], clock: FixedClock) -> Staff:
    with db() as s, s.begin():
        return make_staff(s, clock, login="ca.admin", role=Role.SYSTEM_ADMIN)


@pytest.fixture
def auditor(db: sessionmaker[Session], clock: FixedClock) -> Staff:
    with db() as s, s.begin():
        return make_staff(s, clock, login="someone")


@pytest.fixture
def csr_pem(tmp_path: Path) -> str:
    run_openssl("genpkey", "-algorithm", "SM2", "-out", "k.pem", cwd=tmp_path)
    run_openssl(
        "req",
        "-new",
        "-key",
        "k.pem",
        "-sm3",
        "-sigopt",
        ID_OPT,
        "-subj",
        "/C=CN/O=Test Agency/CN=Seal Holder",
        "-out",
        "r.csr",
        cwd=tmp_path,
    )
    return (tmp_path / "r.csr").read_text()


def test_before_init_the_crl_is_503(client: TestClient) -> None:
    assert_problem(client.get("/ca/crl"), 503, "ca.not_initialised")


def test_crl_chain_and_trust_list_are_public(setup: CaSetup, client: TestClient) -> None:
    crl = client.get("/ca/crl")
    assert crl.status_code == 200
    assert crl.headers["content-type"] == "application/pkix-crl"
    facts = parse_crl(crl.content)
    assert facts.crl_number == 1
    assert facts.entries == {}
    assert client.get("/ca/crl").content == crl.content  # still fresh: the same CRL

    chain = client.get("/ca/chain")
    assert chain.headers["content-type"] == "application/pem-certificate-chain"
    issuing, root = pem_to_der_list(chain.content)
    assert format(parse_certificate(issuing).serial_number, "x") == setup.issuing_serial
    assert format(parse_certificate(root).serial_number, "x") == setup.root_serial

    anchors = client.get("/trust-list").json()
    assert [a["source"] for a in anchors] == ["own"]
    assert pem_to_der_list(anchors[0]["certificate_pem"]) == [root]


def test_certificate_status_and_download(setup: CaSetup, client: TestClient) -> None:
    status = client.get(f"/ca/certificates/{setup.tsa_serial}")
    assert status.status_code == 200
    body = status.json()
    assert body["status"] == "good"
    assert body["profile"] == "timestamp"
    assert body["expired"] is False
    der = client.get(f"/ca/certificates/{setup.tsa_serial}.der")
    assert der.headers["content-type"] == "application/pkix-cert"
    pem = client.get(f"/ca/certificates/{setup.tsa_serial.upper()}.pem")
    assert pem_to_der_list(pem.content) == [der.content]
    assert_problem(client.get("/ca/certificates/abc123"), 404, "ca.certificate_not_found")
    assert_problem(client.get("/ca/certificates/not-hex"), 400, "ca.bad_serial")
    assert_problem(client.get("/ca/certificates/abc123.der"), 404, "ca.certificate_not_found")


def test_admin_issues_from_csr_and_revokes(
    setup: CaSetup, client: TestClient, admin: Staff, csr_pem: str
) -> None:
    issued = client.post(
        "/ca/certificates", json={"csr": csr_pem, "profile": "seal_holder"}, headers=admin.headers
    )
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert body["subject"] == "C=CN, O=Test Agency, CN=Seal Holder"
    assert body["profile"] == "seal_holder"
    serial = body["serial"]
    revoked = client.post(
        f"/ca/certificates/{serial}/revoke", json={"reason": "keyCompromise"}, headers=admin.headers
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    assert revoked.json()["reason"] == "key_compromise"
    assert client.get(f"/ca/certificates/{serial}").json()["status"] == "revoked"
    crl = parse_crl(client.get("/ca/crl").content)
    assert int(serial, 16) in crl.entries
    again = client.post(
        f"/ca/certificates/{serial}/revoke", json={"reason": "superseded"}, headers=admin.headers
    )
    assert_problem(again, 409, "ca.already_revoked")


def test_issuance_and_revocation_need_the_system_admin(
    setup: CaSetup, client: TestClient, auditor: Staff, csr_pem: str
) -> None:
    body = {"csr": csr_pem, "profile": "seal_holder"}
    assert_problem(client.post("/ca/certificates", json=body), 401, "auth.required")
    assert_problem(
        client.post("/ca/certificates", json=body, headers=auditor.headers),
        403,
        "auth.role_required",
    )
    revoke = client.post(
        f"/ca/certificates/{setup.tsa_serial}/revoke",
        json={"reason": "superseded"},
        headers=auditor.headers,
    )
    assert_problem(revoke, 403, "auth.role_required")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"csr": "garbage", "profile": "seal_holder"}, 400, "ca.bad_csr"),
        ({"csr": "CSR", "profile": "root_ca"}, 400, "ca.profile_not_allowed"),
        ({"csr": "CSR", "profile": "emperor"}, 400, "ca.unknown_profile"),
        ({"csr": "TAMPERED", "profile": "seal_holder"}, 400, "ca.csr_signature_invalid"),
        (
            {"csr": "CSR", "profile": "seal_holder", "subject": {"CN": "x", "uscc": "123"}},
            400,
            "ca.bad_subject",
        ),
    ],
)
def test_bad_issuance_requests_are_400_problems(
    setup: CaSetup,
    client: TestClient,
    admin: Staff,
    csr_pem: str,
    body: dict[str, object],
    status: int,
    code: str,
) -> None:
    if body["csr"] == "CSR":
        body = {**body, "csr": csr_pem}
    elif body["csr"] == "TAMPERED":
        der = bytearray(pem_to_der_list(csr_pem, label="CERTIFICATE REQUEST")[0])
        at = bytes(der).index(b"Seal Holder")
        der[at] = ord("Z")
        import base64

        body = {
            **body,
            "csr": base64.b64encode(bytes(der))
            .decode()
            .join(
                ["-----BEGIN CERTIFICATE REQUEST-----\n", "\n-----END CERTIFICATE REQUEST-----\n"]
            ),
        }
    assert_problem(client.post("/ca/certificates", json=body, headers=admin.headers), status, code)


def test_json_body_is_required(setup: CaSetup, client: TestClient, admin: Staff) -> None:
    response = client.post(
        "/ca/certificates",
        content=b"csr=1",
        headers={**admin.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
