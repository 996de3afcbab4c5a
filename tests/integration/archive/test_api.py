"""The archive HTTP API on the real app: resumable upload in chunks, submission (201, then 200
for the same case), refusal as problem+json with every failure, roles, search, case view with a
required purpose, file and package streams, fixity, and disposal with two approvals."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from archive.bag import DirectoryBagSource, validate_bag
from archive.model import ArchiveAccess, ArchivePackage, ArchiveUpload
from archive.service_tools import archive_store, uploads_root
from keys.software import SoftwareKeyStore
from tests.api._support import TestClient
from tests.factories.principals import Staff, make_org, make_staff
from tests.integration.archive.conftest import setup_archive
from tests.integration.ca._web import build_app, client_for
from tests.unit.archive.case_factory import write_case
from trust.clock import FixedClock
from trust.config import Settings
from trust.crypto import sm3_hex
from trust.db import Base
from trust.principals.roles import Role


@dataclass
class Api:
    client: TestClient
    archivist: Staff
    archivist2: Staff
    auditor: Staff
    outsider: Staff
    tmp: Path

    def zipped(self, name: str = "case", **kw: Any) -> bytes:
        folder = write_case(self.tmp / name, **kw).path
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for p in sorted(folder.rglob("*")):
                if p.is_file():
                    zf.write(p, p.relative_to(folder).as_posix())
        return buf.getvalue()

    def upload(self, data: bytes, *, chunk: int = 64 * 1024, who: Staff | None = None) -> str:
        h = (who or self.archivist).headers
        r = self.client.post(
            "/archive/uploads", json={"filename": "case.zip", "size": len(data)}, headers=h
        )
        assert r.status_code == 201, r.text
        upload_id: str = r.json()["id"]
        for offset in range(0, len(data), chunk):
            put = self.client.put(
                f"/archive/uploads/{upload_id}?offset={offset}",
                content=data[offset : offset + chunk],
                headers={**h, "Content-Type": "application/octet-stream"},
            )
            assert put.status_code == 200, put.text
        done = self.client.post(
            f"/archive/uploads/{upload_id}/complete",
            json={"sm3": sm3_hex(data), "size": len(data)},
            headers=h,
        )
        assert done.status_code == 200, done.text
        return upload_id

    def submit(self, upload_id: str, who: Staff | None = None) -> Any:
        return self.client.post(
            "/archive/cases", json={"upload_id": upload_id}, headers=(who or self.archivist).headers
        )


@pytest.fixture
def app(settings: Settings, db: sessionmaker[Session], clock: FixedClock) -> FastAPI:
    built = build_app(settings, db, clock)
    Base.metadata.create_all(db.kw["bind"])
    return built


@pytest.fixture
def api(
    app: FastAPI, db: sessionmaker[Session], clock: FixedClock, settings: Settings, tmp_path: Path
) -> Iterator[Api]:
    keystore = app.state.keystore
    assert isinstance(keystore, SoftwareKeyStore)
    setup_archive(db, clock, keystore, settings)
    with db() as s, s.begin():
        org = make_org(s, clock, name="某市政务服务数据管理局")
        archivist = make_staff(s, clock, login="archivist", role=Role.ARCHIVIST, org_id=org.id)
        archivist2 = make_staff(s, clock, login="archivist2", role=Role.ARCHIVIST, org_id=org.id)
        auditor = make_staff(s, clock, login="auditor", role=Role.AUDITOR, org_id=org.id)
        outsider = make_staff(s, clock, login="outsider", role=Role.SEAL_USER, org_id=org.id)
    with client_for(app) as client:
        yield Api(client, archivist, archivist2, auditor, outsider, tmp_path)


def _upload_state(db: sessionmaker[Session], upload_id: str) -> str:
    with db() as s:
        row = s.get(ArchiveUpload, upload_id)
        assert row is not None
        return row.state


def test_chunked_upload_submit_and_resubmit(
    api: Api, settings: Settings, db: sessionmaker[Session]
) -> None:
    data = api.zipped()
    upload_id = api.upload(data, chunk=50_000)
    zip_file = uploads_root(settings) / upload_id
    assert zip_file.read_bytes() == data
    first = api.submit(upload_id)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["created"]
    assert body["package"]["archival_code"] == "A439-WS·2026·D30·XK·ZC-005"
    assert body["report"]["verdict"] == "passed"
    # archived: the uploaded zip is gone and the upload cannot be submitted twice
    assert not zip_file.exists()
    assert _upload_state(db, upload_id) == "used"
    twice = api.submit(upload_id)
    assert twice.status_code == 409
    assert twice.json()["code"] == "archive.upload_consumed"
    again = api.submit(api.upload(data))
    assert again.status_code == 200
    assert not again.json()["created"]
    assert list(uploads_root(settings).iterdir()) == []


def test_a_wrong_offset_answers_the_resume_point(api: Api) -> None:
    h = api.archivist.headers
    upload_id = api.client.post("/archive/uploads", json={}, headers=h).json()["id"]
    ok = api.client.put(f"/archive/uploads/{upload_id}?offset=0", content=b"abc", headers=h)
    assert ok.json()["received"] == 3
    bad = api.client.put(f"/archive/uploads/{upload_id}?offset=10", content=b"x", headers=h)
    assert bad.status_code == 409
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["code"] == "archive.upload_offset"
    assert bad.json()["received"] == 3
    assert api.client.get(f"/archive/uploads/{upload_id}", headers=h).json()["received"] == 3
    wrong = api.client.post(
        f"/archive/uploads/{upload_id}/complete", json={"sm3": "0" * 64, "size": 3}, headers=h
    )
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "archive.digest_mismatch"
    other = api.client.get(f"/archive/uploads/{upload_id}", headers=api.archivist2.headers)
    assert other.status_code == 404


def test_a_refused_case_is_problem_json_with_every_failure(
    api: Api, settings: Settings, db: sessionmaker[Session]
) -> None:
    def flip(files: dict[str, bytes]) -> None:
        b = bytearray(files["0003-经营场所照片.png"])
        b[60] ^= 0x01
        files["0003-经营场所照片.png"] = bytes(b)

    upload_id = api.upload(api.zipped(tamper=flip))
    r = api.submit(upload_id)
    assert r.status_code == 422
    problem = r.json()
    assert problem["code"] == "archive.checks_failed"
    assert ("0003-经营场所照片.png", "digest.mismatch") in {
        (f["subject"], f["reason"]) for f in problem["failures"]
    }
    # refused: the zip is removed, the upload says so (the ingest's own rows were rolled back)
    assert not (uploads_root(settings) / upload_id).exists()
    assert _upload_state(db, upload_id) == "refused"
    with db() as s:
        assert s.scalars(select(ArchivePackage)).all() == []
    assert list(archive_store(settings).list()) == []
    assert api.submit(upload_id).json()["code"] == "archive.upload_consumed"


def test_roles_and_authentication(api: Api) -> None:
    assert api.client.get("/archive/cases").status_code == 401
    assert api.client.get("/archive/cases", headers=api.outsider.headers).status_code == 403
    r = api.client.post("/archive/uploads", json={}, headers=api.auditor.headers)
    assert r.status_code == 403
    assert r.json()["code"] == "auth.role_required"


def test_search_view_download_fixity_and_disposal(
    api: Api, db: sessionmaker[Session], clock: FixedClock
) -> None:
    created = api.submit(api.upload(api.zipped())).json()["package"]
    ref = created["id"]
    h = api.auditor.headers
    found = api.client.get("/archive/cases", params={"applicant": "科技有限"}, headers=h).json()
    assert found["total"] == 1
    assert found["items"][0]["id"] == ref
    no_purpose = api.client.get(f"/archive/cases/{ref}", headers=h)
    assert no_purpose.status_code in (400, 422)
    view = api.client.get(f"/archive/cases/{ref}", params={"purpose": "审计抽查"}, headers=h)
    assert view.status_code == 200
    assert view.json()["case"]["case_number"] == "SP20260510-000123"
    assert [(v["version"], v["id"], v["ref"], v["status"]) for v in view.json()["versions"]] == [
        (1, ref, f"{created['archival_code']}/v1", "active")
    ]
    assert view.json()["versions"][0]["ingested_at"] == view.json()["package"]["ingested_at"]
    assert (found["total_capped"], found["next"]) == (False, None)
    f = api.client.get(
        f"/archive/cases/{ref}/files/0006-准予许可决定书.pdf", params={"purpose": "核对"}, headers=h
    )
    assert f.status_code == 200
    assert f.content == (api.tmp / "case/files/0006-准予许可决定书.pdf").read_bytes()
    assert f.headers["x-content-sm3"] == sm3_hex(f.content)
    z = api.client.get(f"/archive/cases/{ref}/package.zip", params={"purpose": "p"}, headers=h)
    assert z.status_code == 200
    with zipfile.ZipFile(io.BytesIO(z.content)) as zf:
        assert any(n.endswith("/tagmanifest-sm3.txt") for n in zf.namelist())
    fx = api.client.post(f"/archive/cases/{ref}/fixity", headers=h)
    assert fx.status_code == 200
    assert fx.json()["outcome"] == "pass"
    assert api.client.get(f"/archive/cases/{ref}/fixity", headers=h).json()["outcome"] == "pass"
    clock.advance(timedelta(days=1))
    sweep = api.client.post("/archive/fixity", params={"limit": 5}, headers=h).json()
    assert sweep == {
        "checked": 1,
        "failed": 0,
        "errors": 0,
        "packages": [],
        "problems": [],
        "more": False,
    }
    # checked since this moment: a second sweep at the same time has nothing due
    assert api.client.post("/archive/fixity", headers=h).json()["checked"] == 0

    with db() as s, s.begin():
        row = s.scalars(select(ArchivePackage)).one()
        row.retention_end = date(2020, 12, 31)
    ah = api.archivist.headers
    assert api.client.post("/archive/appraisal", headers=ah).json()["total"] == 1
    d = api.client.post(
        f"/archive/cases/{ref}/disposal",
        json={"register_number": "XH-2026-9", "reason": "保管期满"},
        headers=ah,
    )
    assert d.status_code == 201, d.text
    did = d.json()["id"]
    self_approve = api.client.post(f"/archive/disposals/{did}/approve", headers=ah)
    assert self_approve.status_code == 403
    assert (
        api.client.post(f"/archive/disposals/{did}/approve", headers=h).json()["state"]
        == "proposed"
    )
    early = api.client.post(f"/archive/disposals/{did}/execute", headers=ah)
    assert early.status_code == 403
    second = api.client.post(f"/archive/disposals/{did}/approve", headers=api.archivist2.headers)
    assert second.json()["state"] == "approved"
    done = api.client.post(f"/archive/disposals/{did}/execute", headers=ah)
    assert done.status_code == 200
    assert done.json()["state"] == "executed"
    gone = api.client.get(f"/archive/cases/{ref}", params={"purpose": "x"}, headers=h)
    assert gone.status_code == 404
    assert gone.json()["code"] == "archive.not_found"


def test_search_problems_are_problem_json_and_record_no_access(
    api: Api, db: sessionmaker[Session]
) -> None:
    h = api.auditor.headers
    short = api.client.get("/archive/cases", params={"text": "许可"}, headers=h)
    assert short.status_code == 400
    assert short.json()["code"] == "archive.search_too_short"
    cursor = api.client.get("/archive/cases", params={"after": "yesterday"}, headers=h)
    assert (cursor.status_code, cursor.json()["code"]) == (400, "archive.bad_cursor")
    deep = api.client.get("/archive/cases", params={"offset": 1001}, headers=h)
    assert deep.status_code == 422
    with db() as s:
        assert s.scalars(select(ArchiveAccess)).all() == []  # rolled back with the search
    ok = api.client.get("/archive/cases", params={"text": "许可证"}, headers=h)
    assert ok.json() == {"total": 0, "items": [], "total_capped": False, "next": None}


def test_transfer_download_and_receipt(api: Api, tmp_path: Path) -> None:
    ref = api.submit(api.upload(api.zipped())).json()["package"]["id"]
    ah = api.archivist.headers
    made = api.client.post(
        "/archive/transfers", json={"refs": [ref], "receiver": "某某市档案馆"}, headers=ah
    )
    assert made.status_code == 201, made.text
    record = made.json()
    assert record["state"] == "created"
    assert (
        api.client.get(
            f"/archive/transfers/{record['id']}/package.zip", headers=api.auditor.headers
        ).status_code
        == 403
    )  # handing over is the archivist's
    z = api.client.get(f"/archive/transfers/{record['id']}/package.zip", headers=ah)
    assert z.status_code == 200
    assert z.headers["x-transfer-root-sm3"] == record["root_sm3"]
    out = tmp_path / "received"
    with zipfile.ZipFile(io.BytesIO(z.content)) as zf:
        assert {n.split("/", 1)[0] for n in zf.namelist()} == {record["id"]}
        zf.extractall(out)
    bag = out / record["id"]
    result = validate_bag(DirectoryBagSource(bag), expected_root=record["root_sm3"])
    assert result.valid, result.summary()
    receipt = json.dumps(
        {
            "transfer_id": record["id"],
            "transfer_root_sm3": sm3_hex((bag / "tagmanifest-sm3.txt").read_bytes()),
            "manifest_sm3": sm3_hex((bag / "data/transfer-manifest.json").read_bytes()),
            "result": "accepted",
        }
    )
    bad = api.client.post(
        f"/archive/transfers/{record['id']}/receipt",
        json={"receipt": receipt.replace("accepted", "maybe")},
        headers=ah,
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == "archive.receipt_invalid"
    ok = api.client.post(
        f"/archive/transfers/{record['id']}/receipt", json={"receipt": receipt}, headers=ah
    )
    assert ok.status_code == 200, ok.text
    assert (ok.json()["state"], ok.json()["receipt_check"]) == ("received", "signature.absent")
    seen = api.client.get(f"/archive/transfers/{record['id']}", headers=api.auditor.headers)
    assert seen.json()["receipt_sm3"] == sm3_hex(receipt.encode())
