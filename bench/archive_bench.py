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
  hard link, catalogue and log) in MB/s against the same peer (there measured in the ingest's
  process before and after it, the mean), target 0.6; and its **peak RSS**
  (VmHWM of the whole process) against the explicit limit of 300 MB (ratio = limit / peak,
  target 1: under the limit);
- **fixity** (``archive.bag.validate_bag``: every file re-hashed against all four manifests) in
  MB/s against the same peer;
- **search latency** (``archive.search``, page + capped count) on PostgreSQL with 10 thousand
  and 1 million cases (quick: 100 thousand) COPYed into a private database: p50 and p99 of
  every criterion over random probes, ratio 1M / 10k (1.0: the catalogue size does not matter).

``python -m bench.archive_bench [--quick] [--search-only]``.
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
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final, cast

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
    size, bare_before = _bare_hash(files)
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
    # The peer is measured before and after (the mean): one noisy measurement on a shared
    # machine swung the ratio by a third.
    _, bare_after = _bare_hash(files)
    bare_seconds = (bare_before + bare_after) / 2
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

#: search latency: catalogue sizes (issue 6: "Search latency with 1 million cases on PostgreSQL")
SEARCH_SIZES: Final = (10_000, 1_000_000)
SEARCH_SIZES_QUICK: Final = (10_000, 100_000)
_CITIES = ("杭州", "宁波", "温州", "嘉兴", "湖州", "绍兴", "金华", "衢州", "舟山", "台州")
_TRADES = ("科技", "餐饮", "贸易", "物流", "医药", "教育", "建筑", "农业", "传媒", "能源")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国红梅志文斌海燕玉兰春辉鑫"
_BRAND = "华东南北中新鑫鼎盛泰恒达通远航宏伟信诚安康明德嘉禾瑞丰永昌兴隆晨晖锦绣天地人和金玉满堂"
_ITEM_NAMES = (
    "食品经营许可（新办）",
    "食品经营许可（变更）",
    "公共场所卫生许可（新办）",
    "公共场所卫生许可（延续）",
    "药品零售许可（新办）",
    "医疗器械经营备案",
    "建筑工程施工许可",
    "道路运输经营许可",
    "烟草专卖零售许可（新办）",
    "出版物零售许可",
    "娱乐场所经营许可",
    "危险化学品经营许可",
    "排污许可（重点管理）",
    "取水许可",
    "林木采伐许可",
    "户外广告设置许可",
    "城镇污水排入排水管网许可",
    "人力资源服务许可",
    "旅行社业务经营许可",
    "特种设备使用登记",
)
_PACKAGE_COLUMNS = (
    "id",
    "case_number",
    "version",
    "archival_code",
    "submission_sm3",
    "root_sm3",
    "root_sha256",
    "previous_root",
    "payload_oxum",
    "uncovered",
    "signer_key_id",
    "fonds",
    "year",
    "retention",
    "classification",
    "item_code",
    "item_name",
    "agency_name",
    "applicant_name",
    "applicant_id_masked",
    "outcome",
    "closed_on",
    "metadata_text",
    "retention_end",
    "status",
    "log_index",
    "ingested_at",
    "ingested_by",
    "file_count",
    "total_bytes",
)
_NONE: Final = (None, None, None, None)
_DAY0 = date(2016, 1, 1)
_DAYS = 3650


def _mix(i: int) -> int:
    """A fixed permutation-like scramble of ``i`` (names look random but are reproducible)."""
    return (i * 2_654_435_761 + 97_531) % 4_294_967_291


def _applicant(i: int) -> str:
    """Two in three cases have a company (city + 4-character brand + trade), one in three a
    person (surname + 1-2 given characters): realistic Chinese names, no digits."""
    m = _mix(i)
    if i % 3 == 0:
        given = _GIVEN[m % len(_GIVEN)]
        if m % 5:
            given += _GIVEN[(m // 7) % len(_GIVEN)]
        return _SURNAMES[(m // 11) % len(_SURNAMES)] + given
    n, brand = m, ""
    for _ in range(4):
        n, r = divmod(n, len(_BRAND))
        brand += _BRAND[r]
    return f"{_CITIES[i % 10]}{brand}{_TRADES[(i // 10) % 10]}有限公司"


def _case(i: int) -> dict[str, Any]:
    item = i % len(_ITEM_NAMES)
    year = 2016 + i % 10
    closed = _DAY0 + timedelta(days=_mix(i) % _DAYS)
    applicant = _applicant(i)
    decision = f"某审批许决字〔{year}〕{i // 10 + 1}号"
    text = (
        f"SP{i:012d} A439-WS·{year}·D30-{i:07d} {_ITEM_NAMES[item]} 某某市行政审批服务局 "
        f"{applicant} 申请表 营业执照 现场核查记录 {decision} 办结 准予许可"
    )
    return {
        "id": f"arc_{i:09d}",
        "case_number": f"SP{i:012d}",
        "version": 1,
        "archival_code": f"A439-WS·{year}·D30-{i:07d}",
        "submission_sm3": "0" * 64,
        "root_sm3": f"{i:064x}",
        "root_sha256": "0" * 64,
        "previous_root": None,
        "payload_oxum": "1000.10",
        "uncovered": "[]",
        "signer_key_id": "bench",
        "fonds": "A439",
        "year": year,
        "retention": "D30",
        "classification": "依申请公开",
        "item_code": f"000123456789-XK-{item:04d}",
        "item_name": _ITEM_NAMES[item],
        "agency_name": "某某市行政审批服务局",
        "applicant_name": applicant,
        "applicant_id_masked": "9135**********0Y43",
        "outcome": "approved",
        "closed_on": closed,
        "metadata_text": text,
        "retention_end": date(year + 30, 12, 31),
        "status": "active",
        "log_index": i,
        "ingested_at": NOW_BENCH,
        "ingested_by": "bench",
        "file_count": 10,
        "total_bytes": 1000,
    }


def _copy_cases(driver: Any, start: int, stop: int) -> None:
    """COPY catalogue rows ``start``…``stop-1`` (case and package), one transaction."""
    with driver.cursor() as cur:
        with cur.copy(
            "COPY archive_case (case_number, archival_code, code_assigned, created_at) FROM STDIN"
        ) as copy:
            for i in range(start, stop):
                year = 2016 + i % 10
                copy.write_row((f"SP{i:012d}", f"A439-WS·{year}·D30-{i:07d}", True, NOW_BENCH))
        columns = ", ".join(_PACKAGE_COLUMNS)
        with cur.copy(f"COPY archive_package ({columns}) FROM STDIN") as copy:
            for i in range(start, stop):
                row = _case(i)
                copy.write_row([row[c] for c in _PACKAGE_COLUMNS])
    driver.commit()


def _vacuum(engine: Any) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE archive_package")
        conn.exec_driver_sql("VACUUM ANALYZE archive_item_name")


def _search_queries(n: int, rng: Any) -> dict[str, Callable[[], Any]]:
    """Criterion -> a maker of a random query over ``n`` loaded cases (a new probe each time)."""
    from archive.retrieval import SearchQuery

    def pick() -> int:
        return int(rng.randrange(n))

    def brand(i: int) -> str:
        return _applicant(i)[2:6]

    def company() -> int:
        i = pick()
        return i if i % 3 else (i + 1) % n

    def person() -> int:
        return pick() // 3 * 3

    def month(i: int) -> tuple[date, date]:
        start = _DAY0 + timedelta(days=_mix(i) % _DAYS)
        return start - timedelta(days=15), start + timedelta(days=15)

    def item_month() -> Any:
        i = pick()
        lo, hi = month(i)
        return SearchQuery(item=_ITEM_NAMES[i % len(_ITEM_NAMES)][:4], date_from=lo, date_to=hi)

    def week() -> Any:
        lo = _DAY0 + timedelta(days=rng.randrange(_DAYS - 7))
        return SearchQuery(date_from=lo, date_to=lo + timedelta(days=6))

    def text() -> Any:
        i = pick()
        return SearchQuery(text=f"〔{2016 + i % 10}〕{i // 10 + 1}号")

    return {
        "case number": lambda: SearchQuery(case_number=f"SP{pick():012d}"),
        "archival code": lambda: SearchQuery(
            archival_code=(lambda i: f"A439-WS·{2016 + i % 10}·D30-{i:07d}")(pick())
        ),
        "applicant, 4-character part of a company name": lambda: SearchQuery(
            applicant=brand(company())
        ),
        "applicant, 2-character start of a person's name": lambda: SearchQuery(
            applicant=_applicant(person())[:2]
        ),
        "service item name + 1-month date range": item_month,
        "service item code (5 % of cases)": lambda: SearchQuery(
            item=f"000123456789-XK-{pick() % len(_ITEM_NAMES):04d}"
        ),
        "date range (1 week)": week,
        "metadata text, a decision number": text,
        "metadata text, a common phrase (5 % of cases)": lambda: SearchQuery(
            text=_ITEM_NAMES[pick() % len(_ITEM_NAMES)]
        ),
        "no criterion, newest first": lambda: SearchQuery(),
        "page 2 by cursor (service item code)": lambda: SearchQuery(
            item=f"000123456789-XK-{pick() % len(_ITEM_NAMES):04d}"
        ),
    }


def _percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)]


def _latencies(
    catalogues: list[tuple[Any, dict[str, Callable[[], Any]]]], samples: int
) -> dict[str, list[tuple[float, float]]]:
    """Criterion -> (p50, p99) in ms per catalogue. Each sample is one ``search`` (capped keys
    + page) in its own session, as a request runs it; the catalogues take turns sample by
    sample, so that the load of a shared machine falls on both alike. A cursor query first
    fetches page 1 (not timed) to get its cursor; the first tenth of the samples only warms."""
    from archive.retrieval import search

    out: dict[str, list[tuple[float, float]]] = {}
    for label in catalogues[0][1]:
        times: list[list[float]] = [[] for _ in catalogues]
        found = [0 for _ in catalogues]
        for k in range(samples + samples // 10):
            for n, (sessions, queries) in enumerate(catalogues):
                query = queries[label]()
                if "cursor" in label:
                    with sessions() as s:
                        query = replace(query, after=search(session=s, query=query).next)
                started = time.perf_counter()
                with sessions() as s:
                    result = search(session=s, query=query)
                elapsed = (time.perf_counter() - started) * 1000
                found[n] += bool(result.items)
                if k >= samples // 10:
                    times[n].append(elapsed)
        if min(found) < samples // 2:
            raise RuntimeError(f"bench search {label!r} found nothing too often ({found})")
        out[label] = [_percentiles(t) for t in times]
    return out


def _load_catalogue(url: str, schema: str, count: int) -> tuple[Any, float, float]:
    """A catalogue of ``count`` cases in its own schema: tables from the models, secondary
    indexes dropped, rows COPYed, indexes rebuilt, VACUUM ANALYZE. Returns the engine and the
    seconds of COPY and of index building."""
    from sqlalchemy import Table, insert, text

    from archive.model import ArchiveCase, ArchiveItemName, ArchivePackage
    from trust.db import make_engine

    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    engine = make_engine(url, search_path=schema)
    tables = [
        cast(Table, model.__table__) for model in (ArchiveCase, ArchivePackage, ArchiveItemName)
    ]
    ArchivePackage.metadata.create_all(engine, tables=tables)
    secondary = list(tables[1].indexes)
    with engine.begin() as conn:
        conn.execute(
            insert(ArchiveItemName),
            [
                {"item_code": f"000123456789-XK-{k:04d}", "item_name": name}
                for k, name in enumerate(_ITEM_NAMES)
            ],
        )
        for ix in secondary:
            ix.drop(conn)
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        started = time.perf_counter()
        _copy_cases(driver, 0, count)
        copied = time.perf_counter() - started
    finally:
        raw.close()
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
        for ix in secondary:
            ix.create(conn)
    indexed = time.perf_counter() - started
    _vacuum(engine)
    return engine, copied, indexed


def _search_rows(quick: bool) -> list[dict[str, Any]]:
    """Catalogue search latency (``archive.search``) on PostgreSQL with 10 thousand and with
    1 million cases (quick: 100 thousand), side by side in one private database (a schema
    each; rows COPYed with the secondary indexes dropped, then rebuilt, as a bulk load would;
    VACUUM ANALYZE), then each criterion timed over many random probes, the two catalogues
    taking turns. Rows give p50 and p99 at the large size, with the small size as the peer and
    ratio = large / small (1.0: the catalogue size does not matter)."""
    import random

    from bench.http_load import postgres_base_url, private_postgres_database
    from trust.db import session_factory

    server = postgres_base_url()
    if server is None:
        return [_row("search (PostgreSQL not reachable: skipped)", 0, "ms", None, None, None, None)]
    small, large = SEARCH_SIZES_QUICK if quick else SEARCH_SIZES
    samples = 60 if quick else 200
    rng = random.Random(20261122)
    with private_postgres_database(server) as url:
        small_engine, _copied, _indexed = _load_catalogue(url, "small", small)
        large_engine, copied, indexed = _load_catalogue(url, "large", large)
        with large_engine.connect() as conn:
            size = conn.exec_driver_sql(
                "SELECT pg_total_relation_size('archive_package')"
            ).scalar_one()
        load = os.getloadavg()[0]
        measured = _latencies(
            [
                (session_factory(small_engine), _search_queries(small, rng)),
                (session_factory(large_engine), _search_queries(large, rng)),
            ],
            samples,
        )
        load = max(load, os.getloadavg()[0])
        small_engine.dispose()
        large_engine.dispose()
    rows = [
        _row(f"COPY {large:,} cases (indexes dropped)", large / copied, "rows/s", *_NONE),
        _row("build the package indexes (incl. 2 trigram GIN)", indexed, "s", *_NONE),
        _row(f"archive_package size with indexes, {large:,} cases", size / MB, "MB", *_NONE),
        _row("machine load average (1 min, higher of start/end)", load, "", *_NONE),
    ]
    for label, ((s50, s99), (p50, p99)) in measured.items():
        for name, value, peer in (("p50", p50, s50), ("p99", p99, s99)):
            rows.append(
                {
                    "name": f"search {label}: {name}, {large:,} cases (PG)",
                    "value": round(value, 2),
                    "unit": "ms",
                    "peer": f"{small:,} cases (ratio = large/small)",
                    "peer_value": round(peer, 2),
                    "ratio": round(value / peer, 2),
                    "target": None,
                }
            )
    return rows


def run(quick: bool = False, search_only: bool = False) -> dict[str, Any]:
    if search_only:
        return {
            "title": "archive: catalogue search on PostgreSQL",
            "quick": quick,
            "rows": _search_rows(quick),
        }
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
    parser.add_argument("--search-only", action="store_true", help="only the search latency")
    args = parser.parse_args()
    out = run(quick=args.quick, search_only=args.search_only)
    print(json.dumps(out, indent=2, ensure_ascii=False))
