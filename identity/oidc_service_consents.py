"""The portals a person has authorised, and withdrawing that authorisation (PIPL art. 15: a
person may withdraw consent, and the processor provides a convenient way to do it).

Consent is remembered per person, portal and scope (``identity_consent``, written by the
consent screen: ``identity.oidc_service_authorize.give_consent``). ``portal_consents`` lists,
per portal, the scopes consented to and the grants still live; ``withdraw_portal_consent``, in
the caller's transaction:

* marks every consent of the person to that portal withdrawn (``revoked_at``), so that the
  next authorisation request shows the consent screen again (``prompt=none`` gets
  ``consent_required``);
* revokes every live grant of the person to that portal - ``offline_access`` ones included,
  whatever session they came from - so its refresh tokens, userinfo and introspection stop
  working at once (``identity.oidc_service_sessions.revoke_grants``);
* records one ``consent.revoked`` security event (shown to the person) and one transparency
  log event ``identity.consent_withdrawn``, as the consent itself was logged.

The person's SSO session is not ended (they stay logged in to the other portals), and no
back-channel logout is sent: its outbox keeps one logout per (session, portal), which must stay
free for the session's real end. The portal learns of the withdrawal when its tokens are
refused. Withdrawing again is a no-op (nothing live is left), not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import _shared as sh
from identity.model import Consent
from identity.oidc_model import OidcClient, OidcGrant
from identity.oidc_service_sessions import is_offline_grant, revoke_grants
from trust.clock import Clock
from trust.errors import NotFound

__all__ = ["PortalConsent", "Withdrawn", "portal_consents", "withdraw_portal_consent"]

#: ``revoke_reason`` of the grants revoked by a withdrawal.
WITHDRAWN_REASON = "consent_withdrawn"


@dataclass(frozen=True, slots=True)
class PortalConsent:
    """One portal the person has authorised: the scopes consented to (sorted), when consent
    was last given, and the grants still live (``offline`` when one is ``offline_access``)."""

    client_id: str
    name: str
    scopes: tuple[str, ...]
    granted_at: datetime
    live_grants: int
    offline: bool


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """What one withdrawal changed (zero and empty when there was nothing left to withdraw)."""

    client_id: str
    scopes: tuple[str, ...]
    grants_revoked: int


def _live_grants(
    session: Session, clock: Clock, person_id: str, client_id: str | None = None
) -> list[OidcGrant]:
    """The person's grants neither revoked nor past their absolute lifetime (to one client)."""
    stmt = select(OidcGrant).where(
        OidcGrant.person_id == person_id,
        OidcGrant.revoked_at.is_(None),
        OidcGrant.absolute_expires_at > clock.now(),
    )
    if client_id is not None:
        stmt = stmt.where(OidcGrant.client_id == client_id)
    return list(session.scalars(stmt))


def portal_consents(*, session: Session, clock: Clock, person_id: str) -> list[PortalConsent]:
    """The portals with a live consent of ``person_id``, most recently authorised first."""
    consents = session.scalars(
        select(Consent).where(Consent.person_id == person_id, Consent.revoked_at.is_(None))
    ).all()
    by_client: dict[str, list[Consent]] = {}
    for row in consents:
        by_client.setdefault(row.client_id, []).append(row)
    if not by_client:
        return []
    grants: dict[str, list[OidcGrant]] = {}
    for g in _live_grants(session, clock, person_id):
        grants.setdefault(g.client_id, []).append(g)
    names: dict[str, str] = {
        client_id: name
        for client_id, name in session.execute(
            select(OidcClient.client_id, OidcClient.name).where(
                OidcClient.client_id.in_(list(by_client))
            )
        )
    }
    out = [
        PortalConsent(
            client_id=client_id,
            name=names.get(client_id, client_id),
            scopes=tuple(sorted(r.scope for r in rows)),
            granted_at=max(r.granted_at for r in rows),
            live_grants=len(grants.get(client_id, [])),
            offline=any(is_offline_grant(g) for g in grants.get(client_id, [])),
        )
        for client_id, rows in by_client.items()
    ]
    return sorted(out, key=lambda p: (p.granted_at, p.client_id), reverse=True)


def withdraw_portal_consent(
    *,
    session: Session,
    clock: Clock,
    person_id: str,
    client_id: str,
    actor: str,
    client_ip: str | None = None,
) -> Withdrawn:
    """Withdraw every consent of ``person_id`` to ``client_id`` and revoke the grants that rest
    on it (module docstring); ``NotFound`` for a portal that does not exist."""
    if session.get(OidcClient, client_id) is None:
        raise NotFound("没有该网站", code="identity.client_not_found")
    now = clock.now()
    rows = session.scalars(
        select(Consent)
        .where(
            Consent.person_id == person_id,
            Consent.client_id == client_id,
            Consent.revoked_at.is_(None),
        )
        .with_for_update()
    ).all()
    for row in rows:
        row.revoked_at = now
    doomed = [g.id for g in _live_grants(session, clock, person_id, client_id)]
    revoked = revoke_grants(session=session, clock=clock, grant_ids=doomed, reason=WITHDRAWN_REASON)
    scopes = tuple(sorted(r.scope for r in rows))
    if not rows and not revoked:
        return Withdrawn(client_id, (), 0)
    session.flush()
    sh.security_event(
        session,
        clock,
        "consent.revoked",
        person_id=person_id,
        client_ip=client_ip,
        detail={"client_id": client_id, "scopes": list(scopes), "reason": WITHDRAWN_REASON},
    )
    sh.log(
        session,
        clock,
        "consent_withdrawn",
        client_id,
        actor,
        client_id=client_id,
        scopes=list(scopes),
        grants_revoked=len(revoked),
    )
    return Withdrawn(client_id, scopes, len(revoked))
