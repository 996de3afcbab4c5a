"""Seal kinds, seal states and the lifecycle state machine (pure).

Kinds (``SealType``): the usual seals of a Chinese organisation. GB/T 38540-2020 leaves
``SES_ESPropertyInfo.type`` to the business ("seen 1, 3, 4, 6, 15", eseal spec §3.2 [recon]);
the integer written into the seal is this project's own numbering (``ses_code``), stable once
published. Each kind has the picture shape that is drawn when no image is uploaded: round for
公章 and 专用章, oval for 财务/发票专用章, square for 法定代表人名章.

States and transitions (who may act is ``seals.policy``'s business)::

    applied --make--> made --activate--> active --suspend--> suspended --resume--> active
    applied | made | active | suspended --revoke--> revoked            (final)
    made | active | suspended --expire--> expired                      (validity ended; final)

A seal whose validity period has ended is treated as expired at once (``effective_status``),
whether or not the ``expire`` transition has been recorded yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from seals.errors import BadTransition, UnknownSealType

__all__ = [
    "FINAL_STATES",
    "LifecycleAction",
    "SealShapeKind",
    "SealStatus",
    "SealType",
    "SealTypeInfo",
    "effective_status",
    "next_status",
    "parse_seal_type",
    "type_info",
]


class SealShapeKind(StrEnum):
    ROUND = "round"
    OVAL = "oval"
    SQUARE = "square"


class SealType(StrEnum):
    OFFICIAL = "official"  # 公章
    ADMIN_APPROVAL = "admin_approval"  # 行政审批专用章
    CONTRACT = "contract"  # 合同专用章
    FINANCE = "finance"  # 财务专用章
    INVOICE = "invoice"  # 发票专用章
    LEGAL_REPRESENTATIVE = "legal_representative"  # 法定代表人名章
    BUSINESS = "business"  # 业务专用章


@dataclass(frozen=True, slots=True)
class SealTypeInfo:
    type: SealType
    label: str  # the Chinese name, also drawn on round and oval pictures
    ses_code: int  # SES_ESPropertyInfo.type written into the seal (project numbering)
    shape: SealShapeKind
    personal: bool  # a person's name seal rather than an organisation's


_TYPES: Final[dict[SealType, SealTypeInfo]] = {
    info.type: info
    for info in (
        SealTypeInfo(SealType.OFFICIAL, "公章", 1, SealShapeKind.ROUND, False),
        SealTypeInfo(
            SealType.LEGAL_REPRESENTATIVE, "法定代表人名章", 2, SealShapeKind.SQUARE, True
        ),
        SealTypeInfo(SealType.ADMIN_APPROVAL, "行政审批专用章", 3, SealShapeKind.ROUND, False),
        SealTypeInfo(SealType.CONTRACT, "合同专用章", 4, SealShapeKind.ROUND, False),
        SealTypeInfo(SealType.FINANCE, "财务专用章", 5, SealShapeKind.OVAL, False),
        SealTypeInfo(SealType.INVOICE, "发票专用章", 6, SealShapeKind.OVAL, False),
        SealTypeInfo(SealType.BUSINESS, "业务专用章", 7, SealShapeKind.ROUND, False),
    )
}


def type_info(seal_type: SealType) -> SealTypeInfo:
    return _TYPES[seal_type]


def parse_seal_type(unverified: str) -> SealType:
    """A kind by code (``admin_approval``), by Chinese name (``行政审批专用章``) or by
    ``ses_code`` (``3``); ``seal.unknown_type`` otherwise."""
    text = unverified.strip()
    for info in _TYPES.values():
        if text in (info.type.value, info.label, str(info.ses_code)):
            return info.type
    known = ", ".join(f"{i.type.value} ({i.label})" for i in _TYPES.values())
    raise UnknownSealType(f"未知的印章类型 {unverified!r}；可选：{known}")


class SealStatus(StrEnum):
    APPLIED = "applied"  # 已申请
    MADE = "made"  # 已制作
    ACTIVE = "active"  # 已启用
    SUSPENDED = "suspended"  # 已暂停
    REVOKED = "revoked"  # 已注销
    EXPIRED = "expired"  # 已过期


FINAL_STATES: Final = frozenset({SealStatus.REVOKED, SealStatus.EXPIRED})


class LifecycleAction(StrEnum):
    MAKE = "make"
    ACTIVATE = "activate"
    SUSPEND = "suspend"
    RESUME = "resume"
    REVOKE = "revoke"
    EXPIRE = "expire"


_TRANSITIONS: Final[dict[LifecycleAction, tuple[frozenset[SealStatus], SealStatus]]] = {
    LifecycleAction.MAKE: (frozenset({SealStatus.APPLIED}), SealStatus.MADE),
    LifecycleAction.ACTIVATE: (frozenset({SealStatus.MADE}), SealStatus.ACTIVE),
    LifecycleAction.SUSPEND: (frozenset({SealStatus.ACTIVE}), SealStatus.SUSPENDED),
    LifecycleAction.RESUME: (frozenset({SealStatus.SUSPENDED}), SealStatus.ACTIVE),
    LifecycleAction.REVOKE: (
        frozenset({SealStatus.APPLIED, SealStatus.MADE, SealStatus.ACTIVE, SealStatus.SUSPENDED}),
        SealStatus.REVOKED,
    ),
    LifecycleAction.EXPIRE: (
        frozenset({SealStatus.MADE, SealStatus.ACTIVE, SealStatus.SUSPENDED}),
        SealStatus.EXPIRED,
    ),
}


def next_status(current: SealStatus, action: LifecycleAction) -> SealStatus:
    """The state after ``action``; ``seal.bad_transition`` if not allowed from ``current``."""
    allowed_from, target = _TRANSITIONS[action]
    if current not in allowed_from:
        raise BadTransition(
            f"状态为 {current.value} 的印章不能执行 {action.value}",
            extra={"status": current.value, "action": action.value},
        )
    return target


def effective_status(status: SealStatus, *, valid_to: datetime, now: datetime) -> SealStatus:
    """``status``, except that a seal past its validity end counts as expired (unless it was
    revoked, which says more)."""
    if status not in FINAL_STATES and status is not SealStatus.APPLIED and now > valid_to:
        return SealStatus.EXPIRED
    return status
