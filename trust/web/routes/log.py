"""Transparency-log API (public, read-only): the latest signed checkpoint, entries, RFC 9162
inclusion and consistency proofs, and the log's public key.

Binary values are standard base64 (RFC 4648 §4). A proof is only as good as the checkpoint it is
checked against: proofs come with the signed checkpoint of their tree size when one exists, and
``trust.tlog.verify`` (or ``trustctl log``) verifies both. Checkpoints are signed by
``trustctl log checkpoint`` (and by the operations that schedule it), never by a GET.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import PlainTextResponse

from keys.interfaces import KeyUsage
from trust.crypto import SM2PublicKey
from trust.errors import NotFound
from trust.tlog import service
from trust.tlog.checkpoint import key_hint
from trust.tlog.records import StoredCheckpoint
from trust.tlog.schemas import (
    CheckpointRead,
    ConsistencyProofRead,
    EntryRead,
    InclusionProofRead,
    LogPublicKeyRead,
    b64,
)
from trust.web.deps import KeyStoreDep, SessionDep, SettingsDep

__all__ = ["router"]

router = APIRouter(prefix="/log", tags=["transparency-log"])

_NOTE_MEDIA_TYPE = "text/plain; charset=utf-8"
_NO_CHECKPOINT: dict[int | str, dict[str, Any]] = {
    404: {"description": "尚无签名检查点（problem+json，code log.no_checkpoint）"}
}


def _latest(session: SessionDep) -> StoredCheckpoint:
    latest = service.latest_checkpoint(session=session)
    if latest is None:
        raise NotFound("the log has no signed checkpoint yet", code="log.no_checkpoint")
    return latest


@router.get(
    "/checkpoint",
    summary="最新签名检查点（JSON，或 Accept: text/plain 时为签名注记文本）",
    responses={200: {"content": {"text/plain": {}}}, **_NO_CHECKPOINT},
    response_model=CheckpointRead,
)
def get_checkpoint(
    session: SessionDep, accept: Annotated[str | None, Header()] = None
) -> CheckpointRead | PlainTextResponse:
    latest = _latest(session)
    if accept is not None and "text/plain" in accept and "application/json" not in accept:
        return PlainTextResponse(latest.note, media_type=_NOTE_MEDIA_TYPE)
    return CheckpointRead.of(latest)


@router.get(
    "/entries/{index}",
    summary="日志条目（事件原始字节与叶哈希）",
    responses={404: {"description": "无此条目（code log.entry_not_found）"}},
)
def get_entry(index: int, session: SessionDep) -> EntryRead:
    return EntryRead.of(service.get_entry(session=session, index=index))


@router.get(
    "/proof/inclusion",
    summary="包含证明（RFC 9162 §2.1.3）；tree_size 缺省为最新检查点的大小",
    responses={400: {"description": "参数越界（code log.bad_proof_request）"}, **_NO_CHECKPOINT},
)
def get_inclusion_proof(
    session: SessionDep,
    index: Annotated[int, Query()],
    tree_size: Annotated[int | None, Query()] = None,
) -> InclusionProofRead:
    size = _latest(session).checkpoint.tree_size if tree_size is None else tree_size
    proof = service.inclusion_proof(session=session, index=index, tree_size=size)
    return InclusionProofRead.of(
        proof, service.checkpoint_for_size(session=session, tree_size=size)
    )


@router.get(
    "/proof/consistency",
    summary="一致性证明（RFC 9162 §2.1.4）；second 缺省为最新检查点的大小",
    responses={400: {"description": "参数越界（code log.bad_proof_request）"}, **_NO_CHECKPOINT},
)
def get_consistency_proof(
    session: SessionDep,
    first: Annotated[int, Query()],
    second: Annotated[int | None, Query()] = None,
) -> ConsistencyProofRead:
    size = _latest(session).checkpoint.tree_size if second is None else second
    proof = service.consistency_proof(session=session, first=first, second=size)
    return ConsistencyProofRead.of(
        proof,
        service.checkpoint_for_size(session=session, tree_size=first),
        service.checkpoint_for_size(session=session, tree_size=size),
    )


@router.get(
    "/public-key",
    summary="日志签名公钥（最新检查点所用的密钥；尚无检查点时为当前日志密钥）",
    responses={404: {"description": "尚无日志密钥（code keys.no_active_key）"}},
)
def get_public_key(
    session: SessionDep, settings: SettingsDep, keystore: KeyStoreDep
) -> LogPublicKeyRead:
    latest = service.latest_checkpoint(session=session)
    if latest is not None:
        key_id, algorithm, der = latest.key_id, latest.algorithm, latest.public_key_der
        name = latest.signed.signatures[0].key_name
    else:
        signer = keystore.active_signer(session=session, usage=KeyUsage.TRANSPARENCY_LOG)
        key_id, algorithm, der = signer.key_id, str(signer.algorithm), signer.public_key_der()
        name = settings.log_origin
    key = SM2PublicKey.from_der(der)
    return LogPublicKeyRead(
        key_id=key_id,
        algorithm=algorithm,
        key_name=name,
        key_hint=b64(key_hint(name, key.point)),
        public_key_der=b64(der),
        public_key_pem=key.to_pem(),
    )
