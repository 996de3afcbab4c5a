"""Catalogue search at scale (``archive.search``): keyset paging visits every match once, in
order; the count stops at its cap; on PostgreSQL every criterion can be answered from an index
(pg_trgm GIN for substrings), checked on the statements the search really runs.

The catalogue rows are inserted directly (thousands of ingests would test nothing more here);
the search itself is the real one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, text
from sqlalchemy.orm import Session, sessionmaker

from archive.model import ArchiveCase, ArchiveItemName, ArchivePackage
from archive.search import COUNT_CAP, SearchQuery, SearchResult, search
from tests.conftest import skip_or_fail
from trust.errors import InvalidInput

_AT = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
_ITEMS = (("XK-0001", "食品经营许可（新办）"), ("XK-0002", "公共场所卫生许可（新办）"))
_NAMES = ("华东", "南方", "北辰", "中兴", "新安", "鑫源", "鼎盛", "泰和")


def _rows(count: int, start: int = 0) -> Iterator[dict[str, Any]]:
    for i in range(start, start + count):
        code, item = _ITEMS[i % 2]
        applicant = f"{_NAMES[i % 8]}{i:05d}商贸有限公司" if i % 3 else f"张{_NAMES[i % 8][0]}"
        yield {
            "id": f"arc_{i:09d}",
            "case_number": f"SP{i:012d}",
            "version": 1,
            "archival_code": f"A439-WS·2026·D30-{i:07d}",
            "submission_sm3": "0" * 64,
            "root_sm3": f"{i:064x}",
            "root_sha256": "0" * 64,
            "previous_root": None,
            "payload_oxum": "1000.10",
            "uncovered": "[]",
            "signer_key_id": "test",
            "fonds": "A439",
            "year": 2026,
            "retention": "D30",
            "classification": "依申请公开",
            "item_code": code,
            "item_name": item,
            "agency_name": "某某市行政审批服务局",
            "applicant_name": applicant,
            "applicant_id_masked": "9135**********0Y43",
            "outcome": "approved",
            "closed_on": date(2026, 1, 1) + timedelta(days=i % 10),  # many ties
            "metadata_text": f"SP{i:012d} {item} {applicant} 某审批许决字〔2026〕{i}号",
            "retention_end": date(2056, 12, 31),
            "status": "active",
            "log_index": i,
            "ingested_at": _AT,
            "ingested_by": "test",
            "file_count": 10,
            "total_bytes": 1000,
        }


def _load(db: sessionmaker[Session], count: int) -> None:
    rows = list(_rows(count))
    with db() as s, s.begin():
        s.execute(
            insert(ArchiveCase),
            [
                {
                    "case_number": r["case_number"],
                    "archival_code": r["archival_code"],
                    "code_assigned": True,
                    "created_at": _AT,
                }
                for r in rows
            ],
        )
        s.execute(insert(ArchivePackage), rows)
        s.execute(insert(ArchiveItemName), [{"item_code": c, "item_name": n} for c, n in _ITEMS])


def _search(db: sessionmaker[Session], **kw: Any) -> SearchResult:
    with db() as s:
        return search(session=s, query=SearchQuery(**kw))


def _order(rows: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in sorted(rows, key=lambda r: (r["closed_on"], r["id"]), reverse=True)]


def _all_pages(db: sessionmaker[Session], **kw: Any) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        page = _search(db, limit=10, after=after, **kw)
        assert len(page.items) <= 10
        seen += [r.id for r in page.items]
        if page.next is None:
            return seen
        after = page.next


def test_keyset_paging_visits_every_match_once_in_order(db: sessionmaker[Session]) -> None:
    _load(db, 57)
    everything = list(_rows(57))
    assert _all_pages(db) == _order(everything)
    assert _all_pages(db, item="XK-0002") == _order(
        [r for r in everything if r["id"][-1] in "13579"]
    )
    first = _search(db, limit=10)
    assert (first.total, first.total_capped) == (57, False)
    assert _search(db, limit=10, offset=10).items == _search(db, limit=10, after=first.next).items
    last = _search(db, limit=57)
    assert (last.next, len(last.items)) == (None, 57)


def test_the_count_stops_at_its_cap(db: sessionmaker[Session]) -> None:
    _load(db, COUNT_CAP + 5)
    broad = _search(db, limit=5)
    assert (broad.total, broad.total_capped) == (COUNT_CAP, True)
    assert len(broad.items) == 5
    assert broad.next is not None
    narrow = _search(db, text="许决字〔2026〕100")  # 100, 1000..1004
    assert (narrow.total, narrow.total_capped) == (6, False)


def test_criteria_on_the_bulk_catalogue(db: sessionmaker[Session]) -> None:
    _load(db, 300)

    def ids(**kw: Any) -> set[str]:
        return {r.id for r in _search(db, limit=200, **kw).items}

    assert ids(applicant="南方00001") == {"arc_000000001"}
    assert ids(applicant="张南") == {f"arc_{i:09d}" for i in range(0, 300, 3) if i % 8 == 1}
    assert ids(item="卫生许可", text="〔2026〕29") == {
        f"arc_{i:09d}" for i in (29, 291, 293, 295, 297, 299)
    }
    assert ids(date_from=date(2026, 1, 9), item="XK-0001") == {
        f"arc_{i:09d}" for i in range(8, 300, 10)
    }
    with pytest.raises(InvalidInput) as err:
        _search(db, offset=1001)
    assert err.value.code == "archive.offset_too_large"
    for bad in ("2026-01-01", "2026-13-01~arc_1", "x~", "2026-01-01~" + "a" * 41):
        with pytest.raises(InvalidInput) as err:
            _search(db, after=bad)
        assert err.value.code == "archive.bad_cursor"


@contextmanager
def _statements(db: sessionmaker[Session]) -> Iterator[list[tuple[str, Any]]]:
    engine = db.kw["bind"]
    seen: list[tuple[str, Any]] = []

    def hear(_conn: Any, _cursor: Any, statement: str, params: Any, *_a: Any) -> None:
        if "archive_package" in statement:
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", hear)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", hear)


def _scans(plan: Any) -> Iterator[tuple[str, str]]:
    if isinstance(plan, dict):
        if "Node Type" in plan:
            backward = " Backward" if plan.get("Scan Direction") == "Backward" else ""
            yield plan["Node Type"] + backward, plan.get("Relation Name", "")
        for value in plan.values():
            yield from _scans(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from _scans(value)


def _plan(s: Session, statement: str, params: Any) -> set[tuple[str, str]]:
    raw = s.connection().exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", params)
    return set(_scans(raw.scalar_one()))


@pytest.mark.postgres
def test_every_criterion_is_answered_from_an_index_on_postgresql(
    db: sessionmaker[Session],
) -> None:
    """On the statements the search really runs (the capped keys, then the page): with only
    bitmap index scans allowed, the planner finds an index condition for every criterion (a
    substring without its trigram index, or a cursor the order index cannot serve, leaves a
    Seq Scan); a page of many matches is read in index order, without a sort; a page of few
    matches is read by primary key."""
    if db.kw["bind"].dialect.name != "postgresql":
        skip_or_fail("needs PostgreSQL (set TRUST_TEST_DATABASE_URL)")
    _load(db, 2200)
    few: dict[str, dict[str, Any]] = {  # at most COUNT_CAP matches
        "case number": {"case_number": "SP000000001234"},
        "archival code": {"archival_code": "A439-WS·2026·D30-0001234"},
        "applicant substring": {"applicant": "鼎盛01238"},
        "applicant prefix": {"applicant": "张鼎"},
        "item and dates": {"item": "XK-0002", "date_from": date(2026, 1, 8)},
        "text": {"text": "〔2026〕1234号"},
    }
    many: dict[str, dict[str, Any]] = {  # more than COUNT_CAP
        "item": {"item": "食品经营"},
        "dates": {"date_from": date(2026, 1, 3), "date_to": date(2026, 1, 9)},
        "next page": {"after": "2026-01-05~arc_000000555"},
        "nothing": {},
    }
    with db() as s, s.begin():
        s.execute(text("ANALYZE archive_package"))
    for label, kw in {**few, **many}.items():
        with _statements(db) as seen:
            found = _search(db, **kw)
        assert found.items, label
        assert found.total_capped is (label in many), label
        assert len(seen) == 2, (label, seen)  # the capped keys, then the page
        page = seen[1]
        with db() as s, s.begin():
            for setting in ("seqscan", "indexscan", "indexonlyscan"):
                s.execute(text(f"SET LOCAL enable_{setting} = off"))
            # the keys of "next page" and "nothing" have no criterion: the whole catalogue
            for statement, params in [page] if label in ("next page", "nothing") else seen:
                if label != "nothing":
                    scans = _plan(s, statement, params)
                    assert ("Seq Scan", "archive_package") not in scans, (label, scans)
            s.execute(text("RESET enable_indexscan"))
            page_plan = _plan(s, *page)
            if label in many and label != "item":  # PG 15 cannot read IN (a, b) in order
                assert ("Index Scan Backward", "archive_package") in page_plan, (label, page_plan)
                assert ("Sort", "") not in page_plan, (label, page_plan)
            if label in few:
                assert "archive_package.id IN" in page[0], (label, page[0])
    with db() as s:
        defs = dict(
            s.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes"
                    " WHERE tablename = 'archive_package' AND indexname LIKE '%trgm'"
                    " AND schemaname = current_schema()"
                )
            ).all()
        )
    assert set(defs) == {"ix_archive_package_applicant_trgm", "ix_archive_package_text_trgm"}
    assert all("USING gin" in d and "gin_trgm_ops" in d for d in defs.values()), defs
