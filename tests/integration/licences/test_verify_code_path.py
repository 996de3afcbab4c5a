"""The typed-code hot path (``licences.api_limits``, ``trust.db_batch``, ``trust.web.fastroute``):
group-committed counts, lookups and 核验记录 lose nothing, a refusal still counts, and the fast
endpoint answers exactly as the FastAPI route does."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from licences.api_limits import VerifyBatch
from licences.codes import new_code
from licences.envelope import mask_holder_name
from licences.model import LicenceVerification
from licences.verification import Result, VerificationResult
from tests.api._support import assert_problem
from tests.asyncio_support import run_async
from tests.integration.licences.conftest import Lic, business_body
from trust.clock import FixedClock
from trust.web.deps import batch_committer
from trust.web.ratelimit_model import RateCounter

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def _records(lic: Lic) -> int:
    with lic.app.state.session_factory() as s:
        return int(s.scalar(select(func.count()).select_from(LicenceVerification)) or 0)


def _ip_count(lic: Lic) -> int:
    with lic.app.state.session_factory() as s:
        counts = s.scalars(
            select(RateCounter.count).where(RateCounter.key.like("licences:verify:ip:%"))
        ).all()
    return sum(counts)


def test_the_fast_endpoint_is_registered(lic: Lic) -> None:
    assert ("POST", "/licences/verify/code") in lic.app.state.fast_routes.endpoints


def test_fast_endpoint_and_route_answer_alike(lic: Lic) -> None:
    code = lic.issue()["verification_code"]
    inputs = [code, code.lower().replace("-", " "), new_code(), "garbage"]
    fast = [lic.client.post("/licences/verify/code", json={"code": c}) for c in inputs]
    endpoints = lic.app.state.fast_routes.endpoints
    saved = endpoints.pop(("POST", "/licences/verify/code"))
    try:
        slow = [lic.client.post("/licences/verify/code", json={"code": c}) for c in inputs]
    finally:
        endpoints[("POST", "/licences/verify/code")] = saved
    for a, b in zip(fast, slow, strict=True):
        assert a.status_code == b.status_code == 200
        assert a.headers["content-type"] == b.headers["content-type"] == "application/json"
        assert a.json() == b.json()
    assert [r.json()["result"] for r in fast] == ["VALID", "VALID", "NOT_FOUND", "NOT_FOUND"]
    assert _records(lic) == 4  # two found by each path


def test_unusual_requests_get_the_routes_answers(lic: Lic) -> None:
    """Bodies the fast endpoint declines reach FastAPI's validation, as before."""
    missing = lic.client.post("/licences/verify/code", json={})
    body = assert_problem(missing, 422, "request.invalid")
    assert body["errors"][0]["loc"] == ["body", "code"]
    extra = lic.client.post("/licences/verify/code", json={"code": "x", "more": 1})
    assert_problem(extra, 422, "request.invalid")
    form = lic.client.post("/licences/verify/code", data={"code": "x"})
    assert_problem(form, 422, "request.invalid")
    broken = lic.client.post(
        "/licences/verify/code", content=b"{", headers={"content-type": "application/json"}
    )
    assert_problem(broken, 422, "request.invalid")


def test_a_refused_verification_still_counts(lic: Lic) -> None:
    lic.app.state.licences_verify_limits = (3, 100)
    statuses = [
        lic.client.post("/licences/verify/code", json={"code": "x"}).status_code for _ in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]
    assert _ip_count(lic) == 5  # the refusals were committed too


async def _verify_concurrently(app: FastAPI, codes: list[str]) -> list[dict[str, Any]]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            replies = await asyncio.gather(
                *(client.post("/licences/verify/code", json={"code": c}) for c in codes)
            )
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
    return [r.json() for r in replies]


def test_concurrent_verifications_are_batched_and_each_is_recorded(lic: Lic) -> None:
    code = lic.issue()["verification_code"]
    before = _records(lic)
    committer = batch_committer(lic.app.state)  # the app's, also after its lifespan closed it
    codes = [code] * 30 + [new_code() for _ in range(10)]
    results = run_async(_verify_concurrently(lic.app, codes))
    assert [r["result"] for r in results] == ["VALID"] * 30 + ["NOT_FOUND"] * 10
    assert _records(lic) - before == 30  # every found verification, for the holder
    assert _ip_count(lic) >= 40
    assert committer.items >= 40
    assert committer.batches < committer.items  # requests shared transactions


def test_a_record_keeps_what_who_and_when(lic: Lic) -> None:
    code = lic.issue()["verification_code"]
    lic.verify_code(code)
    r = lic.client.post("/licences/verify/code", json={"code": code}, headers=lic.system)
    assert r.status_code == 200
    with lic.app.state.session_factory() as s:
        rows = s.scalars(select(LicenceVerification)).all()
    rows = sorted(rows, key=lambda v: v.client is not None)
    assert [(v.channel, v.result) for v in rows] == [("code", "VALID"), ("code", "VALID")]
    anonymous, client = rows
    assert anonymous.client is None
    assert anonymous.ip_hint == client.ip_hint == "testclient:*"  # TestClient's "address"
    assert client.client is not None
    assert client.client.startswith("client:cli_")
    assert anonymous.at == client.at == lic.app.state.clock.now()


def test_concurrent_answers_to_different_licences_never_mix(lic: Lic) -> None:
    """A batch's answers are serialised once per result object; interleaved results of two
    licences and unknown codes each get their own body."""
    holders = ["长沙市甲乙建筑工程有限公司", "湘潭市丙丁食品有限公司"]
    first, second = (lic.issue(business_body(holder_name=name)) for name in holders)
    codes = [first["verification_code"], second["verification_code"], new_code()] * 12
    results = run_async(_verify_concurrently(lic.app, codes))
    names = [r["licence"] and r["licence"]["holder_name"] for r in results]
    assert names == [mask_holder_name(holders[0]), mask_holder_name(holders[1]), None] * 12
    assert len(set(names)) == 3


def test_a_body_is_made_again_for_another_result_object() -> None:
    batch = VerifyBatch(FixedClock(T0))
    one = VerificationResult(Result.NOT_FOUND, "not_found", "code", T0)
    later = VerificationResult(Result.NOT_FOUND, "not_found", "code", T0 + timedelta(seconds=1))
    assert json.loads(batch.json_of(one)) == one.to_dict()
    assert batch.json_of(one) is batch.json_of(one)  # served from the one-entry cache
    assert json.loads(batch.json_of(later)) == later.to_dict() != one.to_dict()
    assert json.loads(batch.json_of(one)) == one.to_dict()
