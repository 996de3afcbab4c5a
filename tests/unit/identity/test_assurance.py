"""The acr ladder: order, labels, "at least", amr -> strength, acr = min(P, ceiling(A))."""

from __future__ import annotations

import pytest

from identity.assurance import (
    ACR_LADDER,
    AcrValue,
    AuthStrength,
    ProofingLevel,
    acr_at_least,
    acr_for,
    acr_label,
    acr_rank,
    auth_strength,
)
from trust.errors import InvalidInput


def test_ladder_order_and_labels() -> None:
    assert [a.value for a in ACR_LADDER] == [f"urn:ywtb:loa:{n}" for n in (1, 2, 3, 4)]
    assert [acr_rank(a) for a in ACR_LADDER] == [1, 2, 3, 4]
    assert "实人实名实证" in acr_label("urn:ywtb:loa:3")
    assert all(acr_label(a) for a in ACR_LADDER)


def test_at_least() -> None:
    assert acr_at_least(AcrValue.LOA3, "urn:ywtb:loa:2")
    assert acr_at_least(AcrValue.LOA2, AcrValue.LOA2)
    assert not acr_at_least(AcrValue.LOA1, AcrValue.LOA2)
    with pytest.raises(InvalidInput) as caught:
        acr_at_least("urn:other:loa:9", AcrValue.LOA1)
    assert caught.value.code == "identity.unknown_acr"


@pytest.mark.parametrize(
    ("amr", "strength"),
    [
        (["pwd"], AuthStrength.A1),
        (["sms"], AuthStrength.A1),
        (["otp"], AuthStrength.A1),
        (["swk"], AuthStrength.A1),  # app scan alone
        (["hwk"], AuthStrength.A1),
        (["pwd", "pin"], AuthStrength.A1),  # two knowledge factors are one category
        (["pwd", "otp"], AuthStrength.A2),
        (["pwd", "sms"], AuthStrength.A2),
        (["swk", "pin"], AuthStrength.A2),
        (["face"], AuthStrength.A2),
        (["mfa"], AuthStrength.A2),
        (["hwk", "pin"], AuthStrength.A3),
        (["sc", "face"], AuthStrength.A3),
        (["pwd", "user", "geo", "unknown"], AuthStrength.A1),
    ],
)
def test_amr_to_strength(amr: list[str], strength: AuthStrength) -> None:
    assert auth_strength(amr) is strength


def test_no_method_is_refused() -> None:
    for amr in ([], ["user"], ["nonsense"]):
        with pytest.raises(InvalidInput):
            auth_strength(amr)


@pytest.mark.parametrize(
    ("p", "amr", "acr"),
    [
        (ProofingLevel.P1, ["pwd", "otp"], AcrValue.LOA1),
        (ProofingLevel.P2, ["pwd"], AcrValue.LOA1),
        (ProofingLevel.P2, ["pwd", "sms"], AcrValue.LOA2),
        (ProofingLevel.P3, ["pwd", "sms"], AcrValue.LOA3),
        (ProofingLevel.P3, ["face"], AcrValue.LOA3),
        (ProofingLevel.P4, ["face"], AcrValue.LOA3),
        (ProofingLevel.P4, ["hwk", "pin"], AcrValue.LOA4),
        (ProofingLevel.P2, ["hwk", "pin"], AcrValue.LOA2),
        (4, ["pwd"], AcrValue.LOA1),
    ],
)
def test_acr_is_min_of_proofing_and_strength(p: int, amr: list[str], acr: AcrValue) -> None:
    assert acr_for(p, amr) is acr


def test_bad_proofing_level() -> None:
    with pytest.raises(InvalidInput):
        acr_for(5, ["pwd"])
