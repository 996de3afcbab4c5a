"""Fixtures for the CA on a real database: an initialised CA with in-memory SM2 test signers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.unit.ca._support import SM2TestSigner
from trust.ca import service
from trust.ca.records import CaInitialised
from trust.clock import FixedClock
from trust.tlog.model import TlogEntry

CRL_URL = "http://127.0.0.1:8000/ca/crl"


@dataclass
class CaFixture:
    root: SM2TestSigner
    issuing: SM2TestSigner
    init: CaInitialised


@pytest.fixture
def session(db: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction, committed at the end of the test (like a request)."""
    with db() as s, s.begin():
        yield s


@pytest.fixture
def ca(db: sessionmaker[Session], clock: FixedClock) -> CaFixture:
    root, issuing = SM2TestSigner(), SM2TestSigner()
    with db() as s, s.begin():
        init = service.init_ca(
            session=s,
            clock=clock,
            root_signer=root,
            issuing_signer=issuing,
            name="测试信任服务",
            crl_url=CRL_URL,
            actor="test",
        )
    return CaFixture(root, issuing, init)


def log_kinds(factory: sessionmaker[Session]) -> list[str]:
    with factory() as s:
        return list(s.scalars(select(TlogEntry.kind).order_by(TlogEntry.idx)))


def log_size(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        return int(s.scalar(select(func.count()).select_from(TlogEntry)) or 0)
