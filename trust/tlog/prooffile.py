"""Proof documents verified offline: an inclusion or consistency proof as JSON, checked against
signed checkpoints and log public keys the verifier holds (pure: no database, no network).

Accepted documents: what ``trustctl log prove --json`` and ``trustctl log consistency --json``
print (``{"kind", "proof", ...}``, an inclusion proof with its ``entry``), and the bare bodies of
``GET /log/proof/inclusion`` and ``GET /log/proof/consistency`` (``trust.tlog.schemas``). Values
are standard base64 (RFC 4648 §4).

A proof is only trusted against a checkpoint whose signature verified under one of the given
keys (sigstore's rule, C2SP signed-note): the checkpoint notes come from the verifier (for
example saved earlier, or from a witness) and, failing that, from the document itself, whose
embedded notes still have to carry a valid signature by a given key. When the document carries
the entry, the leaf hash is recomputed from its bytes (RFC 9162 §2.1.1: SM3(0x00 || data)).

Being *unable* to verify (not JSON, not a proof, no checkpoint of the right size) raises
``MalformedProofDocument`` or ``VerificationFailed``; a proof that was checked and failed is a
``ProofDocumentVerification`` with ``ok`` False and a ``LogReason`` code.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from trust.crypto import SM2PublicKey, constant_time_equal
from trust.errors import InvalidInput, VerificationFailed
from trust.tlog.checkpoint import Checkpoint, MalformedCheckpoint, parse_note
from trust.tlog.merkle import leaf_hash
from trust.tlog.verify import (
    CheckpointVerification,
    LogReason,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MalformedProofDocument",
    "ProofDocumentVerification",
    "ProofKind",
    "verify_note_with_any_key",
    "verify_proof_document",
]

#: A proof holds O(log n) hashes and at most two notes; anything larger is not one.
MAX_DOCUMENT_BYTES: Final = 1024 * 1024
#: RFC 9162 paths have at most 2 * 64 nodes for any 64-bit tree size.
_MAX_PATH: Final = 128
_EXTRA_REASONS: Final = {
    "entry_mismatch": "log.entry_mismatch",
    "leaf_hash_mismatch": "log.leaf_hash_mismatch",
}


class ProofKind(StrEnum):
    INCLUSION = "inclusion"
    CONSISTENCY = "consistency"


class MalformedProofDocument(InvalidInput):
    """The file is not a proof document this module reads."""

    code = "log.proof_file_malformed"


@dataclass(frozen=True, slots=True)
class ProofDocumentVerification:
    kind: ProofKind
    #: Every checkpoint signature verified and the proof binds the leaf (inclusion) or the two
    #: tree heads (consistency) to them.
    ok: bool
    #: A stable code (``LogReason`` or ``log.entry_mismatch`` / ``log.leaf_hash_mismatch``).
    reason: str | None
    origin: str
    #: Inclusion: ``index`` in the tree of ``tree_size``; consistency: ``first`` -> ``second``.
    index: int | None
    tree_size: int | None
    first: int | None
    second: int | None
    #: The checkpoints whose signatures verified (one for inclusion, two for consistency).
    checkpoints: tuple[Checkpoint, ...]
    #: Where each checkpoint note came from: ``given`` (the verifier's) or ``document``.
    note_sources: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "ok": self.ok,
            "reason": self.reason,
            "origin": self.origin,
            "index": self.index,
            "tree_size": self.tree_size,
            "first": self.first,
            "second": self.second,
            "checkpoints": [
                {
                    "tree_size": c.tree_size,
                    "root_hash": base64.b64encode(c.root_hash).decode("ascii"),
                    "timestamp": None if c.timestamp is None else c.timestamp.isoformat(),
                }
                for c in self.checkpoints
            ],
            "note_sources": list(self.note_sources),
        }


# --- reading the document ------------------------------------------------------------------------


def _bad(detail: str) -> MalformedProofDocument:
    return MalformedProofDocument(f"not a log proof document: {detail}")


def _load(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise _bad(f"larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(f"invalid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise _bad("the top level is not an object")
    return doc


def _int(obj: Mapping[str, Any], key: str) -> int:
    value = obj.get(key)
    # bool is an int in Python; a proof field never is one.
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 63:
        raise _bad(f"{key!r} is not a non-negative integer")
    return value


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise _bad(f"{what} is not a base64 string")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise _bad(f"{what} is not base64") from exc


def _path(obj: Mapping[str, Any]) -> list[bytes]:
    path = obj.get("path")
    if not isinstance(path, list) or len(path) > _MAX_PATH:
        raise _bad("'path' is not a list of at most 128 base64 hashes")
    return [_b64(node, f"path[{i}]") for i, node in enumerate(path)]


def _embedded_note(obj: Mapping[str, Any], key: str) -> str | None:
    cp = obj.get(key)
    if cp is None:
        return None
    if not isinstance(cp, dict) or not isinstance(cp.get("note"), str):
        raise _bad(f"{key!r} has no signed note")
    note: str = cp["note"]
    return note


def _given_sizes(notes: Sequence[str | bytes]) -> dict[int, str | bytes]:
    """The verifier's notes by tree size; unreadable ones are refused outright."""
    out: dict[int, str | bytes] = {}
    for note in notes:
        try:
            out[parse_note(note).checkpoint.tree_size] = note
        except MalformedCheckpoint as exc:
            raise VerificationFailed(
                f"a given checkpoint is not a signed note: {exc.detail}",
                code="log.checkpoint_malformed",
            ) from exc
    return out


def _note_for(
    size: int, given: Mapping[int, str | bytes], embedded: str | None
) -> tuple[str | bytes, str]:
    if size in given:
        return given[size], "given"
    if embedded is not None:
        return embedded, "document"
    raise VerificationFailed(
        f"no signed checkpoint of tree size {size}: give one with the proof",
        code="log.no_checkpoint",
    )


# --- checkpoints under several keys --------------------------------------------------------------


def _origin_of(note: str | bytes, origin: str | None) -> str:
    if origin is not None:
        return origin
    try:
        return parse_note(note).checkpoint.origin
    except MalformedCheckpoint:
        return ""


def verify_note_with_any_key(
    *, unverified_note: str | bytes, public_keys: Sequence[SM2PublicKey], origin: str
) -> tuple[CheckpointVerification, SM2PublicKey | None]:
    """The note verified under the first of ``public_keys`` that signed it (a log key may have
    been rotated); fails closed with no keys. A bad signature by a known key outranks "unknown
    key" as the reason reported."""
    best = CheckpointVerification(False, None, LogReason.UNKNOWN_KEY)
    for key in public_keys:
        result = verify_checkpoint(unverified_note=unverified_note, public_key=key, origin=origin)
        if result.ok:
            return result, key
        if best.reason is LogReason.UNKNOWN_KEY:
            best = result
    return best, None


def _result(
    kind: ProofKind,
    *,
    ok: bool,
    reason: str | None,
    origin: str,
    sizes: tuple[int | None, int | None, int | None, int | None],
    checkpoints: tuple[Checkpoint | None, ...],
    sources: tuple[str, ...],
) -> ProofDocumentVerification:
    index, tree_size, first, second = sizes
    return ProofDocumentVerification(
        kind=kind,
        ok=ok,
        reason=reason,
        origin=origin,
        index=index,
        tree_size=tree_size,
        first=first,
        second=second,
        checkpoints=tuple(c for c in checkpoints if c is not None),
        note_sources=sources,
    )


# --- the two kinds -------------------------------------------------------------------------------


def _leaf(proof: Mapping[str, Any], entry: Any, index: int) -> tuple[bytes, str | None]:
    """The leaf hash to prove, and a reason when the entry and the proof disagree."""
    claimed = _b64(proof["leaf_hash"], "leaf_hash") if "leaf_hash" in proof else None
    if entry is None:
        if claimed is None:
            raise _bad("an inclusion proof needs its entry or its leaf_hash")
        return claimed, None
    if not isinstance(entry, dict):
        raise _bad("'entry' is not an object")
    computed = leaf_hash(_b64(entry.get("data"), "entry data"))
    if _int(entry, "index") != index:
        return computed, _EXTRA_REASONS["entry_mismatch"]
    if claimed is not None and not constant_time_equal(claimed, computed):
        return computed, _EXTRA_REASONS["leaf_hash_mismatch"]
    return computed, None


def _inclusion(
    doc: Mapping[str, Any],
    proof: Mapping[str, Any],
    keys: Sequence[SM2PublicKey],
    origin: str | None,
    given: Mapping[int, str | bytes],
) -> ProofDocumentVerification:
    index, tree_size, path = _int(proof, "index"), _int(proof, "tree_size"), _path(proof)
    leaf, mismatch = _leaf(proof, doc.get("entry"), index)
    note, source = _note_for(tree_size, given, _embedded_note(proof, "checkpoint"))
    name = _origin_of(note, origin)
    sizes = (index, tree_size, None, None)
    cp, key = verify_note_with_any_key(unverified_note=note, public_keys=keys, origin=name)
    if key is None or cp.checkpoint is None:
        reason = None if cp.reason is None else cp.reason.value
        return _result(
            ProofKind.INCLUSION,
            ok=False,
            reason=reason,
            origin=name,
            sizes=sizes,
            checkpoints=(),
            sources=(source,),
        )
    result = verify_inclusion(
        unverified_note=note,
        public_key=key,
        origin=name,
        index=index,
        tree_size=tree_size,
        path=path,
        leaf_hash_value=leaf,
    )
    reason = mismatch or (None if result.reason is None else result.reason.value)
    return _result(
        ProofKind.INCLUSION,
        ok=result.ok and mismatch is None,
        reason=reason,
        origin=name,
        sizes=sizes,
        checkpoints=(cp.checkpoint,),
        sources=(source,),
    )


def _consistency(
    proof: Mapping[str, Any],
    keys: Sequence[SM2PublicKey],
    origin: str | None,
    given: Mapping[int, str | bytes],
) -> ProofDocumentVerification:
    first, second, path = _int(proof, "first"), _int(proof, "second"), _path(proof)
    note1, src1 = _note_for(first, given, _embedded_note(proof, "first_checkpoint"))
    note2, src2 = _note_for(second, given, _embedded_note(proof, "second_checkpoint"))
    name = _origin_of(note2, origin)
    sizes, sources = (None, None, first, second), (src1, src2)
    cp1, key1 = verify_note_with_any_key(unverified_note=note1, public_keys=keys, origin=name)
    cp2, key2 = verify_note_with_any_key(unverified_note=note2, public_keys=keys, origin=name)
    checkpoints = (cp1.checkpoint, cp2.checkpoint)
    if key1 is None or key2 is None or cp1.checkpoint is None or cp2.checkpoint is None:
        failed = cp1 if key1 is None else cp2
        reason = None if failed.reason is None else failed.reason.value
        return _result(
            ProofKind.CONSISTENCY,
            ok=False,
            reason=reason,
            origin=name,
            sizes=sizes,
            checkpoints=checkpoints,
            sources=sources,
        )
    if (cp1.checkpoint.tree_size, cp2.checkpoint.tree_size) != (first, second):
        reason = LogReason.TREE_SIZE_MISMATCH.value
        return _result(
            ProofKind.CONSISTENCY,
            ok=False,
            reason=reason,
            origin=name,
            sizes=sizes,
            checkpoints=checkpoints,
            sources=sources,
        )
    result = verify_consistency(
        first_note=note1,
        second_note=note2,
        public_key=key1,
        second_public_key=key2,
        origin=name,
        path=path,
    )
    return _result(
        ProofKind.CONSISTENCY,
        ok=result.ok,
        reason=None if result.reason is None else result.reason.value,
        origin=name,
        sizes=sizes,
        checkpoints=checkpoints,
        sources=sources,
    )


def verify_proof_document(
    *,
    unverified_document: bytes,
    public_keys: Sequence[SM2PublicKey],
    origin: str | None = None,
    checkpoints: Sequence[str | bytes] = (),
) -> ProofDocumentVerification:
    """Verify an inclusion or consistency proof document (module docstring) against the log
    ``public_keys`` and, when given, the verifier's own checkpoint ``notes``; ``origin`` pins
    the log's name (default: the one the checkpoint names, signed by a given key)."""
    if not public_keys:
        # Fails closed: nothing to check the checkpoint signatures against.
        raise VerificationFailed("no log public key given", code="log.no_public_key")
    doc = _load(unverified_document)
    proof = doc.get("proof", doc)
    if not isinstance(proof, dict):
        raise _bad("'proof' is not an object")
    given = _given_sizes(checkpoints)
    if "index" in proof:
        return _inclusion(doc, proof, public_keys, origin, given)
    if "first" in proof:
        return _consistency(proof, public_keys, origin, given)
    raise _bad("neither an inclusion proof (index) nor a consistency proof (first, second)")
