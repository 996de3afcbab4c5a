"""Who may do what with a seal (seals.policy): managers, stampers (staff and service clients,
same organisation only), approvers under the two-person rule, history readers; and when a seal
may stamp at all. Every refusal has a stable code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from seals.errors import ApproverIsRequester, NotAuthorised, SealNotUsable
from seals.lifecycle import SealStatus
from seals.policy import (
    SealFacts,
    require_approver,
    require_executor,
    require_history_reader,
    require_manager,
    require_reader,
    require_stamper,
    require_usable,
)
from trust.principals.principal import Principal, PrincipalKind
from trust.principals.roles import Grant, Role

ORG, OTHER = "org_a", "org_b"
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def who(ident: str, *grants: tuple[Role, str | None], client_of: str | None = None) -> Principal:
    return Principal(
        kind=PrincipalKind.CLIENT if client_of else PrincipalKind.USER,
        id=ident,
        display=ident,
        organisation_id=client_of,
        grants=frozenset(Grant(r, o) for r, o in grants),
        authenticated_by="basic" if client_of else "bearer",
    )


def seal(status: SealStatus = SealStatus.ACTIVE, **changes: object) -> SealFacts:
    values: dict[str, object] = {
        "seal_id": "seal_1",
        "organisation_id": ORG,
        "status": status,
        "valid_from": NOW - timedelta(days=1),
        "valid_to": NOW + timedelta(days=365),
    }
    values.update(changes)
    return SealFacts(**values)  # type: ignore[arg-type]


CUSTODIAN = who("c1", (Role.SEAL_CUSTODIAN, ORG))
STAMPER = who("u1", (Role.SEAL_USER, ORG))
CLIENT = who("cli1", (Role.SEAL_USER, ORG), client_of=ORG)
OUTSIDER = who("u2", (Role.SEAL_USER, OTHER))
ADMIN = who("a1", (Role.ADMIN, ORG))
SYSADMIN = who("s1", (Role.SYSTEM_ADMIN, None))
AUDITOR = who("au", (Role.AUDITOR, ORG))


def code(exc: pytest.ExceptionInfo[Exception]) -> str:
    return str(getattr(exc.value, "code", ""))


def test_managers_are_custodians_and_admins() -> None:
    for p in (CUSTODIAN, ADMIN, SYSADMIN):
        require_manager(p, ORG, seal())
        require_manager(p, ORG, None)
    for p in (STAMPER, CLIENT, OUTSIDER, AUDITOR, who("c2", (Role.SEAL_CUSTODIAN, OTHER))):
        with pytest.raises(NotAuthorised) as info:
            require_manager(p, ORG, seal())
        assert code(info) == "seal.not_custodian"


def test_named_custodians_restrict_the_custodian_role() -> None:
    restricted = seal(custodians=frozenset({"user:c9"}))
    with pytest.raises(NotAuthorised):
        require_manager(CUSTODIAN, ORG, restricted)
    require_manager(who("c9", (Role.SEAL_CUSTODIAN, ORG)), ORG, restricted)
    require_manager(ADMIN, ORG, restricted)  # the organisation's admin still may


def test_stampers_are_seal_users_of_the_owning_organisation() -> None:
    require_stamper(STAMPER, seal())
    require_stamper(CLIENT, seal())
    refused = [
        OUTSIDER,
        CUSTODIAN,  # custody is not use (separation of duties)
        ADMIN,
        SYSADMIN,
        AUDITOR,
        who("cli2", (Role.SEAL_USER, ORG), client_of=OTHER),  # a client acts in its own org only
    ]
    for p in refused:
        with pytest.raises(NotAuthorised) as info:
            require_stamper(p, seal())
        assert code(info) == "seal.not_authorised"


def test_named_users_restrict_the_seal_user_role() -> None:
    restricted = seal(users=frozenset({"client:cli1"}))
    require_stamper(CLIENT, restricted)
    with pytest.raises(NotAuthorised):
        require_stamper(STAMPER, restricted)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (SealStatus.APPLIED, "seal.not_active"),
        (SealStatus.MADE, "seal.not_active"),
        (SealStatus.SUSPENDED, "seal.suspended"),
        (SealStatus.REVOKED, "seal.revoked"),
        (SealStatus.EXPIRED, "seal.expired"),
    ],
)
def test_only_an_active_seal_stamps(status: SealStatus, expected: str) -> None:
    with pytest.raises(SealNotUsable) as info:
        require_usable(seal(status), NOW)
    assert code(info) == expected
    assert info.value.http_status == 409


def test_validity_period_is_enforced_at_the_time_of_use() -> None:
    require_usable(seal(), NOW)
    with pytest.raises(SealNotUsable) as info:
        require_usable(seal(valid_to=NOW - timedelta(seconds=1)), NOW)
    assert code(info) == "seal.expired"
    with pytest.raises(SealNotUsable) as info:
        require_usable(seal(valid_from=NOW + timedelta(seconds=1)), NOW)
    assert code(info) == "seal.not_yet_valid"


def test_two_person_rule_approver_is_another_custodian() -> None:
    require_approver(CUSTODIAN, seal(), requested_by="user:u1")
    with pytest.raises(ApproverIsRequester) as info:
        require_approver(CUSTODIAN, seal(), requested_by=CUSTODIAN.actor)
    assert code(info) == "seal.approver_is_requester"
    for p in (STAMPER, ADMIN, AUDITOR):
        with pytest.raises(NotAuthorised) as info2:
            require_approver(p, seal(), requested_by="user:u1")
        assert code(info2) == "seal.not_custodian"


def test_only_the_requester_executes() -> None:
    require_executor(STAMPER, STAMPER.actor)
    with pytest.raises(NotAuthorised) as info:
        require_executor(CLIENT, STAMPER.actor)
    assert code(info) == "seal.not_requester"


def test_history_readers_and_seal_readers() -> None:
    for p in (CUSTODIAN, ADMIN, SYSADMIN, AUDITOR):
        require_history_reader(p, seal())
    for p in (STAMPER, CLIENT, OUTSIDER):
        with pytest.raises(NotAuthorised):
            require_history_reader(p, seal())
    for p in (CUSTODIAN, ADMIN, AUDITOR, STAMPER, CLIENT):
        require_reader(p, seal())
    with pytest.raises(NotAuthorised):
        require_reader(OUTSIDER, seal())
