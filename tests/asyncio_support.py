"""Run a coroutine to completion from a synchronous test, whatever runs in the test's thread.

The browser tests keep one Playwright browser for the whole session, and its synchronous API
runs an event loop in the main thread; ``asyncio.run`` there raises "cannot be called from a
running event loop". A fresh thread has no loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_async"]

T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
