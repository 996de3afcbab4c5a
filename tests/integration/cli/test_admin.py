"""``trustctl init | status | db upgrade`` through the installed console script (``.venv/bin/
trustctl``) in a subprocess, on a temporary data directory with SQLite: what a person runs.

``init`` is idempotent: the second run leaves the master key file, the database rows and the
transparency log exactly as they were, and says so. ``status`` reports the crypto backend, the
schema revision and the data directory in text and JSON, and does not create a database where
none exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail
from trust.migrations.runner import head_revision

pytestmark = pytest.mark.slow

TRUSTCTL = Path(sys.executable).parent / "trustctl"


def _env() -> dict[str, str]:
    """The caller's environment without any TRUST_* setting (the data dir is the only input)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUST_")}
    env["LANG"] = "C.UTF-8"
    return env


def trustctl(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not TRUSTCTL.exists():
        skip_or_fail(f"console script not installed: {TRUSTCTL} (pip install -e .)")
    return subprocess.run(
        [str(TRUSTCTL), "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
        check=False,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def _error_line(result: subprocess.CompletedProcess[str]) -> str:
    """A failed command: non-zero exit, no traceback, one ``trustctl: error:`` line, last."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("trustctl: error:")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.rstrip("\n").splitlines()[-1] == errors[0]
    return errors[0]


def _snapshot(data_dir: Path) -> dict[str, object]:
    """Everything ``init`` could change: the master key file and every table's rows."""
    key = data_dir / "master.key"
    out: dict[str, object] = {
        "master.key": hashlib.sha256(key.read_bytes()).hexdigest(),
        "master.key mtime": key.stat().st_mtime_ns,
    }
    with sqlite3.connect(data_dir / "trust.db") as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY 1")
        ]
        for table in tables:
            rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            out[table] = hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()
    return out


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A data directory after one ``trustctl init`` (shared: each run costs seconds)."""
    data_dir = tmp_path_factory.mktemp("trustctl") / "var"
    first = trustctl(data_dir, "init")
    return data_dir, _ok(first)


def test_init_creates_everything_once(initialised: tuple[Path, str]) -> None:
    data_dir, output = initialised
    assert "master key     : created" in output
    assert f"schema         : {head_revision()}" in output
    assert "created        : ['ca', 'timestamp_key'" in output
    assert "initialised:" in output
    key = data_dir / "master.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (data_dir / "trust.db").exists()


def test_init_twice_changes_nothing_and_says_so(initialised: tuple[Path, str]) -> None:
    data_dir, _ = initialised
    before = _snapshot(data_dir)
    again = _ok(trustctl(data_dir, "init"))
    assert "master key     : existing file" in again
    assert "created        : []" in again
    assert "nothing changed:" in again
    assert _snapshot(data_dir) == before
    as_json = json.loads(_ok(trustctl(data_dir, "init", "--json")))
    assert as_json["changed"] is False
    assert as_json["ca"]["created"] == []
    assert as_json["schema_upgraded_from"] is None
    assert _snapshot(data_dir) == before


def test_status_text_and_json(initialised: tuple[Path, str]) -> None:
    data_dir, _ = initialised
    text = _ok(trustctl(data_dir, "status"))
    assert f"data dir        : {data_dir.resolve()}" in text
    assert f"schema revision : {head_revision()}" in text
    assert f"schema head     : {head_revision()}" in text
    backend = json.loads(_ok(trustctl(data_dir, "status", "--json")))
    assert backend["crypto_backend"]["name"] in {"openssl", "tongsuopy"}
    assert backend["crypto_backend"]["version"]
    assert backend["data_dir"] == str(data_dir.resolve())
    assert backend["database"] == f"sqlite:///{(data_dir / 'trust.db').resolve()}"
    assert backend["schema_revision"] == backend["schema_head"] == head_revision()
    assert backend["schema_up_to_date"] is True
    name, version = backend["crypto_backend"]["name"], backend["crypto_backend"]["version"]
    assert f"crypto backend  : {name} ({version}," in text


def test_status_of_an_empty_data_dir_fails_without_creating_anything(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    line = _error_line(trustctl(data_dir, "status"))
    assert "schema is not at the head revision" in line
    assert not (data_dir / "trust.db").exists()
    report = json.loads(_ok(trustctl(data_dir, "status", "--json")))
    assert report["schema_revision"] is None
    assert report["schema_up_to_date"] is False
    assert not (data_dir / "trust.db").exists()


def test_db_upgrade_from_empty_then_nothing_to_do(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    first = _ok(trustctl(data_dir, "db", "upgrade"))
    assert first.strip() == f"schema upgraded from empty to {head_revision()}"
    second = _ok(trustctl(data_dir, "db", "upgrade"))
    assert second.strip() == f"schema already at head {head_revision()}: nothing to do"
    assert "schema revision : " + str(head_revision()) in _ok(trustctl(data_dir, "status"))
    # The schema alone is not a CA: init still creates the keys, on top of it.
    assert "created        : ['ca'" in _ok(trustctl(data_dir, "init"))
