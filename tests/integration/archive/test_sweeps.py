"""The periodic sweeps, one transaction per package: a package that cannot be checked does not
undo the others' fixity runs; a bounded sweep takes the least recently checked packages first
and the next run goes on where it stopped; appraisal flags expired packages in batches."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from archive import sweeps
from archive.model import ArchiveFixityRun, ArchivePackage
from tests.integration.archive.conftest import ArchiveWorld
from trust.tlog.model import TlogEntry


def _cases(world: ArchiveWorld, n: int) -> list[str]:
    ids = []
    for i in range(n):

        def mutate(case: dict[str, Any], i: int = i) -> None:
            case["case_number"] = f"SP20260510-00070{i}"
            case["archival_code"] = None

        ids.append(world.ingest(world.case(f"c{i}", mutate=mutate).path).package.id)
    return ids


def _sweep(world: ArchiveWorld, **kw: Any) -> sweeps.FixitySweep:
    return sweeps.sweep_fixity(
        session_factory=world.db,
        clock=world.clock,
        keystore=world.keystore,
        settings=world.settings,
        actor="system:test",
        **kw,
    )


def _runs(world: ArchiveWorld) -> dict[str, int]:
    with world.db() as s:
        rows = s.scalars(select(ArchiveFixityRun.package_id)).all()
    return {p: rows.count(p) for p in set(rows)}


def test_a_package_that_cannot_be_checked_does_not_undo_the_others(world: ArchiveWorld) -> None:
    a, b, c = _cases(world, 3)
    with world.db() as s, s.begin():  # a corrupt catalogue row: its root is no address
        row = s.get(ArchivePackage, b)
        assert row is not None
        row.root_sm3 = "z" * 64
    world.clock.advance(timedelta(days=1))
    done = _sweep(world, batch=1)
    assert (done.checked, done.failed, done.errors) == (2, 0, 1)
    assert done.problems == ({"package_id": b, "code": "archive.bad_address"},)
    assert _runs(world) == {a: 1, c: 1}  # each committed on its own
    with world.db() as s:
        leaves = s.scalars(select(TlogEntry).where(TlogEntry.kind == "archive.fixity")).all()
        checked = {r.id: r.last_fixity_at for r in s.scalars(select(ArchivePackage))}
    assert len(leaves) == 2
    assert checked[a] == checked[c] == world.clock.now()
    assert checked[b] is None


def test_a_bounded_sweep_resumes_with_the_least_recently_checked(world: ArchiveWorld) -> None:
    ids = _cases(world, 3)
    world.clock.advance(timedelta(days=1))
    order: list[str] = []
    for _ in range(3):
        done = _sweep(world, limit=1, on_package=lambda pid, _ok: order.append(pid))
        assert done.checked == 1
    assert sorted(order) == sorted(ids)  # each once, none twice
    last = _sweep(world, limit=1)
    assert (last.checked, last.more) == (0, False)
    # a day later, the least recently checked goes first
    world.clock.advance(timedelta(days=1))
    first = _sweep(world, limit=2)
    assert (first.checked, first.more) == (2, True)
    with world.db() as s:
        latest = {r.id: r.last_fixity_at for r in s.scalars(select(ArchivePackage))}
    assert sorted(p for p, t in latest.items() if t == world.clock.now()) == sorted(order[:2])


def test_appraisal_in_batches_each_package_its_own_transaction(world: ArchiveWorld) -> None:
    ids = _cases(world, 3)
    with world.db() as s, s.begin():
        for row in s.scalars(select(ArchivePackage)):
            row.retention_end = date(2020, 12, 31)
    first = sweeps.sweep_appraisal(session_factory=world.db, clock=world.clock, limit=2, batch=1)
    assert (len(first.flagged), first.more) == (2, True)
    rest = sweeps.sweep_appraisal(session_factory=world.db, clock=world.clock)
    assert (len(rest.flagged), rest.more) == (1, False)
    assert sorted(first.flagged + rest.flagged) == sorted(ids)
    with world.db() as s:
        statuses = {r.status for r in s.scalars(select(ArchivePackage))}
        leaves = s.scalars(select(TlogEntry).where(TlogEntry.kind == "archive.appraisal_due")).all()
    assert statuses == {"appraisal"}
    assert (
        sorted(json.loads(e.data)["payload"]["retention_end"] for e in leaves) == ["2020-12-31"] * 3
    )
