"""Certificate profiles: key usage, extended key usage and validity per kind of certificate (pure).

RFC 5280 §4.2.1.3 (keyUsage, critical), §4.2.1.9 (basicConstraints, critical), §4.2.1.12
(extKeyUsage). The time-stamping profile follows RFC 3161 §2.3: exactly one extended key usage,
``id-kp-timeStamping``, and the extension MUST be critical. Signing profiles of GB/T 20518-2018
(§7 "证书扩展项") use digitalSignature + nonRepudiation.

The purposes below the ``1.2.156.112233.3`` arc are this project's own (like the default TSA
policy OID in ``trust.config``, a placeholder private arc: an operator replaces it with an arc it
has registered). They let a verifier tell a seal-maker certificate from a seal-holder one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from trust.ca.errors import UnknownProfile
from trust.ca.policy import LeafPolicy

__all__ = [
    "EKU_ARCHIVE",
    "EKU_CLIENT_AUTH",
    "EKU_DOCUMENT_SIGNING",
    "EKU_LICENCE_ISSUER",
    "EKU_ORGANISATION",
    "EKU_SEAL_HOLDER",
    "EKU_SEAL_MAKER",
    "EKU_TIME_STAMPING",
    "EKU_TRANSPARENCY_LOG",
    "LEAF_PROFILES",
    "Profile",
    "ProfileSpec",
    "leaf_policy",
    "parse_profile",
    "spec_for",
]

#: RFC 5280 §4.2.1.12
EKU_CLIENT_AUTH: Final = "1.3.6.1.5.5.7.3.2"
EKU_TIME_STAMPING: Final = "1.3.6.1.5.5.7.3.8"
#: RFC 9336 id-kp-documentSigning
EKU_DOCUMENT_SIGNING: Final = "1.3.6.1.5.5.7.3.36"
_ARC: Final = "1.2.156.112233.3"
EKU_ORGANISATION: Final = f"{_ARC}.1"
EKU_SEAL_MAKER: Final = f"{_ARC}.2"
EKU_SEAL_HOLDER: Final = f"{_ARC}.3"
EKU_LICENCE_ISSUER: Final = f"{_ARC}.4"
EKU_ARCHIVE: Final = f"{_ARC}.5"
EKU_TRANSPARENCY_LOG: Final = f"{_ARC}.6"

_SIGNING: Final = frozenset({"digital_signature", "non_repudiation"})
_CA_USAGE: Final = frozenset({"key_cert_sign", "crl_sign"})


class Profile(StrEnum):
    ROOT_CA = "root_ca"
    ISSUING_CA = "issuing_ca"
    ORGANISATION = "organisation"
    SEAL_MAKER = "seal_maker"
    SEAL_HOLDER = "seal_holder"
    LICENCE_ISSUER = "licence_issuer"
    ARCHIVE = "archive"
    TIMESTAMP = "timestamp"
    TRANSPARENCY_LOG = "transparency_log"


@dataclass(frozen=True, slots=True)
class ProfileSpec:
    profile: Profile
    #: basicConstraints cA (always present and critical).
    is_ca: bool
    #: basicConstraints pathLenConstraint; ``None`` means unlimited (CAs) or absent (leaves).
    path_len: int | None
    #: keyUsage bits (asn1crypto names); the extension is always critical.
    key_usage: frozenset[str]
    #: extKeyUsage purposes (dotted OIDs), in order; empty means no extension.
    extended_key_usage: tuple[str, ...]
    eku_critical: bool
    default_validity_days: int
    max_validity_days: int


def _leaf(profile: Profile, usage: frozenset[str], eku: tuple[str, ...], days: int) -> ProfileSpec:
    return ProfileSpec(profile, False, None, usage, eku, False, days, 5 * 366)


_SPECS: Final[dict[Profile, ProfileSpec]] = {
    Profile.ROOT_CA: ProfileSpec(
        Profile.ROOT_CA, True, None, _CA_USAGE, (), False, 20 * 365, 25 * 366
    ),
    Profile.ISSUING_CA: ProfileSpec(
        Profile.ISSUING_CA, True, 0, _CA_USAGE, (), False, 10 * 365, 20 * 366
    ),
    Profile.ORGANISATION: _leaf(
        Profile.ORGANISATION, _SIGNING, (EKU_CLIENT_AUTH, EKU_ORGANISATION), 3 * 365
    ),
    Profile.SEAL_MAKER: _leaf(Profile.SEAL_MAKER, _SIGNING, (EKU_SEAL_MAKER,), 5 * 365),
    Profile.SEAL_HOLDER: _leaf(
        Profile.SEAL_HOLDER, _SIGNING, (EKU_DOCUMENT_SIGNING, EKU_SEAL_HOLDER), 3 * 365
    ),
    Profile.LICENCE_ISSUER: _leaf(
        Profile.LICENCE_ISSUER, _SIGNING, (EKU_DOCUMENT_SIGNING, EKU_LICENCE_ISSUER), 3 * 365
    ),
    Profile.ARCHIVE: _leaf(Profile.ARCHIVE, _SIGNING, (EKU_ARCHIVE,), 5 * 365),
    # RFC 3161 §2.3: only id-kp-timeStamping, and the extension MUST be critical.
    Profile.TIMESTAMP: ProfileSpec(
        Profile.TIMESTAMP, False, None, _SIGNING, (EKU_TIME_STAMPING,), True, 5 * 365, 5 * 366
    ),
    Profile.TRANSPARENCY_LOG: _leaf(
        Profile.TRANSPARENCY_LOG, frozenset({"digital_signature"}), (EKU_TRANSPARENCY_LOG,), 5 * 365
    ),
}

#: Profiles that ``issue_certificate`` may use (the CA profiles are used only by ``init_ca``).
LEAF_PROFILES: Final = frozenset(p for p, s in _SPECS.items() if not s.is_ca)


def parse_profile(value: str) -> Profile:
    """The profile named ``value`` (``seal_maker``, ``seal-maker`` ...) or ``UnknownProfile``."""
    try:
        return Profile(value.strip().lower().replace("-", "_"))
    except ValueError:
        known = ", ".join(sorted(p.value for p in Profile))
        raise UnknownProfile(f"unknown certificate profile {value!r}; known: {known}") from None


def spec_for(profile: Profile) -> ProfileSpec:
    return _SPECS[profile]


def leaf_policy(profile: Profile) -> LeafPolicy:
    """What a verifier requires of an end-entity certificate used for ``profile``'s purpose:
    digitalSignature, and the profile's own purpose (for time-stamping: the only, critical one)."""
    spec = _SPECS[profile]
    if spec.is_ca:
        return LeafPolicy(
            key_usage=frozenset({"key_cert_sign"}),
            extended_key_usage=frozenset(),
            eku_must_be_critical=False,
            eku_exclusive=False,
            end_entity=False,
        )
    purpose = spec.extended_key_usage[-1]
    timestamping = profile is Profile.TIMESTAMP
    return LeafPolicy(
        key_usage=frozenset({"digital_signature"}),
        extended_key_usage=frozenset({purpose}),
        eku_must_be_critical=timestamping,
        eku_exclusive=timestamping,
        end_entity=True,
    )
