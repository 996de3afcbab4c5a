"""BagIt 1.0 (RFC 8493) packages with SM3 and SHA-256 manifests (earchive spec §7.2, §9).

Writer (``write_bag``): streams every payload file once, computing SM3 (GB/T 32905-2016) and
SHA-256 together while copying (bounded memory, 1 MiB chunks), then writes

- ``bagit.txt``: ``BagIt-Version: 1.0`` / ``Tag-File-Character-Encoding: UTF-8`` (RFC 8493 §2.1.1);
- ``bag-info.txt`` (§2.2.2): Bag-Software-Agent, Bagging-Date, Payload-Oxum, External-Identifier
  (the case number, 办件编号), Archival-Code (档号, DA/T 13-2022, a custom label) and the other
  ``BagInfo`` fields, one label per line in a fixed order;
- ``manifest-sm3.txt``, ``manifest-sha256.txt`` (§2.1.3) and ``tagmanifest-sm3.txt``,
  ``tagmanifest-sha256.txt`` (§2.2.1) covering bagit.txt, bag-info.txt and both payload manifests.
  Lines are ``<hex>  <path>`` sorted by path; CR, LF and ``%`` in paths are percent-encoded
  (§2.1.3); other control characters, ``\\``, absolute paths and ``.``/``..`` are refused.

The **package root** is SM3 of the exact bytes of ``tagmanifest-sm3.txt`` (``root_sha256`` the
SHA-256 of ``tagmanifest-sha256.txt``): it fixes every tag file, hence both payload manifests,
hence every payload byte. ``sm3`` is not in IANA's Named Information registry; RFC 8493 allows it.

Layout decision (case packages, ``case_payload``): everything the archive keeps about a case is
**payload** under ``data/`` - ``representations/original/data/`` (byte-identical originals, sealed
documents never converted), ``metadata/descriptive/case.json``,
``metadata/preservation/four-properties-report.json`` and ``evidence/`` (seal verification
reports, certificates, CRLs, timestamp tokens). Payload, not custom tag directories, so that
Payload-Oxum counts it, both payload manifests fix it, every RFC 8493 tool validates it (tag
directories are optional and unevenly supported) and the layout matches the E-ARK-like structure
of the spec. The tag level holds only the four BagIt tag files and the four manifests; files
added after sealing (``archive-seal.p7s``, ``archive-seal.tsr``) are tag files in no manifest.

Reader (``validate_bag``): re-hashes every file once (both algorithms) and names every
``changed``, ``missing`` and ``extra`` file, payload and tag alike, plus structural problems
(version, encoding, Payload-Oxum, absent or disagreeing manifests). Sources are a directory
(``DirectoryBagSource``) or a stored package in a ``BlobStore`` (``StoredBagSource``).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final, Protocol

from archive.errors import BagMalformed, BlobNotFound, DigestMismatch, UnsafePath
from archive.storage import BlobStore, Digests, StoredBlob, hash_stream, is_address
from trust.crypto import SM3

if TYPE_CHECKING:  # the generic bag code does not need the case model or pyHanko at run time
    from archive.case import Case
    from archive.checks_report import CheckReport

__all__ = [
    "ALGORITHMS",
    "SOFTWARE_AGENT",
    "UNCOVERED_TAG_FILES",
    "BagEntry",
    "BagInfo",
    "BagProblem",
    "BagSource",
    "BagValidation",
    "DirectoryBagSource",
    "FileState",
    "FileStatus",
    "StoredBag",
    "StoredBagSource",
    "WrittenBag",
    "case_bag_info",
    "case_payload",
    "decode_path",
    "encode_path",
    "export_bag",
    "parse_manifest",
    "parse_tag_file",
    "store_bag",
    "validate_bag",
    "write_bag",
    "write_tag_files",
]

ALGORITHMS: Final = ("sm3", "sha256")
SOFTWARE_AGENT: Final = "ywtb-trust archive.bag/1"
BAGIT_TXT: Final = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
#: tag files that may exist in no tag manifest (added after the root is fixed)
UNCOVERED_TAG_FILES: Final = frozenset(
    {"tagmanifest-sm3.txt", "tagmanifest-sha256.txt", "archive-seal.p7s", "archive-seal.tsr"}
)
_MAX_TAG_BYTES: Final = 64 * 1024 * 1024


# --------------------------------------------------------------------------- paths


def _check_relative(path: str) -> str:
    if not path or path.startswith("/") or "\\" in path:
        raise UnsafePath(f"not a relative POSIX path: {path!r}")
    for ch in path:
        if (ord(ch) < 0x20 and ch not in "\r\n") or ch == "\x7f":
            raise UnsafePath(f"control character in path {path!r}")
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise UnsafePath(f"empty, '.' or '..' segment in {path!r}")
    return path


def encode_path(path: str) -> str:
    """RFC 8493 §2.1.3: percent-encode ``%``, CR and LF in a manifest path."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def decode_path(encoded: str) -> str:
    out, i = [], 0
    while i < len(encoded):
        if encoded[i] == "%" and encoded[i + 1 : i + 3].upper() in ("25", "0D", "0A"):
            out.append({"25": "%", "0D": "\r", "0A": "\n"}[encoded[i + 1 : i + 3].upper()])
            i += 3
        else:
            out.append(encoded[i])
            i += 1
    return "".join(out)


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True, slots=True)
class BagEntry:
    """One payload file: ``path`` relative to ``data/``; bytes from a file, given inline, or
    from an opener (a stored object, read when the bag is written)."""

    path: str
    source: Path | bytes | Callable[[], BinaryIO] = field(repr=False)

    def open(self) -> BinaryIO:
        if isinstance(self.source, bytes):
            return io.BytesIO(self.source)
        if isinstance(self.source, Path):
            return open(self.source, "rb")
        return self.source()


@dataclass(frozen=True, slots=True)
class BagInfo:
    """bag-info.txt fields (earchive spec §7.2). ``external_identifier`` is the case number."""

    external_identifier: str  # 办件编号
    archival_code: str | None = None  # 档号 (DA/T 13-2022), label Archival-Code
    source_organization: str | None = None  # 立档单位
    bag_group_identifier: str | None = None  # 全宗号
    retention_period: str | None = None  # Y / D30 / D10
    item_code: str | None = None  # 事项编码
    version: int = 1
    previous_version_root: str | None = None
    profile_identifier: str | None = None
    extra: tuple[tuple[str, str], ...] = ()

    def lines(self) -> list[tuple[str, str]]:
        fields: list[tuple[str, str | None]] = [
            ("Source-Organization", self.source_organization),
            ("External-Identifier", self.external_identifier),
            ("Archival-Code", self.archival_code),
            ("Bag-Group-Identifier", self.bag_group_identifier),
            ("BagIt-Profile-Identifier", self.profile_identifier),
            ("Retention-Period", self.retention_period),
            ("Item-Code", self.item_code),
            ("Version", str(self.version)),
            ("Previous-Version-Root", self.previous_version_root),
            *self.extra,
        ]
        return [(k, v) for k, v in fields if v is not None]


@dataclass(frozen=True, slots=True)
class WrittenBag:
    path: Path
    root_sm3: str  # SM3 of tagmanifest-sm3.txt: the package root
    root_sha256: str  # SHA-256 of tagmanifest-sha256.txt
    payload_oxum: str  # "<octets>.<count>"
    payload: tuple[tuple[str, Digests], ...]  # bag path ("data/...") -> digests


def _tag_value(label: str, value: str) -> str:
    if not label or ":" in label or label.strip() != label or any(c in label for c in "\r\n"):
        raise BagMalformed(f"unusable bag-info label {label!r}")
    if any(c in value for c in "\r\n"):
        raise BagMalformed(
            f"bag-info value of {label} contains a line break", code="archive.bag_info"
        )
    return f"{label}: {value}\n"


def _manifest(entries: Iterable[tuple[str, str]]) -> bytes:
    return "".join(f"{digest}  {encode_path(p)}\n" for p, digest in sorted(entries)).encode()


def write_bag(
    dest: Path,
    entries: Iterable[BagEntry],
    info: BagInfo,
    *,
    bagging_date: date,
    software_agent: str = SOFTWARE_AGENT,
    on_chunk: Callable[[int], None] | None = None,
) -> WrittenBag:
    """Write a new bag into ``dest`` (absent or empty). Streaming: each payload file is read
    once and copied while both digests are computed; ``on_chunk`` hears the bytes copied."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise BagMalformed(f"bag directory {dest} is not empty", code="archive.bag_exists")
    payload: dict[str, Digests] = {}
    for entry in entries:
        rel = "data/" + _check_relative(entry.path)
        if rel in payload:
            raise BagMalformed(f"payload path {rel!r} given twice", code="archive.duplicate_path")
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with entry.open() as src, open(target, "xb") as sink:
            payload[rel] = hash_stream(src, sink=sink, on_chunk=on_chunk)
    return write_tag_files(
        dest, payload, info, bagging_date=bagging_date, software_agent=software_agent
    )


def write_tag_files(
    dest: Path,
    payload: Mapping[str, Digests],
    info: BagInfo,
    *,
    bagging_date: date,
    software_agent: str = SOFTWARE_AGENT,
) -> WrittenBag:
    """Finish a bag whose payload files are in place under ``dest/data/`` with these digests
    (bag path -> digests): ``bagit.txt``, ``bag-info.txt`` (with its Payload-Oxum), both payload
    manifests and both tag manifests; the package root is the digest of the tag manifest. The
    one writer of tag files, so that every bag of the same payload has the same root."""
    octets = sum(d.size for d in payload.values())
    oxum = f"{octets}.{len(payload)}"
    info_text = "".join(
        _tag_value(k, v)
        for k, v in [
            ("Bag-Software-Agent", software_agent),
            ("Bagging-Date", bagging_date.isoformat()),
            ("Payload-Oxum", oxum),
            *info.lines(),
        ]
    )
    tags: dict[str, bytes] = {
        "bagit.txt": BAGIT_TXT,
        "bag-info.txt": info_text.encode("utf-8"),
        "manifest-sm3.txt": _manifest((p, d.sm3) for p, d in payload.items()),
        "manifest-sha256.txt": _manifest((p, d.sha256) for p, d in payload.items()),
    }
    tag_sm3 = _manifest((name, SM3(data).hexdigest()) for name, data in tags.items())
    tag_sha = _manifest((name, hashlib.sha256(data).hexdigest()) for name, data in tags.items())
    tags["tagmanifest-sm3.txt"], tags["tagmanifest-sha256.txt"] = tag_sm3, tag_sha
    for name, data in tags.items():
        with open(dest / name, "xb") as fh:
            fh.write(data)
    return WrittenBag(
        path=dest,
        root_sm3=SM3(tag_sm3).hexdigest(),
        root_sha256=hashlib.sha256(tag_sha).hexdigest(),
        payload_oxum=oxum,
        payload=tuple(sorted(payload.items())),
    )


# --------------------------------------------------------------------------- case layout

ORIGINALS: Final = "representations/original/data"


def case_payload(folder: Path, report: CheckReport) -> list[BagEntry]:
    """The payload of one case package (layout decision in the module docstring) without its
    evidence (``archive.evidence``): the submitted ``case.json`` and every file of ``files/``
    byte for byte, and the DA/T 70 report."""
    folder = Path(folder)
    entries = [
        BagEntry("metadata/descriptive/case.json", folder / "case.json"),
        BagEntry("metadata/preservation/four-properties-report.json", report.to_json()),
    ]
    for name in sorted(p.name for p in (folder / "files").iterdir() if p.is_file()):
        entries.append(BagEntry(f"{ORIGINALS}/{name}", folder / "files" / name))
    return entries


def case_bag_info(case: Case, *, previous_version_root: str | None = None) -> BagInfo:
    return BagInfo(
        external_identifier=case.case_number,
        archival_code=case.archival_code,
        source_organization=case.agency.name,
        bag_group_identifier=case.fonds,
        retention_period=case.retention.value,
        item_code=case.service_item.code,
        version=case.version,
        previous_version_root=previous_version_root,
        profile_identifier="ywtb-trust/case-bag/1",
    )


# --------------------------------------------------------------------------- parsing


def parse_manifest(data: bytes, name: str) -> dict[str, str]:
    """``<hex> <path>`` lines (any run of spaces/tabs between); lower-cased digests."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BagMalformed(f"{name} is not UTF-8") from None
    out: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        parts = line.replace("\t", " ").split(" ", 1)
        path = parts[1].lstrip(" ") if len(parts) == 2 else ""
        digest = parts[0].lower()
        if not path or not digest or any(c not in "0123456789abcdef" for c in digest):
            raise BagMalformed(f"{name} line {number} is not '<hex digest> <path>'")
        path = decode_path(path)
        if path in out:
            raise BagMalformed(f"{name} lists {path!r} twice", code="archive.duplicate_path")
        out[_check_relative(path)] = digest
    return out


def parse_tag_file(data: bytes, name: str) -> list[tuple[str, str]]:
    """``Label: value`` lines, continuation lines starting with whitespace (RFC 8493 §2.2.2)."""
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise BagMalformed(f"{name} is not UTF-8") from None
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line[0] in " \t" and out:
            out[-1] = (out[-1][0], out[-1][1] + " " + line.strip())
        elif ":" in line:
            label, value = line.split(":", 1)
            out.append((label.strip(), value.strip()))
        else:
            raise BagMalformed(f"{name}: line without a label: {line[:80]!r}")
    return out


# --------------------------------------------------------------------------- sources


class BagSource(Protocol):
    """Read access to the files of one bag, by bag-relative POSIX path."""

    def list_files(self) -> Iterator[str]: ...

    def open(self, path: str) -> BinaryIO:
        """Raises ``FileNotFoundError`` or ``BlobNotFound`` when the file is absent."""
        ...


class DirectoryBagSource:
    """A bag as a directory tree. Symbolic links are listed (and then fail to open), so a link
    smuggled into a bag is reported instead of followed."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root)

    def list_files(self) -> Iterator[str]:
        for dirpath, dirnames, filenames in os.walk(self._root):
            dirnames.sort()
            base = Path(dirpath).relative_to(self._root).as_posix()
            for name in sorted(filenames + [d for d in dirnames if Path(dirpath, d).is_symlink()]):
                yield name if base == "." else f"{base}/{name}"

    def open(self, path: str) -> BinaryIO:
        target = self._root / _check_relative(path)
        if target.is_symlink():
            raise FileNotFoundError(f"{path} is a symbolic link")
        return open(target, "rb")


@dataclass(frozen=True, slots=True)
class StoredBag:
    """A bag kept in a ``BlobStore``: the root is the address of ``tagmanifest-sm3.txt``;
    tag files in no SM3 manifest are recorded by address."""

    root_sm3: str
    root_sha256: str
    payload_oxum: str
    uncovered: tuple[tuple[str, str], ...]  # (tag file name, address)


class StoredBagSource:
    """``BagSource`` over a ``StoredBag``: the file list comes from the SM3 manifests, each file
    is read by its address (so a blob that rotted reads as its changed bytes)."""

    def __init__(self, store: BlobStore, bag: StoredBag) -> None:
        self._store = store
        addresses: dict[str, str] = {"tagmanifest-sm3.txt": bag.root_sm3, **dict(bag.uncovered)}
        tags = parse_manifest(self._read(bag.root_sm3), "tagmanifest-sm3.txt")
        addresses.update(tags)
        if "manifest-sm3.txt" in tags:
            payload = parse_manifest(self._read(tags["manifest-sm3.txt"]), "manifest-sm3.txt")
            addresses.update(payload)
        self._addresses = addresses

    def _read(self, address: str) -> bytes:
        with self._store.get_stream(address) as fh:
            data = fh.read(_MAX_TAG_BYTES + 1)
        if len(data) > _MAX_TAG_BYTES:
            raise BagMalformed("tag file too large")
        return data

    def list_files(self) -> Iterator[str]:
        yield from sorted(self._addresses)

    def open(self, path: str) -> BinaryIO:
        address = self._addresses.get(path)
        if address is None or not is_address(address):
            raise BlobNotFound(f"{path} has no stored object")
        return self._store.get_stream(address)


def store_bag(bag_dir: Path, store: BlobStore) -> StoredBag:
    """Put every file of the bag at ``bag_dir`` into ``store`` (write-once), in one read pass:
    each file is stored with its SM3 manifest digest as the expected address (a mismatch stores
    nothing) and its SHA-256 compared with the SHA-256 manifest. A file in no manifest, a listed
    file that is absent or a wrong Payload-Oxum refuses the bag. Objects stored before a refusal
    stay (content-addressed, harmless; never deleted automatically)."""
    source = DirectoryBagSource(bag_dir)
    problems: list[BagProblem] = []
    bag_info = _check_declarations(source, problems)
    payload_m = _load_manifests(source, "manifest", problems)
    tag_m = _load_manifests(source, "tagmanifest", problems)
    if problems:
        raise BagMalformed(f"refusing to store: {problems[0].code}: {problems[0].detail}")
    want_sm3 = {**payload_m["sm3"], **tag_m["sm3"]}
    want_sha = {**payload_m["sha256"], **tag_m["sha256"]}
    present = set(source.list_files())
    odd = sorted((present - set(want_sm3) - UNCOVERED_TAG_FILES) | (set(want_sm3) - present))
    odd += sorted(set(want_sm3) ^ set(want_sha))
    if odd:
        raise BagMalformed(f"refusing to store: {odd[0]} is absent, unlisted or listed once")
    stored: dict[str, StoredBlob] = {}
    for path in sorted(present):
        with source.open(path) as fh:
            stored[path] = store.put_stream(fh, expected_sm3=want_sm3.get(path))
        if path in want_sha and stored[path].sha256 != want_sha[path]:
            raise DigestMismatch(f"{path} does not match manifest-sha256.txt")
    octets = sum(b.size for p, b in stored.items() if p.startswith("data/"))
    oxum = f"{octets}.{sum(1 for p in stored if p.startswith('data/'))}"
    if dict((k.lower(), v) for k, v in bag_info).get("payload-oxum") != oxum:
        raise BagMalformed(f"refusing to store: Payload-Oxum is not {oxum}")
    if "tagmanifest-sm3.txt" not in stored or "tagmanifest-sha256.txt" not in stored:
        raise BagMalformed("refusing to store: a tag manifest is missing")
    uncovered = tuple(
        (p, stored[p].address)
        for p in sorted(stored)
        if p in UNCOVERED_TAG_FILES and p != "tagmanifest-sm3.txt"
    )
    return StoredBag(
        root_sm3=stored["tagmanifest-sm3.txt"].address,
        root_sha256=stored["tagmanifest-sha256.txt"].sha256,
        payload_oxum=oxum,
        uncovered=uncovered,
    )


def export_bag(
    source: BagSource, dest: Path, *, on_chunk: Callable[[int], None] | None = None
) -> None:
    """Copy every file of ``source`` into the empty directory ``dest`` (offline hand-over);
    ``on_chunk`` hears the bytes copied (progress)."""
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise BagMalformed(f"export directory {dest} is not empty", code="archive.bag_exists")
    for path in source.list_files():
        target = dest / _check_relative(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with source.open(path) as src, open(target, "xb") as sink:
            hash_stream(src, sink=sink, on_chunk=on_chunk)


# --------------------------------------------------------------------------- validation


class FileState(StrEnum):
    OK = "ok"
    CHANGED = "changed"  # present, but a digest differs from a manifest
    MISSING = "missing"  # listed in a manifest, not present
    EXTRA = "extra"  # present, but in no manifest (or in only one of the two)


@dataclass(frozen=True, slots=True)
class FileStatus:
    path: str
    state: FileState
    size: int | None = None
    #: algorithms whose manifest disagrees with the bytes, or does not list the file
    algorithms: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "state": self.state.value,
            "size": self.size,
            "algorithms": list(self.algorithms),
        }


@dataclass(frozen=True, slots=True)
class BagProblem:
    code: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class BagValidation:
    """Outcome of re-hashing one bag. ``valid`` only with no problem and every file ``ok``."""

    files: tuple[FileStatus, ...]
    problems: tuple[BagProblem, ...]
    root_sm3: str
    root_sha256: str
    payload_oxum: str  # as found by re-hashing
    bytes_read: int
    bag_info: tuple[tuple[str, str], ...] = ()

    @property
    def valid(self) -> bool:
        return not self.problems and all(f.state is FileState.OK for f in self.files)

    def _named(self, state: FileState) -> tuple[str, ...]:
        return tuple(f.path for f in self.files if f.state is state)

    @property
    def changed(self) -> tuple[str, ...]:
        return self._named(FileState.CHANGED)

    @property
    def missing(self) -> tuple[str, ...]:
        return self._named(FileState.MISSING)

    @property
    def extra(self) -> tuple[str, ...]:
        return self._named(FileState.EXTRA)

    def info(self, label: str) -> str | None:
        return next((v for k, v in self.bag_info if k.lower() == label.lower()), None)

    def summary(self) -> str:
        parts = [f"{p.code}: {p.detail}" for p in self.problems]
        parts += [f"{f.state.value}: {f.path}" for f in self.files if f.state is not FileState.OK]
        return "; ".join(parts) or "valid"

    def to_dict(self) -> dict[str, object]:
        return {
            "valid": self.valid,
            "root_sm3": self.root_sm3,
            "root_sha256": self.root_sha256,
            "payload_oxum": self.payload_oxum,
            "bytes_read": self.bytes_read,
            "problems": [p.to_dict() for p in self.problems],
            "files": [f.to_dict() for f in self.files],
        }


def _read_small(source: BagSource, path: str) -> bytes | None:
    try:
        with source.open(path) as fh:
            data = fh.read(_MAX_TAG_BYTES + 1)
    except (FileNotFoundError, BlobNotFound, IsADirectoryError):
        return None
    if len(data) > _MAX_TAG_BYTES:
        raise BagMalformed(f"{path} is too large for a tag file")
    return data


def _load_manifests(
    source: BagSource, prefix: str, problems: list[BagProblem]
) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for alg in ALGORITHMS:
        name = f"{prefix}-{alg}.txt"
        data = _read_small(source, name)
        if data is None:
            problems.append(BagProblem("bag.manifest_missing", name))
            continue
        try:
            out[alg] = parse_manifest(data, name)
        except (BagMalformed, UnsafePath) as exc:
            problems.append(BagProblem("bag.manifest_malformed", exc.detail))
    return out


def _hash_file(source: BagSource, path: str) -> Digests | None:
    try:
        with source.open(path) as fh:
            return hash_stream(fh)
    except (FileNotFoundError, BlobNotFound, IsADirectoryError, NotADirectoryError):
        return None


def _judge(
    paths: Iterable[str],
    manifests: Mapping[str, Mapping[str, str]],
    present: set[str],
    source: BagSource,
    on_file: Callable[[str, Digests], None],
) -> list[FileStatus]:
    statuses: list[FileStatus] = []
    for path in sorted(set(paths)):
        listed = [alg for alg in ALGORITHMS if path in manifests.get(alg, {})]
        digests = _hash_file(source, path) if path in present or listed else None
        if digests is None:
            state = FileState.MISSING if listed else FileState.EXTRA
            statuses.append(FileStatus(path, state, None, tuple(listed)))
            continue
        on_file(path, digests)
        if not listed:
            statuses.append(FileStatus(path, FileState.EXTRA, digests.size, ()))
            continue
        bad = tuple(a for a in listed if manifests[a][path] != getattr(digests, a))
        unlisted = tuple(a for a in ALGORITHMS if a in manifests and path not in manifests[a])
        if bad:
            statuses.append(FileStatus(path, FileState.CHANGED, digests.size, bad))
        elif unlisted:
            statuses.append(FileStatus(path, FileState.EXTRA, digests.size, unlisted))
        else:
            statuses.append(FileStatus(path, FileState.OK, digests.size, ()))
    return statuses


def _check_declarations(source: BagSource, problems: list[BagProblem]) -> list[tuple[str, str]]:
    bagit_txt = _read_small(source, "bagit.txt")
    if bagit_txt is None:
        problems.append(BagProblem("bag.bagit_txt_missing", "bagit.txt"))
    else:
        declared = dict(parse_tag_file(bagit_txt, "bagit.txt"))
        if declared.get("BagIt-Version") != "1.0":
            problems.append(BagProblem("bag.version", str(declared.get("BagIt-Version"))))
        if (declared.get("Tag-File-Character-Encoding") or "").upper() != "UTF-8":
            problems.append(BagProblem("bag.encoding", "Tag-File-Character-Encoding not UTF-8"))
    info = _read_small(source, "bag-info.txt")
    if info is None:
        problems.append(BagProblem("bag.bag_info_missing", "bag-info.txt"))
        return []
    return parse_tag_file(info, "bag-info.txt")


def validate_bag(source: BagSource, *, expected_root: str | None = None) -> BagValidation:
    """Re-hash every file of the bag (one pass, SM3 + SHA-256) against both payload and both
    tag manifests; report each file's state and every structural problem. Raises
    ``BagMalformed`` only when a tag file is unreadable beyond reporting."""
    problems: list[BagProblem] = []
    bag_info = _check_declarations(source, problems)
    payload_m = _load_manifests(source, "manifest", problems)
    tag_m = _load_manifests(source, "tagmanifest", problems)
    present = set(source.list_files())
    totals = {"bytes": 0, "payload_bytes": 0, "payload_files": 0}

    def count(path: str, digests: Digests) -> None:
        totals["bytes"] += digests.size
        if path.startswith("data/"):
            totals["payload_bytes"] += digests.size
            totals["payload_files"] += 1

    for alg, entries in payload_m.items():
        outside = [p for p in entries if not p.startswith("data/")]
        if outside:
            problems.append(BagProblem("bag.payload_outside_data", f"{alg}: {outside[0]}"))
    payload_paths = [p for p in present if p.startswith("data/")]
    payload_paths += [p for m in payload_m.values() for p in m]
    tag_paths = [p for p in present if not p.startswith("data/") and p not in UNCOVERED_TAG_FILES]
    tag_paths += [p for m in tag_m.values() for p in m]
    files = _judge(payload_paths, payload_m, present, source, count)
    files += _judge(tag_paths, tag_m, present, source, count)
    oxum = f"{totals['payload_bytes']}.{totals['payload_files']}"
    declared_oxum = next((v for k, v in bag_info if k.lower() == "payload-oxum"), None)
    if bag_info and declared_oxum != oxum:
        problems.append(BagProblem("bag.payload_oxum", f"declared {declared_oxum}, found {oxum}"))
    roots = {alg: _read_small(source, f"tagmanifest-{alg}.txt") for alg in ALGORITHMS}
    root_sm3 = SM3(roots["sm3"]).hexdigest() if roots["sm3"] is not None else ""
    root_sha = hashlib.sha256(roots["sha256"]).hexdigest() if roots["sha256"] is not None else ""
    if expected_root is not None and root_sm3 != expected_root:
        problems.append(BagProblem("bag.root_mismatch", f"expected {expected_root}"))
    return BagValidation(
        files=tuple(files),
        problems=tuple(problems),
        root_sm3=root_sm3,
        root_sha256=root_sha,
        payload_oxum=oxum,
        bytes_read=totals["bytes"],
        bag_info=tuple(bag_info),
    )
