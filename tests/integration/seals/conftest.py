"""Fixtures for the seal services on a real database: the CA (``ensure_ca``) with the software
keystore, two organisations, principals with seal roles, and a seal factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from keys.software import SoftwareKeyStore
from seals import service
from seals.lifecycle import SealType
from seals.policy import StampForm
from seals.service import SealApplication, SealRecord
from seals.service_stamp import Stamped, StampOptions, StampPending, stamp_document
from tests.factories.principals import make_org
from tests.integration.seals._web import api as api  # the HTTP fixtures
from tests.integration.seals._web import app as app
from tests.unit.seals._ses_support import need_cjk_font
from trust.cli.ca import ensure_ca
from trust.clock import FixedClock
from trust.config import Settings
from trust.principals.principal import Principal, PrincipalKind
from trust.principals.roles import Grant, Role
from trust.tlog.model import TlogEntry


def person(
    user_id: str,
    *grants: tuple[Role, str | None],
    kind: PrincipalKind = PrincipalKind.USER,
    organisation_id: str | None = None,
) -> Principal:
    return Principal(
        kind=kind,
        id=user_id,
        display=f"测试{user_id}",
        organisation_id=organisation_id,
        grants=frozenset(Grant(role, org) for role, org in grants),
        authenticated_by="bearer" if kind is PrincipalKind.USER else "basic",
    )


@dataclass
class World:
    db: sessionmaker[Session]
    clock: FixedClock
    keystore: SoftwareKeyStore
    settings: Settings
    org_id: str
    org_name: str
    other_org_id: str
    custodian: Principal
    custodian2: Principal
    stamper: Principal
    client: Principal
    outsider: Principal  # seal_user of the other organisation
    auditor: Principal

    def seal(
        self,
        *,
        seal_type: SealType = SealType.ADMIN_APPROVAL,
        two_person_rule: bool = False,
        valid_days: int = 730,
        activate: bool = True,
        users: tuple[str, ...] = (),
        name: str = "演示市市场监督管理局行政审批专用章",
    ) -> SealRecord:
        need_cjk_font()
        with self.db() as s, s.begin():
            record = service.apply_seal(
                session=s,
                clock=self.clock,
                principal=self.custodian,
                application=SealApplication(
                    organisation_id=self.org_id,
                    seal_type=seal_type,
                    name=name,
                    reason="新设行政审批窗口",
                    valid_days=valid_days,
                    two_person_rule=two_person_rule,
                    users=users,
                    person_name="张三" if seal_type is SealType.LEGAL_REPRESENTATIVE else None,
                ),
            )
            record = service.make_seal(
                session=s,
                clock=self.clock,
                keystore=self.keystore,
                settings=self.settings,
                principal=self.custodian,
                seal_id=record.id,
                reason="制章",
            )
            if activate:
                record = service.activate_seal(
                    session=s,
                    clock=self.clock,
                    principal=self.custodian,
                    seal_id=record.id,
                    reason="启用",
                )
        return record

    def stamp(
        self,
        seal_id: str,
        form: StampForm,
        document: bytes,
        *,
        principal: Principal | None = None,
        options: StampOptions | None = None,
    ) -> Stamped | StampPending:
        with self.db() as s, s.begin():
            return stamp_document(
                session=s,
                clock=self.clock,
                keystore=self.keystore,
                principal=principal or self.stamper,
                seal_id=seal_id,
                form=form,
                document=document,
                options=options or StampOptions(),
                tsa_policy_oid=self.settings.tsa_policy_oid,
            )


@pytest.fixture
def keystore(settings: Settings) -> SoftwareKeyStore:
    return SoftwareKeyStore.from_settings(settings)


@pytest.fixture
def world(
    db: sessionmaker[Session], clock: FixedClock, keystore: SoftwareKeyStore, settings: Settings
) -> World:
    with db() as s, s.begin():
        ensure_ca(session=s, clock=clock, keystore=keystore, settings=settings)
        org = make_org(s, clock, name="演示市市场监督管理局")
        other = make_org(s, clock, name="演示县税务局")
    return World(
        db=db,
        clock=clock,
        keystore=keystore,
        settings=settings,
        org_id=org.id,
        org_name=org.name,
        other_org_id=other.id,
        custodian=person("usr_custodian", (Role.SEAL_CUSTODIAN, org.id)),
        custodian2=person("usr_custodian2", (Role.SEAL_CUSTODIAN, org.id)),
        stamper=person("usr_stamper", (Role.SEAL_USER, org.id)),
        client=person(
            "cli_system",
            (Role.SEAL_USER, org.id),
            kind=PrincipalKind.CLIENT,
            organisation_id=org.id,
        ),
        outsider=person("usr_outsider", (Role.SEAL_USER, other.id)),
        auditor=person("usr_auditor", (Role.AUDITOR, org.id)),
    )


def log_kinds(factory: sessionmaker[Session], prefix: str = "seal.") -> list[str]:
    with factory() as s:
        kinds = s.scalars(select(TlogEntry.kind).order_by(TlogEntry.idx))
        return [k for k in kinds if k.startswith(prefix)]


def count(factory: sessionmaker[Session], model: type) -> int:
    with factory() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


SealFactory = Callable[..., SealRecord]
