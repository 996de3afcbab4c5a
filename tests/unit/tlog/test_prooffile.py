"""Offline verification of proof documents (``trust.tlog.prooffile``): the API bodies and the
CLI's files verify against the log key; the verifier's own checkpoints take precedence; every
tampering has its reason code; being unable to verify raises."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.tlog._support import SM2TestSigner, naive_mth, naive_path, naive_proof
from trust.crypto import SM2PublicKey, sm3
from trust.errors import TrustError, VerificationFailed
from trust.tlog.checkpoint import Checkpoint, sign_checkpoint
from trust.tlog.prooffile import (
    MalformedProofDocument,
    ProofKind,
    verify_note_with_any_key,
    verify_proof_document,
)
from trust.tlog.verify import LogReason

ORIGIN = "ywtb-trust.example/log"
DATA = [f'{{"event":{i}}}'.encode() for i in range(21)]
SIGNER = SM2TestSigner()
KEY = SM2PublicKey.from_der(SIGNER.public_key_der())
OTHER = SM2PublicKey.from_der(SM2TestSigner().public_key_der())
AT = datetime(2026, 11, 22, 8, 0, 0, tzinfo=UTC)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _note(size: int, signer: SM2TestSigner = SIGNER, origin: str = ORIGIN) -> str:
    cp = Checkpoint(origin, size, naive_mth(DATA[:size]), AT)
    return sign_checkpoint(cp, key_name=origin, signer=signer).note()


def _inclusion_body(index: int, size: int, note: str | None) -> dict[str, Any]:
    """The shape of ``GET /log/proof/inclusion`` (``InclusionProofRead``)."""
    return {
        "index": index,
        "tree_size": size,
        "leaf_hash": _b64(sm3(b"\x00" + DATA[index])),
        "path": [_b64(h) for h in naive_path(index, DATA[:size])],
        "checkpoint": None if note is None else {"note": note, "tree_size": size},
    }


def _consistency_body(first: int, second: int) -> dict[str, Any]:
    """The shape of ``GET /log/proof/consistency`` (``ConsistencyProofRead``)."""
    return {
        "first": first,
        "second": second,
        "path": [_b64(h) for h in naive_proof(first, DATA[:second])],
        "first_checkpoint": {"note": _note(first)},
        "second_checkpoint": {"note": _note(second)},
    }


def _verify(doc: object, keys: tuple[SM2PublicKey, ...] = (KEY,), **kw: Any) -> Any:
    raw = json.dumps(doc).encode()
    return verify_proof_document(unverified_document=raw, public_keys=keys, **kw)


def test_api_inclusion_body_verifies() -> None:
    result = _verify(_inclusion_body(5, 13, _note(13)))
    assert result.ok, result
    assert (result.kind, result.index, result.tree_size) == (ProofKind.INCLUSION, 5, 13)
    assert result.origin == ORIGIN
    assert result.note_sources == ("document",)
    assert result.checkpoints[0].root_hash == naive_mth(DATA[:13])
    assert result.to_dict()["checkpoints"][0]["tree_size"] == 13


def test_cli_inclusion_file_recomputes_the_leaf_from_the_entry() -> None:
    body = _inclusion_body(7, 21, _note(21))
    doc = {"kind": "inclusion", "entry": {"index": 7, "data": _b64(DATA[7])}, "proof": body}
    assert _verify(doc).ok
    forged = json.loads(json.dumps(doc))
    forged["entry"]["data"] = _b64(DATA[8])
    assert _verify(forged).reason == "log.leaf_hash_mismatch"
    elsewhere = json.loads(json.dumps(doc))
    elsewhere["entry"]["index"] = 8
    assert _verify(elsewhere).reason == "log.entry_mismatch"
    # Without a claimed leaf hash, the entry's bytes decide: another entry's bytes do not fit.
    del forged["proof"]["leaf_hash"]
    assert _verify(forged).reason == LogReason.ROOT_MISMATCH.value


def test_consistency_body_verifies_and_tampering_is_caught() -> None:
    body = _consistency_body(6, 19)
    result = _verify(body)
    assert result.ok, result
    assert (result.first, result.second) == (6, 19)
    assert [c.tree_size for c in result.checkpoints] == [6, 19]
    flipped = json.loads(json.dumps(body))
    node = bytearray(base64.b64decode(flipped["path"][-1]))
    node[-1] ^= 0x80
    flipped["path"][-1] = _b64(bytes(node))
    assert _verify(flipped).reason == LogReason.ROOT_MISMATCH.value
    swapped = json.loads(json.dumps(body))
    swapped["first"], swapped["second"] = 19, 6
    with pytest.raises(VerificationFailed):  # no checkpoints of those sizes in those places
        _verify({**swapped, "first_checkpoint": None, "second_checkpoint": None})
    assert _verify(swapped).reason == LogReason.TREE_SIZE_MISMATCH.value


def test_the_verifiers_own_checkpoint_comes_first() -> None:
    body = _inclusion_body(2, 13, None)
    with pytest.raises(VerificationFailed) as info:
        _verify(body)
    assert info.value.code == "log.no_checkpoint"
    result = _verify(body, checkpoints=[_note(13)])
    assert result.ok
    assert result.note_sources == ("given",)
    # A checkpoint the verifier holds for this size overrides a (forged) one in the file.
    forger = SM2TestSigner()
    forged = _inclusion_body(2, 13, _note(13, signer=forger))
    assert _verify(forged).reason == LogReason.UNKNOWN_KEY.value
    assert _verify(forged, checkpoints=[_note(13).encode()]).ok
    with pytest.raises(VerificationFailed) as bad:
        _verify(body, checkpoints=["not a note"])
    assert bad.value.code == "log.checkpoint_malformed"


def test_keys_and_origin() -> None:
    body = _inclusion_body(0, 1, _note(1))
    assert _verify(body, keys=(OTHER,)).reason == LogReason.UNKNOWN_KEY.value
    assert _verify(body, keys=(OTHER, KEY)).ok  # a rotated-out key next to the current one
    assert _verify(body, origin=ORIGIN).ok
    assert _verify(body, origin="another.example/log").reason == LogReason.ORIGIN_MISMATCH.value
    with pytest.raises(VerificationFailed) as none:
        _verify(body, keys=())
    assert none.value.code == "log.no_public_key"
    # A bad signature by a known key is the reason reported, not "unknown key".
    note = _note(9)
    body_line, sig_line = note.rsplit("\n\u2014 ", 1)
    name, blob = sig_line.rstrip("\n").split(" ")
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    broken = f"{body_line}\n\u2014 {name} {_b64(bytes(raw))}\n"
    result, key = verify_note_with_any_key(
        unverified_note=broken, public_keys=(OTHER, KEY), origin=ORIGIN
    )
    assert (result.ok, key, result.reason) == (False, None, LogReason.SIGNATURE_INVALID)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xff\xfe",
        b"[1, 2, 3]",
        b'{"proof": []}',
        b'{"something": "else"}',
        b'{"index": true, "tree_size": 3, "leaf_hash": "", "path": []}',
        b'{"index": -1, "tree_size": 3, "leaf_hash": "", "path": []}',
        b'{"index": 0, "tree_size": 3, "leaf_hash": "!!", "path": [], "checkpoint": null}',
        b'{"index": 0, "tree_size": 3, "leaf_hash": "AA==", "path": "x"}',
        b'{"first": 1, "second": 2, "path": [], "first_checkpoint": {"note": 5}}',
        b'{"proof": {"index": 0, "tree_size": 1, "path": []}, "entry": "x"}',
        b" " * (1024 * 1024 + 1),
    ],
)
def test_malformed_documents_raise_with_a_code(raw: bytes) -> None:
    with pytest.raises(TrustError) as info:
        verify_proof_document(unverified_document=raw, public_keys=(KEY,))
    assert info.value.code in {MalformedProofDocument.code, "log.no_checkpoint"}
