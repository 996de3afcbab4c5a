"""Licence lifecycle (issue 5 item 4; elicence spec §4, §9.4): change (a new version; the old
one SUPERSEDED and pointing to it), suspend and resume (暂扣 / 发还), withdraw (撤回), revoke
(撤销), revoke as a penalty (吊销), annul (注销), and expiry.

Each change records reason, actor and time (``licence_event``), appends ``licence.<kind>`` to
the transparency log, and writes the licence's 2-bit value into the issuer's status list, all in
the caller's transaction — so verification sees it as soon as it commits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from keys.interfaces import KeyStore
from licences.catalogue import ValidityRule
from licences.envelope import CHINA_TZ
from licences.issuance import IssueRequest, check_request
from licences.lifecycle import LicenceAction, LicenceState, next_state
from licences.model import Licence
from licences.service import (
    LicenceRecord,
    add_event,
    load_licence,
    load_spec,
    record_of,
    require_issuer_of,
)
from licences.service_errors import LicenceRequestInvalid
from licences.service_issue import LicenceIssued, issue_version
from licences.service_keys import LicenceConfig
from licences.service_status import set_list_status, set_list_statuses
from trust.clock import Clock
from trust.crypto import sm4_gcm_decrypt
from trust.principals.principal import Principal

__all__ = ["ExpirySummary", "change_licence", "change_status", "expire_due_licences"]

_MAX_REASON: Final = 500
_PAST: Final = {
    LicenceAction.SUSPEND: "suspended",
    LicenceAction.RESUME: "resumed",
    LicenceAction.SUPERSEDE: "superseded",
    LicenceAction.EXPIRE: "expired",
    LicenceAction.WITHDRAW: "withdrawn",
    LicenceAction.REVOKE: "revoked",
    LicenceAction.REVOKE_PENALTY: "revoked_penalty",
    LicenceAction.ANNUL: "annulled",
}


def _reason(text: str) -> str:
    cleaned = " ".join(str(text or "").split())
    if not 0 < len(cleaned) <= _MAX_REASON:
        raise LicenceRequestInvalid(
            f"请填写事由（1 至 {_MAX_REASON} 个字符）", code="licence.request.reason"
        )
    return cleaned


def _apply(
    session: Session,
    clock: Clock,
    row: Licence,
    action: LicenceAction,
    reason: str,
    actor: str,
) -> None:
    state = next_state(LicenceState(row.status), action)
    row.status = state.value
    row.status_reason = reason
    row.status_changed_at = clock.now()
    set_list_status(session, clock, row, state)
    add_event(session, clock, row, kind=_PAST[action], reason=reason, actor=actor)
    session.flush()


def change_status(
    *,
    session: Session,
    clock: Clock,
    principal: Principal,
    ref: str,
    action: LicenceAction | str,
    reason: str,
) -> LicenceRecord:
    """Suspend, resume, withdraw, revoke, revoke as penalty or annul (not change/expire)."""
    try:
        action = LicenceAction(action)
    except ValueError:
        raise LicenceRequestInvalid(
            f"未知操作 {str(action)[:30]}", code="licence.request.action"
        ) from None
    if action in (LicenceAction.SUPERSEDE, LicenceAction.EXPIRE):
        raise LicenceRequestInvalid("变更与过期不能直接设置", code="licence.request.action")
    row = load_licence(session, ref, lock=True)
    require_issuer_of(principal, row)
    _apply(session, clock, row, action, _reason(reason), principal.actor)
    return record_of(row)


def change_licence(
    *,
    session: Session,
    clock: Clock,
    keystore: KeyStore,
    config: LicenceConfig,
    principal: Principal,
    ref: str,
    changes: Mapping[str, Any],
    reason: str,
) -> LicenceIssued:
    """变更: issue version n+1 with ``changes`` applied (``holder_name``, ``fields`` (merged),
    ``valid_from``, ``valid_until``, ``licence_number``); the old version becomes SUPERSEDED and
    points to it.

    Validity: a change keeps the original 有效期 unless the request sets it. Without
    ``valid_from`` the new version has the original 有效期起 (however long ago that was) and,
    without ``valid_until``, the original 有效期止; a ``valid_from`` that is given is checked
    as at issue (within a year of today) and 有效期止 then follows the type's rule."""
    reason = _reason(reason)
    row = load_licence(session, ref, lock=True)
    require_issuer_of(principal, row)
    next_state(LicenceState(row.status), LicenceAction.SUPERSEDE)  # refuse early
    spec = load_spec(session, row.type_code)
    allowed = {"holder_name", "fields", "valid_from", "valid_until", "licence_number"}
    unknown = set(changes) - allowed
    if unknown:
        raise LicenceRequestInvalid(
            f"不能变更：{', '.join(sorted(unknown))[:100]}", code="licence.request.change"
        )
    fields = dict(json.loads(row.fields))
    fields.update(dict(changes.get("fields") or {}))
    holder_code = sm4_gcm_decrypt(
        config.holder_key, row.holder_code_sealed, aad=row.id.encode()
    ).decode()
    today = clock.now().astimezone(CHINA_TZ).date()
    valid_from, valid_until = _dates(changes)
    if valid_from is None and valid_until is None:
        valid_until = row.valid_until  # kept: checked against the type's rule when issued
    checked = check_request(
        spec,
        IssueRequest(
            type_code=row.type_code,
            holder_name=str(changes.get("holder_name", row.holder_name)),
            holder_code=holder_code,
            fields=fields,
            valid_from=valid_from,
            valid_until=valid_until if spec.validity is ValidityRule.GIVEN else None,
            licence_number=str(changes.get("licence_number", row.licence_number)),
            area_code=row.area_code,
        ),
        today=today,
        kept_valid_from=row.valid_from if valid_from is None else None,
    )
    if valid_from is None and valid_until is None and checked.valid_until != row.valid_until:
        # The type's rule gives another end date than the one issued: keep the issued one.
        checked = replace(checked, valid_until=row.valid_until)
    issued = issue_version(
        session=session,
        clock=clock,
        keystore=keystore,
        config=config,
        principal=principal,
        previous=row,
        checked=checked,
    )
    row.superseded_by = issued.record.identifier
    _apply(session, clock, row, LicenceAction.SUPERSEDE, reason, principal.actor)
    return issued


def _dates(changes: Mapping[str, Any]) -> tuple[date | None, date | None]:
    out: list[date | None] = []
    for name in ("valid_from", "valid_until"):
        value = changes.get(name)
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                raise LicenceRequestInvalid(
                    f"{name} 不是日期", code="licence.request.bad_validity"
                ) from None
        if value is not None and not isinstance(value, date):
            raise LicenceRequestInvalid(f"{name} 不是日期", code="licence.request.bad_validity")
        out.append(value)
    return out[0], out[1]


@dataclass(frozen=True, slots=True)
class ExpirySummary:
    """What one expiry sweep did: the identifiers it marked EXPIRED and how many status lists
    it rewrote."""

    expired: tuple[str, ...]
    lists_updated: int

    def __str__(self) -> str:
        return f"{len(self.expired)} licences expired, {self.lists_updated} status lists updated"


def _expire_batch(
    session: Session, clock: Clock, actor: str, today: date, limit: int
) -> tuple[list[str], int]:
    stmt = (
        select(Licence)
        .where(
            Licence.status.in_([LicenceState.ISSUED.value, LicenceState.SUSPENDED.value]),
            Licence.valid_until.is_not(None),
            Licence.valid_until < today,
        )
        .order_by(Licence.valid_until, Licence.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = list(session.scalars(stmt))
    for row in rows:
        state = next_state(LicenceState(row.status), LicenceAction.EXPIRE)
        row.status, row.status_reason = state.value, "有效期届满"
        row.status_changed_at = clock.now()
        add_event(
            session, clock, row, kind=_PAST[LicenceAction.EXPIRE], reason="有效期届满", actor=actor
        )
    set_list_statuses(session, clock, rows, LicenceState.EXPIRED)
    session.flush()
    return [r.identifier for r in rows], len({r.status_list_id for r in rows})


def expire_due_licences(
    *,
    session_factory: sessionmaker[Session],
    clock: Clock,
    actor: str = "system:licences",
    batch_size: int = 200,
) -> ExpirySummary:
    """The periodic expiry sweep: every ISSUED or SUSPENDED licence whose 有效期止 (a calendar
    day in China Standard Time) is past becomes EXPIRED, with its event, its transparency-log
    entry and its 2-bit status-list entry (value 2, spec §9.4) — one transaction per batch of
    ``batch_size`` licences, so a long backlog never holds locks for long. Rows another
    transaction holds are skipped (PostgreSQL ``SKIP LOCKED``) and picked up by the next run.
    Idempotent: a second run finds nothing to do."""
    today = clock.now().astimezone(CHINA_TZ).date()
    expired: list[str] = []
    lists = 0
    while True:
        with session_factory() as session, session.begin():
            done, touched = _expire_batch(session, clock, actor, today, batch_size)
        expired.extend(done)
        lists += touched
        if len(done) < batch_size:
            return ExpirySummary(tuple(expired), lists)
