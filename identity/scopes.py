"""What an agent (经办人) may do for a legal person: the scope vocabulary (pure).

Scopes are ``<capability>:<action>`` strings. The vocabulary is closed: an unknown scope is
refused rather than stored, so that a typo never becomes a silent grant.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from trust.errors import InvalidInput

__all__ = ["AGENT_SCOPES", "normalise_scopes", "scopes_text"]

#: scope -> Chinese label shown at grant time.
AGENT_SCOPES: Final[dict[str, str]] = {
    "matter:apply": "代为申办政务服务事项",
    "matter:view": "查看办件进度",
    "licence:apply": "代为申领电子证照",
    "licence:view": "查看与出示电子证照",
    "seal:use": "使用电子印章用印",
    "archive:view": "查阅电子档案",
}


def normalise_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Sorted, de-duplicated, every entry known; at least one."""
    if isinstance(scopes, str):
        raise InvalidInput("授权范围应为列表", code="identity.bad_scope")
    chosen = {s.strip() for s in scopes if isinstance(s, str)}
    unknown = sorted(s for s in chosen if s not in AGENT_SCOPES)
    if unknown:
        raise InvalidInput(f"未知的授权范围：{', '.join(unknown)}", code="identity.bad_scope")
    if not chosen:
        raise InvalidInput("授权范围不能为空", code="identity.bad_scope")
    return tuple(sorted(chosen))


def scopes_text(scopes: Iterable[str]) -> str:
    return " ".join(sorted(scopes))
