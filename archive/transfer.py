"""Transfer (移交) of packages to an archives and its receipt (回执) (DA/T 93-2022; earchive spec
§4.2 YJ: "package root identical before and after transport", "counts and bytes match the
电子档案移交与接收登记表", "SM2-signed receipt from the receiver; both logged").

``create_transfer`` writes one **BagIt bag** (SM3 + SHA-256 manifests, like every package):

```
<transfers>/<transfer id>/
  bagit.txt  bag-info.txt (External-Identifier: the transfer id)  manifest-*.txt  tagmanifest-*.txt
  data/transfer-manifest.json   per package 档号, version, roots, Payload-Oxum, log index; totals
  data/transfer-manifest.p7s    the archive's SM2 signature over it (GB/T 35275, detached)
  data/receipt-template.json    what the receiving archives fills in, signs and sends back
  data/packages/0001/...        each package's bag exactly as stored (seal and timestamp too)
```

It is written into a private temporary folder (``.tmp-<id>``, held with an ``flock``) and
renamed into place only when complete, so a failed or killed transfer never leaves a
half-written package under its final name (the inventory sweep removes the temporary folder).
The transfer id is the folder name, the bag's External-Identifier and the manifest's
``transfer_id``. The transfer, each package's ``archive.transfer`` leaf and an access record per
package are written in the caller's transaction.

``record_receipt`` takes the receiving archives' receipt: a JSON object naming this transfer,
its bag root and manifest SM3 (all must match), a ``result`` (``accepted`` / ``rejected``), and
optionally a detached GB/T 35275 SignedData over the exact receipt bytes. A signature that does
not verify refuses the receipt; a valid one is recorded as ``signature.valid`` (chains to the
trust list) or ``signature.untrusted``; without one the receipt is only hashed and logged
(``signature.absent``). The receipt, its SM3 and an ``archive.transfer_receipt`` leaf are kept.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, Final

from sqlalchemy.orm import Session

from archive.bag import BagEntry, BagInfo, StoredBagSource, write_bag
from archive.ingest import sign_root
from archive.model import ArchivePackage, ArchiveTransfer
from archive.retrieval import record_access
from archive.service import STAGING_OWNER
from archive.service_catalogue import LOCAL_TZ
from archive.service_errors import PackageNotFound
from archive.service_records import find_package_row, stored_bag
from archive.storage import BlobStore
from keys.interfaces import KeyStore, KeyUsage
from seals.ports import TrustEvaluator
from seals.verify_ofd import verify_signed_data
from trust.clock import Clock
from trust.crypto import constant_time_equal, sm3_hex
from trust.errors import Conflict, InvalidInput, NotFound
from trust.ids import new_id
from trust.tlog import service as tlog
from trust.tlog.events import LogEvent

__all__ = [
    "TransferRecord",
    "create_transfer",
    "get_transfer",
    "record_receipt",
    "transfer_folder",
]

MANIFEST: Final = "transfer-manifest.json"
_RESULTS: Final = ("accepted", "rejected")
_MAX_RECEIPT: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class TransferRecord:
    id: str
    receiver: str
    created_by: str
    created_at: datetime
    root_sm3: str  # SM3 of the transfer bag's tagmanifest-sm3.txt
    manifest_sm3: str
    package_count: int
    payload_bytes: int
    location: str
    state: str  # created / received / rejected
    log_index: int
    receipt_sm3: str | None
    receipt_check: str | None
    receipt_signer: str | None
    received_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "receiver": self.receiver,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "root_sm3": self.root_sm3,
            "manifest_sm3": self.manifest_sm3,
            "package_count": self.package_count,
            "payload_bytes": self.payload_bytes,
            "location": self.location,
            "state": self.state,
            "log_index": self.log_index,
            "receipt_sm3": self.receipt_sm3,
            "receipt_check": self.receipt_check,
            "receipt_signer": self.receipt_signer,
            "received_at": self.received_at.isoformat() if self.received_at else None,
        }


def _record(row: ArchiveTransfer) -> TransferRecord:
    return TransferRecord(
        id=row.id,
        receiver=row.receiver,
        created_by=row.created_by,
        created_at=row.created_at,
        root_sm3=row.root_sm3,
        manifest_sm3=row.manifest_sm3,
        package_count=row.package_count,
        payload_bytes=row.payload_bytes,
        location=row.location,
        state=row.state,
        log_index=row.log_index,
        receipt_sm3=row.receipt_sm3,
        receipt_check=row.receipt_check,
        receipt_signer=row.receipt_signer,
        received_at=row.received_at,
    )


def _canonical(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=1).encode()


def _packages(session: Session, refs: list[str]) -> list[ArchivePackage]:
    rows: list[ArchivePackage] = []
    for ref in refs:
        row = find_package_row(session, ref)
        if row.status == "disposed":
            raise PackageNotFound(f"档案 {row.archival_code} 已销毁")
        if any(r.id == row.id for r in rows):
            raise InvalidInput(f"{row.archival_code} 重复", code="archive.transfer_duplicate")
        rows.append(row)
    return rows


def _entry(row: ArchivePackage, n: int) -> dict[str, Any]:
    return {
        "folder": f"data/packages/{n:04d}",
        "archival_code": row.archival_code,
        "case_number": row.case_number,
        "version": row.version,
        "root_sm3": row.root_sm3,
        "root_sha256": row.root_sha256,
        "payload_oxum": row.payload_oxum,
        "log_index": row.log_index,
    }


def _package_entries(store: BlobStore, row: ArchivePackage, n: int) -> list[BagEntry]:
    source = StoredBagSource(store, stored_bag(row))
    opener: Callable[[str], BinaryIO] = source.open
    return [
        BagEntry(f"packages/{n:04d}/{path}", partial(opener, path)) for path in source.list_files()
    ]


def _hold(folder: Path) -> int:
    fd = os.open(folder / STAGING_OWNER, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


@dataclass(frozen=True, slots=True)
class _Written:
    root_sm3: str
    manifest_sm3: str
    payload_bytes: int


def _write(
    dest: Path,
    rows: list[ArchivePackage],
    manifest: dict[str, Any],
    signature: Callable[[bytes], bytes],
    store: BlobStore,
    now: datetime,
    on_chunk: Callable[[int], None] | None,
) -> _Written:
    manifest_bytes = _canonical(manifest)
    template = {
        "transfer_id": manifest["transfer_id"],
        "transfer_root_sm3": "（填写：收到的移交包 tagmanifest-sm3.txt 的 SM3，十六进制）",
        "manifest_sm3": sm3_hex(manifest_bytes),
        "receiver": manifest["receiver"],
        "received_at": None,
        "result": "accepted 或 rejected",
        "problems": [],
        "checked": "每个信息包的根摘要、Payload-Oxum 与清单一致，病毒检测通过后由接收方签名",
    }
    entries = [
        BagEntry(MANIFEST, manifest_bytes),
        BagEntry("transfer-manifest.p7s", signature(manifest_bytes)),
        BagEntry("receipt-template.json", _canonical(template)),
    ]
    for n, row in enumerate(rows, start=1):
        entries += _package_entries(store, row, n)
    info = BagInfo(
        external_identifier=manifest["transfer_id"],
        source_organization=manifest["sender"],
        profile_identifier="ywtb-trust/transfer-bag/1",
        extra=(("Transfer-Receiver", manifest["receiver"]),),
    )
    bag = write_bag(
        dest, entries, info, bagging_date=now.astimezone(LOCAL_TZ).date(), on_chunk=on_chunk
    )
    return _Written(bag.root_sm3, sm3_hex(manifest_bytes), int(bag.payload_oxum.split(".")[0]))


def create_transfer(
    *,
    session: Session,
    clock: Clock,
    keystore: KeyStore,
    store: BlobStore,
    refs: list[str],
    root: Path,
    receiver: str,
    actor: str,
    on_chunk: Callable[[int], None] | None = None,
) -> TransferRecord:
    """Write the transfer bag of ``refs`` under ``root/<transfer id>`` (module docstring)."""
    receiver = receiver.strip()
    if not refs or not receiver:
        raise InvalidInput("没有要移交的档案或接收方", code="archive.transfer_empty")
    rows = _packages(session, refs)
    now, transfer_id = clock.now(), new_id("trf")
    signer = keystore.active_signer(session=session, usage=KeyUsage.ARCHIVE)
    oxums = [tuple(int(x) for x in r.payload_oxum.split(".")) for r in rows]
    manifest = {
        "transfer_id": transfer_id,
        "standard": "DA/T 93-2022",
        "sender": actor,
        "receiver": receiver,
        "created_at": now.isoformat(),
        "package_count": len(rows),
        "total_payload_bytes": sum(o[0] for o in oxums),
        "total_payload_files": sum(o[1] for o in oxums),
        "packages": [_entry(r, n) for n, r in enumerate(rows, start=1)],
    }
    root.mkdir(parents=True, exist_ok=True)
    work = root / f".tmp-{transfer_id}"
    work.mkdir()
    owner = _hold(work)
    try:
        written = _write(
            work / "bag",
            rows,
            manifest,
            lambda data: sign_root(data, signer=signer, signing_time=now),
            store,
            now,
            on_chunk,
        )
        final = root / transfer_id
        os.rename(work / "bag", final)  # complete, or not there at all
    finally:
        shutil.rmtree(work, ignore_errors=True)
        os.close(owner)
    return _catalogue(session, clock, rows, manifest, written, final, actor)


def _catalogue(
    session: Session,
    clock: Clock,
    rows: list[ArchivePackage],
    manifest: dict[str, Any],
    written: _Written,
    final: Path,
    actor: str,
) -> TransferRecord:
    transfer_id, receiver = manifest["transfer_id"], manifest["receiver"]
    first_index: int | None = None
    for row in rows:
        record_access(
            session=session,
            clock=clock,
            actor=actor,
            action="transfer",
            purpose=f"移交至 {receiver}"[:200],
            package_id=row.id,
        )
        appended = tlog.append(
            session=session,
            clock=clock,
            event=LogEvent(
                kind="archive.transfer",
                subject=row.archival_code,
                actor=actor,
                payload={
                    "event": "transfer",
                    "root_sm3": row.root_sm3,
                    "transfer_id": transfer_id,
                    "transfer_root_sm3": written.root_sm3,
                    "manifest_sm3": written.manifest_sm3,
                    "receiver": receiver,
                },
            ),
        )
        first_index = appended.index if first_index is None else first_index
    row_t = ArchiveTransfer(
        id=transfer_id,
        receiver=receiver,
        created_by=actor,
        created_at=clock.now(),
        root_sm3=written.root_sm3,
        manifest_sm3=written.manifest_sm3,
        packages=json.dumps([r.id for r in rows]),
        package_count=len(rows),
        payload_bytes=written.payload_bytes,
        location=str(final),
        state="created",
        log_index=first_index if first_index is not None else -1,
    )
    session.add(row_t)
    session.flush()
    return _record(row_t)


def _transfer_row(session: Session, transfer_id: str, *, lock: bool = False) -> ArchiveTransfer:
    row = session.get(ArchiveTransfer, transfer_id, with_for_update=lock)
    if row is None:
        raise NotFound(f"没有移交 {transfer_id}", code="archive.transfer_not_found")
    return row


def get_transfer(*, session: Session, transfer_id: str) -> TransferRecord:
    return _record(_transfer_row(session, transfer_id))


def transfer_folder(*, session: Session, transfer_id: str) -> Path:
    """The transfer bag on disk (for its download)."""
    row = _transfer_row(session, transfer_id)
    folder = Path(row.location)
    if not folder.is_dir():
        raise NotFound(f"移交包 {transfer_id} 不在存储中", code="archive.transfer_not_found")
    return folder


def _parse_receipt(receipt: bytes) -> dict[str, Any]:
    if len(receipt) > _MAX_RECEIPT:
        raise InvalidInput("回执过大", code="archive.receipt_invalid")
    try:
        loaded = json.loads(receipt.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("回执不是 UTF-8 JSON", code="archive.receipt_invalid") from None
    if not isinstance(loaded, dict):
        raise InvalidInput("回执须为 JSON 对象", code="archive.receipt_invalid")
    return loaded


def _same(value: Any, expected: str) -> bool:
    return isinstance(value, str) and constant_time_equal(value.encode(), expected.encode())


def _check_receipt(row: ArchiveTransfer, loaded: dict[str, Any]) -> str:
    wrong = [
        name
        for name, expected in (
            ("transfer_id", row.id),
            ("transfer_root_sm3", row.root_sm3),
            ("manifest_sm3", row.manifest_sm3),
        )
        if not _same(loaded.get(name), expected)
    ]
    if wrong:
        raise InvalidInput(
            f"回执与本次移交不符：{', '.join(wrong)}",
            code="archive.receipt_mismatch",
            extra={"fields": wrong},
        )
    result = loaded.get("result")
    if result not in _RESULTS:
        raise InvalidInput("回执 result 须为 accepted 或 rejected", code="archive.receipt_invalid")
    return str(result)


def _check_signature(
    receipt: bytes, signature: bytes | None, trust: TrustEvaluator, now: datetime
) -> tuple[str, str | None]:
    if signature is None:
        return "signature.absent", None
    result = verify_signed_data(signature, original=receipt, trust=trust, now=now)
    if not (result.signer_signature.ok and result.document_hash.ok):
        raise InvalidInput(
            "回执签名无效",
            code="archive.receipt_signature_invalid",
            extra={"reason": result.reason},
        )
    trusted = result.signer_cert_trusted.ok
    return ("signature.valid" if trusted else "signature.untrusted"), result.signer_subject


def record_receipt(
    *,
    session: Session,
    clock: Clock,
    trust: TrustEvaluator,
    transfer_id: str,
    receipt: bytes,
    signature: bytes | None,
    actor: str,
) -> TransferRecord:
    """Record the receiving archives' receipt of a transfer (module docstring)."""
    row = _transfer_row(session, transfer_id, lock=True)
    if row.state != "created":
        raise Conflict("该移交已有回执", code="archive.receipt_exists")
    result = _check_receipt(row, _parse_receipt(receipt))
    now = clock.now()
    check, signer = _check_signature(receipt, signature, trust, now)
    receipt_sm3 = sm3_hex(receipt)
    appended = tlog.append(
        session=session,
        clock=clock,
        event=LogEvent(
            kind="archive.transfer_receipt",
            subject=row.id,
            actor=actor,
            payload={
                "event": "transfer_receipt",
                "transfer_id": row.id,
                "transfer_root_sm3": row.root_sm3,
                "receipt_sm3": receipt_sm3,
                "signature_sm3": sm3_hex(signature) if signature else None,
                "signature": check,
                "receiver": row.receiver,
                "result": result,
            },
        ),
    )
    row.receipt = receipt.decode("utf-8")
    row.receipt_sm3 = receipt_sm3
    row.receipt_signature = signature
    row.receipt_check = check
    row.receipt_signer = (signer or "")[:300] or None
    row.received_at = now
    row.receipt_log_index = appended.index
    row.state = "received" if result == "accepted" else "rejected"
    session.flush()
    return _record(row)
