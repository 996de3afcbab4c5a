"""Retrieval: search by every criterion, the case view, streamed files and packages, the
dissemination copy, and the access register with purposes (transfers: ``test_transfer``)."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from archive import retrieval
from archive.bag import DirectoryBagSource, validate_bag
from archive.model import ArchiveAccess
from archive.retrieval import SearchQuery
from tests.integration.archive.conftest import ArchiveWorld
from trust.errors import InvalidInput
from trust.tlog.model import TlogEntry


def _two_cases(world: ArchiveWorld) -> tuple[str, str]:
    a = world.ingest(world.case("a").path)

    def other(case: dict[str, Any]) -> None:
        case["case_number"] = "SP20260601-000200"
        case["archival_code"] = None
        case["applicant"] = {
            "kind": "legal",
            "name": "另一家餐饮管理有限公司",
            "id_type": "统一社会信用代码",
            "id_number": case["applicant"]["id_number"],
        }
        case["nodes"][-1]["time"] = "2026-06-30T09:00:00+08:00"
        case["decision"]["number"] = "某审批许决字〔2026〕200号"

    b = world.ingest(world.case("b", mutate=other).path)
    return a.package.archival_code, b.package.archival_code


def _search(world: ArchiveWorld, **kw: Any) -> list[str]:
    with world.db() as s:
        result = retrieval.search(session=s, query=SearchQuery(**kw))
    return sorted(r.archival_code for r in result.items)


def _view(world: ArchiveWorld, ref: str, *, actor: str, purpose: str) -> retrieval.CaseView:
    """The case view, in a transaction of its own (the access it records is committed)."""
    with world.db() as s, s.begin():
        return retrieval.case_view(
            session=s,
            clock=world.clock,
            store=world.tools_store(),
            ref=ref,
            actor=actor,
            purpose=purpose,
        )


def test_search_by_each_criterion(world: ArchiveWorld) -> None:
    a, b = _two_cases(world)
    assert _search(world) == sorted([a, b])
    assert _search(world, case_number="SP20260510-000123") == [a]
    assert _search(world, archival_code=b) == [b]
    assert _search(world, applicant="餐饮管理") == [b]  # 3+ characters: anywhere in the name
    assert _search(world, item="000123456789-XK-0001") == sorted([a, b])
    assert _search(world, item="食品经营") == sorted([a, b])  # by the names seen at ingest
    assert _search(world, item="不存在的事项") == []
    assert _search(world, date_from=date(2026, 6, 1)) == [b]
    assert _search(world, date_to=date(2026, 5, 31)) == [a]
    assert _search(world, text="〔2026〕200号") == [b]
    assert _search(world, text="100%") == []  # LIKE wildcards are literal
    assert _search(world, applicant="另一家", text="200号", date_from=date(2026, 6, 1)) == [b]


def test_short_queries_match_the_start_of_a_name_or_are_refused(world: ArchiveWorld) -> None:
    """A trigram index cannot serve 1-2 characters: the applicant then matches the start of
    the name (a person's name, exactly or as a prefix), and metadata text is refused."""
    _a, b = _two_cases(world)
    assert _search(world, applicant="另一") == [b]
    assert _search(world, applicant="餐饮") == []  # inside the name, not at its start
    assert _search(world, item="食品") != []  # item names come from a small table: any length
    for short in ("20", "号", " 号 "):
        with pytest.raises(InvalidInput) as err:
            _search(world, text=short)
        assert err.value.code == "archive.search_too_short"


def test_the_case_view_lists_every_version(world: ArchiveWorld) -> None:
    v1 = world.ingest(world.case("v1").path)

    def second(case: dict[str, Any]) -> None:
        case["version"] = 2
        case["archival_code"] = None

    v2 = world.ingest(world.case("v2", mutate=second).path)
    code = v1.package.archival_code
    for ref in (code, f"{code}/v1", v2.package.id):
        view = _view(world, ref, actor="u", purpose="核对版本")
        assert [(v.version, v.id, v.ref) for v in view.versions] == [
            (1, v1.package.id, f"{code}/v1"),
            (2, v2.package.id, f"{code}/v2"),
        ]
        assert [v.root_sm3 for v in view.versions] == [v1.package.root_sm3, v2.package.root_sm3]
        assert all(v.ingested_at == world.clock.now() for v in view.versions)
    assert view.package.version == 2


def test_case_view_and_the_access_register(world: ArchiveWorld) -> None:
    a, _b = _two_cases(world)
    with pytest.raises(InvalidInput):
        _view(world, a, actor="u", purpose=" ")
    view = _view(world, a, actor="user:archivist", purpose="行政复议调卷")
    assert view.case["case_number"] == "SP20260510-000123"
    assert [n["node"] for n in view.timeline][:2] == ["申请", "受理"]
    originals = [f for f in view.files if f["original"]]
    assert {f["name"] for f in originals} >= {"0006-准予许可决定书.pdf", "0007-电子证照.ofd"}
    assert {(s["subject"], s["verdict"]) for s in view.seals} >= {
        ("0006-准予许可决定书.pdf", "VALID")
    }
    with world.db() as s:
        rows = s.scalars(select(ArchiveAccess)).all()
    assert [(r.actor, r.action, r.purpose) for r in rows] == [
        ("user:archivist", "view", "行政复议调卷")
    ]


def test_file_and_package_streams(world: ArchiveWorld, tmp_path: Path) -> None:
    a, _b = _two_cases(world)
    with world.db() as s, s.begin():
        opened = retrieval.open_file(
            session=s,
            clock=world.clock,
            store=world.tools_store(),
            ref=a,
            path="0006-准予许可决定书.pdf",
            actor="u",
            purpose="核对",
        )
        with opened.stream as fh:
            data = fh.read()
    original = (world.tmp / "a" / "files" / "0006-准予许可决定书.pdf").read_bytes()
    assert data == original
    with world.db() as s, s.begin():
        record, chunks = retrieval.stream_package_zip(
            session=s, clock=world.clock, store=world.tools_store(), ref=a, actor="u", purpose="p"
        )
        blob = b"".join(chunks)
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        zf.extractall(tmp_path / "unzipped")
    top = next((tmp_path / "unzipped").iterdir())
    result = validate_bag(DirectoryBagSource(top), expected_root=record.root_sm3)
    assert result.valid, result.summary()
    assert (top / "archive-seal.p7s").is_file()
    assert (top / "archive-seal.tsr").is_file()


def test_dissemination_copy_is_marked_as_a_copy(world: ArchiveWorld) -> None:
    a, _b = _two_cases(world)
    with world.db() as s, s.begin():
        _record, chunks = retrieval.dissemination_copy(
            session=s,
            clock=world.clock,
            store=world.tools_store(),
            ref=a,
            actor="u",
            purpose="查阅",
        )
        blob = b"".join(chunks)
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        names = zf.namelist()
        notice = zf.read("利用副本说明.txt").decode()
    assert "非原件" in notice
    assert a in notice
    assert "原件副本/0006-准予许可决定书.pdf" in names
    with world.db() as s:
        kinds = [e.kind for e in s.scalars(select(TlogEntry))]
    assert "archive.access_copy" in kinds
