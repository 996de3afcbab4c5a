"""Crash safety and concurrency of ingest, with real processes: a worker SIGKILLed at every stage
of an ingest - while copying the submission, after the checks, after bagging and sealing, in the
middle of publishing, after publishing, with the catalogue row written but not committed -
leaves nothing visible; the inventory sweep then removes what it left on disk (unreferenced
objects, the store's temporary files, its staging folder), the store holds exactly what the
catalogue references, and the retry succeeds. Two workers racing on the same case produce one
package; ingests of different cases racing for the first 件号 of a counter all get one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from archive.inventory import InventorySummary, sweep_inventory
from archive.model import ArchiveFile, ArchivePackage
from archive.service_tools import staging_root
from tests.conftest import REPO_ROOT, skip_or_fail
from tests.integration.archive.conftest import ArchiveWorld
from trust.clock import SystemClock
from trust.tlog.model import TlogEntry


def _search_path(engine: Engine) -> str | None:
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        schema: str = conn.execute(text("SELECT current_schema()")).scalar_one()
    return schema


def _spawn(world: ArchiveWorld, engine: Engine, folder: Path, marker: Path, pause_at: str | None):
    args = {
        "url": world.settings.resolved_database_url,
        "search_path": _search_path(engine),
        "data_dir": str(world.settings.data_dir),
        "master_key": world.settings.master_key.get_secret_value()
        if world.settings.master_key
        else None,
        "folder": str(folder),
        "pause_at": pause_at,
        "marker": str(marker),
    }
    with open(marker.with_suffix(".log"), "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.integration.archive._worker", json.dumps(args)],
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def _log(marker: Path) -> str:
    return marker.with_suffix(".log").read_text(encoding="utf-8", errors="replace")[-3000:]


def _wait_for(marker: Path, proc: subprocess.Popen[bytes], limit: float = 120.0) -> str:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if marker.exists() and marker.read_text():
            return marker.read_text()
        if proc.poll() is not None:
            raise AssertionError(f"worker exited early: {_log(marker)}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("worker never reached the marker")


def _packages(world: ArchiveWorld) -> int:
    with world.db() as s:
        return s.scalar(select(func.count()).select_from(ArchivePackage)) or 0


def _ingest_leaves(world: ArchiveWorld) -> int:
    with world.db() as s:
        return (
            s.scalar(
                select(func.count())
                .select_from(TlogEntry)
                .where(TlogEntry.kind == "archive.ingest")
            )
            or 0
        )


STAGES = (
    "normalising",
    "normalised",
    "checked",
    "bagged",
    "staged",
    "publishing",
    "published",
    "recorded",
)


def _referenced(world: ArchiveWorld) -> set[str]:
    with world.db() as s:
        files = set(s.scalars(select(ArchiveFile.sm3)))
        roots = set(s.scalars(select(ArchivePackage.root_sm3)))
    return files | roots


def _leftovers(world: ArchiveWorld) -> tuple[list[Path], list[Path]]:
    store = world.tools_store()
    temps = sorted((store.root / ".tmp").glob("put-*"))
    staging = staging_root(world.settings)
    folders = sorted(staging.glob("stg_*")) if staging.exists() else []
    return temps, folders


def _sweep(world: ArchiveWorld) -> InventorySummary:
    # file ages are wall-clock times: the sweep is judged by a clock that reads them so
    return sweep_inventory(
        session_factory=world.db,
        clock=SystemClock(),
        settings=world.settings,
        grace=timedelta(0),
    )


def _kill_at(world: ArchiveWorld, engine: Engine, folder: Path, marker: Path, stage: str) -> None:
    proc = _spawn(world, engine, folder, marker, pause_at=stage)
    assert _wait_for(marker, proc) == stage
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def test_sigkill_at_every_stage_leaves_nothing_the_sweep_cleans_up_and_the_retry_succeeds(
    world: ArchiveWorld, engine: Engine, tmp_path: Path
) -> None:
    folder = world.case().path
    left: dict[str, tuple[int, int, int]] = {}
    for stage in STAGES:
        _kill_at(world, engine, folder, tmp_path / f"marker-{stage}", stage)
        # nothing visible: no catalogue row, no log leaf
        assert _packages(world) == 0
        assert _ingest_leaves(world) == 0
        temps, folders = _leftovers(world)
        assert folders, stage  # the dead ingest's staging folder is still there
        published = len(list(world.tools_store().list()))
        summary = _sweep(world)
        left[stage] = (published, len(summary.removed), summary.staging_removed)
        assert summary.missing == ()
        assert summary.staging_removed == len(folders)
        assert summary.temp_files_removed == len(temps)
        assert set(world.tools_store().list()) == _referenced(world) == set()
        assert _leftovers(world) == ([], [])
    # before publishing nothing reached the store; from the middle of publishing on, the dead
    # ingest's objects were there until the sweep removed them
    assert all(left[s][0] == 0 for s in STAGES[:5]), left
    assert all(left[s][0] > 0 and left[s][1] == left[s][0] for s in STAGES[5:]), left
    assert left["publishing"][0] < left["published"][0]
    done = world.ingest(folder)
    assert done.created
    assert _packages(world) == 1
    assert _ingest_leaves(world) == 1
    assert set(world.tools_store().list()) == _referenced(world)
    assert _sweep(world).removed == ()  # a committed package is never touched
    assert set(world.tools_store().list()) == _referenced(world)


@pytest.mark.postgres
def test_the_sweep_leaves_a_live_ingest_alone(
    world: ArchiveWorld, engine: Engine, tmp_path: Path
) -> None:
    """An ingest paused after publishing (alive, holding its staging folder) keeps its staging
    folder through a sweep; its objects are kept by the grace period. (PostgreSQL: on SQLite
    the live ingest holds the only write lock, and the sweep waits for it.)"""
    if engine.dialect.name != "postgresql":
        skip_or_fail("needs PostgreSQL (set TRUST_TEST_DATABASE_URL)")
    folder = world.case().path
    marker = tmp_path / "marker"
    proc = _spawn(world, engine, folder, marker, pause_at="published")
    try:
        assert _wait_for(marker, proc) == "published"
        published = set(world.tools_store().list())
        summary = sweep_inventory(
            session_factory=world.db,
            clock=SystemClock(),
            settings=world.settings,
            grace=timedelta(hours=1),
        )
        assert summary.removed == ()
        assert summary.kept_young == len(published) > 0
        assert summary.staging_removed == 0
        assert set(world.tools_store().list()) == published
        assert len(_leftovers(world)[1]) == 1
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_two_concurrent_ingests_of_the_same_case_produce_one_package(
    world: ArchiveWorld, engine: Engine, tmp_path: Path
) -> None:
    folder = world.case().path
    markers = [tmp_path / "m1", tmp_path / "m2"]
    procs = [_spawn(world, engine, folder, m, pause_at=None) for m in markers]
    for proc, marker in zip(procs, markers, strict=True):
        proc.wait(timeout=240)
        assert proc.returncode == 0, _log(marker)
    outcomes = [json.loads(m.read_text(encoding="utf-8")) for m in markers]
    assert {o["code"] for o in outcomes} == {"A439-WS·2026·D30·XK·ZC-005"}
    assert sorted(o["created"] for o in outcomes) == [False, True]
    assert _packages(world) == 1
    assert _ingest_leaves(world) == 1
