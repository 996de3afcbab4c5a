"""档号 belong to cases; 件号 come from a counter advanced in a short transaction of its own.

- Version 2 of a case keeps version 1's 档号 (given or assigned) and both packages are found;
  a version that brings another 档号, or a case that takes another case's, is refused with
  nothing stored.
- Threads racing to create the first counter row of a (fonds, year, retention) all get a
  distinct 件号 (one of them retries after the primary-key conflict), and on PostgreSQL the
  counter is not locked for the rest of an ingest's transaction.
- Ingests of different cases racing for codes of the same counter all succeed, each with its
  own code.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, func, select

from archive.model import ArchiveCase, ArchivePackage
from archive.retrieval import export_package
from archive.service_codes import allocate_number
from archive.service_errors import IngestRefused
from archive.service_records import find_package_row
from archive.service_tools import archive_store
from tests.conftest import skip_or_fail
from tests.integration.archive.conftest import ArchiveWorld

T = TypeVar("T")
CODE = "A439-WS·2026·D30·XK·ZC-005"


def _v2(case: dict[str, Any]) -> None:
    case["version"] = 2
    case["materials"][0]["title"] = "食品经营许可申请书（补正）"


def _count(world: ArchiveWorld) -> int:
    with world.db() as s:
        return s.scalar(select(func.count()).select_from(ArchivePackage)) or 0


def test_version_two_keeps_the_archival_code_of_version_one(world: ArchiveWorld) -> None:
    v1 = world.ingest(world.case("v1").path)
    v2 = world.ingest(world.case("v2", mutate=_v2).path)  # case.json names the same 档号
    assert v1.package.archival_code == v2.package.archival_code == CODE
    assert (v1.package.version, v2.package.version) == (1, 2)
    assert v2.package.previous_root == v1.package.root_sm3
    with world.db() as s:
        assert s.scalars(select(ArchiveCase)).one().archival_code == CODE
        assert find_package_row(s, CODE).id == v2.package.id  # the 档号: latest version
        assert find_package_row(s, f"{CODE}/v1").id == v1.package.id
        assert find_package_row(s, f"{CODE}/v2").id == v2.package.id
    # the bag of version 2 names the case's code and its version
    out = world.tmp / "v2-bag"
    with world.db() as s, s.begin():
        export_package(
            session=s,
            clock=world.clock,
            store=archive_store(world.settings),
            ref=v2.package.id,
            dest=out,
            actor="t",
            purpose="核对",
        )
    info = (out / "bag-info.txt").read_text(encoding="utf-8")
    assert f"Archival-Code: {CODE}" in info
    assert "Version: 2" in info


def test_an_assigned_code_is_kept_by_later_versions(world: ArchiveWorld) -> None:
    def no_code(case: dict[str, Any]) -> None:
        case["archival_code"] = None

    def v2(case: dict[str, Any]) -> None:
        no_code(case)
        _v2(case)

    v1 = world.ingest(world.case("v1", mutate=no_code).path)
    second = world.ingest(world.case("v2", mutate=v2).path)
    assert v1.package.archival_code == second.package.archival_code == "A439-WS·2026·D30-0001"


def test_a_later_version_with_another_code_is_refused(world: ArchiveWorld) -> None:
    world.ingest(world.case("v1").path)

    def other_code(case: dict[str, Any]) -> None:
        _v2(case)
        case["archival_code"] = "A439-WS·2026·D30·XK·ZC-006"

    before = set(world.tools_store().list())
    with pytest.raises(IngestRefused) as err:
        world.ingest(world.case("v2", mutate=other_code).path)
    assert ("archival_code", "metadata.archival_code_changed") in {
        (f["subject"], f["reason"]) for f in err.value.extra["failures"]
    }
    assert _count(world) == 1
    assert set(world.tools_store().list()) == before


def test_another_case_cannot_take_the_code(world: ArchiveWorld) -> None:
    world.ingest(world.case("a").path)

    def other_case(case: dict[str, Any]) -> None:
        case["case_number"] = "SP20260510-000999"

    with pytest.raises(IngestRefused) as err:
        world.ingest(world.case("b", mutate=other_case).path)
    assert ("archival_code", "metadata.duplicate_archival_code") in {
        (f["subject"], f["reason"]) for f in err.value.extra["failures"]
    }
    assert _count(world) == 1


def _race(n: int, fn: Callable[[int], T]) -> list[T]:
    barrier = threading.Barrier(n)

    def run(i: int) -> T:
        barrier.wait(timeout=60)
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_threads_creating_the_first_counter_row_each_get_a_number(world: ArchiveWorld) -> None:
    def allocate(_i: int) -> int:
        with world.db() as s, s.begin():
            return allocate_number(session=s, fonds="Z009", year=2026, retention="D10")

    numbers = _race(6, allocate)
    assert sorted(numbers) == [1, 2, 3, 4, 5, 6]


@pytest.mark.postgres
def test_the_counter_is_not_locked_for_the_rest_of_an_ingest(
    world: ArchiveWorld, engine: Engine
) -> None:
    if engine.dialect.name != "postgresql":
        skip_or_fail("needs PostgreSQL: SQLite serialises whole write transactions anyway")
    allocated = threading.Event()
    release = threading.Event()

    def long_ingest() -> int:
        with world.db() as s, s.begin():
            n = allocate_number(session=s, fonds="Z010", year=2026, retention="D30")
            allocated.set()
            release.wait(timeout=60)  # the rest of a long ingest, transaction still open
            return n

    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(long_ingest)
        assert allocated.wait(timeout=60)
        started = time.monotonic()
        with world.db() as s, s.begin():
            second = allocate_number(session=s, fonds="Z010", year=2026, retention="D30")
        waited = time.monotonic() - started
        release.set()
        assert (first.result(timeout=60), second) == (1, 2)
    assert waited < 5.0


def test_concurrent_ingests_of_different_cases_get_distinct_codes(world: ArchiveWorld) -> None:
    folders = []
    for i in range(4):

        def mutate(case: dict[str, Any], i: int = i) -> None:
            case["archival_code"] = None
            case["case_number"] = f"SP20260510-00050{i}"

        folders.append(world.case(f"c{i}", mutate=mutate).path)
    done = _race(4, lambda i: world.ingest(folders[i]))
    assert all(d.created for d in done)
    assert sorted(d.package.archival_code for d in done) == [
        f"A439-WS·2026·D30-000{n}" for n in (1, 2, 3, 4)
    ]
    assert _count(world) == 4
