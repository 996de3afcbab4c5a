"""Transparency-log append throughput on SQLite and PostgreSQL, checkpoints signed as it goes.

Modes (each event is a realistic ~200-byte ``LogEvent``; a signed SM2 checkpoint about every
1,000 appends, in its own transaction, counted in the elapsed time):

- ``1/txn``: one ``append`` per transaction, committed (an API request that changes one thing:
  the service's own path, as every event is appended in the transaction of its change);
- ``1/txn x4``: the same from 4 concurrent writers (threads, one connection each: several
  requests or ``trustctl serve`` processes at once; the head lock serialises them);
- ``100/txn``: ``append_many`` of 100 events per transaction (a bulk import).

Peer, measured in the same run on the same database: a bare ``INSERT`` of the same row shape
into a plain table with the same transaction batching and writers (no head lock, no Merkle
hashing, no subtree rows, no checkpoints), so the ratio is the log's cost over storing the events
at all, and the peer shows what the database itself allows (a commit per row is bounded by the
disk's flush rate).

Target (Foundation issue, "Targets"): "Transparency-log appends: at least 2,000 events/s on
SQLite and on PostgreSQL, with checkpoints signed". The issue does not restrict it to batched
appends, so it is applied to every mode, and the row names say what each measures.

``python -m bench.tlog_bench`` runs on a temporary SQLite file and, when reachable, on
PostgreSQL (``TRUST_BENCH_DATABASE_URL``, else ``postgresql://postgres@127.0.0.1:5432/test``)
in a private schema that is dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    insert,
    text,
)
from sqlalchemy.orm import Session, sessionmaker

from trust.clock import SystemClock
from trust.crypto.private_keys import SM2PrivateKey, generate_sm2
from trust.db import Base, make_engine, session_factory
from trust.signing import SignatureAlgorithm
from trust.tlog import LogEvent, append, append_many, service
from trust.tlog.events import encode_event
from trust.tlog.model import TlogCheckpoint, TlogEntry, TlogHead, TlogNode
from trust.tlog.replay import verify_stored_log

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
GOAL_PER_SECOND = 2000.0
CHECKPOINT_EVERY = 1000
BATCH = 100
WRITERS = 4
ORIGIN = "bench.ywtb-trust.example/log"

_PLAIN = MetaData()
_plain = Table(
    "bench_plain_events",
    _PLAIN,
    Column("id", Integer, primary_key=True),
    Column("data", LargeBinary),
    Column("kind", String(128)),
    Column("subject", String(256)),
    Column("logged_at", DateTime(timezone=True)),
)


@dataclass
class _Signer:
    """A throw-away SM2 log key (the service signs through ``keys``; a benchmark may not)."""

    key_id: str = "bench-log-key"
    _key: SM2PrivateKey = field(default_factory=generate_sm2)

    @property
    def algorithm(self) -> SignatureAlgorithm:
        return SignatureAlgorithm.SM2_SM3

    def public_key_der(self) -> bytes:
        return self._key.public_key().to_der()

    def certificate_chain(self) -> Sequence[bytes]:
        return ()

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


def _events(start: int, count: int) -> list[LogEvent]:
    return [
        LogEvent(
            kind="ca.certificate_issued",
            subject=f"serial:{i:016x}",
            actor="client:bench",
            payload={
                "serial": f"{i:016x}",
                "issuer_key_id": "ca-2026-01",
                "subject_dn": "CN=某市市场监督管理局,O=Test Gov,C=CN",
                "not_after": "2031-11-21T00:00:00Z",
                "profile": "seal_holder",
            },
        )
        for i in range(start, start + count)
    ]


@contextmanager
def _database(url: str) -> Iterator[Engine]:
    """The log tables (and the peer's plain table) in a throw-away place on ``url``."""
    tables = [t.__table__ for t in (TlogEntry, TlogNode, TlogHead, TlogCheckpoint)]
    if url.startswith("sqlite"):
        engine = make_engine(url)
        Base.metadata.create_all(engine, tables=tables)  # type: ignore[arg-type]
        _PLAIN.create_all(engine)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    schema = f"bench_tlog_{secrets.token_hex(4)}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, search_path=schema)
    try:
        Base.metadata.create_all(engine, tables=tables)  # type: ignore[arg-type]
        _PLAIN.create_all(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _log_run(
    factory: sessionmaker[Session],
    n: int,
    per_txn: int,
    start: int,
    checkpoint_every: int = CHECKPOINT_EVERY,
) -> float:
    """Seconds for ``n`` appends, ``per_txn`` per transaction, a checkpoint signed every
    ``checkpoint_every`` of them (in its own transaction, included)."""
    clock, signer = SystemClock(), _Signer()
    batches = [_events(start + i, per_txn) for i in range(0, n, per_txn)]
    began = time.perf_counter()
    done = 0
    for events in batches:
        with factory() as s, s.begin():
            if len(events) == 1:
                append(session=s, clock=clock, event=events[0])
            else:
                append_many(session=s, clock=clock, events=events)
        done += len(events)
        if done % checkpoint_every == 0:
            with factory() as s, s.begin():
                service.create_checkpoint(session=s, clock=clock, signer=signer, origin=ORIGIN)
    return time.perf_counter() - began


def _plain_run(
    factory: sessionmaker[Session], n: int, per_txn: int, start: int, _every: int = 0
) -> float:
    """The peer: seconds for the same rows into a plain table, same batching, nothing else."""
    now = datetime.now(UTC)
    batches = [_events(start + i, per_txn) for i in range(0, n, per_txn)]
    began = time.perf_counter()
    for events in batches:
        rows = [
            {"data": encode_event(e, now), "kind": e.kind, "subject": e.subject, "logged_at": now}
            for e in events
        ]
        with factory() as s, s.begin():
            s.execute(insert(_plain), rows)
    return time.perf_counter() - began


def _concurrent(
    fn: Callable[..., float], factory: sessionmaker[Session], n: int, per_txn: int, start: int
) -> float:
    """Wall seconds for ``n`` single-event transactions split over ``WRITERS`` threads (each
    with its own connection); together they sign a checkpoint about every 1,000 appends."""
    share = n // WRITERS
    every = max(1, CHECKPOINT_EVERY // WRITERS)
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        began = time.perf_counter()
        futures = [
            pool.submit(fn, factory, share, per_txn, start + w * share, every)
            for w in range(WRITERS)
        ]
        for future in futures:
            future.result()
        return time.perf_counter() - began


def run(database_url: str | None = None, n: int = 20000, *, quick: bool = False) -> dict[str, Any]:
    """Measure on ``database_url`` (or, when ``None``, on a temporary SQLite file and on
    PostgreSQL if reachable). Returns the figures and the harness's ``rows``."""
    if quick:
        n = min(n, 3000)
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if database_url is not None:
            targets = [database_url]
        else:
            targets = [f"sqlite:///{Path(tmp) / 'tlog-bench.db'}"]
            pg = _reachable(os.environ.get("TRUST_BENCH_DATABASE_URL") or DEFAULT_PG_URL)
            if pg:
                targets.append(pg)
        for url in targets:
            figures["sqlite" if url.startswith("sqlite") else "postgresql"] = _measure(url, n)
    rows = [row for name, f in figures.items() for row in _rows(name, f)]
    title = "transparency log appends (SM2 checkpoint signed every ~1,000)"
    return {"title": title, "figures": figures, "rows": rows, "n": n}


def _measure(url: str, n: int) -> dict[str, Any]:
    """Each mode and its peer in alternating rounds, so that machine drift hits both alike."""
    rounds = max(1, n // (5 * CHECKPOINT_EVERY))
    chunk = (n // rounds) // WRITERS * WRITERS
    runs: dict[str, Callable[[sessionmaker[Session], int], float]] = {
        "plain_1": lambda f, start: _plain_run(f, chunk, 1, start),
        "log_1": lambda f, start: _log_run(f, chunk, 1, start),
        "plain_1x4": lambda f, start: _concurrent(_plain_run, f, chunk, 1, start),
        "log_1x4": lambda f, start: _concurrent(_log_run, f, chunk, 1, start),
        "plain_100": lambda f, start: _plain_run(f, chunk, BATCH, start),
        "log_100": lambda f, start: _log_run(f, chunk, BATCH, start),
    }
    seconds = dict.fromkeys(runs, 0.0)
    with _database(url) as engine:
        factory = session_factory(engine)
        offset = 0
        for _ in range(rounds):
            for name, fn in runs.items():
                seconds[name] += fn(factory, offset)
                offset += chunk
        out: dict[str, Any] = {name: rounds * chunk / t for name, t in seconds.items()}
        with factory() as s:
            out["size"] = service.log_head(session=s)[0]
            out["checkpoints"] = sum(1 for _ in service.iter_checkpoints(session=s))
            started = time.perf_counter()
            out["verified"] = verify_stored_log(session=s).ok
            out["verify_per_s"] = out["size"] / (time.perf_counter() - started)
    return out


#: (figure key, what it measures, the peer's name); every mode carries the issue's target.
_MODES: Final = (
    ("1", "1 event/txn", "bare INSERT 1 row/txn"),
    ("1x4", f"1 event/txn, {WRITERS} writers", f"bare INSERT 1/txn, {WRITERS} wr."),
    ("100", f"{BATCH} events/txn", f"bare INSERT {BATCH} rows/txn"),
)


def _rows(name: str, f: dict[str, Any]) -> list[dict[str, Any]]:
    def row(label: str, value: float, peer: str, peer_value: float, target: float | None) -> Any:
        return {
            "name": f"{label} ({name})",
            "value": value,
            "unit": "events/s",
            "peer": peer,
            "peer_value": peer_value,
            "ratio": value / peer_value,
            "target": target,
        }

    rows = []
    for key, what, peer in _MODES:
        log, plain = f[f"log_{key}"], f[f"plain_{key}"]
        rows.append(row(f"tlog append {what}, signed ckpts", log, peer, plain, None))
        rows.append(
            row(
                f"tlog append {what} vs target",
                log,
                "issue target 2,000 events/s",
                GOAL_PER_SECOND,
                1.0,
            )
        )
    verify = {"name": f"tlog verify whole log ({name})", "value": f["verify_per_s"]}
    rows.append(
        verify
        | {"unit": "entries/s", "peer": None, "peer_value": None, "ratio": None, "target": None}
    )
    return rows


def _reachable(url: str) -> str | None:
    try:
        engine = make_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure means "not available here"
        print(f"PostgreSQL not reachable at {url}: {type(exc).__name__}", file=sys.stderr)
        return None
    return url


def _print(result: dict[str, Any]) -> None:
    print(f"{'database':<11} {'mode':<22} {'events/s':>10} {'bare INSERT/s':>14} {'ratio':>6}")
    for db, f in result["figures"].items():
        for key, what, _peer in _MODES:
            log, plain = f[f"log_{key}"], f[f"plain_{key}"]
            goal = "  target met" if log >= GOAL_PER_SECOND else "  BELOW TARGET 2,000/s"
            print(f"{db:<11} {what:<22} {log:>10,.0f} {plain:>14,.0f} {log / plain:>6.2f}{goal}")
        size, count, ok = f["size"], f["checkpoints"], f["verified"]
        rate = f"{f['verify_per_s']:>10,.0f}"
        print(
            f"{db:<11} {'verify':<22} {rate} entries/s  (log of {size:,}, {count} ckpts, ok={ok})"
        )


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    _print(run(n=count))
