"""The simulated registry's data set (模拟数据 / SIMULATED), read from
``identity/data/sim_registry.json``: synthetic citizens (GB 11643 check characters valid),
enterprises (GB 32100 valid), bank cards (Luhn valid) and two published SM2 *test* key pairs
standing in for the face-verification provider and the national network identity service.

Used by ``identity.registry_sim`` and, outside production only, for the default public keys in
``identity.config``. No FastAPI here.
"""

from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

__all__ = [
    "SIMULATED_LABEL",
    "SimBankCard",
    "SimCitizen",
    "SimEnterprise",
    "SimKeyPair",
    "SimRegistryData",
    "load_sim_registry",
]

SIMULATED_LABEL: Final = "模拟数据 / SIMULATED"


@dataclass(frozen=True, slots=True)
class SimCitizen:
    name: str
    id_number: str
    phone: str
    face_template: str
    network_id: str


@dataclass(frozen=True, slots=True)
class SimEnterprise:
    name: str
    uscc: str
    legal_rep_name: str
    legal_rep_id_number: str


@dataclass(frozen=True, slots=True)
class SimBankCard:
    card_number: str
    name: str
    id_number: str
    phone: str


@dataclass(frozen=True, slots=True, repr=False)
class SimKeyPair:
    """A published test key pair; ``private_key_pkcs8`` is loaded only by a composition root
    (``trust.cli.identity``) or tests, never by the identity package itself."""

    label: str
    public_key_pem: str
    private_key_pkcs8: bytes

    def __repr__(self) -> str:
        return f"<SimKeyPair {self.label}>"


@dataclass(frozen=True, slots=True)
class SimRegistryData:
    citizens: tuple[SimCitizen, ...]
    enterprises: tuple[SimEnterprise, ...]
    bank_cards: tuple[SimBankCard, ...]
    face_provider_key: SimKeyPair
    network_id_key: SimKeyPair

    def citizen(self, id_number: str) -> SimCitizen | None:
        return next((c for c in self.citizens if c.id_number == id_number), None)

    def enterprise(self, uscc: str) -> SimEnterprise | None:
        return next((e for e in self.enterprises if e.uscc == uscc), None)

    def bank_card(self, card_number: str) -> SimBankCard | None:
        return next((b for b in self.bank_cards if b.card_number == card_number), None)


def _pair(raw: dict[str, Any]) -> SimKeyPair:
    return SimKeyPair(
        label=str(raw["label"]),
        public_key_pem=str(raw["public_key_pem"]),
        private_key_pkcs8=base64.b64decode(raw["private_key_pkcs8_b64"]),
    )


@functools.cache
def load_sim_registry() -> SimRegistryData:
    text = resources.files("identity").joinpath("data/sim_registry.json").read_text("utf-8")
    raw = json.loads(text)
    return SimRegistryData(
        citizens=tuple(SimCitizen(**c) for c in raw["citizens"]),
        enterprises=tuple(SimEnterprise(**e) for e in raw["enterprises"]),
        bank_cards=tuple(SimBankCard(**b) for b in raw["bank_cards"]),
        face_provider_key=_pair(raw["keys"]["face_provider"]),
        network_id_key=_pair(raw["keys"]["network_id"]),
    )
