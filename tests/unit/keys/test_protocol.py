"""Both keystores expose exactly the ``KeyStore`` protocol (names, parameters, defaults), and the
hardware seam refuses every operation with a clear ``Unavailable``.

The behaviour half of the conformance test is ``tests/integration/keys/test_conformance.py``.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import Any

import pytest

from keys.hsm import HsmKeyStore
from keys.interfaces import KeyStore, KeyUsage
from keys.masterkey import MasterKey
from keys.software import SoftwareKeyStore, SoftwareSigner
from trust.clock import FixedClock
from trust.errors import Unavailable
from trust.signing import Signer

IMPLEMENTATIONS = [SoftwareKeyStore, HsmKeyStore]


def _protocol_methods() -> list[str]:
    return sorted(
        name
        for name, value in vars(KeyStore).items()
        if callable(value) and not name.startswith("_")
    )


def test_protocol_has_the_operations_the_foundation_issue_names() -> None:
    assert set(_protocol_methods()) >= {
        "generate",
        "get",
        "list",
        "signer",
        "active_signer",
        "rotate",
        "destroy",
        "check",
    }


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("method", _protocol_methods())
def test_signature_matches_the_protocol(impl: type[Any], method: str) -> None:
    expected = inspect.signature(getattr(KeyStore, method))
    actual = inspect.signature(getattr(impl, method))
    assert list(actual.parameters) == list(expected.parameters)
    for name, param in expected.parameters.items():
        got = actual.parameters[name]
        assert got.kind == param.kind, name
        assert got.default == param.default, name
        assert got.annotation == param.annotation, name
    assert actual.return_annotation == expected.return_annotation


def test_both_are_runtime_keystores() -> None:
    assert isinstance(SoftwareKeyStore(MasterKey(bytes(range(32)))), KeyStore)
    assert isinstance(HsmKeyStore(), KeyStore)


@pytest.mark.parametrize(
    "member", ["algorithm", "key_id", "public_key_der", "certificate_chain", "sign"]
)
def test_software_signer_has_every_signer_member(member: str) -> None:
    assert hasattr(Signer, member)
    assert hasattr(SoftwareSigner, member)


def _calls() -> dict[str, dict[str, Any]]:
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    session: Any = None  # the seam must refuse before touching a database
    return {
        "check": {"session": session},
        "generate": {"session": session, "clock": clock, "usage": KeyUsage.CA, "label": "x"},
        "get": {"session": session, "key_id": "key_x"},
        "list": {"session": session},
        "signer": {"session": session, "key_id": "key_x"},
        "active_signer": {"session": session, "usage": KeyUsage.CA},
        "rotate": {"session": session, "clock": clock, "usage": KeyUsage.CA},
        "destroy": {"session": session, "clock": clock, "key_id": "key_x", "reason": "r"},
    }


@pytest.mark.parametrize("method", _protocol_methods())
def test_hsm_seam_refuses_every_operation_and_says_how_to_plug_a_module_in(method: str) -> None:
    store = HsmKeyStore(module="/usr/lib/libvendor-sdf.so", slot="0")
    with pytest.raises(Unavailable) as info:
        getattr(store, method)(**_calls()[method])
    assert info.value.code == "keys.hsm_unavailable"
    assert info.value.http_status == 503
    for words in (method, "PKCS#11", "GM/T 0018", "keys.hsm.HsmKeyStore"):
        assert words in info.value.detail
