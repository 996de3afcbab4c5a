"""Run work through a ``trust.db_batch.BatchCommitter`` in a test as an endpoint's concurrent
requests do: from one event loop, queued in the same loop iteration."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from trust.db_batch import BatchCommitter

__all__ = ["in_new_loop", "run_together"]

T = TypeVar("T")


def in_new_loop(main: Callable[[], Awaitable[T]]) -> T:
    """``asyncio.run(main())`` in a thread of its own: the test's thread may already run an
    event loop (the suite's session-wide browser does), and a thread runs only one."""

    async def run() -> T:
        return await main()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


def run_together(committer: BatchCommitter, work: Sequence[tuple[Any, Any, Any]]) -> list[Any]:
    """The outcomes of ``(handler, item, fast)`` triples run concurrently from a new event loop:
    queued in one loop iteration, so that a fast path gets them in one statement and what it
    leaves reaches the committer in one batch. An item that failed has its exception as its
    outcome."""

    async def together() -> list[Any]:
        runs = (committer.run(handler, item, fast=fast) for handler, item, fast in work)
        return list(await asyncio.gather(*runs, return_exceptions=True))

    return in_new_loop(together)
