"""Per-issuer 2-bit status lists (elicence spec §9.4): slots, entries, the signed files and
their index.

* ``take_status_slot``: a CSPRNG index in the issuer's current list (a new list is opened when
  the current one is half full, so every list keeps a large anonymity set);
* ``set_list_status``: a licence's 2-bit value, written in the caller's transaction together
  with the licence's own status, so the list never disagrees with the record;
* ``signed_status_list``: the COSE_Sign1 file, kept in ``licence_status_file`` and re-signed
  only when the list changed or the stored file is half-way to stale (reads do not sign each
  time, and never generate a key);
* ``status_list_index``: every list with its issuer, size, update time and URL, for offline
  verifiers that mirror them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from keys.interfaces import KeyStore
from licences.lifecycle import LicenceState, list_value
from licences.model import Licence, LicenceStatusFile, LicenceStatusList
from licences.service_errors import LicenceConflict, LicenceNotFound
from licences.service_keys import issuer_signer
from licences.status import (
    MIN_ENTRIES,
    StatusList,
    StatusListToken,
    allocate_index,
    sign_status_list,
)
from trust.clock import Clock
from trust.principals import service as principals

__all__ = [
    "STATUS_TTL",
    "StatusListInfo",
    "set_list_status",
    "set_list_statuses",
    "signed_status_list",
    "status_list_index",
    "status_list_path",
    "take_status_slot",
]

#: Verifiers treat a signed list as stale this long after it was signed (payload ``ttl``).
STATUS_TTL: Final = timedelta(hours=24)
#: A stored file is served while younger than this (so it always has ≥ 12 h before stale).
_RESIGN_AFTER: Final = STATUS_TTL / 2
_LIST_FILL: Final = MIN_ENTRIES // 2  # open a new list beyond half full (herd privacy)


def status_list_path(list_id: str) -> str:
    return f"/licences/status-lists/{list_id}"


def _list_id(issuer_code: str, number: int) -> str:
    return f"{issuer_code}-{number}"


def _issuer_lists(session: Session, organisation_id: str) -> list[LicenceStatusList]:
    return list(
        session.scalars(
            select(LicenceStatusList)
            .where(LicenceStatusList.issuer_org_id == organisation_id)
            .order_by(LicenceStatusList.id)
            .with_for_update()
        )
    )


def _open_list(
    session: Session, clock: Clock, organisation_id: str, issuer_code: str, number: int
) -> LicenceStatusList | None:
    """A new empty list; None when a concurrent transaction opened it first (its savepoint is
    rolled back; the caller reads the lists again)."""
    row = LicenceStatusList(
        id=_list_id(issuer_code, number),
        issuer_org_id=organisation_id,
        issuer_code=issuer_code,
        size=MIN_ENTRIES,
        packed=StatusList.new(MIN_ENTRIES).packed,
        used=0,
        sequence=0,
        updated_at=clock.now(),
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


def take_status_slot(
    session: Session, clock: Clock, *, organisation_id: str, issuer_code: str
) -> tuple[str, int]:
    """A random free index (CSPRNG) in the issuer's current list."""
    current: LicenceStatusList | None = None
    for _attempt in range(3):
        lists = _issuer_lists(session, organisation_id)
        current = next((sl for sl in lists if sl.used < _LIST_FILL), None)
        if current is None:
            current = _open_list(session, clock, organisation_id, issuer_code, len(lists) + 1)
        if current is not None:
            break
    if current is None:  # three lost races in a row: let the client retry
        raise LicenceConflict("并发签发冲突，请稍后重试", code="licence.conflict.concurrent")
    used = set(
        session.scalars(select(Licence.status_index).where(Licence.status_list_id == current.id))
    )
    index = allocate_index(used, current.size)
    current.used = current.used + 1
    return current.id, index


def set_list_statuses(
    session: Session, clock: Clock, rows: Iterable[Licence], state: LicenceState
) -> None:
    """Write ``state``'s 2-bit value for every licence into its list; one write and one
    sequence step per list."""
    by_list: dict[str, dict[int, Any]] = {}
    for row in rows:
        by_list.setdefault(row.status_list_id, {})[row.status_index] = list_value(state)
    for list_id in sorted(by_list):
        sl = session.scalars(
            select(LicenceStatusList).where(LicenceStatusList.id == list_id).with_for_update()
        ).one()
        updated = StatusList(sl.size, sl.packed).with_statuses(by_list[list_id])
        session.execute(
            update(LicenceStatusList)
            .where(LicenceStatusList.id == sl.id)
            .values(packed=updated.packed, sequence=sl.sequence + 1, updated_at=clock.now())
        )


def set_list_status(session: Session, clock: Clock, row: Licence, state: LicenceState) -> None:
    """Write the licence's 2-bit value into its list and bump the list's sequence."""
    set_list_statuses(session, clock, [row], state)


def _store_file(session: Session, list_id: str, sequence: int, at: datetime, data: bytes) -> None:
    try:
        with session.begin_nested():
            stored = session.get(LicenceStatusFile, list_id)
            if stored is None:
                session.add(
                    LicenceStatusFile(list_id=list_id, sequence=sequence, signed_at=at, data=data)
                )
            else:
                stored.sequence, stored.signed_at, stored.data = sequence, at, data
            session.flush()
    except IntegrityError:
        pass  # another process stored its file for this list at the same moment: fine


def signed_status_list(
    *, session: Session, clock: Clock, keystore: KeyStore, list_id: str
) -> bytes:
    """The list as a signed COSE_Sign1 file (``licences.status``): the stored file while it
    shows the list's current sequence and is younger than 12 hours, else a new one."""
    sl = session.get(LicenceStatusList, list_id) if isinstance(list_id, str) else None
    if sl is None:
        raise LicenceNotFound("状态列表不存在", code="licence.status_list_not_found")
    now = clock.now().replace(microsecond=0)
    stored = session.get(LicenceStatusFile, sl.id)
    if (
        stored is not None
        and stored.sequence == sl.sequence
        and now < stored.signed_at + _RESIGN_AFTER
    ):
        return stored.data
    key = issuer_signer(
        session=session, clock=clock, keystore=keystore, organisation_id=sl.issuer_org_id
    )
    token = StatusListToken(
        list_id=sl.id,
        issuer_code=sl.issuer_code,
        sequence=sl.sequence,
        issued_at=now,
        ttl=STATUS_TTL,
        statuses=StatusList(sl.size, sl.packed),
    )
    data = sign_status_list(token, kid=key.kid, sign=key.signer.sign)
    _store_file(session, sl.id, sl.sequence, now, data)
    return data


@dataclass(frozen=True, slots=True)
class StatusListInfo:
    list_id: str
    issuer_code: str
    issuer_name: str
    size: int
    sequence: int
    updated_at: datetime
    url: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.list_id,
            "issuer_code": self.issuer_code,
            "issuer_name": self.issuer_name,
            "size": self.size,
            "bits": 2,
            "sequence": self.sequence,
            "updated_at": self.updated_at.isoformat(),
            "url": self.url,
        }


def status_list_index(*, session: Session, base_url: str = "") -> list[StatusListInfo]:
    """Every issuer's status lists (id, issuer, size, sequence, updated time, URL), by issuer
    and list id. ``base_url`` (no trailing slash) makes the URLs absolute."""
    rows = session.scalars(
        select(LicenceStatusList).order_by(LicenceStatusList.issuer_code, LicenceStatusList.id)
    )
    names: dict[str, str] = {}
    out: list[StatusListInfo] = []
    for sl in rows:
        if sl.issuer_org_id not in names:
            org = principals.get_organisation(session=session, organisation_id=sl.issuer_org_id)
            names[sl.issuer_org_id] = org.name
        out.append(
            StatusListInfo(
                list_id=sl.id,
                issuer_code=sl.issuer_code,
                issuer_name=names[sl.issuer_org_id],
                size=sl.size,
                sequence=sl.sequence,
                updated_at=sl.updated_at,
                url=base_url.rstrip("/") + status_list_path(sl.id),
            )
        )
    return out
