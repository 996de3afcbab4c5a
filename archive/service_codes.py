"""档号 (archival reference codes, DA/T 13-2022) and the cases they belong to.

The 档号 belongs to the case (``ArchiveCase``), not to a package: version 1 takes it from
``case.json`` or has one assigned; every later version keeps it (a different code in a later
``case.json`` is refused by the catalogue checks).

Assigning one: ``fonds-WS·year·retention-件号``, the 件号 the next value of the counter row of
(fonds, year, retention). The counter is advanced in a **short transaction of its own**
(``_counter_step``), committed at once, so its row lock is held for milliseconds, not for the
whole ingest; two ingests creating the first row of a counter at the same moment make one of
them hit the primary key, and that one simply tries again. The code is then bound to the case
by inserting ``ArchiveCase`` inside a savepoint: a code someone else took meanwhile (a
business system's explicit 档号) is a unique-constraint conflict, and the next 件号 is tried.
A 件号 given to an ingest that fails later is not reused: 件号 are unique, not gapless.

On SQLite the ingest's transaction already holds the database's only write lock (``BEGIN
IMMEDIATE``), so writers are serialised anyway and a second connection would wait for that
very lock: there the counter step runs in a savepoint of the ingest's own session.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Final

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from archive.model import ArchiveCase, ArchiveCodeCounter
from trust.errors import Conflict

__all__ = ["MAX_ATTEMPTS", "allocate_number", "bind_case", "case_code", "format_code"]

MAX_ATTEMPTS: Final = 20


def format_code(fonds: str, year: int, retention: str, number: int) -> str:
    """``A439-WS·2026·D30-0005`` (· is U+00B7; 件号 at least four digits)."""
    return f"{fonds}-WS·{year}·{retention}-{number:04d}"


@contextmanager
def _short_transaction(session: Session) -> Iterator[Session]:
    bind = session.get_bind()
    if isinstance(bind, Engine) and bind.dialect.name != "sqlite":
        with Session(bind=bind) as own, own.begin():
            yield own
    else:  # SQLite (see the module docstring), or a session bound to one connection
        with session.begin_nested():
            yield session


def _counter_step(session: Session, fonds: str, year: int, retention: str) -> int:
    with _short_transaction(session) as s:
        counter = s.get(ArchiveCodeCounter, (fonds, year, retention), with_for_update=True)
        if counter is None:
            counter = ArchiveCodeCounter(fonds=fonds, year=year, retention=retention, last=0)
            s.add(counter)
        counter.last += 1
        s.flush()
        return counter.last


def allocate_number(*, session: Session, fonds: str, year: int, retention: str) -> int:
    """The next 件号 of (fonds, year, retention), committed at once (module docstring)."""
    for _ in range(MAX_ATTEMPTS):
        try:
            return _counter_step(session, fonds, year, retention)
        except IntegrityError:
            continue  # another ingest created the counter row first: it exists now
    raise Conflict("件号分配冲突，请重试", code="archive.code_allocation_conflict")


def case_code(*, session: Session, case_number: str) -> ArchiveCase | None:
    return session.get(ArchiveCase, case_number)


def _try_bind(session: Session, case_number: str, code: str, assigned: bool, now: datetime) -> bool:
    try:
        with session.begin_nested():
            session.add(
                ArchiveCase(
                    case_number=case_number,
                    archival_code=code,
                    code_assigned=assigned,
                    created_at=now,
                )
            )
            session.flush()
    except IntegrityError:
        return False
    return True


def _taken(session: Session, code: str) -> bool:
    return (
        session.scalars(
            select(ArchiveCase.case_number).where(ArchiveCase.archival_code == code)
        ).first()
        is not None
    )


def bind_case(
    *,
    session: Session,
    case_number: str,
    given_code: str | None,
    fonds: str,
    year: int,
    retention: str,
    now: datetime,
) -> str | None:
    """Create the case with its 档号 (the given one, or a newly assigned one) in the ingest's
    transaction; ``None`` when the given code was taken by another case meanwhile."""
    if given_code is not None:
        return given_code if _try_bind(session, case_number, given_code, False, now) else None
    for _ in range(MAX_ATTEMPTS):
        number = allocate_number(session=session, fonds=fonds, year=year, retention=retention)
        code = format_code(fonds, year, retention, number)
        if not _taken(session, code) and _try_bind(session, case_number, code, True, now):
            return code
    raise Conflict("档号分配冲突，请重试", code="archive.code_allocation_conflict")
