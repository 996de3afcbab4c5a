"""Preservation: the fixity check names every changed or missing file and re-checks signature and
log inclusion; retention leads to appraisal, never to deletion; disposal needs two distinct
approvals, leaves a tombstone and removes objects only after its commit (a failure before the
commit keeps every file; leftovers after it go with the inventory sweep)."""

from __future__ import annotations

import json
import os
import stat
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from archive import disposal, preservation, sweeps
from archive.inventory import sweep_inventory
from archive.model import ArchiveFile, ArchivePackage
from archive.service_errors import DisposalNotAllowed, PackageNotFound
from tests.integration.archive.conftest import ArchiveWorld
from trust.clock import SystemClock
from trust.tlog.model import TlogEntry


def _sweep(world: ArchiveWorld, ref: str) -> dict[str, Any]:
    with world.db() as s, s.begin():
        out = preservation.check_package_fixity(
            session=s,
            clock=world.clock,
            keystore=world.keystore,
            store=world.tools_store(),
            ref=ref,
            actor="user:auditor",
            timestamps=world.tools(s).timestamps,
        )
    return out.report


def _address(world: ArchiveWorld, package_id: str, path: str) -> str:
    with world.db() as s:
        row = s.get(ArchiveFile, (package_id, path))
        assert row is not None
        return row.sm3


def _writable(path: os.PathLike[str]) -> None:
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


ORIG = "data/representations/original/data/"


def test_an_untouched_package_passes_every_check(world: ArchiveWorld) -> None:
    done = world.ingest(world.case().path)
    report = _sweep(world, done.package.archival_code)
    assert report["outcome"] == "pass", report
    assert report["signature"]["reason"] == "signature.valid"
    assert report["timestamp"]["status"] == "valid"
    assert report["log"]["reason"] == "log.included"
    assert report["files_ok"] > 10
    with world.db() as s:
        kinds = [e.kind for e in s.scalars(select(TlogEntry).order_by(TlogEntry.idx))]
    assert kinds[-1] == "archive.fixity"


@pytest.mark.parametrize("name", ["0002-营业执照.jpg", "0007-电子证照.ofd"])
def test_one_flipped_byte_is_named(world: ArchiveWorld, name: str) -> None:
    done = world.ingest(world.case().path)
    path = world.tools_store().path_of(_address(world, done.package.id, ORIG + name))
    _writable(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))
    report = _sweep(world, done.package.archival_code)
    assert report["outcome"] == "fail"
    assert [(f["path"], f["state"]) for f in report["files"]] == [(ORIG + name, "changed")]
    assert report["signature"]["ok"]
    assert report["log"]["ok"]


def test_a_deleted_file_is_named_missing(world: ArchiveWorld) -> None:
    done = world.ingest(world.case().path)
    path = world.tools_store().path_of(
        _address(world, done.package.id, ORIG + "0003-经营场所照片.png")
    )
    path.unlink()
    report = _sweep(world, done.package.id)
    assert report["outcome"] == "fail"
    assert (ORIG + "0003-经营场所照片.png", "missing") in [
        (f["path"], f["state"]) for f in report["files"]
    ]
    with world.db() as s:
        last = s.scalars(select(TlogEntry).order_by(TlogEntry.idx.desc())).first()
        assert last is not None
        assert last.kind == "archive.fixity"
        payload = json.loads(last.data)["payload"]
    assert payload["missing"] == [ORIG + "0003-经营场所照片.png"]
    assert payload["result"] == "fail"


def test_a_replaced_signature_is_found(world: ArchiveWorld) -> None:
    done = world.ingest(world.case().path)
    with world.db() as s:
        row = s.get(ArchivePackage, done.package.id)
        assert row is not None
        uncovered = dict(json.loads(row.uncovered))
    path = world.tools_store().path_of(uncovered["archive-seal.p7s"])
    _writable(path)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01  # inside the signature value
    path.write_bytes(bytes(data))
    report = _sweep(world, done.package.archival_code)
    assert report["outcome"] == "fail"
    assert not report["signature"]["ok"]


def _expire(world: ArchiveWorld) -> None:
    with world.db() as s, s.begin():
        for row in s.scalars(select(ArchivePackage)):
            row.retention_end = date(2020, 12, 31)


def test_retention_end_leads_to_appraisal_and_disposal_needs_two_distinct_approvals(
    world: ArchiveWorld,
) -> None:
    done = world.ingest(world.case().path)
    code = done.package.archival_code
    with world.db() as s, s.begin(), pytest.raises(DisposalNotAllowed):
        disposal.propose_disposal(
            session=s,
            clock=world.clock,
            ref=code,
            register_number="XH-1",
            reason="r",
            actor="a",
        )
    _expire(world)
    due = sweeps.sweep_appraisal(session_factory=world.db, clock=world.clock, actor="system")
    assert due.flagged == (done.package.id,)
    assert world.tools_store().exists(done.package.root_sm3)  # appraisal deletes nothing
    with world.db() as s, s.begin():
        d = disposal.propose_disposal(
            session=s,
            clock=world.clock,
            ref=code,
            register_number="XH-2026-001",
            reason="保管期满，经鉴定无继续保存价值",
            actor="user:archivist",
        )
    for who in ("user:archivist", "user:boss"):
        with world.db() as s, s.begin():
            if who == "user:archivist":
                with pytest.raises(DisposalNotAllowed):
                    disposal.approve_disposal(
                        session=s, clock=world.clock, disposal_id=d.id, actor=who
                    )
            else:
                state = disposal.approve_disposal(
                    session=s, clock=world.clock, disposal_id=d.id, actor=who
                )
                assert state.state == "proposed"
    # the same approver twice
    with world.db() as s, s.begin(), pytest.raises(DisposalNotAllowed):
        disposal.approve_disposal(session=s, clock=world.clock, disposal_id=d.id, actor="user:boss")
    # one approval is not enough
    with pytest.raises(DisposalNotAllowed):
        disposal.execute_disposal(
            session_factory=world.db,
            clock=world.clock,
            store=world.tools_store(),
            disposal_id=d.id,
            actor="user:archivist",
        )
    with world.db() as s, s.begin():
        state = disposal.approve_disposal(
            session=s, clock=world.clock, disposal_id=d.id, actor="user:director"
        )
        assert state.state == "approved"
    disposal.execute_disposal(
        session_factory=world.db,
        clock=world.clock,
        store=world.tools_store(),
        disposal_id=d.id,
        actor="user:archivist",
    )
    assert not world.tools_store().exists(done.package.root_sm3)
    assert list(world.tools_store().list()) == []
    with world.db() as s:
        row = s.get(ArchivePackage, done.package.id)
        assert row is not None
        assert row.status == "disposed"
        assert row.metadata_text == ""
        tomb = s.scalars(select(TlogEntry).where(TlogEntry.kind == "archive.disposal")).one()
        payload = json.loads(tomb.data)["payload"]
    assert payload["root_sm3"] == done.package.root_sm3
    assert payload["approved_by"] == ["user:boss", "user:director"]
    assert "applicant" not in json.dumps(payload)
    with world.db() as s, s.begin(), pytest.raises(PackageNotFound):
        _ = preservation.check_package_fixity(
            session=s,
            clock=world.clock,
            keystore=world.keystore,
            store=world.tools_store(),
            ref=code,
            actor="x",
        )


def test_disposal_keeps_objects_another_version_still_uses(world: ArchiveWorld) -> None:
    v1 = world.ingest(world.case("v1").path)

    def v2(case: dict[str, Any]) -> None:
        case["version"] = 2
        case["archival_code"] = None

    v2_done = world.ingest(world.case("v2", mutate=v2).path)
    with world.db() as s, s.begin():
        row = s.get(ArchivePackage, v1.package.id)
        assert row is not None
        row.retention_end = date(2020, 1, 1)
    d_id = _approved_disposal(world, v1.package.id, "XH-9")
    disposal.execute_disposal(
        session_factory=world.db,
        clock=world.clock,
        store=world.tools_store(),
        disposal_id=d_id,
        actor="a",
    )
    report = _sweep(world, v2_done.package.id)
    assert report["outcome"] == "pass", report


def _approved_disposal(world: ArchiveWorld, package_id: str, register: str) -> str:
    sweeps.sweep_appraisal(session_factory=world.db, clock=world.clock, actor="system")
    with world.db() as s, s.begin():
        d = disposal.propose_disposal(
            session=s,
            clock=world.clock,
            ref=package_id,
            register_number=register,
            reason="保管期满，经鉴定无继续保存价值",
            actor="a",
        )
        disposal.approve_disposal(session=s, clock=world.clock, disposal_id=d.id, actor="b")
        disposal.approve_disposal(session=s, clock=world.clock, disposal_id=d.id, actor="c")
    return d.id


class Injected(RuntimeError):
    pass


def test_a_failure_before_the_disposal_commits_keeps_every_file(world: ArchiveWorld) -> None:
    done = world.ingest(world.case().path)
    _expire(world)
    d_id = _approved_disposal(world, done.package.id, "XH-7")
    before = set(world.tools_store().list())
    seen: list[set[str]] = []

    def fail_before_commit() -> None:
        with world.db() as s, s.begin():
            executed = disposal.record_disposal(
                session=s, clock=world.clock, disposal_id=d_id, actor="a"
            )
            seen.append(set(executed.addresses))  # what would go after the commit
            raise Injected("the commit never happens")

    with pytest.raises(Injected):
        fail_before_commit()
    assert seen == [before]
    assert set(world.tools_store().list()) == before
    with world.db() as s:
        row = s.get(ArchivePackage, done.package.id)
        assert row is not None
        assert row.status == "appraisal"
    # then the real thing: recorded, committed, then removed
    disposal.execute_disposal(
        session_factory=world.db,
        clock=world.clock,
        store=world.tools_store(),
        disposal_id=d_id,
        actor="a",
    )
    assert list(world.tools_store().list()) == []


def test_objects_left_by_a_disposal_that_died_after_its_commit_go_with_the_sweep(
    world: ArchiveWorld,
) -> None:
    done = world.ingest(world.case().path)
    _expire(world)
    d_id = _approved_disposal(world, done.package.id, "XH-8")
    with world.db() as s, s.begin():  # committed, then "killed" before the removal
        disposal.record_disposal(session=s, clock=world.clock, disposal_id=d_id, actor="a")
    left = set(world.tools_store().list())
    assert left
    summary = sweep_inventory(
        session_factory=world.db,
        clock=SystemClock(),
        settings=world.settings,
        grace=timedelta(0),
    )
    assert set(summary.removed) == left
    assert list(world.tools_store().list()) == []
