"""Archive packaging throughput: BagIt with SM3 + SHA-256 manifests, bounded memory, fixity.

A generated case of N MB (quick: 50 MB, full: 1 GB) in a temporary directory: many small files
(scans, XML) plus one large file (a video or a big scan). Measured in the same run:

- **bagging** (``archive.bag.write_bag``: read once, SM3 + SHA-256, copy into the bag, tag files)
  in MB/s, as a ratio to the peer **bare SM3 + SHA-256 hashing of the same bytes** (read in
  1 MiB chunks, nothing written). Target 0.6: packaging may cost at most ~40 % over the hashing
  it cannot avoid;
- **peak RSS** of bagging in a fresh subprocess (``resource.getrusage``), against the payload
  size: streaming keeps it flat;
- **ingest end to end** (``archive.service.ingest_case`` on SQLite in a fresh process: staging
  copy hashed once, DA/T 70 checks reusing the digests, bag, signature, timestamp, publication by
  hard link, catalogue and log) in MB/s against the same peer, target 0.6; and its **peak RSS**
  (VmHWM of the whole process) against the explicit limit of 300 MB (ratio = limit / peak,
  target 1: under the limit);
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
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from archive.bag import BagEntry, BagInfo, DirectoryBagSource, validate_bag, write_bag
from trust.crypto import SM3

MB = 1_000_000
NOW_BENCH = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
CHUNK = 1024 * 1024
SMALL_BYTES = 48 * 1024
TARGET_RATIO = 0.6
#: issue 6: "memory bounded (streaming; peak RSS under 300 MB)"
RSS_LIMIT_MB = 300.0

_RSS_SCRIPT = """
import json, resource, sys
from datetime import UTC, date, datetime
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


# --------------------------------------------------------------------------- service-level ingest

_INGEST_SCRIPT = r"""
import json, os, sys, time
from pathlib import Path
from bench.archive_bench import _ingest_in_process
print(json.dumps(_ingest_in_process(Path(sys.argv[1]), int(sys.argv[2]))))
"""


def _hwm_kib() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))


def _make_case(root: Path, total_bytes: int) -> tuple[Path, list[Path]]:
    """A valid case (the test case of ``tests.unit.archive.case_factory``: sealed decision,
    licence, detached signature) plus ~10 % in small noise PNGs and one large MP4."""
    import io

    from PIL import Image

    from tests.unit.archive.case_factory import write_case  # a valid, sealed case
    from trust.crypto import sm3_hex

    folder = write_case(root / "case").path
    case = json.loads((folder / "case.json").read_text(encoding="utf-8"))
    extra: list[tuple[str, str]] = []
    small_total = total_bytes // 10
    n = 0
    while small_total > 0:
        img = Image.frombytes("L", (220, 220), os.urandom(220 * 220))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        name = f"1{n:04d}-现场照片.png"
        (folder / "files" / name).write_bytes(buf.getvalue())
        small_total -= len(buf.getvalue())
        extra.append((name, "png"))
        n += 1
    large = folder / "files" / "99999-现场录像.mp4"
    remaining = total_bytes - total_bytes // 10
    with open(large, "wb") as fh:
        fh.write(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")
        block = os.urandom(CHUNK)
        while remaining > 0:
            step = min(CHUNK, remaining)
            fh.write(block[:step] if remaining % 7 else os.urandom(step))
            remaining -= step
    extra.append((large.name, "mp4"))
    seq = max(m["seq"] for m in case["materials"])
    for name, fmt in extra:
        seq += 1
        path = folder / "files" / name
        h = SM3()
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                h.update(chunk)
        case["materials"].append(
            {
                "seq": seq,
                "role": "attachment",
                "material_code": None,
                "title": name,
                "file": name,
                "original_name": None,
                "size": path.stat().st_size,
                "sm3": h.hexdigest(),
                "format": fmt,
                "pages": None,
                "sealed": False,
                "detached": [],
            }
        )
    files = sorted(p for p in (folder / "files").iterdir())
    case["register"] = {
        "file_count": len(files),
        "total_bytes": sum(p.stat().st_size for p in files),
    }
    (folder / "case.json").write_text(json.dumps(case, ensure_ascii=False), encoding="utf-8")
    _ = sm3_hex
    return folder, files


def _ingest_in_process(work: Path, total_bytes: int) -> dict[str, Any]:
    """Runs in a fresh process: set up a SQLite archive, ingest the case, run one fixity check."""
    from archive import preservation
    from archive.service import ingest_case
    from archive.service_tools import archive_tools
    from keys.software import SoftwareKeyStore
    from tests.unit.archive.case_factory import NOW, materials
    from trust.ca.anchors import add_trust_anchor
    from trust.cli.archive import ensure_archive_key
    from trust.clock import FixedClock
    from trust.config import load_settings
    from trust.db import make_engine, session_factory
    from trust.migrations.registry import load_all_models

    folder, files = _make_case(work, total_bytes)
    size, bare_seconds = _bare_hash(files)
    settings = load_settings(
        environ={},
        overrides={
            "environment": "test",
            "data_dir": work / "var",
            "master_key": "00112233445566778899aabbccddeeff" * 2,
        },
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    load_all_models().create_all(engine)
    sessions, clock = session_factory(engine), FixedClock(NOW)
    keystore = SoftwareKeyStore.from_settings(settings)
    with sessions() as s, s.begin():
        ensure_archive_key(session=s, clock=clock, keystore=keystore, settings=settings)
        for der in materials().anchors:
            add_trust_anchor(session=s, clock=clock, pem=der, actor="bench")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    base = _hwm_kib()
    started = time.perf_counter()
    with sessions() as s, s.begin():
        done = ingest_case(
            session=s,
            clock=clock,
            keystore=keystore,
            tools=archive_tools(session=s, settings=settings),
            source=folder,
            actor="bench",
        )
    ingest_seconds = time.perf_counter() - started
    peak = _hwm_kib()
    started = time.perf_counter()
    with sessions() as s, s.begin():
        tools = archive_tools(session=s, settings=settings)
        outcome = preservation.check_package_fixity(
            session=s,
            clock=clock,
            keystore=keystore,
            store=tools.store,
            ref=done.package.id,
            actor="bench",
            timestamps=tools.timestamps,
        )
    fixity_seconds = time.perf_counter() - started
    if not outcome.ok:
        raise RuntimeError(f"bench package fails fixity: {outcome.report}")
    engine.dispose()
    return {
        "bytes": size,
        "files": len(files),
        "bare_seconds": bare_seconds,
        "ingest_seconds": ingest_seconds,
        "fixity_seconds": fixity_seconds,
        "fixity_bytes": outcome.report["total_bytes"],
        "base_kib": base,
        "peak_kib": peak,
    }


def _ingest_rows(quick: bool) -> list[dict[str, Any]]:
    total = 50 * MB if quick else 1000 * MB
    repo = Path(__file__).resolve().parent.parent
    work = Path(tempfile.mkdtemp(prefix="archive-ingest-bench-"))
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _INGEST_SCRIPT, str(work), str(total)],
            capture_output=True,
            check=True,
            timeout=7200,
            cwd=repo,
            env={**os.environ, "PYTHONPATH": str(repo)},
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    r = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    bare = r["bytes"] / MB / r["bare_seconds"]
    ingest = r["bytes"] / MB / r["ingest_seconds"]
    fixity = r["fixity_bytes"] / MB / r["fixity_seconds"]
    label = f"{r['bytes'] / MB:,.0f} MB, {r['files']} files"
    return [
        _row(
            f"ingest_case end to end ({label})",
            ingest,
            "MB/s",
            "bare SM3+SHA-256 hashing",
            bare,
            ingest / bare,
            TARGET_RATIO,
        ),
        _row(
            "ingest peak RSS (VmHWM, whole process) < 300 MB",
            r["peak_kib"] * 1024 / MB,
            "MB",
            "limit (MB)",
            RSS_LIMIT_MB,
            RSS_LIMIT_MB / (r["peak_kib"] * 1024 / MB),
            1.0,
        ),
        _row(
            "ingest RSS growth (VmHWM - base)",
            (r["peak_kib"] - r["base_kib"]) / 1024,
            "MiB",
            None,
            None,
            None,
            None,
        ),
        _row(
            "fixity check of the stored package (+sig, TSA, log)",
            fixity,
            "MB/s",
            "bare SM3+SHA-256 hashing",
            bare,
            fixity / bare,
            None,
        ),
    ]


# --------------------------------------------------------------------------- search on PostgreSQL


def _search_rows(quick: bool) -> list[dict[str, Any]]:
    """Catalogue search latency with N packages (1M; quick: 100k) bulk-inserted into a private
    PostgreSQL schema; median of 5 runs per query (count + first page)."""
    import secrets
    import statistics
    from datetime import timedelta

    from sqlalchemy import insert, text

    from archive.model import ArchiveCase, ArchivePackage
    from archive.retrieval import SearchQuery, search
    from bench.http_load import postgres_base_url
    from trust.db import make_engine, session_factory

    url = postgres_base_url()
    if url is None:
        return [_row("search (PostgreSQL not reachable: skipped)", 0, "ms", None, None, None, None)]
    count = 100_000 if quick else 1_000_000
    schema = f"bench_{secrets.token_hex(5)}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, search_path=schema)
    try:
        ArchivePackage.metadata.create_all(
            engine, tables=[ArchiveCase.__table__, ArchivePackage.__table__]
        )
        names = ["科技", "餐饮", "贸易", "物流", "医药", "教育", "建筑", "农业"]
        items = [
            ("000123456789-XK-0001", "食品经营许可（新办）"),
            ("000123456789-XK-0002", "公共场所卫生许可（新办）"),
        ]
        day0 = date(2016, 1, 1)
        started = time.perf_counter()
        batch = 20_000
        for start in range(0, count, batch):
            rows = []
            for i in range(start, min(count, start + batch)):
                code, item = items[i % 2]
                applicant = f"演示{names[i % 8]}{i}有限公司"
                rows.append(
                    {
                        "id": f"arc_{i:09d}",
                        "case_number": f"SP{i:012d}",
                        "version": 1,
                        "archival_code": f"A439-WS·{2016 + i % 10}·D30-{i:07d}",
                        "submission_sm3": "0" * 64,
                        "root_sm3": f"{i:064x}",
                        "root_sha256": "0" * 64,
                        "previous_root": None,
                        "payload_oxum": "1000.10",
                        "uncovered": "[]",
                        "signer_key_id": "bench",
                        "fonds": "A439",
                        "year": 2016 + i % 10,
                        "retention": "D30",
                        "classification": "依申请公开",
                        "item_code": code,
                        "item_name": item,
                        "agency_name": "某某市行政审批服务局",
                        "applicant_name": applicant,
                        "applicant_id_masked": "9135**********0Y43",
                        "outcome": "approved",
                        "closed_on": day0 + timedelta(days=i % 3650),
                        "metadata_text": f"SP{i:012d} {item} {applicant} 某审批许决字〔2026〕{i}号",
                        "retention_end": date(2056, 12, 31),
                        "status": "active",
                        "log_index": i,
                        "ingested_at": NOW_BENCH,
                        "ingested_by": "bench",
                        "file_count": 10,
                        "total_bytes": 1000,
                    }
                )
            cases = [
                {
                    "case_number": r["case_number"],
                    "archival_code": r["archival_code"],
                    "code_assigned": True,
                    "created_at": NOW_BENCH,
                }
                for r in rows
            ]
            with engine.begin() as conn:
                conn.execute(insert(ArchiveCase), cases)
                conn.execute(insert(ArchivePackage), rows)
        load_seconds = time.perf_counter() - started
        with engine.begin() as conn:
            conn.execute(text("ANALYZE archive_package"))
        sessions = session_factory(engine)
        probe = count // 2
        queries = {
            "case number": SearchQuery(case_number=f"SP{probe:012d}"),
            "archival code": SearchQuery(
                archival_code=f"A439-WS·{2016 + probe % 10}·D30-{probe:07d}"
            ),
            "applicant (substring)": SearchQuery(applicant=f"{names[probe % 8]}{probe}有限"),
            "service item + date range": SearchQuery(
                item="000123456789-XK-0002", date_from=date(2020, 1, 1), date_to=date(2020, 1, 31)
            ),
            "metadata text (substring)": SearchQuery(text=f"〔2026〕{probe}号"),
        }
        out = [
            _row(
                f"bulk insert {count:,} packages",
                count / load_seconds,
                "rows/s",
                None,
                None,
                None,
                None,
            )
        ]
        for label, query in queries.items():
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                with sessions() as s:
                    result = search(session=s, query=query)
                times.append((time.perf_counter() - t0) * 1000)
            if result.total < 1:
                raise RuntimeError(f"bench search {label} found nothing")
            out.append(
                _row(
                    f"search {label} ({count:,} cases, PG)",
                    statistics.median(times),
                    "ms",
                    None,
                    None,
                    None,
                    None,
                )
            )
        return out
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


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
                "bag peak RSS (subprocess, getrusage) < 300 MB",
                peak_mb,
                "MB",
                "limit (MB)",
                RSS_LIMIT_MB,
                RSS_LIMIT_MB / peak_mb,
                1.0,
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
        rows += _ingest_rows(quick)
        rows += _search_rows(quick)
        return {
            "title": "archive: BagIt packaging, ingest, fixity, search",
            "quick": quick,
            "rows": rows,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.archive_bench")
    parser.add_argument("--quick", action="store_true")
    out = run(quick=parser.parse_args().quick)
    print(json.dumps(out, indent=2, ensure_ascii=False))
