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
from datetime import date
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from keys.interfaces import KeyStore
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
    set_list_status,
)
from licences.service_errors import LicenceRequestInvalid
from licences.service_issue import LicenceIssued, issue_version
from licences.service_keys import LicenceConfig
from trust.clock import Clock
from trust.crypto import sm4_gcm_decrypt
from trust.principals.principal import Principal

__all__ = ["change_licence", "change_status", "expire_due_licences"]

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
    ``valid_until``, ``licence_number``); the old version becomes SUPERSEDED and points to it."""
    reason = _reason(reason)
    row = load_licence(session, ref, lock=True)
    require_issuer_of(principal, row)
    next_state(LicenceState(row.status), LicenceAction.SUPERSEDE)  # refuse early
    spec = load_spec(session, row.type_code)
    allowed = {"holder_name", "fields", "valid_until", "licence_number"}
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
    valid_until = changes.get("valid_until", row.valid_until)
    if isinstance(valid_until, str):
        valid_until = date.fromisoformat(valid_until)
    checked = check_request(
        spec,
        IssueRequest(
            type_code=row.type_code,
            holder_name=str(changes.get("holder_name", row.holder_name)),
            holder_code=holder_code,
            fields=fields,
            valid_from=row.valid_from if abs((row.valid_from - today).days) <= 366 else today,
            valid_until=valid_until if spec.validity.value == "given" else None,
            licence_number=str(changes.get("licence_number", row.licence_number)),
            area_code=row.area_code,
        ),
        today=today,
    )
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


def expire_due_licences(*, session: Session, clock: Clock, actor: str = "system") -> list[str]:
    """Mark ISSUED and SUSPENDED licences past their 有效期止 as EXPIRED (a scheduled job)."""
    today = clock.now().astimezone(CHINA_TZ).date()
    rows = session.scalars(
        select(Licence)
        .where(
            Licence.status.in_([LicenceState.ISSUED.value, LicenceState.SUSPENDED.value]),
            Licence.valid_until.is_not(None),
            Licence.valid_until < today,
        )
        .with_for_update()
    ).all()
    for row in rows:
        _apply(session, clock, row, LicenceAction.EXPIRE, "有效期届满", actor)
    return [r.identifier for r in rows]
