"""Idempotent issuing (issue 5 items 2 and fix 1): one licence per Idempotency-Key, decided on the
request as the client sent it (a replay on a later day without ``valid_from`` is the same
request), and two concurrent requests with one key never give a 500: the loser's savepoint is
rolled back and it answers with the winner's licence, or 409 when its body differs.

The concurrent cases run two threads against the real database (SQLite by default, PostgreSQL
with ``TRUST_TEST_DATABASE_URL``). A third transaction holds the issuer's status-list rows
until both threads are waiting, so on PostgreSQL both have passed the "key already used?"
check before either commits, and the second one's insert hits the unique constraint; SQLite
runs write transactions one at a time, so there the second one finds the first's row."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from licences import service_issue
from licences.issuance import IssueRequest
from licences.model import Licence, LicenceStatusList
from licences.service_errors import LicenceConflict
from licences.service_keys import config_from_settings
from seals.model import SealUsage
from tests.api._support import assert_problem
from tests.integration.licences.conftest import Lic, business_body
from tests.integration.seals.conftest import person
from trust.principals.roles import Role
from trust.tlog.model import TlogEntry


def test_replay_on_a_later_day_without_valid_from_is_the_same_request(lic: Lic) -> None:
    body = business_body(idempotency_key="case-2026-000777")
    first = lic.issue(body)
    assert first["licence"]["valid_from"] == "2026-11-22"  # the default: the day of issue
    lic.app.state.clock.advance(timedelta(days=3))
    again = lic.issue(body, **lic.system)  # the department's client replays three days later
    assert (again["id"], again["replayed"]) == (first["id"], True)
    assert again["licence"]["valid_from"] == "2026-11-22"
    # The request as sent decides: an explicit valid_from equal to the default is different.
    r = lic.client.post("/licences", json={**body, "valid_from": "2026-11-22"}, headers=lic.system)
    assert_problem(r, 409, "licence.conflict.idempotency")


def _race(lic: Lic, bodies: list[dict[str, Any]]) -> list[service_issue.LicenceIssued | Exception]:
    """Issue ``bodies`` in two threads at once while the issuer's status lists are locked."""
    app, factory = lic.app, lic.app.state.session_factory
    config = config_from_settings(app.state.settings)
    issuer = person(lic.issuer.user_id, (Role.LICENCE_ISSUER, lic.org_id))
    results: list[service_issue.LicenceIssued | Exception] = [
        RuntimeError("not run") for _ in bodies
    ]

    def run(i: int) -> None:
        body = bodies[i]
        request = IssueRequest(
            type_code=body["type_code"],
            holder_name=body["holder_name"],
            holder_code=body["holder_code"],
            fields=body["fields"],
            idempotency_key=body["idempotency_key"],
        )
        try:
            with factory() as s, s.begin():
                results[i] = service_issue.issue_licence(
                    session=s,
                    clock=app.state.clock,
                    keystore=app.state.keystore,
                    config=config,
                    principal=issuer,
                    request=request,
                )
        except Exception as exc:  # the test inspects what each thread got
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    with factory() as blocker, blocker.begin():
        blocker.scalars(
            select(LicenceStatusList)
            .where(LicenceStatusList.issuer_org_id == lic.org_id)
            .with_for_update()
        ).all()
        for t in threads:
            t.start()
        time.sleep(1.5)  # both threads reach the lock (PostgreSQL) or the write lock (SQLite)
    for t in threads:
        t.join(timeout=120)
    return results


def _count(lic: Lic, stmt: Any) -> int:
    with lic.app.state.session_factory() as s:
        return int(s.scalar(stmt) or 0)


def test_concurrent_requests_with_one_key_give_one_licence(lic: Lic) -> None:
    lic.issue()  # the issuer's status list exists (so there is something to hold)
    usages = _count(lic, select(func.count()).select_from(SealUsage))
    issued_events = _count(
        lic, select(func.count()).select_from(TlogEntry).where(TlogEntry.kind == "licence.issued")
    )
    body = business_body(idempotency_key="case-2026-race-0001")
    results = _race(lic, [body, body])
    assert all(isinstance(r, service_issue.LicenceIssued) for r in results), results
    issued = [r for r in results if isinstance(r, service_issue.LicenceIssued)]
    assert issued[0].record.id == issued[1].record.id
    assert sorted(r.replayed for r in issued) == [False, True]
    # Nothing of the losing attempt remains: one licence, one seal usage, one log entry, one
    # status slot taken.
    key_rows = select(func.count()).select_from(Licence)
    assert _count(lic, key_rows.where(Licence.idempotency_key == body["idempotency_key"])) == 1
    assert _count(lic, select(func.count()).select_from(SealUsage)) == usages + 1
    events = select(func.count()).select_from(TlogEntry).where(TlogEntry.kind == "licence.issued")
    assert _count(lic, events) == issued_events + 1
    assert _count(lic, select(func.sum(LicenceStatusList.used))) == 2


def test_concurrent_requests_with_one_key_and_different_bodies(lic: Lic) -> None:
    lic.issue()
    body = business_body(idempotency_key="case-2026-race-0002")
    other = {**body, "holder_name": "另一家建筑公司"}
    results = _race(lic, [body, other])
    won = [r for r in results if isinstance(r, service_issue.LicenceIssued)]
    lost = [r for r in results if isinstance(r, Exception)]
    assert len(won) == 1, results
    assert len(lost) == 1, results
    assert isinstance(lost[0], LicenceConflict)
    assert lost[0].code == "licence.conflict.idempotency"
    key_rows = select(func.count()).select_from(Licence)
    assert _count(lic, key_rows.where(Licence.idempotency_key == body["idempotency_key"])) == 1
