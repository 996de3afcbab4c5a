"""Administration of principals: validation, uniqueness, role rules, secrets shown once, and one
transparency-log event per change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.factories.principals import make_org, make_staff, make_uscc
from trust.clock import FixedClock
from trust.errors import InvalidInput
from trust.principals import service
from trust.principals.errors import (
    InvalidCredentials,
    LoginTaken,
    OrganisationNotFound,
    RoleAlreadyGranted,
    RoleNotGranted,
    UsccTaken,
    UserNotFound,
)
from trust.principals.model import ApiToken, ServiceClient
from trust.principals.roles import Grant, OrgKind, Role
from trust.tlog import LogEvent
from trust.tlog.service import get_entry, log_head


def test_organisation_is_registered_under_a_valid_uscc(
    session: Session, clock: FixedClock, events: list[LogEvent]
) -> None:
    code = make_uscc()
    org = service.create_organisation(
        session=session,
        clock=clock,
        name="  某市  人民政府办公厅 ",
        uscc=code.lower(),
        kind="department",
        actor="cli",
    )
    assert org.uscc == code  # normalised to upper case
    assert org.name == "某市 人民政府办公厅"
    assert org.kind is OrgKind.DEPARTMENT
    assert org.created_at == clock.now()
    assert [e.kind for e in events] == ["principals.organisation_created"]
    assert events[0].subject == org.id
    assert events[0].actor == "cli"
    assert service.find_organisation(session=session, ref=code) == org
    assert service.find_organisation(session=session, ref=org.id) == org


@pytest.mark.parametrize(
    ("uscc", "code"),
    [
        ("91350100M000100Y44", "uscc.bad_check_char"),
        ("91350100M000100Y4", "uscc.malformed"),
        ("9135010OM000100Y43", "uscc.malformed"),  # letter O is not in the GB 32100 alphabet
    ],
)
def test_invalid_uscc_is_refused(session: Session, clock: FixedClock, uscc: str, code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        service.create_organisation(
            session=session, clock=clock, name="某公司", uscc=uscc, kind="company", actor="t"
        )
    assert err.value.code == code


def test_uscc_is_unique(session: Session, clock: FixedClock) -> None:
    org = make_org(session, clock)
    with pytest.raises(UsccTaken) as err:
        service.create_organisation(
            session=session, clock=clock, name="另一家", uscc=org.uscc, kind="company", actor="t"
        )
    assert err.value.code == "principals.uscc_taken"


def test_unknown_kind_and_empty_name_are_refused(session: Session, clock: FixedClock) -> None:
    with pytest.raises(InvalidInput) as err:
        service.create_organisation(
            session=session, clock=clock, name="x", uscc=make_uscc(), kind="club", actor="t"
        )
    assert err.value.code == "principals.kind_unknown"
    with pytest.raises(InvalidInput) as err:
        service.create_organisation(
            session=session, clock=clock, name="   ", uscc=make_uscc(), kind="company", actor="t"
        )
    assert err.value.code == "principals.bad_text"


def test_users_logins_and_role_grants(
    session: Session, clock: FixedClock, events: list[LogEvent]
) -> None:
    org = make_org(session, clock)
    user = service.create_user(
        session=session, clock=clock, login="Zhang.San", display_name="张三", actor="cli"
    )
    assert user.login == "zhang.san"
    assert user.status == "active"
    assert user.grants == frozenset()
    with pytest.raises(LoginTaken):
        service.create_user(
            session=session, clock=clock, login="zhang.san", display_name="张三", actor="cli"
        )
    with pytest.raises(InvalidInput) as err:
        service.create_user(session=session, clock=clock, login="张三", display_name="x", actor="c")
    assert err.value.code == "principals.login_malformed"

    granted = service.grant_role(
        session=session,
        clock=clock,
        user_id=user.id,
        role=Role.SEAL_CUSTODIAN,
        organisation_id=org.id,
        actor="cli",
    )
    assert granted.grants == {Grant(Role.SEAL_CUSTODIAN, org.id)}
    with pytest.raises(RoleAlreadyGranted):
        service.grant_role(
            session=session,
            clock=clock,
            user_id=user.id,
            role=Role.SEAL_CUSTODIAN,
            organisation_id=org.id,
            actor="cli",
        )
    admin = service.grant_role(
        session=session,
        clock=clock,
        user_id=user.id,
        role=Role.SYSTEM_ADMIN,
        organisation_id=None,
        actor="cli",
    )
    assert Grant(Role.SYSTEM_ADMIN, None) in admin.grants
    with pytest.raises(RoleAlreadyGranted):  # the partial unique index case: organisation NULL
        service.grant_role(
            session=session,
            clock=clock,
            user_id=user.id,
            role=Role.SYSTEM_ADMIN,
            organisation_id=None,
            actor="cli",
        )
    revoked = service.revoke_role(
        session=session,
        clock=clock,
        user_id=user.id,
        role=Role.SEAL_CUSTODIAN,
        organisation_id=org.id,
        actor="cli",
    )
    assert revoked.grants == {Grant(Role.SYSTEM_ADMIN, None)}
    with pytest.raises(RoleNotGranted):
        service.revoke_role(
            session=session,
            clock=clock,
            user_id=user.id,
            role=Role.SEAL_CUSTODIAN,
            organisation_id=org.id,
            actor="cli",
        )
    assert [e.kind for e in events] == [
        "principals.organisation_created",
        "principals.user_created",
        "principals.role_granted",
        "principals.role_granted",
        "principals.role_revoked",
    ]
    assert events[2].payload == {"role": "seal_custodian", "organisation_id": org.id}


def test_grant_needs_existing_user_and_organisation(session: Session, clock: FixedClock) -> None:
    org = make_org(session, clock)
    user = service.create_user(
        session=session, clock=clock, login="li.si", display_name="李四", actor="t"
    )
    with pytest.raises(UserNotFound):
        service.grant_role(
            session=session,
            clock=clock,
            user_id="usr_nobody",
            role=Role.ADMIN,
            organisation_id=org.id,
            actor="t",
        )
    with pytest.raises(OrganisationNotFound):
        service.grant_role(
            session=session,
            clock=clock,
            user_id=user.id,
            role=Role.ADMIN,
            organisation_id="org_nowhere",
            actor="t",
        )
    with pytest.raises(InvalidInput):
        service.grant_role(
            session=session,
            clock=clock,
            user_id=user.id,
            role=Role.ADMIN,
            organisation_id=None,
            actor="t",
        )


def test_client_secret_is_returned_once_and_stored_hashed(
    session: Session, clock: FixedClock, events: list[LogEvent]
) -> None:
    org = make_org(session, clock)
    issued = service.create_client(
        session=session,
        clock=clock,
        organisation_id=org.id,
        name="不动产登记系统",
        roles=[Role.SEAL_USER, Role.LICENCE_ISSUER],
        actor="cli",
    )
    assert issued.client.roles == {Role.SEAL_USER, Role.LICENCE_ISSUER}
    assert len(issued.client_secret) >= 43  # 256 bits, base64url
    row = session.get(ServiceClient, issued.client.client_id)
    assert row is not None
    assert issued.client_secret.encode() not in row.secret_hash + row.secret_salt
    assert issued.client_secret not in repr(events)  # never logged
    principal = service.authenticate_client(
        session=session, client_id=issued.client.client_id, secret=issued.client_secret
    )
    assert principal.has_role(Role.SEAL_USER, org.id)
    assert not principal.has_role(Role.SEAL_USER, "org_other")
    assert principal.organisation_id == org.id


def test_clients_cannot_hold_admin_or_custodian_roles(session: Session, clock: FixedClock) -> None:
    org = make_org(session, clock)
    with pytest.raises(InvalidInput) as err:
        service.create_client(
            session=session,
            clock=clock,
            organisation_id=org.id,
            name="x",
            roles=[Role.ADMIN],
            actor="t",
        )
    assert err.value.code == "principals.client_role_refused"


def test_rotating_the_secret_kills_the_old_one(session: Session, clock: FixedClock) -> None:
    org = make_org(session, clock)
    old = service.create_client(
        session=session, clock=clock, organisation_id=org.id, name="x", actor="t"
    )
    new = service.rotate_client_secret(
        session=session, clock=clock, client_id=old.client.client_id, actor="t"
    )
    assert new.client_secret != old.client_secret
    cid = old.client.client_id
    service.authenticate_client(session=session, client_id=cid, secret=new.client_secret)
    with pytest.raises(InvalidCredentials) as err:
        service.authenticate_client(session=session, client_id=cid, secret=old.client_secret)
    assert err.value.code == "auth.invalid_credentials"


def test_api_token_lifecycle(session: Session, clock: FixedClock) -> None:
    org = make_org(session, clock)
    staff = make_staff(session, clock, login="wang.wu", role=Role.ARCHIVIST, org_id=org.id, days=1)
    principal = service.authenticate_bearer(session=session, clock=clock, token=staff.token)
    assert principal.id == staff.user_id
    assert principal.authenticated_by == "bearer"
    assert principal.has_role(Role.ARCHIVIST, org.id)
    token_id = staff.token.split(".")[0]
    row = session.get(ApiToken, token_id)
    assert row is not None
    assert row.expires_at == clock.now() + timedelta(days=1)
    assert staff.token.split(".")[1].encode() not in row.token_hash

    clock.advance(timedelta(days=1))
    with pytest.raises(InvalidCredentials):
        service.authenticate_bearer(session=session, clock=clock, token=staff.token)


@pytest.mark.parametrize("days", [0, 400])
def test_api_token_lifetime_is_bounded(session: Session, clock: FixedClock, days: int) -> None:
    user = service.create_user(
        session=session, clock=clock, login="u1", display_name="u", actor="t"
    )
    with pytest.raises(InvalidInput) as err:
        service.create_api_token(
            session=session, clock=clock, user_id=user.id, lifetime=timedelta(days=days), actor="t"
        )
    assert err.value.code == "principals.token_lifetime"


def test_every_failure_is_the_same_error(session: Session, clock: FixedClock) -> None:
    org = make_org(session, clock)
    issued = service.create_client(
        session=session, clock=clock, organisation_id=org.id, name="x", actor="t"
    )
    staff = make_staff(session, clock, login="zhao.liu")
    # A token with its last character changed (to a different one, whatever it was).
    forged = staff.token[:-1] + ("B" if staff.token.endswith("A") else "A")
    row = session.get(ServiceClient, issued.client.client_id)
    assert row is not None
    row.status = "disabled"
    session.flush()
    attempts = [
        lambda: service.authenticate_client(
            session=session, client_id=issued.client.client_id, secret=issued.client_secret
        ),
        lambda: service.authenticate_client(session=session, client_id="cli_unknown00", secret="x"),
        lambda: service.authenticate_client(session=session, client_id="", secret=""),
        lambda: service.authenticate_bearer(session=session, clock=clock, token="garbage"),
        lambda: service.authenticate_bearer(session=session, clock=clock, token=forged),
    ]
    messages = set()
    for attempt in attempts:
        with pytest.raises(InvalidCredentials) as err:
            attempt()
        assert err.value.code == "auth.invalid_credentials"
        messages.add(str(err.value))
    assert len(messages) == 1


def test_changes_are_in_the_transparency_log(db: sessionmaker[Session], clock: FixedClock) -> None:
    with db() as session, session.begin():
        before, _ = log_head(session=session)
        org = make_org(session, clock)
    with db() as session:
        size, _ = log_head(session=session)
        assert size == before + 1
        entry = get_entry(session=session, index=size - 1)
        assert entry.kind == "principals.organisation_created"
        assert entry.subject == org.id


def test_a_failed_change_leaves_nothing(db: sessionmaker[Session], clock: FixedClock) -> None:
    with db() as session, session.begin():
        org = make_org(session, clock)
        size_before, _ = log_head(session=session)

    def user_then_duplicate_org() -> None:
        with db() as session, session.begin():
            service.create_user(
                session=session, clock=clock, login="half", display_name="h", actor="t"
            )
            service.create_organisation(
                session=session, clock=clock, name="dup", uscc=org.uscc, kind="company", actor="t"
            )

    with pytest.raises(UsccTaken):
        user_then_duplicate_org()
    with db() as session:
        with pytest.raises(UserNotFound):
            service.find_user(session=session, login="half")
        assert log_head(session=session)[0] == size_before  # no user_created event either
