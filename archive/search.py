"""Catalogue search (issue 6 item 5: "archivists search by case number, reference code,
applicant, service item, date range and metadata text"), built to stay fast with millions of
cases on PostgreSQL:

* case number and 档号: equality on their unique indexes;
* applicant and metadata text: substring (``LIKE '%x%'``) through ``pg_trgm`` GIN indexes.
  A trigram index needs 3 characters (Chinese characters count one each), so a query of 1-2
  characters cannot use it: for the applicant it matches the start of the name (a person's
  name such as “张三” matches exactly, or as a prefix), and metadata text of 1-2 characters is
  refused (``archive.search_too_short``). Both databases follow the same rule; SQLite has no
  trigram index and scans, which is fine at its scales;
* service item: the code itself, or the codes whose name contains the query, looked up in the
  small ``archive_item_name`` table first; the packages are then read by their item index;
* 办结 date range: the ``(closed_on, id)`` index, which is also the order of the results
  (newest first) and of the keyset cursor.

No query counts every match: the count stops at ``COUNT_CAP`` (``total_capped`` says there
are more). Paging is by cursor (``SearchResult.next``, passed back as ``SearchQuery.after``);
an offset is accepted up to ``MAX_OFFSET`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from sqlalchemy import ColumnElement, select, tuple_
from sqlalchemy.orm import Session, defer

from archive.model import ArchiveItemName, ArchivePackage
from archive.service_records import PackageRecord, package_record
from trust.errors import InvalidInput

__all__ = [
    "COUNT_CAP",
    "MAX_OFFSET",
    "MAX_PAGE",
    "SUBSTRING_MIN",
    "SearchQuery",
    "SearchResult",
    "encode_cursor",
    "search",
]

MAX_PAGE: Final = 200
#: matches are counted up to this many; more is shown as "1,000+"
COUNT_CAP: Final = 1000
#: deeper pages are reached with the cursor (an offset re-reads every skipped row)
MAX_OFFSET: Final = 1000
#: shortest substring a trigram index can serve (pg_trgm: 3 characters)
SUBSTRING_MIN: Final = 3
_CURSOR_SEP: Final = "~"


@dataclass(frozen=True, slots=True)
class SearchQuery:
    case_number: str | None = None
    archival_code: str | None = None
    #: 3+ characters: a part of the name; 1-2 characters: the start of the name
    applicant: str | None = None
    item: str | None = None  # service item code or a part of its name
    date_from: date | None = None  # 办结 date range
    date_to: date | None = None
    text: str | None = None  # any part of the metadata text, 3+ characters
    status: str | None = None
    limit: int = 20
    offset: int = 0
    #: the ``next`` cursor of the previous page
    after: str | None = None


@dataclass(frozen=True, slots=True)
class SearchResult:
    #: matches counted, at most ``COUNT_CAP``
    total: int
    items: tuple[PackageRecord, ...]
    #: True: more than ``total`` cases match (counting stopped at the cap)
    total_capped: bool = False
    #: cursor of the next page; None on the last page
    next: str | None = None


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(column: Any, value: str) -> ColumnElement[bool]:
    return column.like(f"%{_escaped(value)}%", escape="\\")  # type: ignore[no-any-return]


def _starts(column: Any, value: str) -> ColumnElement[bool]:
    return column.like(f"{_escaped(value)}%", escape="\\")  # type: ignore[no-any-return]


def _clean(value: str | None) -> str | None:
    return value.strip() or None if value else None


def encode_cursor(closed_on: date, package_id: str) -> str:
    return f"{closed_on.isoformat()}{_CURSOR_SEP}{package_id}"


def _decode_cursor(cursor: str) -> tuple[date, str]:
    day, sep, package_id = cursor.strip().partition(_CURSOR_SEP)
    try:
        if not sep or not package_id or len(package_id) > 40:
            raise ValueError(cursor)
        return date.fromisoformat(day), package_id
    except ValueError:
        raise InvalidInput("翻页游标无效，请重新检索", code="archive.bad_cursor") from None


def _item_codes(session: Session, item: str) -> list[str]:
    """The item code itself and every code whose name contains ``item`` (a small table)."""
    n = ArchiveItemName
    found = session.scalars(
        select(n.item_code).where((n.item_code == item) | _contains(n.item_name, item)).distinct()
    ).all()
    return sorted({item, *found})


def _conditions(session: Session, query: SearchQuery) -> list[ColumnElement[bool]]:
    p = ArchivePackage
    out: list[ColumnElement[bool]] = []
    if case_number := _clean(query.case_number):
        out.append(p.case_number == case_number)
    if archival_code := _clean(query.archival_code):
        out.append(p.archival_code == archival_code)
    if applicant := _clean(query.applicant):
        match = _contains if len(applicant) >= SUBSTRING_MIN else _starts
        out.append(match(p.applicant_name, applicant))
    if item := _clean(query.item):
        out.append(p.item_code.in_(_item_codes(session, item)))
    if query.date_from:
        out.append(p.closed_on >= query.date_from)
    if query.date_to:
        out.append(p.closed_on <= query.date_to)
    if text := _clean(query.text):
        if len(text) < SUBSTRING_MIN:
            raise InvalidInput(
                f"元数据全文检索至少需要 {SUBSTRING_MIN} 个字", code="archive.search_too_short"
            )
        out.append(_contains(p.metadata_text, text))
    if query.status:
        out.append(p.status == query.status)
    return out


_Key = tuple[date, str]  # (closed_on, id): the order of the results and of the cursor


def _ordered_page(
    session: Session,
    conditions: list[ColumnElement[bool]],
    after: _Key | None,
    offset: int,
    size: int,
) -> list[ArchivePackage]:
    """Many matches (at least 0.1 % of a million): read in index order until the page is full,
    which stops early because matches are dense."""
    p = ArchivePackage
    page = list(conditions)
    if after is not None:
        page.append(tuple_(p.closed_on, p.id) < tuple_(*after))
    return list(
        session.scalars(
            select(p)
            .options(defer(p.metadata_text))
            .where(*page)
            .order_by(p.closed_on.desc(), p.id.desc())
            .offset(offset)
            .limit(size)
        )
    )


def _page_of_keys(
    session: Session, keys: list[_Key], after: _Key | None, offset: int, size: int
) -> list[ArchivePackage]:
    """Few matches (all their keys in hand): order them here, read only the page's rows."""
    ordered = sorted(keys, reverse=True)
    if after is not None:
        ordered = [k for k in ordered if k < after]
    wanted = [package_id for _day, package_id in ordered[offset : offset + size]]
    p = ArchivePackage
    found = {
        r.id: r
        for r in session.scalars(select(p).options(defer(p.metadata_text)).where(p.id.in_(wanted)))
    }
    return [found[i] for i in wanted if i in found]


def search(*, session: Session, query: SearchQuery) -> SearchResult:
    """Catalogue search; every given criterion must hold. Newest 办结 first (then by package
    id), one page of at most ``MAX_PAGE``.

    Two statements, each bounded. The first reads the keys of at most ``COUNT_CAP`` + 1
    matches, through the criteria's own indexes: that is the capped count, and it tells how
    dense the matches are. Few matches: the page is cut from those keys. Many: the page is read
    in index order, which meets enough matches quickly. (Left to itself, the planner may walk
    the order index for a rare substring whose frequency it overestimates: up to every row.)"""
    if not 0 <= query.offset <= MAX_OFFSET:
        raise InvalidInput(
            f"偏移量须在 0 到 {MAX_OFFSET} 之间，更后面的结果请用翻页游标",
            code="archive.offset_too_large",
        )
    p = ArchivePackage
    conditions = _conditions(session, query)
    after = _decode_cursor(query.after) if query.after else None
    size = max(1, min(query.limit, MAX_PAGE)) + 1  # one more: is there a next page?
    keys: list[_Key] = [
        (day, package_id)
        for day, package_id in session.execute(
            select(p.closed_on, p.id).where(*conditions).limit(COUNT_CAP + 1)
        )
    ]
    capped = len(keys) > COUNT_CAP
    if capped:
        rows = _ordered_page(session, conditions, after, query.offset, size)
    else:
        rows = _page_of_keys(session, keys, after, query.offset, size)
    last = rows[size - 2] if len(rows) == size else None
    return SearchResult(
        total=min(len(keys), COUNT_CAP),
        items=tuple(package_record(r) for r in rows[: size - 1]),
        total_capped=capped,
        next=encode_cursor(last.closed_on, last.id) if last is not None else None,
    )
