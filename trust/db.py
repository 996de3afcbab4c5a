"""Database plumbing: one declarative base, engines per settings, sessions per unit of work.

No module-level engine. SQLite is the embedded default (WAL, foreign keys on, busy timeout);
PostgreSQL is supported and tested. Every business change runs in one transaction
(``with session.begin():``) that also holds its transparency-log event.

SQLite writers: every transaction starts with ``BEGIN IMMEDIATE`` (it takes the database's write
lock at once, so two processes never deadlock upgrading a read lock). Inside one process the
threads of an engine first queue on an in-process FIFO writer lock, taken just before ``BEGIN
IMMEDIATE`` and released right after the commit or rollback (or when the connection closes), so
that they never meet SQLite's busy handler, which sleeps 1, 2, 5 … 100 ms between retries and so
turned a few concurrent requests into a p99 of a second. Other processes still meet it (the
busy timeout stays 30 s). A thread waiting longer than the busy timeout for the in-process lock
goes on to ``BEGIN IMMEDIATE`` without it and gets SQLite's own "database is locked" error;
``holds_sqlite_writer_lock`` tells code that must not wait for another transaction (the group
committer in ``trust.db_batch``) that its thread has one open.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from trust.clock import utc

__all__ = [
    "Base",
    "UTCDateTime",
    "holds_sqlite_writer_lock",
    "make_engine",
    "session_factory",
    "transaction",
]

#: SQLite's busy timeout, and how long a thread waits for the in-process writer lock.
SQLITE_BUSY_SECONDS: Final = 30.0

_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out, on SQLite (naive storage) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else utc(value)


class _FairLock:
    """A FIFO lock: waiters get it in arrival order, handed over directly on release (no thread
    races past a waiter); ``acquire`` may time out; remembers its owner thread."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._held = False
        #: ``threading.get_ident()`` of the thread that acquired it, while held.
        self.owner: int | None = None

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                self.owner = threading.get_ident()
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if not turn.acquire(timeout=timeout):
            with self._mutex:
                if turn in self._waiters:  # not handed over: give up the place in the queue
                    self._waiters.remove(turn)
                    return False
            # Handed over just as the wait timed out: the lock is ours after all.
        self.owner = threading.get_ident()
        return True

    def release(self) -> None:
        with self._mutex:
            self.owner = None
            if self._waiters:
                self._waiters.popleft().release()  # ownership passes; _held stays True
            else:
                self._held = False


class _SQLiteConnection(sqlite3.Connection):
    """The DBAPI connection of our SQLite engines: releases the engine's writer lock after the
    transaction ends, whichever way it ends (commit, rollback, pool reset, close)."""

    writer_lock: _FairLock | None = None
    holds_writer_lock: bool = False

    def begin_immediate(self, begin: Any) -> None:
        lock = self.writer_lock
        if lock is not None and lock.acquire(SQLITE_BUSY_SECONDS):
            self.holds_writer_lock = True
        try:
            begin("BEGIN IMMEDIATE")
        except BaseException:
            self._release_writer_lock()
            raise

    def _release_writer_lock(self) -> None:
        if self.holds_writer_lock and self.writer_lock is not None:
            self.holds_writer_lock = False
            self.writer_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release_writer_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release_writer_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release_writer_lock()


_WRITER_LOCKS: weakref.WeakKeyDictionary[Engine, _FairLock] = weakref.WeakKeyDictionary()


def holds_sqlite_writer_lock(engine: Engine) -> bool:
    """Whether the calling thread has a transaction open on this (SQLite) engine."""
    lock = _WRITER_LOCKS.get(engine)
    return lock is not None and lock.owner == threading.get_ident()


def _sqlite_connect(lock: _FairLock) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.writer_lock = lock
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")
        cur.close()

    return on_connect


def _sqlite_begin_immediate(conn: Any) -> None:
    # Writers take the lock at BEGIN, so two processes never deadlock upgrading a read lock;
    # threads of this process queue on the in-process writer lock first (module docstring).
    dbapi_connection = conn.connection.dbapi_connection
    if isinstance(dbapi_connection, _SQLiteConnection):
        dbapi_connection.begin_immediate(conn.exec_driver_sql)
    else:  # pragma: no cover - a connection made by another factory
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, echo: bool = False, search_path: str | None = None) -> Engine:
    """Create an engine for ``url`` with the pragmas and pool settings this service relies on.

    ``search_path`` (PostgreSQL only) puts every table in that schema; tests use it to isolate runs.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={
                "check_same_thread": False,
                "isolation_level": None,
                "factory": _SQLiteConnection,
            },
        )
        lock = _FairLock()
        _WRITER_LOCKS[engine] = lock
        event.listen(engine, "connect", _sqlite_connect(lock))
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    connect_args = {"options": f"-csearch_path={search_path}"} if search_path else {}
    engine = create_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        connect_args=connect_args,
    )
    _CONNECT_ARGS[engine] = connect_args
    return engine


#: The driver's connection arguments each PostgreSQL engine was made with (``make_engine``).
_CONNECT_ARGS: weakref.WeakKeyDictionary[Engine, dict[str, Any]] = weakref.WeakKeyDictionary()


def psycopg_connect_args(engine: Engine) -> dict[str, Any] | None:
    """Keyword arguments of ``psycopg.AsyncConnection.connect`` for a connection to the database
    of ``engine`` with the settings of the engine's own (schema included); None unless the engine
    is PostgreSQL through psycopg."""
    if engine.dialect.name != "postgresql" or engine.dialect.driver != "psycopg":
        return None
    _args, params = engine.dialect.create_connect_args(engine.url)
    params.pop("context", None)  # SQLAlchemy's adapters: the caller's connection uses psycopg's
    return {**params, **_CONNECT_ARGS.get(engine, {})}


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any exception."""
    with factory() as session, session.begin():
        yield session
