"""Form one real batch of a ``trust.db_batch.BatchCommitter`` in a test: the committer is held
by a gate until every item is queued, so that they are all taken into its next batch."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from sqlalchemy.orm import Session

from trust.db_batch import BatchCommitter

__all__ = ["one_batch"]


def one_batch(committer: BatchCommitter, work: Sequence[tuple[Any, Any, Any]]) -> list[Any]:
    """The outcomes of ``(handler, item, fast)`` triples submitted as one batch; an item that
    failed has its exception as its outcome."""
    entered, release = threading.Event(), threading.Event()

    def gate(_session: Session, items: Sequence[None]) -> list[None]:
        entered.set()
        assert release.wait(10)
        return [None] * len(items)

    held = committer.submit(gate, None)
    assert entered.wait(10)
    futures: list[Future[Any]] = [committer.submit(h, i, fast=f) for h, i, f in work]
    release.set()
    held.result(10)
    outcomes: list[Any] = []
    for future in futures:
        try:
            outcomes.append(future.result(10))
        except Exception as exc:
            outcomes.append(exc)
    return outcomes
