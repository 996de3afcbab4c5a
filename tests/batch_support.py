"""Run work through a ``trust.db_batch.BatchCommitter`` in a test as an endpoint's concurrent
requests do: from one event loop, queued in the same loop iteration."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from tests.asyncio_support import run_async
from trust.db_batch import BatchCommitter

__all__ = ["run_together"]


def run_together(committer: BatchCommitter, work: Sequence[tuple[Any, Any, Any]]) -> list[Any]:
    """The outcomes of ``(handler, item, fast)`` triples run concurrently from a new event loop:
    queued in one loop iteration, so that a fast path gets them in one statement and what it
    leaves reaches the committer in one batch. An item that failed has its exception as its
    outcome."""

    async def together() -> list[Any]:
        runs = (committer.run(handler, item, fast=fast) for handler, item, fast in work)
        return list(await asyncio.gather(*runs, return_exceptions=True))

    return run_async(together())
