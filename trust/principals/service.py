"""Administration of principals: organisations, staff users, role grants, service clients and
staff API tokens; plus (re-exported) authentication of clients and bearer tokens.

Every function is keyword-only, runs in the caller's transaction (never commits) and records
each change in the transparency log (event kinds ``principals.*``) in that same transaction.
Secrets appear only in the returned ``ClientIssued`` / ``TokenIssued`` and are never logged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trust.checkchars import validate_uscc
from trust.clock import Clock
from trust.errors import Conflict, InvalidInput
from trust.ids import new_id, new_secret
from trust.principals import _queries as q
from trust.principals.authentication import authenticate_bearer, authenticate_client
from trust.principals.credentials import SECRET_BYTES, store_secret
from trust.principals.errors import (
    LoginTaken,
    OrganisationNotFound,
    RoleAlreadyGranted,
    RoleNotGranted,
    UsccTaken,
    UserNotFound,
)
from trust.principals.model import ApiToken, Organisation, RoleGrant, ServiceClient, StaffUser
from trust.principals.records import (
    ClientIssued,
    ClientRecord,
    OrganisationRecord,
    TokenIssued,
    UserRecord,
)
from trust.principals.roles import CLIENT_ROLES, OrgKind, Role, check_grant_shape
from trust.tlog import LogEvent, append

__all__ = [
    "MAX_TOKEN_LIFETIME",
    "authenticate_bearer",
    "authenticate_client",
    "create_api_token",
    "create_client",
    "create_organisation",
    "create_user",
    "find_organisation",
    "find_user",
    "get_client",
    "get_organisation",
    "get_user",
    "grant_role",
    "list_organisations",
    "revoke_role",
    "rotate_client_secret",
]

MAX_TOKEN_LIFETIME: Final = timedelta(days=366)
_LOGIN_RE: Final = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")


def _text(value: str, *, field: str, max_len: int) -> str:
    cleaned = " ".join(value.split())
    if not cleaned or len(cleaned) > max_len or not cleaned.isprintable():
        raise InvalidInput(f"{field}不能为空且不超过{max_len}个字符", code="principals.bad_text")
    return cleaned


def _log(
    session: Session, clock: Clock, what: str, subject: str, actor: str, **payload: Any
) -> None:
    event = LogEvent(kind=f"principals.{what}", subject=subject, actor=actor, payload=payload)
    append(session=session, clock=clock, event=event)


def _flush_or_conflict(session: Session, error: Conflict) -> None:
    """Flush; a unique-constraint race lost to a concurrent request becomes ``error``."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise error from exc


# --- organisations ----------------------------------------------------------------------------


def create_organisation(
    *, session: Session, clock: Clock, name: str, uscc: str, kind: OrgKind | str, actor: str
) -> OrganisationRecord:
    """Register a department or company under its GB 32100 unified social credit code."""
    code = validate_uscc(uscc)
    try:
        org_kind = OrgKind(kind)
    except ValueError:
        raise InvalidInput(
            "组织类型应为 department 或 company", code="principals.kind_unknown"
        ) from None
    clean_name = _text(name, field="组织名称", max_len=200)
    taken = UsccTaken(f"统一社会信用代码 {code} 已登记")
    if session.scalar(select(Organisation.id).where(Organisation.uscc == code)) is not None:
        raise taken
    row = Organisation(
        id=new_id("org"), name=clean_name, uscc=code, kind=org_kind.value, created_at=clock.now()
    )
    session.add(row)
    _flush_or_conflict(session, taken)
    _log(session, clock, "organisation_created", row.id, actor, uscc=code, org_kind=org_kind.value)
    return q.organisation_record(row)


def get_organisation(*, session: Session, organisation_id: str) -> OrganisationRecord:
    return q.organisation_record(q.organisation_row(session, organisation_id))


def find_organisation(*, session: Session, ref: str) -> OrganisationRecord:
    """By id (``org_…``) or by unified social credit code (for the CLI)."""
    row = session.get(Organisation, ref) or session.scalar(
        select(Organisation).where(Organisation.uscc == ref.strip().upper())
    )
    if row is None:
        raise OrganisationNotFound(f"组织 {ref} 不存在")
    return q.organisation_record(row)


def list_organisations(*, session: Session) -> list[OrganisationRecord]:
    rows = session.scalars(select(Organisation).order_by(Organisation.created_at, Organisation.id))
    return [q.organisation_record(r) for r in rows]


# --- staff users and roles --------------------------------------------------------------------


def create_user(
    *, session: Session, clock: Clock, login: str, display_name: str, actor: str
) -> UserRecord:
    login_name = login.strip().lower()
    if _LOGIN_RE.fullmatch(login_name) is None:
        raise InvalidInput(
            "登录名为2-64位小写字母、数字、点、下划线或连字符", code="principals.login_malformed"
        )
    name = _text(display_name, field="姓名", max_len=100)
    taken = LoginTaken(f"登录名 {login_name} 已被使用")
    if session.scalar(select(StaffUser.id).where(StaffUser.login == login_name)) is not None:
        raise taken
    row = StaffUser(
        id=new_id("usr"),
        login=login_name,
        display_name=name,
        status="active",
        created_at=clock.now(),
    )
    session.add(row)
    _flush_or_conflict(session, taken)
    _log(session, clock, "user_created", row.id, actor, login=login_name)
    return q.user_record(session, row)


def get_user(*, session: Session, user_id: str) -> UserRecord:
    return q.user_record(session, q.user_row(session, user_id))


def find_user(*, session: Session, login: str) -> UserRecord:
    row = session.scalar(select(StaffUser).where(StaffUser.login == login.strip().lower()))
    if row is None:
        raise UserNotFound(f"用户 {login} 不存在")
    return q.user_record(session, row)


def _grant_row(
    session: Session, user_id: str, role: Role, organisation_id: str | None
) -> RoleGrant | None:
    org_match = (
        RoleGrant.organisation_id.is_(None)
        if organisation_id is None
        else RoleGrant.organisation_id == organisation_id
    )
    return session.scalar(
        select(RoleGrant).where(
            RoleGrant.user_id == user_id, RoleGrant.role == role.value, org_match
        )
    )


def grant_role(
    *,
    session: Session,
    clock: Clock,
    user_id: str,
    role: Role,
    organisation_id: str | None,
    actor: str,
) -> UserRecord:
    check_grant_shape(role, organisation_id)
    user = q.user_row(session, user_id)
    if organisation_id is not None:
        q.organisation_row(session, organisation_id)
    taken = RoleAlreadyGranted(f"用户 {user.login} 已拥有角色 {role.value}")
    if _grant_row(session, user_id, role, organisation_id) is not None:
        raise taken
    session.add(
        RoleGrant(
            id=new_id("grt"),
            user_id=user_id,
            organisation_id=organisation_id,
            role=role.value,
            granted_at=clock.now(),
            granted_by=actor,
        )
    )
    _flush_or_conflict(session, taken)
    _log(
        session,
        clock,
        "role_granted",
        user_id,
        actor,
        role=role.value,
        organisation_id=organisation_id,
    )
    return q.user_record(session, user)


def revoke_role(
    *,
    session: Session,
    clock: Clock,
    user_id: str,
    role: Role,
    organisation_id: str | None,
    actor: str,
) -> UserRecord:
    user = q.user_row(session, user_id)
    row = _grant_row(session, user_id, role, organisation_id)
    if row is None:
        raise RoleNotGranted(f"用户 {user.login} 没有该角色")
    session.delete(row)
    session.flush()
    _log(
        session,
        clock,
        "role_revoked",
        user_id,
        actor,
        role=role.value,
        organisation_id=organisation_id,
    )
    return q.user_record(session, user)


# --- service clients and API tokens -----------------------------------------------------------


def _client_roles(roles: Iterable[Role]) -> frozenset[Role]:
    chosen = frozenset(roles)
    refused = sorted(r.value for r in chosen - CLIENT_ROLES)
    if refused:
        allowed = ", ".join(sorted(r.value for r in CLIENT_ROLES))
        raise InvalidInput(
            f"应用客户端不能拥有角色 {', '.join(refused)}（可选：{allowed}）",
            code="principals.client_role_refused",
        )
    return chosen


def create_client(
    *,
    session: Session,
    clock: Clock,
    organisation_id: str,
    name: str,
    roles: Iterable[Role] = (),
    actor: str,
) -> ClientIssued:
    """A department system's client credentials; the secret is returned once, never stored."""
    q.organisation_row(session, organisation_id)
    chosen = _client_roles(roles)
    secret = new_secret(SECRET_BYTES)
    stored = store_secret(secret)
    now = clock.now()
    row = ServiceClient(
        client_id=new_id("cli"),
        organisation_id=organisation_id,
        name=_text(name, field="客户端名称", max_len=200),
        roles=" ".join(sorted(r.value for r in chosen)),
        secret_salt=stored.salt,
        secret_hash=stored.digest,
        status="active",
        created_at=now,
        secret_rotated_at=now,
    )
    session.add(row)
    session.flush()
    _log(
        session,
        clock,
        "client_created",
        row.client_id,
        actor,
        organisation_id=organisation_id,
        roles=sorted(r.value for r in chosen),
    )
    return ClientIssued(client=q.client_record(row), client_secret=secret)


def get_client(*, session: Session, client_id: str) -> ClientRecord:
    return q.client_record(q.client_row(session, client_id))


def rotate_client_secret(
    *, session: Session, clock: Clock, client_id: str, actor: str
) -> ClientIssued:
    """Replace the secret; the old one stops working when this transaction commits."""
    row = q.client_row(session, client_id)
    secret = new_secret(SECRET_BYTES)
    stored = store_secret(secret)
    row.secret_salt, row.secret_hash = stored.salt, stored.digest
    row.secret_rotated_at = clock.now()
    session.flush()
    _log(session, clock, "client_secret_rotated", client_id, actor)
    return ClientIssued(client=q.client_record(row), client_secret=secret)


def create_api_token(
    *, session: Session, clock: Clock, user_id: str, lifetime: timedelta, actor: str
) -> TokenIssued:
    """A bearer token for a staff user, valid for ``lifetime`` (at most ``MAX_TOKEN_LIFETIME``)."""
    if not timedelta(minutes=1) <= lifetime <= MAX_TOKEN_LIFETIME:
        raise InvalidInput("令牌有效期应在1分钟到366天之间", code="principals.token_lifetime")
    q.user_row(session, user_id)
    secret = new_secret(SECRET_BYTES)
    stored = store_secret(secret)
    now = clock.now()
    row = ApiToken(
        id=new_id("tok"),
        user_id=user_id,
        salt=stored.salt,
        token_hash=stored.digest,
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    session.flush()
    _log(
        session,
        clock,
        "api_token_created",
        user_id,
        actor,
        token_id=row.id,
        expires_at=row.expires_at.isoformat(),
    )
    return TokenIssued(
        token_id=row.id, user_id=user_id, token=f"{row.id}.{secret}", expires_at=row.expires_at
    )
