"""The verifier: checkpoint signature first, then proofs against its root; every failure has its
reason code and nothing is trusted by default."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from tests.unit.tlog._support import SM2TestSigner, naive_mth, naive_path, naive_proof
from trust.crypto import SM2PublicKey, decode_signature
from trust.errors import VerificationFailed
from trust.tlog.checkpoint import Checkpoint, NoteSignature, parse_note, sign_checkpoint
from trust.tlog.verify import LogReason, verify_checkpoint, verify_consistency, verify_inclusion

ORIGIN = "ywtb-trust.example/log"
DATA = [f"event-{i}".encode() for i in range(20)]
SIGNER = SM2TestSigner()
KEY = SM2PublicKey.from_der(SIGNER.public_key_der())
AT = datetime(2026, 11, 22, 8, 0, 0, tzinfo=UTC)


def _note(size: int, signer: SM2TestSigner = SIGNER, origin: str = ORIGIN) -> str:
    cp = Checkpoint(origin, size, naive_mth(DATA[:size]), AT)
    return sign_checkpoint(cp, key_name=origin, signer=signer).note()


def test_checkpoint_ok() -> None:
    result = verify_checkpoint(unverified_note=_note(9), public_key=KEY, origin=ORIGIN)
    assert result.ok
    assert result.reason is None
    assert result.checkpoint is not None
    assert result.checkpoint.tree_size == 9


def test_checkpoint_failures() -> None:
    other = SM2PublicKey.from_der(SM2TestSigner().public_key_der())
    cases = {
        LogReason.UNKNOWN_KEY: dict(unverified_note=_note(9), public_key=other, origin=ORIGIN),
        LogReason.ORIGIN_MISMATCH: dict(unverified_note=_note(9), public_key=KEY, origin="x/y"),
        LogReason.CHECKPOINT_MALFORMED: dict(unverified_note="junk", public_key=KEY, origin=ORIGIN),
        LogReason.SIGNATURE_INVALID: dict(
            unverified_note=_note(9).replace("\n9\n", "\n8\n"), public_key=KEY, origin=ORIGIN
        ),
    }
    for reason, kwargs in cases.items():
        result = verify_checkpoint(**kwargs)  # type: ignore[arg-type]
        assert (result.ok, result.checkpoint, result.reason) == (False, None, reason)


def test_a_bad_signature_from_the_known_key_rejects_even_with_a_good_one() -> None:
    signed = parse_note(_note(9))
    good = signed.signatures[0]
    bad = NoteSignature(good.key_name, good.key_hint, good.signature[:-1] + b"\x00")
    note = signed.body.decode() + "\n" + good.line() + bad.line()
    result = verify_checkpoint(unverified_note=note, public_key=KEY, origin=ORIGIN)
    assert result.reason is LogReason.SIGNATURE_INVALID


def test_raw_r_s_signatures_are_refused() -> None:
    signed = parse_note(_note(9))
    good = signed.signatures[0]
    r, s, _ = decode_signature(good.signature)
    raw = NoteSignature(good.key_name, good.key_hint, r.to_bytes(32) + s.to_bytes(32))
    note = signed.body.decode() + "\n" + raw.line()
    result = verify_checkpoint(unverified_note=note, public_key=KEY, origin=ORIGIN)
    assert result.reason is LogReason.SIGNATURE_INVALID


def test_signatures_of_unknown_keys_are_ignored() -> None:
    signed = parse_note(_note(9))
    stranger = NoteSignature("someone.example/witness", b"\x01\x02\x03\x04", b"\x00" * 70)
    note = signed.body.decode() + "\n" + stranger.line() + signed.signatures[0].line()
    assert verify_checkpoint(unverified_note=note, public_key=KEY, origin=ORIGIN).ok


@pytest.mark.parametrize(("index", "size"), [(0, 1), (3, 9), (8, 9), (12, 20), (19, 20)])
def test_inclusion_ok(index: int, size: int) -> None:
    result = verify_inclusion(
        unverified_note=_note(size),
        public_key=KEY,
        origin=ORIGIN,
        index=index,
        tree_size=size,
        path=naive_path(index, DATA[:size]),
        leaf_data=DATA[index],
    )
    assert result.ok
    assert result.included
    assert result.checkpoint_signature


def _inclusion(**changes: object) -> LogReason | None:
    kwargs: dict[str, object] = dict(
        unverified_note=_note(13),
        public_key=KEY,
        origin=ORIGIN,
        index=5,
        tree_size=13,
        path=naive_path(5, DATA[:13]),
        leaf_data=DATA[5],
    )
    kwargs.update(changes)
    result = verify_inclusion(**kwargs)  # type: ignore[arg-type]
    assert not result.ok
    return result.reason


def test_inclusion_tampering() -> None:
    path = naive_path(5, DATA[:13])
    flipped = [bytes([path[0][0] ^ 0x80]) + path[0][1:], *path[1:]]
    assert _inclusion(path=flipped) is LogReason.ROOT_MISMATCH
    assert _inclusion(leaf_data=DATA[6]) is LogReason.ROOT_MISMATCH
    assert _inclusion(index=6) is LogReason.ROOT_MISMATCH
    assert _inclusion(tree_size=12) is LogReason.TREE_SIZE_MISMATCH
    assert _inclusion(path=path[:-1]) is LogReason.PROOF_WRONG_LENGTH
    assert _inclusion(path=[*path, path[0]]) is LogReason.PROOF_WRONG_LENGTH
    assert _inclusion(path=[path[0][:16], *path[1:]]) is LogReason.PROOF_BAD_HASH_SIZE
    assert _inclusion(index=13) is LogReason.INDEX_OUT_OF_RANGE
    assert _inclusion(unverified_note=_note(13, SM2TestSigner())) is LogReason.UNKNOWN_KEY
    wrong_root = _note(13).replace(
        base64.b64encode(naive_mth(DATA[:13])).decode(), base64.b64encode(bytes(32)).decode()
    )
    assert _inclusion(unverified_note=wrong_root) is LogReason.SIGNATURE_INVALID


def test_inclusion_needs_exactly_one_leaf() -> None:
    with pytest.raises(VerificationFailed):
        _inclusion(leaf_data=None)
    with pytest.raises(VerificationFailed):
        _inclusion(leaf_hash_value=b"\x00" * 32)


@pytest.mark.parametrize(("first", "second"), [(1, 1), (1, 2), (4, 9), (7, 8), (8, 20), (13, 20)])
def test_consistency_ok(first: int, second: int) -> None:
    path = naive_proof(first, DATA[:second]) if first < second else []
    result = verify_consistency(
        first_note=_note(first), second_note=_note(second), public_key=KEY, origin=ORIGIN, path=path
    )
    assert result.ok
    assert result.consistent


def test_consistency_failures() -> None:
    path = naive_proof(4, DATA[:9])
    forked = Checkpoint(ORIGIN, 9, naive_mth([*DATA[:8], b"forged"]), AT)
    forked_note = sign_checkpoint(forked, key_name=ORIGIN, signer=SIGNER).note()
    base = dict(first_note=_note(4), second_note=_note(9), public_key=KEY, origin=ORIGIN)
    checks: list[tuple[dict[str, object], LogReason]] = [
        ({"second_note": forked_note, "path": path}, LogReason.ROOT_MISMATCH),
        ({"path": [path[0][::-1], *path[1:]]}, LogReason.ROOT_MISMATCH),
        ({"path": path[:-1]}, LogReason.PROOF_WRONG_LENGTH),
        ({"path": []}, LogReason.PROOF_WRONG_LENGTH),
        ({"first_note": _note(9), "second_note": _note(4), "path": path}, LogReason.BAD_SIZES),
        ({"second_note": _note(9, SM2TestSigner()), "path": path}, LogReason.UNKNOWN_KEY),
    ]
    for change, reason in checks:
        result = verify_consistency(**{**base, **change})  # type: ignore[arg-type]
        assert not result.ok
        assert not result.consistent
        assert result.reason is reason, (change, result)
    # Same size, different roots: a fork.
    same = verify_consistency(
        first_note=_note(9), second_note=forked_note, public_key=KEY, origin=ORIGIN, path=[]
    )
    assert same.reason is LogReason.ROOT_MISMATCH


def test_consistency_across_a_key_rotation() -> None:
    new_signer = SM2TestSigner(key_id="next")
    new_key = SM2PublicKey.from_der(new_signer.public_key_der())
    result = verify_consistency(
        first_note=_note(4),
        second_note=_note(9, new_signer),
        public_key=KEY,
        second_public_key=new_key,
        origin=ORIGIN,
        path=naive_proof(4, DATA[:9]),
    )
    assert result.ok


def test_consistency_from_the_empty_tree() -> None:
    empty = Checkpoint(ORIGIN, 0, naive_mth([]), AT)
    empty_note = sign_checkpoint(empty, key_name=ORIGIN, signer=SIGNER).note()
    ok = verify_consistency(
        first_note=empty_note, second_note=_note(9), public_key=KEY, origin=ORIGIN, path=[]
    )
    assert ok.ok
    padded = verify_consistency(
        first_note=empty_note,
        second_note=_note(9),
        public_key=KEY,
        origin=ORIGIN,
        path=[naive_mth(DATA[:1])],
    )
    assert padded.reason is LogReason.PROOF_WRONG_LENGTH
    bogus = Checkpoint(ORIGIN, 0, naive_mth(DATA[:1]), AT)
    bogus_note = sign_checkpoint(bogus, key_name=ORIGIN, signer=SIGNER).note()
    wrong = verify_consistency(
        first_note=bogus_note, second_note=_note(9), public_key=KEY, origin=ORIGIN, path=[]
    )
    assert wrong.reason is LogReason.ROOT_MISMATCH
