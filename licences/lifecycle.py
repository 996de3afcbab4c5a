"""Licence lifecycle (elicence spec §4, "recommended project lifecycle") and the mapping of each
state to the 2-bit status list value (§9.4) and the verifier result codes (§9.7). Pure.

::

    ISSUED(v001) ⇄ SUSPENDED (暂扣 / 发还)
    ISSUED → SUPERSEDED (变更: a new version is issued; the old one points to it)
    ISSUED | SUSPENDED → EXPIRED | WITHDRAWN(撤回) | REVOKED(撤销) | REVOKED_PENALTY(吊销)
                       | CANCELLED(注销)

Terminal states are immutable (§4: "Terminal states are immutable").
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from licences.service_errors import LicenceConflict
from licences.status import LicenceStatus

__all__ = [
    "STATE_ZH",
    "TERMINAL",
    "LicenceAction",
    "LicenceState",
    "list_value",
    "next_state",
]


class LicenceState(StrEnum):
    ISSUED = "issued"
    SUSPENDED = "suspended"
    SUPERSEDED = "superseded"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"  # 撤回 (行政许可法 Art. 8)
    REVOKED = "revoked"  # 撤销 (Art. 69)
    REVOKED_PENALTY = "revoked_penalty"  # 吊销 (行政处罚法)
    CANCELLED = "cancelled"  # 注销 (Art. 70)


class LicenceAction(StrEnum):
    SUSPEND = "suspend"
    RESUME = "resume"
    SUPERSEDE = "supersede"  # by ``change``
    EXPIRE = "expire"
    WITHDRAW = "withdraw"
    REVOKE = "revoke"
    REVOKE_PENALTY = "revoke_penalty"
    ANNUL = "annul"  # 注销


STATE_ZH: Final = {
    LicenceState.ISSUED: "有效",
    LicenceState.SUSPENDED: "暂扣",
    LicenceState.SUPERSEDED: "已变更（有新版本）",
    LicenceState.EXPIRED: "已过期",
    LicenceState.WITHDRAWN: "已撤回",
    LicenceState.REVOKED: "已撤销",
    LicenceState.REVOKED_PENALTY: "已吊销",
    LicenceState.CANCELLED: "已注销",
}

TERMINAL: Final = frozenset(
    {
        LicenceState.SUPERSEDED,
        LicenceState.EXPIRED,
        LicenceState.WITHDRAWN,
        LicenceState.REVOKED,
        LicenceState.REVOKED_PENALTY,
        LicenceState.CANCELLED,
    }
)

_ENDS: Final = {
    LicenceAction.EXPIRE: LicenceState.EXPIRED,
    LicenceAction.WITHDRAW: LicenceState.WITHDRAWN,
    LicenceAction.REVOKE: LicenceState.REVOKED,
    LicenceAction.REVOKE_PENALTY: LicenceState.REVOKED_PENALTY,
    LicenceAction.ANNUL: LicenceState.CANCELLED,
}


def next_state(current: LicenceState, action: LicenceAction) -> LicenceState:
    """The state after ``action``; ``LicenceConflict`` (``licence.conflict.transition``) if the
    current state does not allow it."""
    target: LicenceState | None = None
    if current not in TERMINAL:
        if action is LicenceAction.SUSPEND and current is LicenceState.ISSUED:
            target = LicenceState.SUSPENDED
        elif action is LicenceAction.RESUME and current is LicenceState.SUSPENDED:
            target = LicenceState.ISSUED
        elif action is LicenceAction.SUPERSEDE and current is LicenceState.ISSUED:
            target = LicenceState.SUPERSEDED
        elif action in _ENDS:
            target = _ENDS[action]
    if target is None:
        raise LicenceConflict(
            f"证照当前状态为「{STATE_ZH[current]}」，不能执行 {action.value}",
            code="licence.conflict.transition",
        )
    return target


def list_value(state: LicenceState) -> LicenceStatus:
    """Spec §9.4: 0 valid, 1 suspended, 2 invalid (撤销/吊销/注销/撤回/过期), 3 superseded."""
    if state is LicenceState.ISSUED:
        return LicenceStatus.VALID
    if state is LicenceState.SUSPENDED:
        return LicenceStatus.SUSPENDED
    if state is LicenceState.SUPERSEDED:
        return LicenceStatus.SUPERSEDED
    return LicenceStatus.INVALID
