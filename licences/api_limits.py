"""Rate limits of public verification (spec §9.1) and the group-committed writes of the typed-code
endpoint: the HTTP edge's side of ``licences.service_verify``.

Every verification request counts one event per client IP and, when authenticated, one per
client (``trust.web.ratelimit``, in the database: shared by every server process), and is
refused with 429 ``licence.verify_rate_limited`` above either limit. A refused request's counts
are committed too (a client hammering the service stays refused until the window ends).

The counts and, for typed codes, the whole verification (lookup, live status, 核验记录) go
through the app's group committer (``trust.db_batch``): the requests that arrive while one batch
commits are written together in the next, in one transaction with one commit, and each request
answers only after that commit. Per batch: one multi-row upsert of all the counters and one
``SELECT … IN`` of the licences (sent together on PostgreSQL: one round trip with the ``BEGIN``,
``trust.db_pipeline``), one multi-row insert of the records, the commit.

These batches change no business state (counts and records only), so they are committed without
waiting for the WAL flush on PostgreSQL (``durable=False``, ``trust.db_batch``): a crash of the
database server may lose the counts and 核验记录 of the last 0.6 s at most, never a licence's
status, which every answer reads as committed. On SQLite every commit already works so (WAL,
``synchronous=NORMAL``). It took typed-code verification on PostgreSQL from 0.51 to 0.60 of the
bare FastAPI endpoint (four interleaved rounds, 2026-12-07).

QR, PDF and the HTML form count through the same committer (``count_verification``), in a
transaction of their own committed before the route's own transaction does its work.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from fastapi import Request
from sqlalchemy.orm import Session

from licences.service_verify import (
    CodeLookup,
    Verifier,
    code_lookup,
    found_by_digest,
    verify_codes,
)
from licences.verification import VerificationResult
from trust.clock import Clock
from trust.db_pipeline import Statement, execute_together
from trust.errors import RateLimited
from trust.principals.principal import Principal
from trust.web.deps import batch_committer
from trust.web.ratelimit import RateDecision, hit_many, plan_hits

__all__ = [
    "CLIENT_LIMIT",
    "IP_LIMIT",
    "WINDOW",
    "CodeRequest",
    "VerifyBatch",
    "count_verification",
    "count_verification_sync",
    "rate_hits",
    "verifier_of",
    "verify_batch",
]

#: Verifications per window: per client IP, and per authenticated client (spec §9.1).
#: ``app.state.licences_verify_limits = (ip, client)`` overrides them; outside production the
#: environment variable ``TRUST_LICENCES_VERIFY_LIMITS=<ip>,<client>`` does too (load benches
#: drive one server from one loopback address). TODO: a ``Settings`` field.
IP_LIMIT: Final = 60
CLIENT_LIMIT: Final = 600
WINDOW: Final = timedelta(seconds=60)

Hits = tuple[tuple[str, int], ...]


def _ip(request: Request) -> str:
    client = request.client  # a new tuple at each access
    return client.host if client else "unknown"


def verifier_of(request: Request, principal: Principal | None) -> Verifier:
    return Verifier(client=None if principal is None else principal.actor, ip=_ip(request))


def _limits(state: Any) -> tuple[int, int]:
    limits = getattr(state, "licences_verify_limits", None)
    if limits is None:
        limits = (IP_LIMIT, CLIENT_LIMIT)
        raw = os.environ.get("TRUST_LICENCES_VERIFY_LIMITS", "")
        if raw and state.settings.environment != "production":
            ip, _, client = raw.partition(",")
            limits = (int(ip), int(client or ip))
        state.licences_verify_limits = limits
    return (int(limits[0]), int(limits[1]))


def rate_hits(request: Request, principal: Principal | None) -> Hits:
    """The counters one verification request increments, with their limits."""
    ip_limit, client_limit = _limits(request.app.state)
    hits = [(f"licences:verify:ip:{_ip(request)}", ip_limit)]
    if principal is not None:
        hits.append((f"licences:verify:client:{principal.actor}", client_limit))
    return tuple(hits)


def _refusal(decisions: Sequence[RateDecision]) -> RateLimited | None:
    refused = [d for d in decisions if not d.allowed]
    if not refused:
        return None
    wait = max(d.retry_after for d in refused)
    return RateLimited(
        f"核验请求过于频繁，请 {wait} 秒后再试",
        code="licence.verify_rate_limited",
        extra={"retry_after": wait},
    )


@dataclass(frozen=True, slots=True)
class CodeRequest:
    """One typed-code verification, ready for the batch (the MAC is already computed)."""

    lookup: CodeLookup
    who: Verifier
    hits: Hits


class VerifyBatch:
    """The batch handlers of one app (``trust.db_batch``): its clock gives each batch one
    ``now`` (the rate window and the records' time)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._last_json: tuple[VerificationResult, bytes] | None = None

    def json_of(self, result: VerificationResult) -> bytes:
        """The response body of ``result``: the body FastAPI makes of ``VerificationRead`` (same
        members, order and encoding; a test compares the two paths), without validating it
        again. The requests of one batch that found the same licence share one result object
        (``verify_codes``), so it is serialised once for them (results are immutable)."""
        last = self._last_json
        if last is not None and last[0] is result:
            return last[1]
        body = json.dumps(result.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()
        self._last_json = (result, body)
        return body

    @staticmethod
    def _refusals(
        decisions: Sequence[RateDecision], each: Sequence[Hits]
    ) -> list[RateLimited | None]:
        out: list[RateLimited | None] = []
        start = 0
        for hits in each:
            out.append(_refusal(decisions[start : start + len(hits)]))
            start += len(hits)
        return out

    def counts(self, session: Session, items: Sequence[Hits]) -> list[BaseException | None]:
        """Handler: count each item's hits; a refusal is raised in its waiter."""
        flat = [h for hits in items for h in hits]
        decisions = hit_many(session=session, hits=flat, window=WINDOW, now=self.clock.now())
        return list(self._refusals(decisions, items))

    def codes(
        self, session: Session, items: Sequence[CodeRequest]
    ) -> list[VerificationResult | BaseException]:
        """Handler: count and look up (both statements in one round trip on PostgreSQL,
        ``trust.db_pipeline``), then verify the allowed codes and record what they found. A
        refused request's licence is looked up too, and nothing is done with it."""
        now = self.clock.now()
        connection = session.connection()
        planned = plan_hits(hits=[h for item in items for h in item.hits], window=WINDOW, now=now)
        lookup = code_lookup(connection, [item.lookup for item in items])
        statements: list[Statement] = (
            [(planned.statement, planned.params)] if planned is not None else []
        )
        statements += [lookup] if lookup is not None else []
        rows = execute_together(connection, statements)
        decisions = planned.decisions(rows[0]) if planned is not None else []
        found = found_by_digest(rows[-1]) if lookup is not None else {}
        refusals = self._refusals(decisions, [item.hits for item in items])
        allowed = [item for item, refused in zip(items, refusals, strict=True) if refused is None]
        results = iter(
            verify_codes(
                session=session,
                now=now,
                requests=[(item.lookup, item.who) for item in allowed],
                found=found,
            )
        )
        return [next(results) if refused is None else refused for refused in refusals]


def verify_batch(request: Request) -> VerifyBatch:
    """This app's handlers (made once per app: handlers are grouped by identity)."""
    state = request.app.state
    batch: VerifyBatch | None = getattr(state, "licences_verify_batch", None)
    if batch is None or batch.clock is not state.clock:
        batch = VerifyBatch(state.clock)
        state.licences_verify_batch = batch
    return batch


async def count_verification(request: Request, principal: Principal | None) -> None:
    """Count this verification (committed before returning); 429 above either limit."""
    committer = batch_committer(request.app.state)
    await committer.run(verify_batch(request).counts, rate_hits(request, principal), durable=False)


def count_verification_sync(request: Request, principal: Principal | None) -> None:
    """``count_verification`` for a route running in the thread pool. Call it before the route's
    ``SessionDep`` does any work (on SQLite that transaction would hold the write lock)."""
    committer = batch_committer(request.app.state)
    committer.call(verify_batch(request).counts, rate_hits(request, principal), durable=False)
