"""Fixtures for key custody on a real database (SQLite, or PostgreSQL with
``TRUST_TEST_DATABASE_URL``)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from keys import service as key_service
from keys.masterkey import MasterKey
from keys.model import KeyRecord
from keys.software import SoftwareKeyStore
from trust.config import Settings
from trust.migrations.registry import load_all_models
from trust.tlog import LogEvent
from trust.tlog import append as tlog_append

OTHER_MASTER_KEY = "99" * 32


@pytest.fixture
def keystore(settings: Settings) -> SoftwareKeyStore:
    return SoftwareKeyStore.from_settings(settings)


@pytest.fixture
def wrong_keystore() -> SoftwareKeyStore:
    """A keystore with a different master key than ``keystore``."""
    return SoftwareKeyStore(MasterKey.from_hex(OTHER_MASTER_KEY, source="test"))


@pytest.fixture
def session(db: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction, committed at the end of the test (like a request)."""
    with db() as s, s.begin():
        yield s


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[LogEvent]:
    """Every event key custody appends, in order (the real ``append`` still runs)."""
    seen: list[LogEvent] = []
    real = tlog_append

    def recording(*, session: Session, clock: Any, event: LogEvent) -> Any:
        seen.append(event)
        return real(session=session, clock=clock, event=event)

    monkeypatch.setattr(key_service, "append", recording)
    return seen


def snapshot(factory: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, for "nothing was written" assertions."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with factory() as s:
        for table in load_all_models().sorted_tables:
            rows = [tuple(r) for r in s.execute(select(table)).all()]
            out[table.name] = sorted(rows, key=repr)
    return out


@dataclass(frozen=True)
class PrivateMaterial:
    """A key's private bytes in every form a leak could take."""

    pkcs8: bytes
    scalar: bytes

    def needles(self) -> list[bytes]:
        out: list[bytes] = []
        for raw in (self.pkcs8, self.scalar):
            out += [raw, raw.hex().encode(), raw.hex().upper().encode()]
            out += [base64.b64encode(raw).rstrip(b"="), base64.urlsafe_b64encode(raw).rstrip(b"=")]
        out.append(str(int.from_bytes(self.scalar, "big")).encode())
        return out

    def assert_absent(self, haystack: bytes | str, where: str) -> None:
        data = haystack.encode("utf-8", "replace") if isinstance(haystack, str) else haystack
        for needle in self.needles():
            assert needle not in data, f"private key material found in {where}"


def private_material(keystore: SoftwareKeyStore, session: Session, key_id: str) -> PrivateMaterial:
    """Unwrap a key (test-only use of a private method) and pull out its secret scalar."""
    record = session.scalars(select(KeyRecord).where(KeyRecord.key_id == key_id)).one()
    pkcs8 = keystore._unwrap(record).to_pkcs8_der()
    # RFC 5915 ECPrivateKey: version INTEGER 1, privateKey OCTET STRING (32 bytes)
    match = re.search(rb"\x02\x01\x01\x04\x20(.{32})", pkcs8, re.DOTALL)
    assert match is not None, "no ECPrivateKey in the PKCS#8"
    return PrivateMaterial(pkcs8=pkcs8, scalar=match.group(1))
