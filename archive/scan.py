"""Virus checks at ingest (DA/T 70-2018 安全性: 病毒检测; earchive spec §4.1).

``VirusScanner`` is the seam. Two implementations:

- ``ClamavScanner`` runs ``clamscan`` (or ``clamdscan`` against a running daemon) as a
  subprocess. Without the executable or **without a signature database** it reports
  ``NOT_AVAILABLE`` - never a pass: ClamAV with no database scans nothing and would say
  "clean". A scanner the configuration requires (``required``) blocks ingest when it is not
  available (``CheckPolicy.block_when_scanner_unavailable``); an optional one ("use ClamAV if it
  is installed") is reported as not available without blocking. ``clamscan`` gets explicit
  limits (``--max-filesize``, ``--max-scansize``: our own submission limit, capped at what the
  engine can scan, 2 GiB - 1 for ClamAV 1.x) and ``--alert-exceeds-max``: ClamAV otherwise
  skips a larger file and calls it "OK". A file over a limit is an ``ERROR`` naming it
  (``scan.clamav_limits_exceeded``), never a pass. ``clamdscan`` takes its limits from
  ``clamd.conf`` (``MaxFileSize``, ``MaxScanSize``, ``AlertExceedsMax yes``).
- ``EicarDetector``: a built-in detector of the EICAR anti-virus test file that always runs,
  needs nothing installed, and also looks inside ZIP containers (OFD packages). It proves the
  scanning step is wired end to end; it is not anti-virus protection. Its byte scan can ride on
  the ingest's single read pass (``EicarStream`` fed while the file is staged): the detector
  is then given those results (``prescanned``) and reads again only ZIP containers.

Each result names the engine, its version and the signature-database version, as the PREMIS
``virus check`` event records them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Final, Protocol

from archive.storage import CHUNK_SIZE

__all__ = [
    "CLAMAV_MAX_BYTES",
    "EICAR_SIGNATURE_NAME",
    "MAX_SCAN_BYTES",
    "ClamavScanner",
    "EicarDetector",
    "EicarStream",
    "ScanFinding",
    "ScanResult",
    "ScanStatus",
    "VirusScanner",
]

# The 68-byte EICAR test string, split so that this source file is not itself "infected".
_EICAR: Final = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_SIGNATURE_NAME: Final = "Eicar-Test-Signature"
_DB_SUFFIXES: Final = frozenset(
    {".cvd", ".cld", ".cud", ".hdb", ".hsb", ".hdu", ".hsu", ".mdb", ".msb", ".ndb", ".ndu"}
    | {".ldb", ".ldu", ".idb", ".cdb", ".ign2", ".pdb", ".gdb", ".wdb", ".yar", ".yara"}
)
_MAX_ZIP_MEMBERS: Final = 10_000
_MAX_ZIP_BYTES: Final = 2 * 1024 * 1024 * 1024
#: the largest file the archive accepts in a submission (``archive.submission``): the limit
#: every scanner is asked to honour
MAX_SCAN_BYTES: Final = 64 * 1024 * 1024 * 1024
#: ClamAV 1.x scans no file larger than 2 GiB - 1 ("not supported" above that)
CLAMAV_MAX_BYTES: Final = 2**31 - 1
_LIMIT_SIGNATURE: Final = "Heuristics.Limits.Exceeded"


class ScanStatus(StrEnum):
    CLEAN = "clean"
    INFECTED = "infected"
    NOT_AVAILABLE = "not_available"  # scanner missing or unusable: NOT a pass
    ERROR = "error"  # the scan ran and failed part-way: NOT a pass


@dataclass(frozen=True, slots=True)
class ScanFinding:
    path: str  # relative to the scanned folder
    signature: str


@dataclass(frozen=True, slots=True)
class ScanResult:
    engine: str
    status: ScanStatus
    reason: str  # stable code: scan.clean, scan.infected, scan.clamav_no_database, ...
    engine_version: str | None = None
    database_version: str | None = None
    findings: tuple[ScanFinding, ...] = ()
    files_scanned: int = 0
    detail: str = ""
    #: the configuration requires this engine: not available blocks (by policy)
    required: bool = True

    @property
    def ran(self) -> bool:
        return self.status is not ScanStatus.NOT_AVAILABLE

    def to_dict(self) -> dict[str, object]:
        return {
            "engine": self.engine,
            "required": self.required,
            "ran": self.ran,
            "status": self.status.value,
            "reason": self.reason,
            "engine_version": self.engine_version,
            "database_version": self.database_version,
            "findings": [{"path": f.path, "signature": f.signature} for f in self.findings],
            "files_scanned": self.files_scanned,
            "detail": self.detail,
        }


class VirusScanner(Protocol):
    @property
    def engine(self) -> str: ...

    @property
    def required(self) -> bool:
        """Configured as required: when it is not available, ingest is blocked (by policy)."""
        ...

    def scan(self, root: Path, files: Sequence[str]) -> ScanResult:
        """Scan ``files`` (paths relative to ``root``). Never raises for an unavailable engine:
        that is ``NOT_AVAILABLE``."""
        ...


# --------------------------------------------------------------------------- EICAR


def _contains(stream: IO[bytes], needle: bytes) -> bool:
    tail = b""
    while chunk := stream.read(CHUNK_SIZE):
        window = tail + chunk
        if needle in window:
            return True
        tail = window[-(len(needle) - 1) :]
    return False


def _zip_members_contain(path: Path, needle: bytes) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()[:_MAX_ZIP_MEMBERS]
            budget = _MAX_ZIP_BYTES
            for info in infos:
                if info.is_dir() or info.flag_bits & 0x1 or info.file_size > budget:
                    continue
                budget -= info.file_size
                with zf.open(info) as member:
                    if _contains(member, needle):
                        return True
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, NotImplementedError, EOFError):
        return False
    return False


class EicarStream:
    """The EICAR byte search fed chunk by chunk (across chunk boundaries), no copy of the data:
    ``feed`` every chunk of one file in order, then read ``hit``."""

    __slots__ = ("_tail", "hit")

    def __init__(self) -> None:
        self._tail = b""
        self.hit = False

    def feed(self, chunk: bytes) -> None:
        if self.hit:
            return
        keep = len(_EICAR) - 1
        if _EICAR in self._tail + chunk[:keep] or _EICAR in chunk:
            self.hit = True
            return
        self._tail = (self._tail + chunk[-keep:])[-keep:]


class EicarDetector:
    """Finds the EICAR test string anywhere in a file or in a member of a ZIP container.
    ``prescanned``: the byte scan's result per file, found while the file was staged."""

    engine = "builtin-eicar"
    version = "1"
    required = True

    def __init__(self, prescanned: Mapping[str, bool] | None = None) -> None:
        self._prescanned = dict(prescanned or {})

    def _raw_hit(self, path: Path, name: str) -> tuple[bool, bytes]:
        with open(path, "rb") as fh:
            head = fh.read(4)
            if name in self._prescanned:
                return self._prescanned[name], head
            fh.seek(0)
            return _contains(fh, _EICAR), head

    def scan(self, root: Path, files: Sequence[str]) -> ScanResult:
        findings: list[ScanFinding] = []
        for name in files:
            path = Path(root) / name
            hit, head = self._raw_hit(path, name)
            if not hit and head == b"PK\x03\x04":
                hit = _zip_members_contain(path, _EICAR)
            if hit:
                findings.append(ScanFinding(name, EICAR_SIGNATURE_NAME))
        status = ScanStatus.INFECTED if findings else ScanStatus.CLEAN
        return ScanResult(
            engine=self.engine,
            status=status,
            reason=f"scan.{status.value}",
            engine_version=self.version,
            database_version="eicar",
            findings=tuple(findings),
            files_scanned=len(files),
        )


# --------------------------------------------------------------------------- ClamAV


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


_FOUND = re.compile(r"^(?P<path>.+): (?P<sig>\S+) FOUND$")
_VERSION = re.compile(r"ClamAV (?P<engine>[^/\s]+)(?:/(?P<db>\d+))?")


class ClamavScanner:
    """``clamscan`` (default) or ``clamdscan`` (``daemon=True``) as a subprocess.

    ``database_dir`` is passed as ``--database`` to clamscan (default: ClamAV's own, usually
    ``/var/lib/clamav``); a directory without signature files makes the scanner
    ``NOT_AVAILABLE``. ``max_file_bytes`` is the largest file the caller accepts (module
    docstring). Exit codes: 0 clean, 1 found, anything else an error.
    """

    engine = "clamav"

    def __init__(
        self,
        *,
        database_dir: Path | None = None,
        daemon: bool = False,
        executable: str | None = None,
        timeout_seconds: float = 3600.0,
        max_file_bytes: int = MAX_SCAN_BYTES,
        required: bool = True,
    ) -> None:
        self._daemon = daemon
        self._executable = executable or ("clamdscan" if daemon else "clamscan")
        self._database_dir = database_dir
        self._timeout = timeout_seconds
        self._limit = min(max_file_bytes, CLAMAV_MAX_BYTES)
        self.required = required

    @property
    def limit_bytes(self) -> int:
        """The size limit passed to clamscan (``--max-filesize``, ``--max-scansize``)."""
        return self._limit

    def _database_present(self) -> bool:
        directory = self._database_dir or Path("/var/lib/clamav")
        try:
            return any(p.suffix in _DB_SUFFIXES for p in directory.iterdir() if p.is_file())
        except OSError:
            return False

    def _base_command(self, exe: str) -> list[str]:
        cmd = [exe]
        if self._database_dir is not None and not self._daemon:
            cmd.append(f"--database={self._database_dir}")
        return cmd

    def availability(self) -> ScanResult | None:
        """``None`` when usable, else the ``NOT_AVAILABLE`` result explaining why."""
        if shutil.which(self._executable) is None:
            return self._unavailable("scan.clamav_not_installed", f"{self._executable} not found")
        if not self._daemon and not self._database_present():
            return self._unavailable(
                "scan.clamav_no_database", "ClamAV has no signature database (offline install?)"
            )
        return None

    def _unavailable(self, reason: str, detail: str) -> ScanResult:
        return ScanResult(
            self.engine, ScanStatus.NOT_AVAILABLE, reason, detail=detail, required=self.required
        )

    def _limits(self) -> list[str]:
        if self._daemon:  # clamdscan has no limit options: clamd.conf sets them
            return []
        return [
            f"--max-filesize={self._limit}",
            f"--max-scansize={self._limit}",
            "--alert-exceeds-max=yes",
        ]

    def _versions(self, exe: str) -> tuple[str | None, str | None]:
        try:
            out = subprocess.run(  # noqa: S603 - fixed argv, no shell
                [*self._base_command(exe), "--version"],
                capture_output=True,
                timeout=60,
                check=False,
            ).stdout.decode("utf-8", "replace")
        except (OSError, subprocess.SubprocessError):
            return None, None
        m = _VERSION.search(out)
        return (m["engine"], m["db"]) if m else (None, None)

    def scan(self, root: Path, files: Sequence[str]) -> ScanResult:
        unavailable = self.availability()
        if unavailable is not None:
            return unavailable
        exe = shutil.which(self._executable) or self._executable
        engine_version, db_version = self._versions(exe)
        with tempfile.TemporaryDirectory(prefix="clamlist-") as tmp:
            listing = Path(tmp) / "files.txt"
            listing.write_text("".join(f"{Path(root, f)}\n" for f in files), encoding="utf-8")
            cmd = [
                *self._base_command(exe),
                *self._limits(),
                "--no-summary",
                "--stdout",
                f"--file-list={listing}",
            ]
            try:
                proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
                    cmd, capture_output=True, timeout=self._timeout, check=False
                )
            except (OSError, subprocess.SubprocessError) as exc:
                return ScanResult(
                    self.engine,
                    ScanStatus.ERROR,
                    "scan.clamav_failed",
                    detail=str(exc)[:300],
                    required=self.required,
                )
        found = tuple(self._findings(proc.stdout.decode("utf-8", "replace"), Path(root)))
        findings = tuple(f for f in found if not f.signature.startswith(_LIMIT_SIGNATURE))
        too_large = [f.path for f in found if f.signature.startswith(_LIMIT_SIGNATURE)]
        too_large += [f for f in files if _size(Path(root, f)) > self._limit and f not in too_large]
        detail = ""
        if findings and proc.returncode == 1:
            status, reason = ScanStatus.INFECTED, "scan.infected"
        elif too_large:
            status, reason = ScanStatus.ERROR, "scan.clamav_limits_exceeded"
            detail = "未能完整扫描（超过扫描上限）：" + ", ".join(sorted(too_large))[:280]
        elif proc.returncode == 0 and not findings:
            status, reason = ScanStatus.CLEAN, "scan.clean"
        else:
            status, reason = ScanStatus.ERROR, "scan.clamav_failed"
            detail = proc.stderr.decode("utf-8", "replace")[-300:]
        return ScanResult(
            engine=self.engine,
            status=status,
            reason=reason,
            engine_version=engine_version,
            database_version=db_version,
            findings=findings,
            files_scanned=len(files),
            detail=detail,
            required=self.required,
        )

    @staticmethod
    def _findings(output: str, root: Path) -> Iterator[ScanFinding]:
        prefix = str(root).rstrip(os.sep) + os.sep
        for line in output.splitlines():
            m = _FOUND.match(line)
            if m:
                path = m["path"]
                yield ScanFinding(path.removeprefix(prefix), m["sig"])
