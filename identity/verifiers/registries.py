"""HTTP adapters to the authoritative sources (request/response contract of our own, spoken by
``identity.registry_sim``; an adapter for a real registry's API implements the same methods).

Contract: ``POST <endpoint>`` with a JSON body, header ``X-Request-Id: <our reference>``; the answer
is a JSON object with ``result`` in ``match | mismatch | not_found``, optional
``registry_ref`` and ``simulated``. Any other ``result`` is a bad response, never a pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import httpx

from identity.config import IdentityConfig
from identity.errors import RegistryBadResponse
from identity.evidence import EvidenceKind, Outcome, VerificationResult
from identity.verifiers.http import RegistryAnswer, RegistryHttp
from trust.ids import new_id

__all__ = [
    "BankCardVerifier",
    "EnterpriseVerifier",
    "FaceProvider",
    "NetworkIdService",
    "PopulationVerifier",
    "UpstreamSession",
    "Verifiers",
    "build_verifiers",
]

_OUTCOMES: Final = {
    "match": Outcome.MATCH,
    "mismatch": Outcome.MISMATCH,
    "not_found": Outcome.UNKNOWN,
}


def _result(
    kind: EvidenceKind, answer: RegistryAnswer, request_ref: str, now: datetime
) -> VerificationResult:
    raw = answer.body.get("result")
    outcome = _OUTCOMES.get(raw) if isinstance(raw, str) else None
    if outcome is None:
        raise RegistryBadResponse(f"权威核验源返回了未知结果 {str(raw)[:32]!r}")
    details: dict[str, str | int | float | bool] = {"simulated": answer.simulated}
    ref = answer.body.get("registry_ref")
    if isinstance(ref, str):
        details["registry_ref"] = ref[:64]
    return VerificationResult(
        kind=kind,
        outcome=outcome,
        reason=f"{kind.value}.{raw}",
        source=answer.url,
        request_ref=request_ref,
        response_digest=answer.digest,
        checked_at=now,
        details=details,
    )


@dataclass(frozen=True, slots=True)
class PopulationVerifier:
    http: RegistryHttp
    url: str

    def verify(self, *, name: str, id_number: str, now: datetime) -> VerificationResult:
        ref = new_id("vrq")
        answer = self.http.post(self.url, {"name": name, "id_number": id_number}, request_ref=ref)
        return _result(EvidenceKind.POPULATION, answer, ref, now)


@dataclass(frozen=True, slots=True)
class EnterpriseVerifier:
    http: RegistryHttp
    url: str

    def verify(
        self,
        *,
        uscc: str,
        name: str,
        legal_rep_name: str,
        legal_rep_id_number: str,
        now: datetime,
    ) -> VerificationResult:
        ref = new_id("vrq")
        body = {
            "uscc": uscc,
            "name": name,
            "legal_rep_name": legal_rep_name,
            "legal_rep_id_number": legal_rep_id_number,
        }
        return _result(
            EvidenceKind.ENTERPRISE, self.http.post(self.url, body, request_ref=ref), ref, now
        )


@dataclass(frozen=True, slots=True)
class BankCardVerifier:
    http: RegistryHttp
    url: str

    def verify(
        self, *, name: str, id_number: str, card_number: str, phone: str, now: datetime
    ) -> VerificationResult:
        ref = new_id("vrq")
        body = {"name": name, "id_number": id_number, "card_number": card_number, "phone": phone}
        return _result(
            EvidenceKind.BANK_CARD, self.http.post(self.url, body, request_ref=ref), ref, now
        )


@dataclass(frozen=True, slots=True)
class UpstreamSession:
    """A verification started at an upstream party; its result arrives as a signed assertion."""

    #: The upstream party's own session / request id.
    upstream_ref: str
    #: Where the person completes it (provider page, app deep link), if the party gives one.
    next_url: str | None
    simulated: bool


def _session(answer: RegistryAnswer) -> UpstreamSession:
    ref = answer.body.get("session_id")
    url = answer.body.get("next_url")
    if not isinstance(ref, str) or not ref or len(ref) > 100:
        raise RegistryBadResponse("上游服务未返回会话标识")
    return UpstreamSession(ref, url if isinstance(url, str) else None, answer.simulated)


@dataclass(frozen=True, slots=True)
class FaceProvider:
    """Starts a face-liveness session; the provider posts an SM2-signed assertion back."""

    http: RegistryHttp
    url: str

    def start(
        self, *, subject_ref: str, nonce: str, name: str, id_number: str, audience: str
    ) -> UpstreamSession:
        body: Mapping[str, Any] = {
            "subject_ref": subject_ref,
            "nonce": nonce,
            "name": name,
            "id_number": id_number,
            "audience": audience,
        }
        return _session(self.http.post(self.url, body, request_ref=subject_ref))


@dataclass(frozen=True, slots=True)
class NetworkIdService:
    """Starts a 网证 verification; the national service answers with an SM2-signed assertion."""

    http: RegistryHttp
    url: str

    def start(
        self, *, subject_ref: str, nonce: str, name: str, id_number: str, audience: str
    ) -> UpstreamSession:
        body: Mapping[str, Any] = {
            "subject_ref": subject_ref,
            "nonce": nonce,
            "name": name,
            "id_number": id_number,
            "audience": audience,
        }
        return _session(self.http.post(self.url, body, request_ref=subject_ref))


@dataclass(frozen=True, slots=True)
class Verifiers:
    """Every adapter and the configuration they were built from: one collaborator for the
    verification services."""

    config: IdentityConfig
    population: PopulationVerifier
    enterprise: EnterpriseVerifier
    bank_card: BankCardVerifier
    face: FaceProvider
    network_id: NetworkIdService


def build_verifiers(config: IdentityConfig, client: httpx.Client) -> Verifiers:
    http = RegistryHttp(
        client,
        allow_simulated=config.simulated_sources_allowed,
    )
    return Verifiers(
        config=config,
        population=PopulationVerifier(http, config.population_url),
        enterprise=EnterpriseVerifier(http, config.enterprise_url),
        bank_card=BankCardVerifier(http, config.bankcard_url),
        face=FaceProvider(http, config.face_url),
        network_id=NetworkIdService(http, config.netid_url),
    )
