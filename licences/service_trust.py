"""The signed trust list of licence-issuer keys (elicence spec §9.8), published once per change.

A trust list is signed only when what it would say changes or it is a day old, never per
verification: the newest publication is kept in ``licence_trust_list`` together with a
*fingerprint* (SM3 of the listed keys' ids and states, and the trust-list key's id). Every
process computes the fingerprint of the keys as they are now (one key-metadata query) and
serves the stored list while both agree, so several processes serve the same list; the first
one that sees a difference signs the next sequence number (a concurrent second one loses the
primary key race, rolls back its savepoint and serves the winner's).

Which keys are listed (decided here, documented in the report):

* ACTIVE and PENDING issuer keys (a pending key is published before it signs);
* RETIRED keys while at least one live licence (ISSUED or SUSPENDED) they signed exists
  (``licence.signing_kid``): such a licence must still verify offline; once its last licence
  has ended (expired, revoked, superseded ...), the key is dropped — a retired key is not kept
  for "the longest validity", because 长期有效 licences have none;
* never DESTROYED keys. Destroying an issuer key (``trustctl keys destroy``) is how a
  compromised key is removed: the next trust list leaves it out and every envelope it signed
  is UNKNOWN_ISSUER from then on (the typed code and the sealed PDF still reach the record).

Keys are never generated on a read: without a trust-list key nothing is published
(``current_trust_list`` returns None, verification finds no trusted key and fails closed). The
issuing path (``ensure_published``) creates the trust-list key with the first issuer key.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from keys.interfaces import KeyInfo, KeyStatus, KeyStore
from licences.envelope import CLOCK_SKEW, TrustedKeys
from licences.lifecycle import LicenceState
from licences.model import Licence, LicenceTrustList
from licences.service_keys import (
    issuer_keys,
    kid_of,
    trust_anchor_key,
    trust_list_signer,
)
from licences.verification import (
    TRUST_LIST_VALIDITY,
    TrustListEntry,
    TrustListToken,
    sign_trust_list,
    verify_trust_list,
)
from trust.clock import Clock
from trust.crypto import SM2PublicKey, sm3
from trust.principals import service as principals

__all__ = [
    "REFRESH_AFTER",
    "AnchorInfo",
    "PublishedTrustList",
    "current_trust_list",
    "ensure_published",
    "trust_anchor",
    "trusted_keys",
]

#: A stored list older than this is signed again (spec §9.8: verifiers refresh daily).
REFRESH_AFTER: Final = timedelta(days=1)
_LIVE: Final = (LicenceState.ISSUED.value, LicenceState.SUSPENDED.value)
_PARSED_CACHE: Final = 8


@dataclass(frozen=True, slots=True)
class AnchorInfo:
    """The pinned trust-list key (offline verifiers and the verify page)."""

    kid: bytes
    public_key: SM2PublicKey
    public_key_der: bytes


@dataclass(frozen=True, slots=True)
class PublishedTrustList:
    sequence: int
    issued_at: datetime
    expires_at: datetime
    entries: int
    data: bytes  # the COSE_Sign1 file


def trust_anchor(*, session: Session, keystore: KeyStore) -> AnchorInfo | None:
    """The active trust-list key, or None before anything was issued."""
    info = trust_anchor_key(session=session, keystore=keystore)
    if info is None:
        return None
    key = SM2PublicKey.from_der(info.public_key_der)
    return AnchorInfo(kid_of(info), key, info.public_key_der)


def _listed(session: Session, keys: list[KeyInfo]) -> list[KeyInfo]:
    retired = {kid_of(k): k for k in keys if k.status is KeyStatus.RETIRED}
    needed: set[bytes] = set()
    if retired:
        needed = set(
            session.scalars(
                select(Licence.signing_kid)
                .where(Licence.signing_kid.in_(list(retired)), Licence.status.in_(_LIVE))
                .distinct()
            )
        )
    return [
        k
        for k in keys
        if k.status in (KeyStatus.ACTIVE, KeyStatus.PENDING)
        or (k.status is KeyStatus.RETIRED and kid_of(k) in needed)
    ]


def _fingerprint(anchor_key_id: str, listed: list[KeyInfo]) -> str:
    lines = sorted(f"{k.key_id}|{k.status.value}|{k.owner}" for k in listed)
    return sm3("\n".join([anchor_key_id, *lines]).encode()).hex()


def _latest(session: Session) -> LicenceTrustList | None:
    return session.scalars(
        select(LicenceTrustList).order_by(LicenceTrustList.sequence.desc()).limit(1)
    ).one_or_none()


def _published(row: LicenceTrustList) -> PublishedTrustList:
    return PublishedTrustList(row.sequence, row.issued_at, row.expires_at, row.entries, row.data)


def _entries(session: Session, listed: list[KeyInfo]) -> list[TrustListEntry]:
    out: list[TrustListEntry] = []
    for info in sorted(listed, key=lambda k: (k.owner or "", k.created_at, k.key_id)):
        assert info.owner is not None  # issuer_keys keeps organisation-owned keys only
        org = principals.get_organisation(session=session, organisation_id=info.owner)
        out.append(
            TrustListEntry(
                kid=kid_of(info),
                public_key=SM2PublicKey.from_der(info.public_key_der),
                issuer_codes=(org.uscc,),
                issuer_name=org.name,
            )
        )
    return out


def _sign_next(
    session: Session,
    clock: Clock,
    keystore: KeyStore,
    fingerprint: str,
    listed: list[KeyInfo],
    latest: LicenceTrustList | None,
) -> PublishedTrustList:
    signer = trust_list_signer(session=session, clock=clock, keystore=keystore)
    now = clock.now().replace(microsecond=0)
    entries = _entries(session, listed)
    sequence = 1 if latest is None else latest.sequence + 1
    data = sign_trust_list(
        entries,
        sequence=sequence,
        issued_at=now,
        expires_at=now + TRUST_LIST_VALIDITY,
        kid=signer.kid,
        sign=signer.signer.sign,
    )
    row = LicenceTrustList(
        sequence=sequence,
        fingerprint=fingerprint,
        issued_at=now,
        expires_at=now + TRUST_LIST_VALIDITY,
        entries=len(entries),
        data=data,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        # Another process published this sequence number first: serve the newest list.
        winner = _latest(session)
        assert winner is not None  # the conflicting row exists
        return _published(winner)
    return _published(row)


def _current(
    session: Session, clock: Clock, keystore: KeyStore
) -> tuple[PublishedTrustList, KeyInfo] | None:
    anchor = trust_anchor_key(session=session, keystore=keystore)
    if anchor is None:
        return None
    listed = _listed(session, issuer_keys(session=session, keystore=keystore))
    fingerprint = _fingerprint(anchor.key_id, listed)
    latest = _latest(session)
    if (
        latest is not None
        and latest.fingerprint == fingerprint
        and clock.now() < latest.issued_at + REFRESH_AFTER
    ):
        return _published(latest), anchor
    return _sign_next(session, clock, keystore, fingerprint, listed, latest), anchor


def current_trust_list(
    *, session: Session, clock: Clock, keystore: KeyStore
) -> PublishedTrustList | None:
    """The trust list to serve: the stored one while it matches the keys and is under a day
    old, else a newly signed one; None while there is no trust-list key (nothing issued)."""
    current = _current(session, clock, keystore)
    return None if current is None else current[0]


def ensure_published(*, session: Session, clock: Clock, keystore: KeyStore) -> None:
    """Issuing path: make sure the trust-list key exists (generated with the first issuer key)
    and that the published list names the issuer keys as they are now."""
    trust_list_signer(session=session, clock=clock, keystore=keystore, create=True)
    current_trust_list(session=session, clock=clock, keystore=keystore)


#: Parsed lists by (SM3 of the file, anchor point): immutable values, so a process may keep
#: them; a new publication has a new digest. Bounded; oldest dropped first.
_parsed: OrderedDict[tuple[bytes, bytes], TrustListToken] = OrderedDict()


def _parse(data: bytes, anchor: SM2PublicKey, now: datetime) -> TrustListToken:
    key = (sm3(data), anchor.point)
    token = _parsed.get(key)
    if token is None:
        # Verify our own list against the pinned key, exactly as an offline verifier does.
        token = verify_trust_list(data, anchor, now=now)
        _parsed[key] = token
        while len(_parsed) > _PARSED_CACHE:
            _parsed.popitem(last=False)
    return token


def trusted_keys(*, session: Session, clock: Clock, keystore: KeyStore) -> TrustedKeys:
    """kid → issuer key of the current trust list (empty before anything was issued, so
    every envelope is UNKNOWN_ISSUER: fail closed)."""
    current = _current(session, clock, keystore)
    if current is None:
        return {}
    published, anchor = current
    now = clock.now()
    token = _parse(published.data, SM2PublicKey.from_der(anchor.public_key_der), now)
    if not token.issued_at - CLOCK_SKEW <= now <= token.expires_at:
        return {}  # a cached parse checked the validity when it was made; check it again
    return token.trusted_keys()
