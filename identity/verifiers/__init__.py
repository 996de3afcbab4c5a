"""Adapters to authoritative sources, each speaking HTTP (httpx) to a configured endpoint.

- ``PopulationVerifier``: name + citizen ID number (公安人口库);
- ``EnterpriseVerifier``: USCC + name + legal representative (市场监管主体库);
- ``BankCardVerifier``: bank-card four elements;
- ``FaceProvider`` / ``NetworkIdService``: start a verification whose result comes back as an
  SM2-signed assertion (``identity.assertions``);
- SMS delivery: ``identity.sms``.

Each returns a ``VerificationResult`` for a performed check and raises ``RegistryUnavailable`` /
``RegistryBadResponse`` when it could not perform one - never a pass by default.
"""

from identity.verifiers.http import RegistryAnswer, RegistryHttp
from identity.verifiers.registries import (
    BankCardVerifier,
    EnterpriseVerifier,
    FaceProvider,
    NetworkIdService,
    PopulationVerifier,
    UpstreamSession,
    Verifiers,
    build_verifiers,
)

__all__ = [
    "BankCardVerifier",
    "EnterpriseVerifier",
    "FaceProvider",
    "NetworkIdService",
    "PopulationVerifier",
    "RegistryAnswer",
    "RegistryHttp",
    "UpstreamSession",
    "Verifiers",
    "build_verifiers",
]
