"""Ingest steps that touch only the file system (earchive spec §7.2, §7.4; GB/T 42727-2023 §6.5
package encapsulation, §6.6 verification information). The submission itself is staged by
``archive.submission``.

- ``build_case_bag``: the BagIt bag of one checked case: ``archive.bag.case_payload`` (case.json,
  byte-identical originals, the DA/T 70 report, seal evidence) plus the archival record
  (``metadata/descriptive/archival.json``: the 档号 and how it was given) and the processing
  trail (``process/trail.jsonl``, one JSON object per node, each carrying the SM3 of the previous
  line: a hash chain). The staged originals are hard-linked into the bag with the digests
  computed while staging them (no copy, no second hash).
- ``sign_root``: the archive's SM2 signature over ``tagmanifest-sm3.txt`` as a detached
  GB/T 35275 SignedData (form A: signed attributes with content type, messageDigest = SM3 of the
  tag manifest, signing time; ``seals.cms`` reads it back), written as ``archive-seal.p7s``.
  The timestamp token over the same root is ``archive-seal.tsr``.
- ``publish_bag``: every file of the sealed bag into the write-once store. A store on the same
  file system (``LinkingBlobStore``) adopts each file by hard link under the digests already
  known; any other store receives a checked stream.

Nothing here opens the database; ``archive.service`` orders the steps.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Final

from asn1crypto import algos, cms, x509

from archive.bag import (
    UNCOVERED_TAG_FILES,
    BagEntry,
    BagInfo,
    StoredBag,
    WrittenBag,
    case_bag_info,
    case_payload,
    write_tag_files,
)
from archive.case import Case
from archive.checks_report import CheckReport
from archive.errors import DigestMismatch
from archive.storage import BlobStore, Digests, LinkingBlobStore, StoredBlob, hash_stream
from archive.submission import IngestProgress, Progress
from trust.asn1 import (
    NAME_GBT35275_DATA,
    NAME_GBT35275_SIGNED_DATA,
    NAME_SM2,
    NAME_SM3,
    register_sm_oids,
)
from trust.crypto import sm3
from trust.errors import InvalidInput, Misconfigured
from trust.signing import SignatureAlgorithm, Signer

__all__ = [
    "SEAL_FILE",
    "TIMESTAMP_FILE",
    "ArchivalRecord",
    "build_case_bag",
    "publish_bag",
    "seal_bag",
    "sign_root",
    "trail_lines",
    "write_linked_bag",
]

SEAL_FILE: Final = "archive-seal.p7s"
TIMESTAMP_FILE: Final = "archive-seal.tsr"


def trail_lines(case: Case) -> bytes:
    """``process/trail.jsonl``: the processing nodes, each line chained to the previous one."""
    out: list[bytes] = []
    previous = "0" * 64
    for seq, node in enumerate(case.nodes, start=1):
        line = json.dumps(
            {
                "seq": seq,
                "node": node.node.value,
                "time": node.time.isoformat(),
                "actor": node.actor,
                "result": node.result,
                "case_number": case.case_number,
                "prev_sm3": previous,
            },
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        previous = sm3(line).hex()
        out.append(line + b"\n")
    return b"".join(out)


@dataclass(frozen=True, slots=True)
class ArchivalRecord:
    archival_code: str
    assigned: bool  # True: given by the archive; False: taken from case.json
    ingested_at: datetime
    ingested_by: str
    previous_version_root: str | None

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "archival_code": self.archival_code,
                "assigned_by_archive": self.assigned,
                "ingested_at": self.ingested_at.isoformat(),
                "ingested_by": self.ingested_by,
                "previous_version_root": self.previous_version_root,
                "standard": "DA/T 13-2022",
            },
            ensure_ascii=False,
            sort_keys=True,
            indent=1,
        ).encode()


def write_linked_bag(
    dest: Path,
    entries: list[BagEntry],
    info: BagInfo,
    known: dict[Path, Digests],
    *,
    bagging_date: date,
) -> WrittenBag:
    """``archive.bag.write_bag`` for files already hashed while they were staged: a payload file
    whose digests are ``known`` is hard-linked into the bag instead of copied and re-hashed.
    The staged files are private read-only copies (``archive.submission``), so the digests
    still hold when the bag is published. The tag files are written by ``write_tag_files``, as
    ``write_bag`` writes them."""
    dest.mkdir(parents=True)
    payload: dict[str, Digests] = {}
    for entry in entries:
        rel = "data/" + entry.path
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        source = entry.source
        if isinstance(source, Path) and source in known:
            try:
                os.link(source, target)
                payload[rel] = known[source]
                continue
            except OSError:
                pass
        with entry.open() as src, open(target, "xb") as sink:
            payload[rel] = hash_stream(src, sink=sink)
    return write_tag_files(dest, payload, info, bagging_date=bagging_date)


def build_case_bag(
    folder: Path,
    case: Case,
    report: CheckReport,
    record: ArchivalRecord,
    dest: Path,
    *,
    bagging_date: date,
    evidence: list[BagEntry],
    known: dict[str, Digests],
) -> WrittenBag:
    """Write the case bag into the empty ``dest``: the staged originals hard-linked with their
    ``known`` digests (by name in ``files/``), everything else streamed."""
    entries = case_payload(folder, report)
    entries += evidence
    entries.append(BagEntry("metadata/descriptive/archival.json", record.to_json()))
    entries.append(BagEntry("process/trail.jsonl", trail_lines(case)))
    info = case_bag_info(case, previous_version_root=record.previous_version_root)
    info = replace(info, archival_code=record.archival_code)
    linked = {folder / "files" / name: d for name, d in known.items()}
    return write_linked_bag(dest, entries, info, linked, bagging_date=bagging_date)


_PUBLISH_THREADS: Final = 4


def _publish_plan(bag: WrittenBag) -> dict[str, Digests | None]:
    """Every file of the bag with its digests (None: a tag file, hashed when stored); refuses a
    bag whose files are not exactly the ones written."""
    want: dict[str, Digests | None] = dict(bag.payload)
    for entry in bag.path.iterdir():
        if entry.is_file():
            want[entry.name] = None
    present = {p.relative_to(bag.path).as_posix() for p in bag.path.rglob("*") if p.is_file()}
    if present != set(want):
        odd = sorted(present ^ set(want))[0]
        raise InvalidInput(
            f"refusing to publish: {odd} is unlisted or absent", code="archive.bag_changed"
        )
    return want


def _link_all(
    bag: WrittenBag,
    store: LinkingBlobStore,
    want: dict[str, Digests | None],
    report: Callable[[int], None],
    synced: frozenset[int],
) -> dict[str, StoredBlob]:
    paths = sorted(want)
    items: list[tuple[Path, Digests]] = []
    for path in paths:
        known = want[path]
        if known is None:  # a small tag file
            with open(bag.path / path, "rb") as fh:
                known = hash_stream(fh)
        items.append((bag.path / path, known))
    blobs = store.put_files(items, on_stored=lambda blob: report(blob.size), synced=synced)
    return dict(zip(paths, blobs, strict=True))


def _stream_all(
    bag: WrittenBag,
    store: BlobStore,
    want: dict[str, Digests | None],
    report: Callable[[int], None],
) -> dict[str, StoredBlob]:
    def put(path: str) -> tuple[str, StoredBlob]:
        known = want[path]
        with open(bag.path / path, "rb") as fh:
            blob = store.put_stream(fh, expected_sm3=known.sm3 if known else None)
        if known is not None and blob.sha256 != known.sha256:
            raise DigestMismatch(f"{path} does not match manifest-sha256.txt")
        return path, blob

    # the largest first, so that the long one starts early
    order = sorted(want, key=lambda p: -(bag.path / p).stat().st_size)
    stored: dict[str, StoredBlob] = {}
    with ThreadPoolExecutor(max_workers=_PUBLISH_THREADS, thread_name_prefix="publish") as pool:
        for path, blob in pool.map(put, order):
            stored[path] = blob
            report(blob.size)
    return stored


def publish_bag(
    bag: WrittenBag,
    store: BlobStore,
    *,
    progress: Progress | None = None,
    synced: frozenset[int] = frozenset(),
) -> StoredBag:
    """Every file of a bag written here (``write_linked_bag`` + ``seal_bag``) into ``store``.

    The file list and the payload digests are known from writing the bag. A
    ``LinkingBlobStore`` adopts each file by hard link under its SM3 (no copy, no second hash
    of the payload); any other store receives a stream per object, stored under its expected
    SM3 (a mismatch stores nothing and raises) with its SHA-256 compared, several objects in
    flight at once. ``progress`` hears ``publishing`` with the bytes stored so far; ``synced``
    names the inodes already flushed to disk (the staged originals)."""
    want = _publish_plan(bag)
    total = sum((bag.path / p).stat().st_size for p in want)
    done = 0

    def report(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(IngestProgress("publishing", done, total))

    if isinstance(store, LinkingBlobStore):
        stored = _link_all(bag, store, want, report, synced)
    else:
        stored = _stream_all(bag, store, want, report)
    if stored["tagmanifest-sm3.txt"].address != bag.root_sm3:
        raise InvalidInput("the tag manifest changed before publishing", code="archive.bag_changed")
    uncovered = tuple(
        (p, stored[p].address)
        for p in sorted(stored)
        if p in UNCOVERED_TAG_FILES and p != "tagmanifest-sm3.txt"
    )
    return StoredBag(bag.root_sm3, bag.root_sha256, bag.payload_oxum, uncovered)


def sign_root(tagmanifest: bytes, *, signer: Signer, signing_time: datetime) -> bytes:
    """Detached GB/T 35275 SignedData (form A) by ``signer`` over ``tagmanifest`` bytes."""
    if signer.algorithm is not SignatureAlgorithm.SM2_SM3:
        raise Misconfigured("the archive key is not an SM2 key", code="archive.key_not_sm2")
    chain = list(signer.certificate_chain())
    if not chain:
        raise Misconfigured(
            "the archive key has no certificate; run trustctl archive init",
            code="archive.key_not_certified",
        )
    register_sm_oids()
    cert = x509.Certificate.load(chain[0])
    attrs = cms.CMSAttributes(
        [
            {"type": "content_type", "values": [NAME_GBT35275_DATA]},
            {"type": "message_digest", "values": [sm3(tagmanifest)]},
            {"type": "signing_time", "values": [cms.Time({"utc_time": signing_time})]},
        ]
    )
    signature = signer.sign(attrs.dump())
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number",
                value={"issuer": cert.issuer, "serial_number": cert.serial_number},
            ),
            "digest_algorithm": {"algorithm": NAME_SM3},
            "signed_attrs": attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": NAME_SM2}),
            "signature": signature,
        }
    )
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [{"algorithm": NAME_SM3}],
            "encap_content_info": {"content_type": NAME_GBT35275_DATA},
            "certificates": [x509.Certificate.load(c) for c in chain],
            "signer_infos": [signer_info],
        }
    )
    der: bytes = cms.ContentInfo(
        {"content_type": NAME_GBT35275_SIGNED_DATA, "content": signed_data}
    ).dump()
    return der


def seal_bag(
    bag: WrittenBag,
    *,
    signer: Signer,
    timestamper: Callable[[bytes], bytes],
    signing_time: datetime,
) -> tuple[bytes, bytes]:
    """Add ``archive-seal.p7s`` and ``archive-seal.tsr`` (tag files in no manifest) to the bag:
    returns ``(signature, token)``. ``timestamper`` receives the 32-byte root."""
    tagmanifest = (bag.path / "tagmanifest-sm3.txt").read_bytes()
    root = sm3(tagmanifest)
    if root.hex() != bag.root_sm3:
        raise InvalidInput("the tag manifest changed after bagging", code="archive.bag_changed")
    signature = sign_root(tagmanifest, signer=signer, signing_time=signing_time)
    token = timestamper(root)
    (bag.path / SEAL_FILE).write_bytes(signature)
    (bag.path / TIMESTAMP_FILE).write_bytes(token)
    return signature, token
