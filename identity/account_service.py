"""The person's own pages as values (``identity.account_pages`` renders them):

* 我的账户: masked identity data, the identity-proofing level with every verification behind it
  (kind, source - labelled when simulated -, time, outcome, the level it supports on its own,
  ``identity.proofing``), the authentication strength of the current SSO session
  (``identity.assurance.auth_strength``, kept apart from proofing), and the legal persons the
  person acts for;
* 经办人授权: a legal representative's agents per legal person, granting by the agent's citizen
  ID number and name, and the authorisations the person holds as an agent;
* password change, then "log out everywhere else": every *other* live SSO session of the
  person ends, with back-channel logout queued for its portals
  (``identity.channels_service_logout``), in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import service_accounts, service_agents
from identity.assurance import ACR_LADDER, acr_label, acr_rank, auth_strength
from identity.channels_service_logout import end_person_session, list_person_sessions
from identity.errors import PersonNotFound
from identity.evidence import EvidenceKind, Outcome
from identity.keying import IdentityKeys
from identity.model import Evidence, Person, TotpCredential
from identity.oidc_service_context import OidcContext
from identity.oidc_service_sessions import SsoSessionView, revoke_offline_grants
from identity.pii import mask_phone
from identity.proofing import EvidenceFact, derive_proofing_level
from identity.records import ActingFor, AuthorisationRecord
from identity.scopes import AGENT_SCOPES
from identity.throttle import Lockout
from trust.clock import Clock
from trust.errors import InvalidInput

__all__ = [
    "AMR_LABELS",
    "EVIDENCE_KIND_LABELS",
    "AccountOverview",
    "AgentLine",
    "AgentsOverview",
    "EvidenceLine",
    "HeldLine",
    "OrganisationAgents",
    "PasswordChangeDone",
    "SessionStrength",
    "account_overview",
    "agents_overview",
    "change_password_and_end_other_sessions",
    "grant_agent_by_identity",
    "mask_name",
]

EVIDENCE_KIND_LABELS: Final[dict[str, str]] = {
    EvidenceKind.POPULATION: "人口库核验（姓名与公民身份号码）",
    EvidenceKind.ENTERPRISE: "企业登记库核验（名称、统一社会信用代码与法定代表人）",
    EvidenceKind.PHONE_OTP: "手机号验证（短信验证码）",
    EvidenceKind.BANK_CARD: "银行卡四要素核验",
    EvidenceKind.FACE: "人脸识别（活体检测并比对证件照）",
    EvidenceKind.NETWORK_ID: "国家网络身份认证（网号/网证）",
    EvidenceKind.CERTIFICATE: "数字证书核验",
    EvidenceKind.IN_PERSON: "线下窗口现场核验",
}
_OUTCOME_LABELS: Final[dict[str, str]] = {
    Outcome.MATCH: "一致，核验通过",
    Outcome.MISMATCH: "不一致，核验未通过",
    Outcome.UNKNOWN: "权威库中无此记录",
}
AMR_LABELS: Final[dict[str, str]] = {
    "pwd": "密码",
    "otp": "动态口令",
    "sms": "短信验证码",
    "swk": "扫码登录（已登录的手机）",
    "face": "人脸识别",
    "mfa": "多因素认证",
    "hwk": "硬件密钥",
    "sc": "智能卡",
    "pin": "个人识别码",
    "fed": "上级身份平台",
}
_STRENGTH_LABELS: Final[dict[int, str]] = {
    1: "一般（单一认证因素，如仅密码、仅短信验证码或扫码）",
    3: "较强（两类认证因素，如密码加动态口令或短信验证码，或人脸识别）",
    4: "强（硬件密钥加另一类认证因素）",
}
_LEVEL_NAMES: Final[dict[int, str]] = {1: "一级", 2: "二级", 3: "三级", 4: "四级"}
AgentState = Literal["valid", "pending", "expired", "revoked"]
_STATE_LABELS: Final[dict[str, str]] = {
    "valid": "有效",
    "pending": "尚未生效",
    "expired": "已过期",
    "revoked": "已撤销",
}


def mask_name(name: str) -> str:
    """Keep the first character (and the last of names of three or more): 张* / 欧**娜."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def _level_label(level: int) -> str:
    return acr_label(ACR_LADDER[level - 1])


@dataclass(frozen=True, slots=True)
class EvidenceLine:
    kind: str
    kind_label: str
    source: str
    #: The answer came from the simulated registry (development and demos only).
    simulated: bool
    verified_at: datetime
    outcome: str
    outcome_label: str
    passed: bool
    #: The proofing level this verification supports on its own (1 = none).
    supports_level: int
    supports_label: str


@dataclass(frozen=True, slots=True)
class SessionStrength:
    acr: str
    acr_label: str
    amr_labels: tuple[str, ...]
    strength_label: str
    auth_time: datetime


@dataclass(frozen=True, slots=True)
class AccountOverview:
    person_id: str
    name_masked: str
    id_number_masked: str
    phone_masked: str
    phone_verified: bool
    has_totp: bool
    proofing_level: int
    proofing_name: str
    proofing_label: str
    evidence: tuple[EvidenceLine, ...]
    session: SessionStrength
    acting_for: tuple[ActingFor, ...]


def _evidence_line(row: Evidence) -> EvidenceLine:
    details = dict(row.details or {})
    kind, outcome = EvidenceKind(row.kind), Outcome(row.outcome)
    level = int(derive_proofing_level([EvidenceFact(row.id, kind, outcome, details)]).level)
    return EvidenceLine(
        kind=kind.value,
        kind_label=EVIDENCE_KIND_LABELS.get(kind, kind.value),
        source=row.source,
        simulated=details.get("simulated") is True,
        verified_at=row.verified_at,
        outcome=outcome.value,
        outcome_label=_OUTCOME_LABELS[outcome],
        passed=outcome is Outcome.MATCH,
        supports_level=level,
        supports_label=_LEVEL_NAMES[level] if level > 1 else "不提升核验等级",
    )


def _strength(sso: SsoSessionView) -> SessionStrength:
    try:
        strength = _STRENGTH_LABELS[int(auth_strength(sso.amr))]
    except InvalidInput:
        strength = "未知"
    try:
        label = f"{_LEVEL_NAMES[acr_rank(sso.acr)]}（{sso.acr}）"
    except InvalidInput:
        label = sso.acr
    return SessionStrength(
        acr=sso.acr,
        acr_label=label,
        amr_labels=tuple(AMR_LABELS.get(m, m) for m in sso.amr),
        strength_label=strength,
        auth_time=sso.auth_time,
    )


def account_overview(
    *, session: Session, clock: Clock, person_id: str, sso: SsoSessionView
) -> AccountOverview:
    """我的账户 of the person logged in with ``sso``."""
    row = session.get(Person, person_id)
    if row is None:
        raise PersonNotFound("账户不存在")
    evidence = session.scalars(
        select(Evidence)
        .where(Evidence.subject_kind == "person", Evidence.subject_id == person_id)
        .order_by(Evidence.verified_at.desc(), Evidence.id)
    )
    totp = session.get(TotpCredential, person_id)
    return AccountOverview(
        person_id=row.id,
        name_masked=mask_name(row.name),
        id_number_masked=row.id_number_masked,
        phone_masked=mask_phone(row.phone),
        phone_verified=row.phone_verified_at is not None,
        has_totp=totp is not None and totp.confirmed_at is not None,
        proofing_level=row.proofing_level,
        proofing_name=_LEVEL_NAMES[row.proofing_level],
        proofing_label=_level_label(row.proofing_level),
        evidence=tuple(_evidence_line(e) for e in evidence),
        session=_strength(sso),
        acting_for=tuple(
            service_agents.authorisations_for(session=session, clock=clock, person_id=person_id)
        ),
    )


# --------------------------------------------------------------------------- agents


@dataclass(frozen=True, slots=True)
class AgentLine:
    authorisation_id: str
    agent_name: str
    agent_id_masked: str
    scope_labels: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    state: AgentState
    state_label: str


@dataclass(frozen=True, slots=True)
class OrganisationAgents:
    legal_person_id: str
    name: str
    uscc: str
    agents: tuple[AgentLine, ...]


@dataclass(frozen=True, slots=True)
class HeldLine:
    authorisation_id: str
    organisation: str
    uscc: str
    scope_labels: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    state: AgentState
    state_label: str


@dataclass(frozen=True, slots=True)
class AgentsOverview:
    #: Legal persons the person represents by law, with their agents.
    organisations: tuple[OrganisationAgents, ...]
    #: Authorisations the person holds as an agent.
    held: tuple[HeldLine, ...]


def _state(auth: AuthorisationRecord, now: datetime) -> AgentState:
    if auth.revoked_at is not None:
        return "revoked"
    if now < auth.not_before:
        return "pending"
    return "valid" if now < auth.not_after else "expired"


def _scope_labels(scopes: Iterable[str]) -> tuple[str, ...]:
    return tuple(AGENT_SCOPES.get(s, s) for s in scopes)


def _agent_line(session: Session, auth: AuthorisationRecord, now: datetime) -> AgentLine:
    agent = session.get(Person, auth.agent_id)
    state = _state(auth, now)
    return AgentLine(
        authorisation_id=auth.id,
        agent_name=agent.name if agent is not None else "（账户已不存在）",
        agent_id_masked=agent.id_number_masked if agent is not None else "",
        scope_labels=_scope_labels(auth.scopes),
        not_before=auth.not_before,
        not_after=auth.not_after,
        state=state,
        state_label=_STATE_LABELS[state],
    )


def agents_overview(*, session: Session, clock: Clock, person_id: str) -> AgentsOverview:
    now = clock.now()
    organisations = []
    for org in service_accounts.organisations_represented_by(session=session, person_id=person_id):
        auths = service_agents.list_agents(session=session, legal_person_id=org.id)
        lines = sorted(
            (_agent_line(session, a, now) for a in auths),
            key=lambda line: (line.state != "valid", line.state != "pending", line.not_after),
        )
        organisations.append(OrganisationAgents(org.id, org.name, org.uscc, tuple(lines)))
    held = []
    for auth, name, uscc in service_agents.authorisations_held(
        session=session, person_id=person_id
    ):
        state = _state(auth, now)
        held.append(
            HeldLine(
                authorisation_id=auth.id,
                organisation=name,
                uscc=uscc,
                scope_labels=_scope_labels(auth.scopes),
                not_before=auth.not_before,
                not_after=auth.not_after,
                state=state,
                state_label=_STATE_LABELS[state],
            )
        )
    return AgentsOverview(tuple(organisations), tuple(held))


def grant_agent_by_identity(
    *,
    session: Session,
    clock: Clock,
    keys: IdentityKeys,
    legal_person_id: str,
    granted_by: str,
    agent_name: str,
    agent_id_number: str,
    scopes: Iterable[str],
    not_before: datetime | None,
    not_after: datetime,
) -> AuthorisationRecord:
    """Grant to the registered person with this citizen ID number *and* name
    (``identity.service_agents.grant_agent``: the legal representative only, logged to the
    transparency log). ``PersonNotFound`` when no such account exists - the same answer for
    an unknown number and a wrong name."""
    agent_id = service_accounts.find_person_by_id_number_and_name(
        session=session, keys=keys, id_number=agent_id_number, name=agent_name
    )
    if agent_id is None:
        raise PersonNotFound("未找到与该姓名和公民身份号码相符的已注册实名账户")
    return service_agents.grant_agent(
        session=session,
        clock=clock,
        legal_person_id=legal_person_id,
        granted_by=granted_by,
        agent_id=agent_id,
        scopes=scopes,
        not_before=not_before,
        not_after=not_after,
    )


# --------------------------------------------------------------------------- password


@dataclass(frozen=True, slots=True)
class PasswordChangeDone:
    ok: bool
    #: As ``identity.service_accounts.PasswordChange.reason``.
    reason: str
    retry_after_seconds: int
    #: Other SSO sessions ended (each with back-channel logout queued for its portals).
    sessions_ended: int


def change_password_and_end_other_sessions(
    *,
    session: Session,
    clock: Clock,
    ctx: OidcContext,
    sso: SsoSessionView,
    current_password: str,
    new_password: str,
    lockout: Lockout,
    client_ip: str | None,
) -> PasswordChangeDone:
    """Change the password of ``sso``'s person, then end every other live SSO session of the
    person (this browser stays logged in) and queue their back-channel logouts."""
    changed = service_accounts.change_password(
        session=session,
        clock=clock,
        person_id=sso.person_id,
        current_password=current_password,
        new_password=new_password,
        lockout=lockout,
        client_ip=client_ip,
    )
    if not changed.ok:
        return PasswordChangeDone(False, changed.reason, changed.retry_after_seconds, 0)
    others = [
        s.sid
        for s in list_person_sessions(session=session, clock=clock, person_id=sso.person_id)
        if s.sid != sso.sid
    ]
    for sid in others:
        end_person_session(
            session=session,
            clock=clock,
            ctx=ctx,
            person_id=sso.person_id,
            sid=sid,
            reason="password_changed",
            actor=f"person:{sso.person_id}",
            client_ip=client_ip,
        )
    # Offline access (which outlives sessions) granted outside this browser ends too.
    revoke_offline_grants(
        session=session,
        clock=clock,
        person_id=sso.person_id,
        reason="password_changed",
        except_sid=sso.sid,
    )
    return PasswordChangeDone(True, changed.reason, 0, len(others))
