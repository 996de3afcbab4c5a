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

A handler may also have a *fast path* (``fast=``, PostgreSQL through psycopg only): a function
``fast(statements, items) -> one outcome per item, or None`` that serves what it can with
statements that each commit on their own (``AutocommitStatements``: no ``BEGIN``, no ``COMMIT``
round trip, no ORM session - the committer's Python per batch is what holds the GIL the event
loop needs). It runs before the batch's transaction, on the committer's connection; an item it
answers ``None`` is left untouched and goes on to its handler in that transaction, as if there
were no fast path. So a fast path must serve an item only with one statement whose success is
the whole of the item's effect, and leave every case that needs more (a refusal to explain, a
second write) to the handler. Its statements always commit durably (``synchronous_commit`` is
put back first if a relaxed batch had turned it off). A fast path raising fails its items
(``BatchFailed``, logged): a statement may have committed, so they are never handed on. Items
with a fast path and their waiters are otherwise as above; on another database the handler
does all.

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

from trust.db import holds_sqlite_writer_lock
from trust.db_pipeline import AutocommitStatements
from trust.errors import TrustError, Unavailable

__all__ = ["BatchCommitter", "BatchFailed", "BatchHandler", "FastPath"]

I = TypeVar("I")  # noqa: E741 - the item type, as in the module docstring
O = TypeVar("O")  # noqa: E741

#: ``handler(session, items) -> one outcome per item`` (a value, or an exception to raise).
BatchHandler = Callable[[Session, Sequence[I]], Sequence["O | BaseException"]]

#: ``fast(statements, items) -> one outcome per item, or None: left to the handler``.
FastPath = Callable[[AutocommitStatements, Sequence[I]], Sequence["O | BaseException | None"]]

logger = logging.getLogger("trust.db_batch")
MAX_BATCH: Final = 256
IDLE_SECONDS: Final = 5.0


class BatchFailed(Unavailable):
    """The batch holding this request's writes was not committed (the request had no effect,
    or, after a failed commit, an unknown one); the client may retry."""

    code = "db.batch_failed"
    title = "数据库暂不可用"

    def __init__(self, detail: str = "数据库暂不可用，本次请求未生效，请稍后重试") -> None:
        super().__init__(detail)


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
    #: The handler's fast path, if any (module docstring).
    fast: Callable[[AutocommitStatements, Sequence[Any]], Sequence[Any]] | None = None

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
    ) -> None:
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
        #: Batches committed and items committed (for tests and benchmarks); of those, items
        #: a fast path served.
        self.batches = 0
        self.items = 0
        self.fast_items = 0

    # ------------------------------------------------------------------------------ callers

    def submit(
        self,
        handler: Callable[[Session, Sequence[I]], Sequence[O | BaseException]],
        item: I,
        *,
        durable: bool = True,
        fast: FastPath[I, O] | None = None,
    ) -> Future[O]:
        """Queue ``item`` for ``handler`` (and its fast path ``fast``); the future resolves
        after the batch's commit."""
        future: Future[O] = Future()
        self._put(_Work(handler, item, future=future, durable=durable, fast=fast))
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
        ``fast``: the handler's fast path (module docstring)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[O] = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:  # the first item of this loop iteration: hand over after it
            pending = self._pending[loop] = []
            loop.call_soon(self._hand_over, loop)
        pending.append(_Work(handler, item, afuture=future, loop=loop, durable=durable, fast=fast))
        return await future

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
        fast: FastPath[I, O] | None = None,
    ) -> O:
        """``submit`` and wait in this thread. Refused (``RuntimeError``) from a thread that
        would deadlock: the committer's own, or one with a SQLite transaction open on the
        committer's database (the batch could never take the write lock)."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("a batch handler cannot wait for another batch")
        engine = self.factory.kw.get("bind")
        if engine is not None and holds_sqlite_writer_lock(engine):
            raise RuntimeError("this thread holds the SQLite write lock; the batch would wait")
        return self.submit(handler, item, durable=durable, fast=fast).result(timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        """Finish the queued work, then stop; later ``submit`` calls raise ``BatchFailed``."""
        with self._cond:
            self._closed = True
            thread = self._thread
            self._cond.notify()
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
        if any(work.fast is not None for work in batch):
            batch = self._fast(batch)
            if not batch:
                return
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

    def _fast(self, batch: list[_Work]) -> list[_Work]:
        """Run the fast paths of ``batch`` (module docstring); the works left to the handlers,
        in their order."""
        try:
            conn = self._connection()
        except Exception:  # no connection: the handlers' transaction reports the failure
            logger.warning("no connection for the fast paths", exc_info=True)
            return batch
        driver = conn.connection.driver_connection
        if conn.dialect.driver != "psycopg" or driver is None:
            return batch
        groups: dict[Any, list[_Work]] = {}
        for work in batch:
            if work.fast is not None:
                groups.setdefault(work.fast, []).append(work)
        served: list[_Work] = []
        outcomes: list[Any] = []
        passed: set[int] = set()
        statements = AutocommitStatements(driver)
        try:
            driver.autocommit = True
            if self._conn_relaxed:  # fast statements commit durably
                statements.rows("SET synchronous_commit TO DEFAULT", {})
                self._conn_relaxed = False
        except Exception as exc:  # nothing ran: the handlers' transaction reconnects
            logger.warning("fast paths skipped", exc_info=exc)
            self._drop_connection()
            return batch
        try:
            for fast, works in groups.items():
                if self._conn is None:  # dropped after a failure: these ran nowhere yet
                    passed.update(id(work) for work in works)
                    continue
                try:
                    results = fast(statements, [work.item for work in works])
                    if len(results) != len(works):
                        raise RuntimeError(f"{fast!r} returned a wrong number of outcomes")
                except Exception as exc:  # a statement may have committed: never handed on
                    if isinstance(exc, DBAPIError):
                        self._drop_connection()
                    self._fail(works, exc)
                    continue
                for work, result in zip(works, results, strict=True):
                    if result is None:
                        passed.add(id(work))
                    else:
                        served.append(work)
                        outcomes.append(result)
        finally:
            if self._conn is not None:
                try:
                    driver.autocommit = False
                except Exception:  # a broken connection: the next batch opens a new one
                    logger.warning("the fast paths' connection is unusable", exc_info=True)
                    self._drop_connection()
        if served:
            self.items += len(served)
            self.fast_items += len(served)
            self._deliver(served, outcomes)
        return [work for work in batch if work.fast is None or id(work) in passed]

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
