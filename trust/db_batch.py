"""Group commit: the small writes of many concurrent requests in one transaction and one commit.

A hot endpoint whose every request writes a little (a rate-limit count, a verification record)
spends most of its time beginning and committing transactions: a commit is an fsync on
PostgreSQL and, on SQLite, the one write lock that every request queues for. A
``BatchCommitter`` hands such writes to one committer thread per process and database: while it
commits one batch, new work queues up; it then takes all of it (up to ``max_batch`` items) into
the next transaction. Nothing waits on purpose, so a lone request is committed at once, and
under load the fsyncs and round trips are shared by the whole batch. From an event loop
(``run``), the items queued by the requests of one loop iteration are handed over together
after it, with one wake-up of the committer, and the outcomes come back with one callback into
the loop per batch: waking a thread per item cost more than the database work (GIL hand-offs).

Durability is kept: ``submit`` returns a future that is resolved only **after** the batch's
commit, so a request answers only once its writes are durable (as with its own transaction).
A caller may declare its item's writes *not worth a synchronous flush* (``durable=False``): a
batch of only such items is committed on PostgreSQL with ``synchronous_commit`` off, so its
requests answer after the commit, without waiting for the WAL flush. The batch is still atomic
and isolated and is never half applied; what a crash of the database server can lose is the
last such batches (PostgreSQL bounds the window by three times ``wal_writer_delay``, 0.6 s by
default; §30.4 "Asynchronous Commit" of its manual). It is for writes whose loss a crash may
cost, such as rate-limit counts and the records of public verifications; never for a change of
business state. One item that is durable makes its whole batch durable. SQLite in WAL mode with
``synchronous=NORMAL`` (``trust.db``) already commits every transaction this way.

Work is given as ``(handler, item)``. A *handler* is a plain function ``handler(session, items)
-> outcomes`` that does the work of several items at once (one multi-row statement rather than
one per item) and returns one outcome per item, in order: a value, or an exception instance to
raise in that item's waiter after the commit (a refusal whose count must still be committed,
for example). Items of the same handler in one batch go to one call; handlers run in the order
their first item arrived. A handler must have no effects outside the session (it may run again,
see below) and must not commit. Keep handlers cheap: the batch holds the database's write lock
(SQLite) or its rows' locks (PostgreSQL) while they run.

Failure (never a silent loss):

* a handler raising rolls the whole batch back; when the batch held more than one item and the
  error did not come from the database connection itself, each item is then tried again alone,
  in its own transaction, so that one poisonous item cannot fail the others (the rollback undid
  everything, so this is safe); an item that fails alone gets its error (a ``TrustError`` as
  raised, anything else as ``BatchFailed``, logged);
* a failed ``COMMIT`` (or a database error) fails every item of the batch with ``BatchFailed``
  (503 ``db.batch_failed``), chained to the cause: whether an interrupted commit took effect is
  unknown, so nothing is retried that could count twice.

A handler may also have a *fast path* (``run(..., fast=)``, PostgreSQL through psycopg only;
``trust.db_loop``): ``fast(items)`` gives one statement that commits on its own and serves what
it can, sent from the caller's event loop before anything is queued here; an item it does not
serve (outcome ``None``) is untouched and goes on to its handler here, as if there were no fast
path. So a fast path must serve an item only with one statement whose success is the whole of
the item's effect, and leave every case that needs more (a refusal to explain, a second write)
to the handler. A fast path failing fails its items (``BatchFailed``): its statement may have
committed, so they are never handed on. On another database, or from a thread (``submit``,
``call``), the handler does all.

The thread starts on the first ``submit`` and ends after ``idle_seconds`` without work (the next
``submit`` starts a new one), so apps and tests that stop using a committer leave no thread
behind; ``close()`` finishes the queued work and stops it for good.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from trust.db import holds_sqlite_writer_lock, psycopg_connect_args
from trust.db_loop import BatchFailed, Connect, FastCounts, FastPath, LoopStatements
from trust.errors import TrustError

__all__ = ["BatchCommitter", "BatchFailed", "BatchHandler", "FastPath"]

I = TypeVar("I")  # noqa: E741 - the item type, as in the module docstring
O = TypeVar("O")  # noqa: E741

#: ``handler(session, items) -> one outcome per item`` (a value, or an exception to raise).
BatchHandler = Callable[[Session, Sequence[I]], Sequence["O | BaseException"]]

logger = logging.getLogger("trust.db_batch")
MAX_BATCH: Final = 256
IDLE_SECONDS: Final = 5.0


@dataclass(slots=True)
class _Work:
    handler: Callable[[Session, Sequence[Any]], Sequence[Any]]
    item: Any
    #: The waiter: a thread's future (``submit``/``call``), or an event loop's (``run``).
    future: Future[Any] | None = None
    afuture: asyncio.Future[Any] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    #: False: the caller accepts an asynchronous commit (module docstring).
    durable: bool = True

    def start(self) -> bool:
        """Whether the work is still wanted (its waiter not cancelled); from now on it runs."""
        if self.future is not None:
            return self.future.set_running_or_notify_cancel()
        return self.afuture is not None and not self.afuture.cancelled()


def _resolve(outcomes: list[tuple[asyncio.Future[Any], Any]]) -> None:
    """In the waiters' event loop: hand each its outcome (one loop callback per batch)."""
    for future, outcome in outcomes:
        if future.done():  # cancelled meanwhile: its work is committed all the same
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class BatchCommitter:
    """Group commit over ``factory`` (one per process and database; thread-safe)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        max_batch: int = MAX_BATCH,
        idle_seconds: float = IDLE_SECONDS,
        name: str = "trust-db-batch",
        connect_fast: Connect | None = None,
    ) -> None:
        """``connect_fast`` opens the fast paths' connection (``trust.db_loop``); by default a
        psycopg one to the factory's PostgreSQL database, none (no fast path) elsewhere."""
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.factory = factory
        self.max_batch = max_batch
        self.idle_seconds = idle_seconds
        self.name = name
        self._queue: deque[_Work] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._waiting = False  # the committer sleeps in _take (then a new item wakes it)
        self._closed = False
        self._conn: Connection | None = None  # only touched by the committer thread
        #: Whether ``_conn``'s session has ``synchronous_commit`` off (PostgreSQL).
        self._conn_relaxed = False
        #: Items queued by ``run`` in each event loop's current iteration (only touched from
        #: that loop's thread).
        self._pending: dict[asyncio.AbstractEventLoop, list[_Work]] = {}
        #: Batches committed and items committed (for tests and benchmarks).
        self.batches = 0
        self.items = 0
        self._connect_fast = connect_fast if connect_fast is not None else _psycopg_connect(factory)
        #: The fast paths of each event loop that uses them (one in a server; tests run
        #: several), and what they all did.
        self._fast_by_loop: dict[asyncio.AbstractEventLoop, LoopStatements] = {}
        self._fast_counts = FastCounts()

    @property
    def fast_items(self) -> int:
        """Items a fast path served (a value or an exception), in every event loop."""
        return self._fast_counts.served

    @property
    def fast_statements(self) -> int:
        """Statements the fast paths sent, in every event loop."""
        return self._fast_counts.statements

    # ------------------------------------------------------------------------------ callers

    def submit(
        self,
        handler: Callable[[Session, Sequence[I]], Sequence[O | BaseException]],
        item: I,
        *,
        durable: bool = True,
    ) -> Future[O]:
        """Queue ``item`` for ``handler``; the future resolves after the batch's commit."""
        future: Future[O] = Future()
        self._put(_Work(handler, item, future=future, durable=durable))
        return future

    async def run(
        self,
        handler: Callable[[Session, Sequence[I]], Sequence[O | BaseException]],
        item: I,
        *,
        durable: bool = True,
        fast: FastPath[I, O] | None = None,
    ) -> O:
        """Queue ``item`` and wait without blocking the event loop: resolved after the commit,
        by one callback into this loop per batch (cheaper than a thread future per item).
        ``fast``: the handler's fast path, tried first (module docstring)."""
        loop = asyncio.get_running_loop()
        if fast is not None:
            statements = self._fast_paths(loop)
            if statements is not None:
                outcome = await statements.run(fast, item)
                if isinstance(outcome, BaseException):
                    raise outcome
                if outcome is not None:
                    return outcome
        future: asyncio.Future[O] = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:  # the first item of this loop iteration: hand over after it
            pending = self._pending[loop] = []
            loop.call_soon(self._hand_over, loop)
        pending.append(_Work(handler, item, afuture=future, loop=loop, durable=durable))
        return await future

    def _fast_paths(self, loop: asyncio.AbstractEventLoop) -> LoopStatements | None:
        """The fast paths of ``loop``; None where there are none (not PostgreSQL, or closed)."""
        statements = self._fast_by_loop.get(loop)
        if statements is not None or self._connect_fast is None or self._closed:
            return statements
        for old_loop, old in list(self._fast_by_loop.items()):
            if old_loop.is_closed():  # a finished loop's (tests): its connection is closed
                old.close()
                del self._fast_by_loop[old_loop]
        statements = self._fast_by_loop[loop] = LoopStatements(
            loop,
            self._connect_fast,
            max_batch=self.max_batch,
            idle_seconds=self.idle_seconds,
            counts=self._fast_counts,
        )
        return statements

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        """In ``loop``, after the requests of one loop iteration queued their items: one
        wake-up of the committer for all of them (not one per item)."""
        pending = self._pending.pop(loop, [])
        try:
            self._put(*pending)
        except Exception as exc:  # closed (BatchFailed), or no thread could start: never hang
            error = exc if isinstance(exc, BatchFailed) else BatchFailed()
            if error is not exc:
                logger.error("batch hand-over failed", exc_info=exc)
                error.__cause__ = exc
            for work in pending:
                if work.afuture is not None and not work.afuture.done():
                    work.afuture.set_exception(error)

    def _put(self, *works: _Work) -> None:
        with self._cond:
            if self._closed:
                raise BatchFailed("服务正在停止，请稍后重试")
            self._queue.extend(works)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            elif self._waiting:
                self._cond.notify()

    def call(
        self,
        handler: Callable[[Session, Sequence[I]], Sequence[O | BaseException]],
        item: I,
        *,
        timeout: float | None = None,
        durable: bool = True,
    ) -> O:
        """``submit`` and wait in this thread. Refused (``RuntimeError``) from a thread that
        would deadlock: the committer's own, or one with a SQLite transaction open on the
        committer's database (the batch could never take the write lock)."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("a batch handler cannot wait for another batch")
        engine = self.factory.kw.get("bind")
        if engine is not None and holds_sqlite_writer_lock(engine):
            raise RuntimeError("this thread holds the SQLite write lock; the batch would wait")
        return self.submit(handler, item, durable=durable).result(timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        """Finish the queued work, then stop; later ``submit`` calls raise ``BatchFailed``."""
        with self._cond:
            self._closed = True
            thread = self._thread
            self._cond.notify()
        for statements in list(self._fast_by_loop.values()):
            statements.close()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # ---------------------------------------------------------------------------- committer

    def _take(self) -> list[_Work] | None:
        with self._cond:
            if not self._queue and not self._closed:
                self._waiting = True
                self._cond.wait_for(lambda: self._queue or self._closed, self.idle_seconds)
                self._waiting = False
            if not self._queue:  # idle for idle_seconds, or closed and drained
                self._thread = None  # a later submit starts a new thread
                return None
            batch: list[_Work] = []
            while self._queue and len(batch) < self.max_batch:
                batch.append(self._queue.popleft())
        # A waiter cancelled before its work started is dropped; the others can no longer be
        # cancelled, so every item that runs gets its outcome.
        return [w for w in batch if w.start()]

    def _run(self) -> None:
        try:
            while (batch := self._take()) is not None:
                if batch:
                    self._commit(batch)
        finally:
            self._drop_connection()

    def _connection(self) -> Connection:
        """The committer's own connection, kept from batch to batch (no pool checkout, no
        pre-ping round trip per batch); a new one after a failure or an idle stop."""
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            bind = self.factory.kw.get("bind")
            if not isinstance(bind, Engine):
                raise RuntimeError("the session factory of a BatchCommitter is bound to an engine")
            self._conn = bind.connect()
            self._conn_relaxed = False
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        relaxed, self._conn_relaxed = self._conn_relaxed, False
        if conn is not None:
            try:
                if relaxed:  # never back into the pool with synchronous_commit off
                    conn.invalidate()
                conn.close()
            except Exception:  # already broken: the pool discards it
                logger.warning("closing the batch connection failed", exc_info=True)

    def _commit(self, batch: list[_Work]) -> None:
        try:
            outcomes = self._transaction(batch)
        except _HandlerFailed as failed:
            if isinstance(failed.cause, DBAPIError):
                self._drop_connection()
            if len(batch) > 1 and not isinstance(failed.cause, DBAPIError):
                for work in batch:  # isolate the poisonous item (module docstring)
                    self._commit([work])
                return
            self._fail(batch, failed.cause)
            return
        except Exception as exc:  # the commit itself (or beginning) failed
            self._drop_connection()
            self._fail(batch, exc)
            return
        self.batches += 1
        self.items += len(batch)
        self._deliver(batch, outcomes)

    def _deliver(self, batch: list[_Work], outcomes: Sequence[Any]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
        for work, outcome in zip(batch, outcomes, strict=True):
            if work.future is not None:
                if isinstance(outcome, BaseException):
                    work.future.set_exception(outcome)
                else:
                    work.future.set_result(outcome)
            elif work.loop is not None and work.afuture is not None:
                by_loop.setdefault(work.loop, []).append((work.afuture, outcome))
        for loop, resolved in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, resolved)
            except RuntimeError:  # that loop is closed: nobody is waiting any more
                logger.warning("batch outcomes for a closed event loop dropped after commit")

    def _transaction(self, batch: list[_Work]) -> list[Any]:
        groups: dict[Any, list[int]] = {}
        for i, work in enumerate(batch):
            groups.setdefault(work.handler, []).append(i)
        outcomes: list[Any] = [None] * len(batch)
        relaxed = not any(work.durable for work in batch)
        with self.factory(bind=self._connection()) as session, session.begin():
            mode_after = self._commit_mode(session, relaxed)
            try:
                for handler, positions in groups.items():
                    results = handler(session, [batch[i].item for i in positions])
                    if len(results) != len(positions):
                        raise RuntimeError(f"{handler!r} returned a wrong number of outcomes")
                    for i, result in zip(positions, results, strict=True):
                        outcomes[i] = result
            except Exception as exc:
                raise _HandlerFailed(exc) from exc
        self._conn_relaxed = mode_after  # committed: a SET made for this batch lasts
        return outcomes

    def _commit_mode(self, session: Session, relaxed: bool) -> bool:
        """On PostgreSQL, ``synchronous_commit`` of the committer's session set for this batch
        (module docstring): a ``SET`` in the transaction, only when the mode changes (no round
        trip per batch). Returns the session's mode once this transaction commits; a failed
        transaction rolls the ``SET`` back, so ``_transaction`` remembers it only after a
        commit. Elsewhere nothing is set (False)."""
        if relaxed == self._conn_relaxed or session.get_bind().dialect.name != "postgresql":
            return self._conn_relaxed
        mode = "off" if relaxed else "DEFAULT"
        # Through the session: its transaction, begun here, is the batch's.
        session.connection().exec_driver_sql(f"SET synchronous_commit TO {mode}")
        return relaxed

    def _fail(self, batch: list[_Work], cause: BaseException) -> None:
        if len(batch) == 1 and isinstance(cause, TrustError):
            self._deliver(batch, [cause])
            return
        logger.error("batch of %d not committed", len(batch), exc_info=cause)
        errors = []
        for _ in batch:
            error = BatchFailed()
            error.__cause__ = cause
            errors.append(error)
        self._deliver(batch, errors)


class _HandlerFailed(Exception):
    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _psycopg_connect(factory: sessionmaker[Session]) -> Connect | None:
    """Opens an asynchronous psycopg connection to ``factory``'s database (as its engine's own
    connections are made), when that is PostgreSQL through psycopg."""
    engine = factory.kw.get("bind")
    args = psycopg_connect_args(engine) if isinstance(engine, Engine) else None
    if args is None:
        return None

    # A database that does not answer fails the fast path's connection in 10 s (the items then
    # go to the handler), not after the operating system's TCP timeout.
    args.setdefault("connect_timeout", 10)

    async def connect() -> Any:
        from psycopg import AsyncConnection

        return await AsyncConnection.connect(**args)

    return connect
