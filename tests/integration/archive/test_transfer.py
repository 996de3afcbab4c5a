"""Transfer (移交) and receipt (回执): one BagIt bag named by its transfer id, validated by our
reader and by the Library of Congress ``bagit`` package, holding every package as stored and a
manifest signed by the archive key; a failed transfer leaves no folder; the receiving archives'
receipt must name this transfer, its root and its manifest, is verified when signed, and is
kept, hashed and logged."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import select

from archive.bag import DirectoryBagSource, validate_bag
from archive.errors import BlobNotFound
from archive.ingest import sign_root
from archive.inventory import sweep_inventory
from archive.model import ArchiveAccess, ArchiveFile, ArchiveTransfer
from archive.service import STAGING_OWNER
from archive.service_tools import transfers_root
from archive.transfer import TransferRecord, create_transfer, record_receipt
from seals.verification import AnchorListEvaluator
from seals.verify_ofd import verify_signed_data
from tests.conftest import skip_or_fail
from tests.integration.archive.conftest import ArchiveWorld
from tests.unit.seals.pdf_fixtures import make_test_signer
from trust.ca import service as ca_service
from trust.ca.anchors import add_trust_anchor
from trust.clock import SystemClock
from trust.crypto import sm3_hex
from trust.errors import Conflict, InvalidInput
from trust.tlog.model import TlogEntry

RECEIVER = "某某市档案馆"


def _two(world: ArchiveWorld) -> tuple[str, str]:
    a = world.ingest(world.case("a").path)

    def other(case: dict[str, Any]) -> None:
        case["case_number"] = "SP20260601-000200"
        case["archival_code"] = None

    b = world.ingest(world.case("b", mutate=other).path)
    return a.package.id, b.package.id


def _transfer(world: ArchiveWorld, refs: list[str]) -> TransferRecord:
    with world.db() as s, s.begin():
        return create_transfer(
            session=s,
            clock=world.clock,
            keystore=world.keystore,
            store=world.tools_store(),
            refs=refs,
            root=transfers_root(world.settings),
            receiver=RECEIVER,
            actor="user:archivist",
        )


@pytest.fixture
def loc_bagit() -> ModuleType:
    try:
        import bagit  # type: ignore[import-untyped]
    except ImportError:
        skip_or_fail("the Library of Congress 'bagit' package is not installed")
        raise
    loaded: ModuleType = bagit
    return loaded


def test_a_transfer_is_one_bag_named_by_its_id(
    world: ArchiveWorld, loc_bagit: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _two(world)
    record = _transfer(world, [a, b])
    folder = transfers_root(world.settings) / record.id
    assert Path(record.location) == folder
    assert sorted(p.name for p in transfers_root(world.settings).iterdir()) == [record.id]
    # one id everywhere: folder, bag-info, manifest, template
    info = (folder / "bag-info.txt").read_text(encoding="utf-8")
    assert f"External-Identifier: {record.id}" in info
    body = (folder / "data/transfer-manifest.json").read_bytes()
    manifest = json.loads(body)
    assert manifest["transfer_id"] == record.id
    assert sm3_hex(body) == record.manifest_sm3
    template = json.loads((folder / "data/receipt-template.json").read_bytes())
    assert (template["transfer_id"], template["manifest_sm3"]) == (record.id, record.manifest_sm3)
    # the outer bag and each package inside it validate against their roots
    outer = validate_bag(DirectoryBagSource(folder), expected_root=record.root_sm3)
    assert outer.valid, outer.summary()
    for entry in manifest["packages"]:
        inner = validate_bag(
            DirectoryBagSource(folder / entry["folder"]), expected_root=entry["root_sm3"]
        )
        assert inner.valid, inner.summary()
        assert inner.payload_oxum == entry["payload_oxum"]
    assert manifest["package_count"] == record.package_count == 2
    # the LoC bagit package: SHA-256 as is, SM3 once registered (earchive spec §9)
    loc_bagit.Bag(str(folder)).validate()
    monkeypatch.setattr(
        loc_bagit, "CHECKSUM_ALGOS", set(hashlib.algorithms_guaranteed) | {"sm3"}, raising=True
    )
    both = loc_bagit.Bag(str(folder))
    assert sorted(both.algorithms) == ["sha256", "sm3"]
    both.validate()
    # the manifest is signed by the archive key
    with world.db() as s:
        anchors = ca_service.trust_anchors_der(session=s)
        leaves = s.scalars(select(TlogEntry).where(TlogEntry.kind == "archive.transfer")).all()
        purposes = set(s.scalars(select(ArchiveAccess.purpose)))
    verified = verify_signed_data(
        (folder / "data/transfer-manifest.p7s").read_bytes(),
        original=body,
        trust=AnchorListEvaluator(tuple(anchors)),
        now=world.clock.now(),
    )
    assert verified.signer_signature.ok
    assert verified.document_hash.ok
    assert [json.loads(e.data)["payload"]["transfer_id"] for e in leaves] == [record.id] * 2
    assert f"移交至 {RECEIVER}" in purposes


def test_a_failed_transfer_leaves_no_folder(world: ArchiveWorld) -> None:
    a, b = _two(world)
    with world.db() as s:
        victim = s.scalars(
            select(ArchiveFile.sm3).where(
                ArchiveFile.package_id == b, ArchiveFile.path.like("data/representations/%")
            )
        ).first()
    assert victim is not None
    path = world.tools_store().path_of(victim)
    os.chmod(path.parent, stat.S_IRWXU)
    path.unlink()
    with pytest.raises(BlobNotFound):
        _transfer(world, [a, b])
    assert list(transfers_root(world.settings).iterdir()) == []
    with world.db() as s:
        assert s.scalars(select(ArchiveTransfer)).all() == []


def test_a_killed_transfer_leaves_only_a_temporary_folder_the_sweep_removes(
    world: ArchiveWorld,
) -> None:
    root = transfers_root(world.settings)
    dead = root / ".tmp-trf_DEAD"
    (dead / "bag" / "data").mkdir(parents=True)
    (dead / STAGING_OWNER).write_bytes(b"")  # nobody holds its lock: the writer is gone
    (dead / "bag" / "data" / "half.bin").write_bytes(b"x" * 100)
    summary = sweep_inventory(
        session_factory=world.db,
        clock=SystemClock(),
        settings=world.settings,
        grace=timedelta(0),
    )
    assert summary.staging_removed == 1
    assert list(root.iterdir()) == []


def _receipt(record: TransferRecord, **kw: Any) -> bytes:
    folder = Path(record.location)
    body = {
        "transfer_id": record.id,
        # computed by the receiver from what it received
        "transfer_root_sm3": sm3_hex((folder / "tagmanifest-sm3.txt").read_bytes()),
        "manifest_sm3": sm3_hex((folder / "data/transfer-manifest.json").read_bytes()),
        "receiver": RECEIVER,
        "received_at": "2026-11-23T10:00:00+08:00",
        "result": "accepted",
        "problems": [],
        **kw,
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True).encode()


def _record(
    world: ArchiveWorld, record: TransferRecord, receipt: bytes, signature: bytes | None = None
) -> TransferRecord:
    with world.db() as s, s.begin():
        return record_receipt(
            session=s,
            clock=world.clock,
            trust=world.tools(s).trust,
            transfer_id=record.id,
            receipt=receipt,
            signature=signature,
            actor="user:archivist",
        )


def test_an_unsigned_receipt_is_hashed_and_logged(world: ArchiveWorld) -> None:
    a, _b = _two(world)
    record = _transfer(world, [a])
    receipt = _receipt(record)
    done = _record(world, record, receipt)
    assert (done.state, done.receipt_check) == ("received", "signature.absent")
    assert done.receipt_sm3 == sm3_hex(receipt)
    with world.db() as s:
        row = s.get(ArchiveTransfer, record.id)
        assert row is not None
        assert row.receipt == receipt.decode()
        leaf = s.scalars(
            select(TlogEntry).where(TlogEntry.kind == "archive.transfer_receipt")
        ).one()
    payload = json.loads(leaf.data)["payload"]
    assert (payload["receipt_sm3"], payload["result"]) == (sm3_hex(receipt), "accepted")
    assert done.receipt_check == payload["signature"]
    with pytest.raises(Conflict):
        _record(world, record, receipt)


def test_a_receipt_for_something_else_is_refused(world: ArchiveWorld) -> None:
    a, _b = _two(world)
    record = _transfer(world, [a])
    with pytest.raises(InvalidInput) as err:
        _record(world, record, _receipt(record, transfer_root_sm3="0" * 64))
    assert err.value.code == "archive.receipt_mismatch"
    assert err.value.extra["fields"] == ["transfer_root_sm3"]
    with pytest.raises(InvalidInput) as bad:
        _record(world, record, _receipt(record, result="maybe"))
    assert bad.value.code == "archive.receipt_invalid"


def test_a_signed_receipt_is_verified(world: ArchiveWorld) -> None:
    a, b = _two(world)
    signer = make_test_signer("某某市档案馆")
    with world.db() as s, s.begin():  # the receiving archives' root is on our trust list
        add_trust_anchor(
            session=s, clock=world.clock, pem=signer.chain[-1], actor="t", label="档案馆"
        )
    when = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    record = _transfer(world, [a])
    receipt = _receipt(record, result="rejected", problems=["0001 根摘要不一致"])
    signature = sign_root(receipt, signer=signer, signing_time=when)
    # a signature over other bytes refuses the receipt
    with pytest.raises(InvalidInput) as err:
        _record(world, record, receipt + b" ", signature)
    assert err.value.code == "archive.receipt_signature_invalid"
    done = _record(world, record, receipt, signature)
    assert (done.state, done.receipt_check) == ("rejected", "signature.valid")
    assert done.receipt_signer is not None
    assert "某某市档案馆" in done.receipt_signer
    # a valid signature by someone we do not know is recorded as such
    other = _transfer(world, [b])
    stranger = make_test_signer("不明档案馆")
    receipt2 = _receipt(other)
    done2 = _record(world, other, receipt2, sign_root(receipt2, signer=stranger, signing_time=when))
    assert (done2.state, done2.receipt_check) == ("received", "signature.untrusted")
