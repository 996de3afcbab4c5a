"""Assurance: the ordered ``acr`` ladder, identity-proofing levels, authentication strength and
their combination (pure; ``specs/identity.md`` §8.3).

Two facts, one ladder: ``proofing_level`` (P1-P4) belongs to the account and is derived from its
evidence (``identity.proofing``); ``auth_strength`` (A1-A3) belongs to one login session and is
derived from its ``amr`` values (RFC 8176). The published ``acr`` is
``min(P, ceiling(A))`` on the ladder ``urn:ywtb:loa:1`` .. ``urn:ywtb:loa:4`` (our own URN
namespace; not a national standard).

Authentication strength (reconstructed from §8.3's "typical path" column and NIST SP 800-63-4
AAL ideas; amr names from RFC 8176 §2):

========  =====================================================================  ============
strength  meaning                                                                ceiling
========  =====================================================================  ============
A1        one factor: ``pwd``, ``pin``, ``kba``, ``sms``, ``tel``, ``otp``,        loa:1
          ``swk`` (app scan), ``hwk`` alone
A2        two factor categories (knowledge / possession / inherence), or         loa:3
          ``face`` (liveness against the ID photo), or ``mfa`` asserted upstream
A3        a hardware-bound key (``hwk``, ``sc``) plus a second factor category   loa:4
========  =====================================================================  ============

Unknown amr values add nothing (fail closed); an empty list is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum, StrEnum
from typing import Final

from trust.errors import InvalidInput

__all__ = [
    "ACR_LADDER",
    "AMR_CATEGORY",
    "AcrValue",
    "AuthStrength",
    "ProofingLevel",
    "acr_at_least",
    "acr_for",
    "acr_label",
    "acr_rank",
    "auth_strength",
    "parse_acr",
]


class AcrValue(StrEnum):
    LOA1 = "urn:ywtb:loa:1"
    LOA2 = "urn:ywtb:loa:2"
    LOA3 = "urn:ywtb:loa:3"
    LOA4 = "urn:ywtb:loa:4"


#: The ladder, lowest first. ``acr_values`` comparisons are "at least" on this order.
ACR_LADDER: Final[tuple[AcrValue, ...]] = (
    AcrValue.LOA1,
    AcrValue.LOA2,
    AcrValue.LOA3,
    AcrValue.LOA4,
)

_LABELS: Final[dict[AcrValue, str]] = {
    AcrValue.LOA1: "一级：注册用户，信息自行填报",
    AcrValue.LOA2: "二级：姓名与身份号码（或名称与统一社会信用代码）经权威库核验",
    AcrValue.LOA3: "三级：实人实名实证（人脸活体比对或银行卡四要素）",
    AcrValue.LOA4: "四级：数字证书、现场核验或国家网络身份认证（网证）",
}


class ProofingLevel(IntEnum):
    """Identity proofing of an account (§8.3); value = position on the ladder."""

    P1 = 1  # self-asserted
    P2 = 2  # name + ID (entity + USCC) checked against the authoritative registry
    P3 = 3  # face liveness vs ID photo, or bank-card four elements
    P4 = 4  # certificate, in-person check, or 网证


class AuthStrength(IntEnum):
    """Strength of one authentication event; value = the highest ladder rung it supports."""

    A1 = 1
    A2 = 3
    A3 = 4


_KNOWLEDGE: Final = "knowledge"
_POSSESSION: Final = "possession"
_INHERENCE: Final = "inherence"

#: RFC 8176 §2 method names we weigh, by factor category. Others (``user``, ``geo``, ``rba``,
#: ``wia``, ``mca``, ``mfa`` …) are not factors of their own.
AMR_CATEGORY: Final[dict[str, str]] = {
    "pwd": _KNOWLEDGE,
    "pin": _KNOWLEDGE,
    "kba": _KNOWLEDGE,
    "otp": _POSSESSION,
    "sms": _POSSESSION,
    "tel": _POSSESSION,
    "swk": _POSSESSION,
    "hwk": _POSSESSION,
    "sc": _POSSESSION,
    "face": _INHERENCE,
    "fpt": _INHERENCE,
    "iris": _INHERENCE,
    "vbm": _INHERENCE,
    "retina": _INHERENCE,
}
_HARDWARE: Final = frozenset({"hwk", "sc"})


def auth_strength(auth_methods: Iterable[str]) -> AuthStrength:
    """Strength of a session from its ``amr`` values (see the module table)."""
    methods = {m for m in auth_methods if isinstance(m, str)}
    categories = {AMR_CATEGORY[m] for m in methods if m in AMR_CATEGORY}
    if not categories and "mfa" not in methods:
        raise InvalidInput("没有可识别的认证方式", code="identity.no_auth_method")
    multi = len(categories) >= 2
    if multi and methods & _HARDWARE:
        return AuthStrength.A3
    if multi or "face" in methods or "mfa" in methods:
        return AuthStrength.A2
    return AuthStrength.A1


def acr_rank(acr: AcrValue | str) -> int:
    """1-based position on the ladder; ``InvalidInput`` for a value not on it."""
    return ACR_LADDER.index(parse_acr(acr)) + 1


def parse_acr(value: AcrValue | str) -> AcrValue:
    try:
        return AcrValue(value)
    except ValueError:
        raise InvalidInput(f"未知的 acr 值：{value!r}", code="identity.unknown_acr") from None


def acr_at_least(achieved: AcrValue | str, required: AcrValue | str) -> bool:
    """``achieved`` is ``required`` or higher on the ladder."""
    return acr_rank(achieved) >= acr_rank(required)


def acr_label(acr: AcrValue | str) -> str:
    return _LABELS[parse_acr(acr)]


def acr_for(proofing_level: ProofingLevel | int, auth_methods: Iterable[str]) -> AcrValue:
    """§8.3: ``acr = min(P, ceiling(A))``."""
    try:
        level = ProofingLevel(proofing_level)
    except ValueError:
        raise InvalidInput("身份核验等级应为 1-4", code="identity.bad_proofing_level") from None
    return ACR_LADDER[min(int(level), int(auth_strength(auth_methods))) - 1]
