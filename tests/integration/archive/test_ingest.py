"""Ingest end to end on a real database: checks, bag, signature, timestamp, log, store.

Independent verifiers: the seals CMS verifier (``seals.verify_ofd.verify_signed_data``) reads the
archive signature, ``trust.tsa.verify`` the timestamp, ``trust.tlog.verify`` recomputes the leaf,
and the Library of Congress ``bagit`` package validates exported bags.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from archive.bag import DirectoryBagSource, validate_bag
from archive.case import RequiredMaterial
from archive.model import ArchiveFile, ArchivePackage
from archive.retrieval import export_package
from archive.service_errors import IngestRefused, VersionConflict
from archive.service_items import ServiceItemRecord, upsert_service_item
from archive.service_tools import archive_store
from seals.verification import AnchorListEvaluator
from seals.verify_ofd import verify_signed_data
from tests.conftest import skip_or_fail
from tests.integration.archive.conftest import ArchiveWorld
from trust.ca import service as ca_service
from trust.crypto import sm3
from trust.tlog import service as tlog
from trust.tlog.model import TlogEntry
from trust.tsa.verify import verify_timestamp_token


def _export(world: ArchiveWorld, ref: str, dest: Path) -> Path:
    with world.db() as s, s.begin():
        export_package(
            session=s,
            clock=world.clock,
            store=archive_store(world.settings),
            ref=ref,
            dest=dest,
            actor="user:archivist",
            purpose="测试导出",
        )
    return dest


def _ingest_leaves(world: ArchiveWorld) -> list[dict[str, Any]]:
    with world.db() as s:
        rows = s.scalars(select(TlogEntry).where(TlogEntry.kind == "archive.ingest")).all()
        return [json.loads(r.data) for r in rows]


def _count(world: ArchiveWorld) -> int:
    with world.db() as s:
        return s.scalar(select(func.count()).select_from(ArchivePackage)) or 0


def test_a_valid_case_is_archived_signed_timestamped_and_logged(
    world: ArchiveWorld, tmp_path: Path
) -> None:
    folder = world.case()
    done = world.ingest(folder.path)
    record = done.package
    assert done.created
    assert done.report is not None
    assert done.report["verdict"] == "passed"
    assert record.archival_code == "A439-WS·2026·D30·XK·ZC-005"
    assert record.case_number == "SP20260510-000123"
    assert record.version == 1
    assert record.retention_end is not None
    assert record.retention_end.year == 2056

    bag = _export(world, record.archival_code, tmp_path / "out")
    tagmanifest = (bag / "tagmanifest-sm3.txt").read_bytes()
    assert sm3(tagmanifest).hex() == record.root_sm3
    # byte-identical originals
    for name in folder.case["materials"]:
        original = folder.file(name["file"]).read_bytes()
        archived = bag / "data/representations/original/data" / name["file"]
        assert archived.read_bytes() == original
    # evidence, report, trail, archival record
    assert (bag / "data/metadata/preservation/four-properties-report.json").is_file()
    assert list((bag / "data/evidence/seals").rglob("report-*.json"))
    assert list((bag / "data/evidence/seals").rglob("signer-chain-*.pem"))
    trail = (bag / "data/process/trail.jsonl").read_bytes().splitlines()
    assert len(trail) == 7
    assert json.loads(trail[1])["prev_sm3"] == sm3(trail[0]).hex()
    archival = json.loads((bag / "data/metadata/descriptive/archival.json").read_bytes())
    assert archival["archival_code"] == record.archival_code
    info = (bag / "bag-info.txt").read_text(encoding="utf-8")
    assert "Archival-Code: A439-WS·2026·D30·XK·ZC-005" in info

    # the archive's signature, read by the seals CMS verifier, over the tag manifest
    with world.db() as s:
        anchors = ca_service.trust_anchors_der(session=s)
        chain = ca_service.ca_chain(session=s)
    verified = verify_signed_data(
        (bag / "archive-seal.p7s").read_bytes(),
        original=tagmanifest,
        trust=AnchorListEvaluator(tuple(anchors)),
        now=world.clock.now(),
    )
    assert verified.signer_signature.ok
    assert verified.document_hash.ok
    tampered = verify_signed_data(
        (bag / "archive-seal.p7s").read_bytes(),
        original=tagmanifest + b"x",
        trust=AnchorListEvaluator(tuple(anchors)),
        now=world.clock.now(),
    )
    assert not tampered.document_hash.ok
    # the timestamp token covers SM3(tagmanifest-sm3.txt) and chains to our root
    ts = verify_timestamp_token(
        (bag / "archive-seal.tsr").read_bytes(),
        data=tagmanifest,
        trust_anchors_der=anchors,
        certificates_der=chain,
    )
    assert ts.outcome.value == "valid", ts.reason

    # one log leaf, naming the root; its inclusion proof leads to the head
    leaves = _ingest_leaves(world)
    assert [leaf["payload"]["root_sm3"] for leaf in leaves] == [record.root_sm3]
    with world.db() as s:
        size, root = tlog.log_head(session=s)
        proof = tlog.inclusion_proof(session=s, index=record.log_index, tree_size=size)
        entry = tlog.get_entry(session=s, index=record.log_index)
    from trust.tlog.merkle import leaf_hash, root_from_inclusion_proof

    assert (
        root_from_inclusion_proof(record.log_index, size, leaf_hash(entry.data), proof.path) == root
    )


def test_loc_bagit_validates_the_exported_bag(
    world: ArchiveWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        import bagit  # type: ignore[import-untyped]
    except ImportError:
        skip_or_fail("the Library of Congress 'bagit' package is not installed")
        raise
    done = world.ingest(world.case().path)
    bag_dir = _export(world, done.package.archival_code, tmp_path / "bag")
    # without the addition: LoC bagit sees and validates the SHA-256 manifests only
    plain = bagit.Bag(str(bag_dir))
    assert plain.algorithms == ["sha256"]
    plain.validate()
    # with SM3 registered (earchive spec §9), both manifests are validated
    monkeypatch.setattr(bagit, "CHECKSUM_ALGOS", set(hashlib.algorithms_guaranteed) | {"sm3"})
    both = bagit.Bag(str(bag_dir))
    assert sorted(both.algorithms) == ["sha256", "sm3"]
    both.validate()
    # and it really checks SM3: a changed SM3 manifest line fails (the SHA-256 tag manifest
    # would catch it too, so the SM3 manifest is rewritten and the tag manifests left alone)
    name = next(p for p in (bag_dir / "data/representations/original/data").iterdir())
    victim = name.relative_to(bag_dir).as_posix()
    data = bytearray(name.read_bytes())
    data[len(data) // 2] ^= 0x01
    name.chmod(0o644)
    name.write_bytes(bytes(data))
    with pytest.raises(bagit.BagValidationError) as err:
        bagit.Bag(str(bag_dir)).validate()
    assert victim in str(err.value) or "sm3" in str(err.value).lower()
    ours = validate_bag(DirectoryBagSource(bag_dir), expected_root=done.package.root_sm3)
    assert ours.changed == (victim,)


def test_resubmitting_the_same_case_is_idempotent(world: ArchiveWorld) -> None:
    folder = world.case()
    first = world.ingest(folder.path)
    again = world.ingest(folder.path)
    assert not again.created
    assert again.report is None
    assert again.package.id == first.package.id
    assert _count(world) == 1
    assert len(_ingest_leaves(world)) == 1


def test_the_same_version_with_other_content_is_a_conflict(world: ArchiveWorld) -> None:
    world.ingest(world.case("a").path)

    def retitle(case: dict[str, Any]) -> None:
        case["materials"][0]["title"] = "食品经营许可申请书（更正）"

    with pytest.raises(VersionConflict) as err:
        world.ingest(world.case("b", mutate=retitle).path)
    assert err.value.code == "archive.version_exists"
    assert _count(world) == 1


def _flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0x01
    return bytes(out)


def test_a_case_with_an_altered_decision_seal_is_refused_and_nothing_is_stored(
    world: ArchiveWorld,
) -> None:
    def alter(files: dict[str, bytes]) -> None:
        pdf = files["0006-准予许可决定书.pdf"]
        # change one byte of the signed content (inside the first ByteRange, after the header)
        files["0006-准予许可决定书.pdf"] = _flip(pdf, 200)

    def keep_digest(case: dict[str, Any]) -> None:
        pass

    folder = world.case(tamper=alter, mutate=keep_digest)
    # declared digests are those of the original bytes: refresh them so that only the seal fails
    from tests.unit.archive.case_factory import fill_digests

    files = {p.name: p.read_bytes() for p in (folder.path / "files").iterdir()}
    fill_digests(folder.case, files)
    (folder.path / "case.json").write_text(
        json.dumps(folder.case, ensure_ascii=False), encoding="utf-8"
    )
    with pytest.raises(IngestRefused) as err:
        world.ingest(folder.path)
    failures = err.value.extra["failures"]
    seal_failures = [
        f for f in failures if f["check"] == "authenticity.seal" and f["subject"].startswith("0006")
    ]
    assert seal_failures, failures
    assert err.value.code == "archive.checks_failed"
    assert _count(world) == 0
    assert _ingest_leaves(world) == []
    assert list(archive_store(world.settings).list()) == []
    staging = world.settings.blob_dir / "archive" / "staging"
    assert not staging.exists() or not any(staging.iterdir())


def test_the_catalogue_material_list_is_enforced(world: ArchiveWorld) -> None:
    with world.db() as s, s.begin():
        upsert_service_item(
            session=s,
            clock=world.clock,
            item=ServiceItemRecord(
                "000123456789-XK-0001",
                "食品经营许可（新办）",
                "行政许可",
                "D30",
                (RequiredMaterial("M01", "申请书", True), RequiredMaterial("M09", "承诺书", True)),
            ),
        )
    with pytest.raises(IngestRefused) as err:
        world.ingest(world.case().path)
    reasons = {(f["subject"], f["reason"]) for f in err.value.extra["failures"]}
    assert ("M09", "material.catalogue_missing") in reasons


def _without_code(case: dict[str, Any]) -> None:
    case["archival_code"] = None


def test_an_archival_code_is_assigned_when_the_case_has_none(world: ArchiveWorld) -> None:
    first = world.ingest(world.case("a", mutate=_without_code).path)

    def other(case: dict[str, Any]) -> None:
        _without_code(case)
        case["case_number"] = "SP20260510-000124"

    second = world.ingest(world.case("b", mutate=other).path)
    assert first.package.archival_code == "A439-WS·2026·D30-0001"
    assert second.package.archival_code == "A439-WS·2026·D30-0002"


def test_a_zip_and_a_flat_folder_are_accepted(world: ArchiveWorld, tmp_path: Path) -> None:
    folder = world.case()
    archive = tmp_path / "case.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(folder.path / "case.json", "case/case.json")
        for f in (folder.path / "files").iterdir():
            zf.write(f, f"case/files/{f.name}")
    done = world.ingest(archive)
    assert done.created
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "case.json").write_bytes((folder.path / "case.json").read_bytes())
    for f in (folder.path / "files").iterdir():
        (flat / f.name).write_bytes(f.read_bytes())
    again = world.ingest(flat)
    assert not again.created
    assert again.package.id == done.package.id


def test_a_zip_member_that_escapes_is_refused(world: ArchiveWorld, tmp_path: Path) -> None:
    from archive.errors import UnsafePath

    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("case.json", "{}")
        zf.writestr("../escape.txt", "x")
    with pytest.raises(UnsafePath):
        world.ingest(archive)
    assert not (tmp_path / "escape.txt").exists()


def test_version_two_points_to_the_first_root(world: ArchiveWorld) -> None:
    v1 = world.ingest(world.case("v1").path)

    def v2(case: dict[str, Any]) -> None:
        case["version"] = 2
        case["archival_code"] = None

    second = world.ingest(world.case("v2", mutate=v2).path)
    assert second.package.previous_root == v1.package.root_sm3
    with world.db() as s:
        shared = s.scalars(
            select(func.count())
            .select_from(ArchiveFile)
            .where(ArchiveFile.package_id == second.package.id)
        ).one()
    assert shared > 10


def test_version_two_without_version_one_is_refused(world: ArchiveWorld) -> None:
    def v2(case: dict[str, Any]) -> None:
        case["version"] = 2

    with pytest.raises(IngestRefused) as err:
        world.ingest(world.case(mutate=v2).path)
    assert ("version", "version.previous_missing") in {
        (f["subject"], f["reason"]) for f in err.value.extra["failures"]
    }
