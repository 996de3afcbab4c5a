"""HTTP routes of the log on a tiny app (this router, the shared deps, problem+json handlers):
what a client downloads verifies with ``trust.tlog.verify``; bad input is a 4xx problem."""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker
from starlette.exceptions import StarletteDeprecationWarning

from tests.unit.tlog._support import SM2TestSigner
from trust.clock import FixedClock
from trust.config import Settings
from trust.crypto import SM2PublicKey
from trust.errors import NotFound
from trust.tlog import LogEvent, append_many, service
from trust.tlog.verify import verify_consistency, verify_inclusion
from trust.web.problems import install_problem_handlers
from trust.web.routes.log import router

with warnings.catch_warnings():
    # starlette >= 1.0 wants the httpx2 fork for its test client; httpx still works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

ORIGIN = "ywtb-trust.example/log"


class _KeyStore:
    def __init__(self, signer: SM2TestSigner | None) -> None:
        self._signer = signer

    def active_signer(self, **_: object) -> SM2TestSigner:
        if self._signer is None:
            raise NotFound("no key", code="keys.no_active_key")
        return self._signer


@pytest.fixture
def signer() -> SM2TestSigner:
    return SM2TestSigner()


@pytest.fixture
def client(
    db: sessionmaker[Session], clock: FixedClock, settings: Settings, signer: SM2TestSigner
) -> Iterator[TestClient]:
    app = FastAPI()
    app.state.settings = settings
    app.state.session_factory = db
    app.state.clock = clock
    app.state.keystore = _KeyStore(signer)
    install_problem_handlers(app)
    app.include_router(router)
    with TestClient(app, raise_server_exceptions=True) as c:
        yield c


def _fill(db: sessionmaker[Session], clock: FixedClock, signer: SM2TestSigner, n: int) -> None:
    with db() as s, s.begin():
        have = service.log_head(session=s)[0]
        events = [LogEvent("t.e", f"s{i}", "system", {"i": i}) for i in range(have, have + n)]
        append_many(session=s, clock=clock, events=events)
        service.create_checkpoint(session=s, clock=clock, signer=signer, origin=ORIGIN)


def _problem(response: object, status: int, code: str) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    assert response.json()["code"] == code  # type: ignore[attr-defined]


def test_no_checkpoint_yet(client: TestClient) -> None:
    _problem(client.get("/log/checkpoint"), 404, "log.no_checkpoint")
    _problem(client.get("/log/proof/inclusion?index=0"), 404, "log.no_checkpoint")
    _problem(client.get("/log/entries/0"), 404, "log.entry_not_found")


def test_checkpoint_json_and_note(
    client: TestClient, db: sessionmaker[Session], clock: FixedClock, signer: SM2TestSigner
) -> None:
    _fill(db, clock, signer, 21)
    body = client.get("/log/checkpoint").json()
    assert body["tree_size"] == 21
    assert body["origin"] == ORIGIN
    assert body["key_id"] == signer.key_id
    assert body["algorithm"] == "SM2-with-SM3"
    with db() as s:
        assert base64.b64decode(body["root_hash"]) == service.log_head(session=s)[1]
    text = client.get("/log/checkpoint", headers={"Accept": "text/plain"})
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.text == body["note"]
    assert text.text.startswith(f"{ORIGIN}\n21\n{body['root_hash']}\n")


def test_entry_and_inclusion_proof_verify(
    client: TestClient, db: sessionmaker[Session], clock: FixedClock, signer: SM2TestSigner
) -> None:
    _fill(db, clock, signer, 13)
    key_body = client.get("/log/public-key").json()
    key = SM2PublicKey.from_pem(key_body["public_key_pem"])
    assert key.to_der() == base64.b64decode(key_body["public_key_der"])
    assert key_body["key_name"] == ORIGIN
    entry = client.get("/log/entries/9").json()
    assert entry["event"]["payload"] == {"i": 9}
    assert entry["kind"] == "t.e"
    proof = client.get("/log/proof/inclusion", params={"index": 9}).json()
    assert proof["tree_size"] == 13
    assert proof["leaf_hash"] == entry["leaf_hash"]
    result = verify_inclusion(
        unverified_note=proof["checkpoint"]["note"],
        public_key=key,
        origin=ORIGIN,
        index=9,
        tree_size=proof["tree_size"],
        path=[base64.b64decode(p) for p in proof["path"]],
        leaf_data=base64.b64decode(entry["data"]),
    )
    assert result.ok
    # An explicit older size without a checkpoint of its own: proof, no checkpoint.
    older = client.get("/log/proof/inclusion", params={"index": 2, "tree_size": 5}).json()
    assert older["checkpoint"] is None
    assert len(older["path"]) == 3


def test_consistency_proof_verifies(
    client: TestClient, db: sessionmaker[Session], clock: FixedClock, signer: SM2TestSigner
) -> None:
    _fill(db, clock, signer, 6)
    _fill(db, clock, signer, 11)
    body = client.get("/log/proof/consistency", params={"first": 6}).json()
    assert (body["first"], body["second"]) == (6, 17)
    key = SM2PublicKey.from_der(signer.public_key_der())
    result = verify_consistency(
        first_note=body["first_checkpoint"]["note"],
        second_note=body["second_checkpoint"]["note"],
        public_key=key,
        origin=ORIGIN,
        path=[base64.b64decode(p) for p in body["path"]],
    )
    assert result.ok


def test_public_key_before_any_checkpoint(client: TestClient, signer: SM2TestSigner) -> None:
    body = client.get("/log/public-key").json()
    assert body["key_id"] == signer.key_id
    assert base64.b64decode(body["public_key_der"]) == signer.public_key_der()


def test_public_key_without_any_key(
    db: sessionmaker[Session], clock: FixedClock, settings: Settings
) -> None:
    app = FastAPI()
    app.state.settings, app.state.session_factory, app.state.clock = settings, db, clock
    app.state.keystore = _KeyStore(None)
    install_problem_handlers(app)
    app.include_router(router)
    with TestClient(app) as c:
        _problem(c.get("/log/public-key"), 404, "keys.no_active_key")


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/log/entries/5", 404, "log.entry_not_found"),
        ("/log/entries/-1", 404, "log.entry_not_found"),
        ("/log/entries/99999999999999999999999999", 404, "log.entry_not_found"),
        ("/log/proof/inclusion?index=5&tree_size=5", 400, "log.bad_proof_request"),
        ("/log/proof/inclusion?index=0&tree_size=6", 400, "log.bad_proof_request"),
        ("/log/proof/inclusion?index=-3", 400, "log.bad_proof_request"),
        (
            "/log/proof/inclusion?index=0&tree_size=99999999999999999999999",
            400,
            "log.bad_proof_request",
        ),
        ("/log/proof/consistency?first=4&second=3", 400, "log.bad_proof_request"),
        ("/log/proof/consistency?first=1&second=6", 400, "log.bad_proof_request"),
        ("/log/proof/consistency?first=-1", 400, "log.bad_proof_request"),
    ],
)
def test_bad_requests_are_problems(
    client: TestClient,
    db: sessionmaker[Session],
    clock: FixedClock,
    signer: SM2TestSigner,
    url: str,
    status: int,
    code: str,
) -> None:
    _fill(db, clock, signer, 5)
    _problem(client.get(url), status, code)


@pytest.mark.parametrize(
    "url", ["/log/entries/abc", "/log/proof/inclusion", "/log/proof/inclusion?index=x"]
)
def test_unparsable_parameters(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/problem+json")
