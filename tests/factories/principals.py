"""Test principals: valid unified social credit codes, organisations, staff with roles and API
tokens, service clients. Each helper runs in the session it is given (the caller commits)."""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from trust.checkchars import org_code_check_char, uscc_check_char
from trust.clock import Clock
from trust.principals import service
from trust.principals.records import ClientIssued, OrganisationRecord
from trust.principals.roles import Role

_seeds = itertools.count(10_000_001)


def make_uscc(seed: int | None = None) -> str:
    """A valid GB 32100 code (with a valid GB 11714 organisation code) for an enterprise (91)
    registered in Beijing (110000)."""
    body = f"{next(_seeds) if seed is None else seed:08d}"
    first17 = "91110000" + body + org_code_check_char(body)
    return first17 + uscc_check_char(first17)


def make_org(
    session: Session, clock: Clock, *, name: str = "某市市场监督管理局", kind: str = "department"
) -> OrganisationRecord:
    return service.create_organisation(
        session=session, clock=clock, name=name, uscc=make_uscc(), kind=kind, actor="test"
    )


@dataclass(frozen=True)
class Staff:
    user_id: str
    login: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_staff(
    session: Session,
    clock: Clock,
    *,
    login: str,
    role: Role | None = None,
    org_id: str | None = None,
    days: int = 30,
) -> Staff:
    user = service.create_user(
        session=session, clock=clock, login=login, display_name=f"测试{login}", actor="test"
    )
    if role is not None:
        service.grant_role(
            session=session,
            clock=clock,
            user_id=user.id,
            role=role,
            organisation_id=org_id,
            actor="test",
        )
    issued = service.create_api_token(
        session=session, clock=clock, user_id=user.id, lifetime=timedelta(days=days), actor="test"
    )
    return Staff(user_id=user.id, login=user.login, token=issued.token)


def make_client(
    session: Session, clock: Clock, *, org_id: str, roles: tuple[Role, ...] = (Role.SEAL_USER,)
) -> ClientIssued:
    return service.create_client(
        session=session,
        clock=clock,
        organisation_id=org_id,
        name="不动产登记系统",
        roles=roles,
        actor="test",
    )


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}
