"""Crash safety and concurrency of ingest, with real processes: a worker SIGKILLed in the middle
of an ingest leaves nothing visible and the retry succeeds; two workers racing on the same case
produce one package."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import Engine, func, select, text

from archive.model import ArchivePackage
from tests.conftest import REPO_ROOT
from tests.integration.archive.conftest import ArchiveWorld
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


def test_sigkill_in_the_middle_of_an_ingest_leaves_nothing_and_the_retry_succeeds(
    world: ArchiveWorld, engine: Engine, tmp_path: Path
) -> None:
    folder = world.case().path
    for stage in ("bagged", "staged"):
        marker = tmp_path / f"marker-{stage}"
        proc = _spawn(world, engine, folder, marker, pause_at=stage)
        assert _wait_for(marker, proc) == stage
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        # nothing visible: no catalogue row, no log leaf, nothing published
        assert _packages(world) == 0
        assert _ingest_leaves(world) == 0
        assert list(world.tools_store().list()) == []
    done = world.ingest(folder)
    assert done.created
    assert _packages(world) == 1
    assert _ingest_leaves(world) == 1


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
