"""Identity tables. ``accounts`` is this half (real-name accounts); the OIDC provider adds its
own module (``identity.model.oidc``) beside it."""

from identity.model.accounts import (
    AgentAuthorisation,
    Consent,
    Evidence,
    FaceChallenge,
    LegalPerson,
    LoginThrottle,
    NetworkIdChallenge,
    Person,
    SecurityEvent,
    SeenNonce,
    SmsChallenge,
    SmsOutbox,
    TotpCredential,
)

__all__ = [
    "AgentAuthorisation",
    "Consent",
    "Evidence",
    "FaceChallenge",
    "LegalPerson",
    "LoginThrottle",
    "NetworkIdChallenge",
    "Person",
    "SecurityEvent",
    "SeenNonce",
    "SmsChallenge",
    "SmsOutbox",
    "TotpCredential",
]
