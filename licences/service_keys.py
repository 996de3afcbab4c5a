"""Keys of the licence capability, all obtained from ``keys`` (no private key is held here).

* issuer key: SM2, ``KeyUsage.LICENCE_ISSUER``, owner = the issuing organisation's id; signs the
  EL1 envelopes and the issuer's status lists. Generated on the issuer's first licence.
* trust-list key: SM2, ``KeyUsage.LICENCE_ISSUER`` with no owner (a service key); signs the
  trust list of issuer keys (``licences.service_trust``). Its public key is pinned in the
  verify page and given to offline verifiers. Generated with the first issuer key.
* keys are generated only on a write path (issuing: ``create=True``); reads (verification,
  status lists, the trust list, the verify page) never create a key (``create=False``).
* ``kid`` = the first 8 bytes of SM3(SubjectPublicKeyInfo DER) (spec §9.2 names the
  certificate; it allows the SPKI to stand in, and the SPKI stays the same when a certificate
  is issued or renewed later, so kids never change under a published trust list).
* the 核验码 MAC key: HMAC-SM3(master key, label), derived like ``identity.keying`` (a secret
  MAC key, not a private key; a label of its own so it reveals nothing about other keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from keys.interfaces import KeyInfo, KeyStatus, KeyStore, KeyUsage
from licences.envelope import make_kid
from licences.service_errors import LicenceKeyUnavailable
from trust.clock import Clock
from trust.config import Settings
from trust.crypto import SM2PublicKey, hmac_sm3
from trust.errors import Misconfigured, NotFound
from trust.signing import SignatureAlgorithm, Signer

__all__ = [
    "IssuerSigner",
    "LicenceConfig",
    "code_key_from_settings",
    "config_from_settings",
    "issuer_keys",
    "issuer_signer",
    "kid_of",
    "trust_anchor_key",
    "trust_list_signer",
]

_LABEL: Final = b"ywtb-trust/licences/code-mac/v1"
_HOLDER_LABEL: Final = b"ywtb-trust/licences/holder-code/v1"
_SM2: Final = SignatureAlgorithm.SM2_SM3


@dataclass(frozen=True, slots=True)
class IssuerSigner:
    signer: Signer
    kid: bytes
    public_key: SM2PublicKey


def kid_of(signer_or_info: Signer | KeyInfo) -> bytes:
    """SM3 of the SubjectPublicKeyInfo DER, first 8 bytes. Always the SPKI (never a certificate,
    even when ``keys`` holds one), so that the signing side and the trust list, which is built
    from key metadata, always agree on the kid."""
    if isinstance(signer_or_info, KeyInfo):
        return make_kid(signer_or_info.public_key_der)
    return make_kid(signer_or_info.public_key_der())


def _active(
    session: Session,
    clock: Clock,
    keystore: KeyStore,
    owner: str | None,
    label: str,
    *,
    create: bool,
) -> Signer:
    try:
        return keystore.active_signer(
            session=session, usage=KeyUsage.LICENCE_ISSUER, owner=owner, algorithm=_SM2
        )
    except NotFound:
        if not create:
            raise LicenceKeyUnavailable(
                "尚无电子证照签名密钥", code="licence.key_unavailable"
            ) from None
        info = keystore.generate(
            session=session,
            clock=clock,
            usage=KeyUsage.LICENCE_ISSUER,
            algorithm=_SM2,
            label=label,
            owner=owner,
            activate=True,
            actor="system:licences",
        )
        return keystore.signer(session=session, key_id=info.key_id)


def _wrap(signer: Signer) -> IssuerSigner:
    return IssuerSigner(signer, kid_of(signer), SM2PublicKey.from_der(signer.public_key_der()))


def issuer_signer(
    *,
    session: Session,
    clock: Clock,
    keystore: KeyStore,
    organisation_id: str,
    create: bool = False,
) -> IssuerSigner:
    """The organisation's active licence-issuer key; with ``create`` (issuing only) generated
    when there is none, else ``LicenceKeyUnavailable``."""
    signer = _active(session, clock, keystore, organisation_id, "电子证照签发密钥", create=create)
    return _wrap(signer)


def trust_list_signer(
    *, session: Session, clock: Clock, keystore: KeyStore, create: bool = False
) -> IssuerSigner:
    """The service's trust-list signing key; with ``create`` (issuing only) generated when
    there is none, else ``LicenceKeyUnavailable``."""
    signer = _active(session, clock, keystore, None, "电子证照信任列表签名密钥", create=create)
    return _wrap(signer)


def trust_anchor_key(*, session: Session, keystore: KeyStore) -> KeyInfo | None:
    """The active trust-list key's metadata, or None (a read: never generates one)."""
    for info in keystore.list(session=session, usage=KeyUsage.LICENCE_ISSUER):
        if info.owner is None and info.algorithm is _SM2 and info.status is KeyStatus.ACTIVE:
            return info
    return None


def issuer_keys(*, session: Session, keystore: KeyStore) -> list[KeyInfo]:
    """Organisation-owned SM2 issuer keys in every state (``licences.service_trust`` decides
    which of them a trust list names)."""
    return [
        k
        for k in keystore.list(session=session, usage=KeyUsage.LICENCE_ISSUER)
        if k.owner is not None and k.algorithm is _SM2
    ]


def _master(settings: Settings) -> bytes:
    if settings.master_key is not None:
        text = settings.master_key.get_secret_value()
    else:
        path = settings.resolved_master_key_file
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeError):
            raise Misconfigured(
                f"no readable master key at {path}", code="licence.master_key_missing"
            ) from None
    try:
        master = bytes.fromhex(text.strip())
    except ValueError:
        raise Misconfigured("master key is not hex", code="licence.master_key_invalid") from None
    if len(master) != 32:
        raise Misconfigured("master key must be 32 bytes", code="licence.master_key_invalid")
    return master


def code_key_from_settings(settings: Settings) -> bytes:
    """HMAC-SM3(master key, "ywtb-trust/licences/code-mac/v1")."""
    return hmac_sm3(_master(settings), _LABEL)


@dataclass(frozen=True, slots=True, repr=False)
class LicenceConfig:
    """What the licence services need from the settings, built once by a composition root."""

    code_key: bytes  # HMAC-SM3 key of the stored 核验码 digests and holder lookups
    holder_key: bytes  # SM4-GCM key of the holder code at rest (needed to re-issue on change)
    verify_host: str  # host[:port] of the public verify page (the QR URL form)
    tsa_policy_oid: str

    def __repr__(self) -> str:
        return f"<LicenceConfig host={self.verify_host}>"


def config_from_settings(settings: Settings) -> LicenceConfig:
    host = urlsplit(settings.public_base_url).netloc or "localhost"
    holder_key = hmac_sm3(_master(settings), _HOLDER_LABEL)[:16]
    return LicenceConfig(
        code_key_from_settings(settings), holder_key, host, settings.tsa_policy_oid
    )
