"""Who may do what with a seal (pure): manage, stamp, approve, execute, read.

Rules (issue 4 item 3; roles from ``trust.principals.roles``):

* **manage** (apply, make, activate, suspend, resume, revoke): the organisation's
  ``seal_custodian`` (印章管理员) - one of the seal's named custodians when it names any - or the
  organisation's ``admin`` (a ``system_admin`` satisfies ``admin`` everywhere).
* **stamp**: the organisation's ``seal_user`` (用章人): a staff member holding the role in the
  owning organisation, or a service client of that organisation holding it - one of the seal's
  named users when it names any. The seal must be ``active`` and the time inside its validity
  period. Authorisation is checked first, so an outsider learns nothing about the seal's state.
* **approve** (two-person rule, 双人用印): a custodian of the seal (as for manage, but the
  ``admin`` role alone is not enough) who is not the requester.
* **execute** an approved request: the requester.
* **read** (details, usage history 用章记录): custodians, ``admin`` and the organisation's
  ``auditor``; seal users may read the seal itself but not its history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from seals.errors import ApproverIsRequester, NotAuthorised, SealNotUsable
from seals.lifecycle import SealStatus, effective_status
from trust.principals.principal import Principal
from trust.principals.roles import Role

__all__ = [
    "SealFacts",
    "StampForm",
    "require_approver",
    "require_executor",
    "require_history_reader",
    "require_manager",
    "require_reader",
    "require_stamper",
    "require_usable",
]


class StampForm(StrEnum):
    BYTES = "bytes"  # data -> detached SES_Signature (.sig)
    PDF = "pdf"  # PDF -> visible seal + CMS SM2/SM3 signature
    OFD = "ofd"  # OFD -> seal signature per GB/T 33190 ch. 18


@dataclass(frozen=True, slots=True)
class SealFacts:
    """What the policy needs to know about one seal."""

    seal_id: str
    organisation_id: str
    status: SealStatus
    valid_from: datetime
    valid_to: datetime
    #: ``Principal.actor`` strings (``user:…`` / ``client:…``); empty means "any holder of the
    #: role in the organisation".
    custodians: frozenset[str] = frozenset()
    users: frozenset[str] = frozenset()


def _is_custodian(principal: Principal, seal: SealFacts) -> bool:
    if not principal.has_role(Role.SEAL_CUSTODIAN, seal.organisation_id):
        return False
    return not seal.custodians or principal.actor in seal.custodians


def _is_admin(principal: Principal, organisation_id: str) -> bool:
    return principal.has_role(Role.ADMIN, organisation_id)


def require_manager(principal: Principal, organisation_id: str, seal: SealFacts | None) -> None:
    """Custodian (of this seal, if it names custodians) or the organisation's admin."""
    if _is_admin(principal, organisation_id):
        return
    if seal is None:
        if principal.has_role(Role.SEAL_CUSTODIAN, organisation_id):
            return
    elif _is_custodian(principal, seal):
        return
    raise NotAuthorised(
        "需要该组织的印章管理员或组织管理员角色",
        code="seal.not_custodian",
        extra={"organisation_id": organisation_id},
    )


def require_stamper(principal: Principal, seal: SealFacts) -> None:
    """The organisation's ``seal_user`` (staff or service client), named by the seal if it
    names users. A service client acts only within its own organisation."""
    if principal.organisation_id is not None and principal.organisation_id != seal.organisation_id:
        raise NotAuthorised("应用客户端只能使用本组织的印章")
    if not principal.has_role(Role.SEAL_USER, seal.organisation_id):
        raise NotAuthorised("需要该印章所属组织的用章人（seal_user）角色")
    if seal.users and principal.actor not in seal.users:
        raise NotAuthorised("不是该印章的授权用章人")


def require_usable(seal: SealFacts, now: datetime) -> None:
    """``active`` and ``valid_from <= now <= valid_to``; otherwise a stable reason code."""
    status = effective_status(seal.status, valid_to=seal.valid_to, now=now)
    if status is SealStatus.EXPIRED:
        raise SealNotUsable("印章已过有效期", code="seal.expired")
    if status is SealStatus.SUSPENDED:
        raise SealNotUsable("印章已暂停使用", code="seal.suspended")
    if status is SealStatus.REVOKED:
        raise SealNotUsable("印章已注销", code="seal.revoked")
    if status is not SealStatus.ACTIVE:
        raise SealNotUsable(f"印章尚未启用（状态 {status.value}）", code="seal.not_active")
    if now < seal.valid_from:
        raise SealNotUsable("印章尚未到有效期", code="seal.not_yet_valid")


def require_approver(principal: Principal, seal: SealFacts, requested_by: str) -> None:
    if not _is_custodian(principal, seal):
        raise NotAuthorised("只有该印章的印章管理员可以审批用印申请", code="seal.not_custodian")
    if principal.actor == requested_by:
        raise ApproverIsRequester("申请人不能审批自己的用印申请")


def require_executor(principal: Principal, requested_by: str) -> None:
    if principal.actor != requested_by:
        raise NotAuthorised("只有申请人可以执行已批准的用印申请", code="seal.not_requester")


def require_history_reader(principal: Principal, seal: SealFacts) -> None:
    if (
        _is_custodian(principal, seal)
        or _is_admin(principal, seal.organisation_id)
        or principal.has_role(Role.AUDITOR, seal.organisation_id)
    ):
        return
    raise NotAuthorised("需要印章管理员、组织管理员或审计员角色", code="seal.not_custodian")


def require_reader(principal: Principal, seal: SealFacts) -> None:
    """Anyone holding a seal-related role (or admin/auditor) in the owning organisation."""
    org = seal.organisation_id
    if any(
        principal.has_role(role, org)
        for role in (Role.SEAL_CUSTODIAN, Role.SEAL_USER, Role.ADMIN, Role.AUDITOR)
    ):
        return
    raise NotAuthorised("需要该组织的印章相关角色")
