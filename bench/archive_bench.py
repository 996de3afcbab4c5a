"""Archive packaging throughput: BagIt with SM3 + SHA-256 manifests, bounded memory, fixity.

A generated case of N MB (quick: 50 MB, full: 1 GB) in a temporary directory: many small files
(scans, XML) plus one large file (a video or a big scan). Measured in the same run:

- **bagging** (``archive.bag.write_bag``: read once, SM3 + SHA-256, copy into the bag, tag files)
  in MB/s, as a ratio to the peer **bare SM3 + SHA-256 hashing of the same bytes** (read in
  1 MiB chunks, nothing written). Target 0.6: packaging may cost at most ~40 % over the hashing
  it cannot avoid;
- **peak RSS** of bagging in a fresh subprocess (``resource.getrusage``), against the payload
  size: streaming keeps it flat;
- **fixity** (``archive.bag.validate_bag``: every file re-hashed against all four manifests) in
  MB/s against the same peer.

``python -m bench.archive_bench [--quick]``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from archive.bag import BagEntry, BagInfo, DirectoryBagSource, validate_bag, write_bag
from trust.crypto import SM3

MB = 1_000_000
CHUNK = 1024 * 1024
SMALL_BYTES = 48 * 1024
TARGET_RATIO = 0.6

_RSS_SCRIPT = """
import json, resource, sys
from datetime import date
from pathlib import Path
from archive.bag import BagEntry, BagInfo, write_bag

def hwm_kib():  # this image's own peak RSS (Linux); ru_maxrss also keeps the parent's at fork
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))

source, dest = Path(sys.argv[1]), Path(sys.argv[2])
entries = [BagEntry(p.relative_to(source).as_posix(), p)
           for p in sorted(source.rglob("*")) if p.is_file()]
try:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset VmHWM to the current RSS
except OSError:
    pass
base = hwm_kib()
write_bag(dest, entries, BagInfo("BENCH-RSS"), bagging_date=date(2026, 1, 1))
print(json.dumps({"base_kib": base, "peak_kib": hwm_kib(),
                  "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _generate(root: Path, total_bytes: int) -> list[Path]:
    """~10 % in small files, the rest in one large file; incompressible bytes."""
    small_count = max(1, total_bytes // 10 // SMALL_BYTES)
    files = []
    for i in range(small_count):
        path = root / "files" / f"{i:05d}-附件.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(SMALL_BYTES))
        files.append(path)
    large = root / "files" / "99999-现场录像.mp4"
    remaining = total_bytes - small_count * SMALL_BYTES
    block = os.urandom(CHUNK)
    with open(large, "wb") as fh:
        while remaining > 0:
            step = min(CHUNK, remaining)
            fh.write(block[:step] if remaining % 7 else os.urandom(step))
            remaining -= step
    files.append(large)
    return files


def _bare_hash(files: list[Path]) -> tuple[int, float]:
    started = time.perf_counter()
    total = 0
    for path in files:
        h_sm3, h_sha = SM3(), hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                total += len(chunk)
                h_sm3.update(chunk)
                h_sha.update(chunk)
        h_sm3.digest()
        h_sha.digest()
    return total, time.perf_counter() - started


def _peak_rss(source: Path, dest: Path) -> dict[str, int]:
    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(source), str(dest)],
        capture_output=True,
        check=True,
        timeout=3600,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    out: dict[str, int] = json.loads(proc.stdout)
    return out


def _row(
    name: str,
    value: float,
    unit: str,
    peer: str | None,
    peer_value: float | None,
    ratio: float | None,
    target: float | None,
) -> dict[str, Any]:
    return {
        "name": name,
        "value": round(value, 1),
        "unit": unit,
        "peer": peer,
        "peer_value": None if peer_value is None else round(peer_value, 1),
        "ratio": None if ratio is None else round(ratio, 3),
        "target": target,
    }


def run(quick: bool = False) -> dict[str, Any]:
    total = 50 * MB if quick else 1000 * MB
    work = Path(tempfile.mkdtemp(prefix="archive-bench-"))
    try:
        files = _generate(work / "case", total)
        source = work / "case" / "files"
        entries = [BagEntry(p.relative_to(source).as_posix(), p) for p in files]
        size, bare_seconds = _bare_hash(files)
        bare = size / MB / bare_seconds
        started = time.perf_counter()
        write_bag(work / "bag", entries, BagInfo("BENCH"), bagging_date=date(2026, 1, 1))
        bag = size / MB / (time.perf_counter() - started)
        started = time.perf_counter()
        result = validate_bag(DirectoryBagSource(work / "bag"))
        fixity = result.bytes_read / MB / (time.perf_counter() - started)
        if not result.valid:
            raise RuntimeError(f"bench bag does not validate: {result.summary()}")
        rss = _peak_rss(source, work / "bag-rss")
        peak_mb = rss["ru_maxrss_kib"] * 1024 / MB
        label = f"{size / MB:,.0f} MB, {len(files)} files"
        rows = [
            _row(
                f"bag SM3+SHA-256 ({label})",
                bag,
                "MB/s",
                "bare SM3+SHA-256 hashing",
                bare,
                bag / bare,
                TARGET_RATIO,
            ),
            _row(
                "bag peak RSS (subprocess, getrusage)",
                peak_mb,
                "MB",
                "payload size (MB)",
                size / MB,
                peak_mb / (size / MB),
                None,
            ),
            _row(
                "bag RSS growth while bagging (VmHWM)",
                (rss["peak_kib"] - rss["base_kib"]) * 1024 / MB,
                "MB",
                None,
                None,
                None,
                None,
            ),
            _row(
                "fixity re-hash (4 manifests)",
                fixity,
                "MB/s",
                "bare SM3+SHA-256 hashing",
                bare,
                fixity / bare,
                None,
            ),
        ]
        return {"title": "archive: BagIt packaging and fixity", "quick": quick, "rows": rows}
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.archive_bench")
    parser.add_argument("--quick", action="store_true")
    out = run(quick=parser.parse_args().quick)
    print(json.dumps(out, indent=2, ensure_ascii=False))
