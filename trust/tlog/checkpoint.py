"""Checkpoints as C2SP signed notes (pure: no I/O).

Body (C2SP ``tlog-checkpoint``): the origin line, the tree size in decimal, the base64 root hash
(RFC 4648 §4), then extension lines; we write one, ``time <RFC 3339 UTC, seconds>``. The body is
the RFC 9162 §4.10 tree head in text form. The note (C2SP ``signed-note``) is the body, a blank
line, and one line per signature: ``— <key name> base64(key hint || signature)``.

SM2 has no signed-note signature type byte, so we use the private range as C2SP allows: type byte
``0xff`` followed by the identifier ``ywtb-trust/sm2-sm3``. The 4-byte key hint is
``SHA-256(key name || 0x0A || 0xff || "ywtb-trust/sm2-sm3" || 65-byte SM2 point)[:4]`` (the C2SP
recommendation with that type). The signature is SM2 with SM3 and the default user ID
``1234567812345678`` over the body bytes (GB/T 32918.2, GB/T 35276), DER ``SEQUENCE {r, s}``:
``openssl dgst -sm3 -verify pub.pem -sigopt distid:1234567812345678 -signature sig body`` checks it.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from trust.crypto import SM2PublicKey, sha256
from trust.errors import InvalidInput
from trust.signing import SignatureAlgorithm, Signer
from trust.tlog.merkle import HASH_SIZE

__all__ = [
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "SIGNATURE_TYPE",
    "Checkpoint",
    "MalformedCheckpoint",
    "NoteSignature",
    "SignedCheckpoint",
    "key_hint",
    "parse_body",
    "parse_note",
    "sign_checkpoint",
]

#: C2SP signed-note: ``0xff`` (no assigned identifier byte) followed by our longer identifier.
SIGNATURE_TYPE: Final = b"\xff" + b"ywtb-trust/sm2-sm3"
#: Refuse larger notes before parsing (C2SP signed-note: "Verifiers SHOULD apply a maximum limit").
MAX_NOTE_BYTES: Final = 64 * 1024
#: C2SP signed-note: verifiers "MUST accept at least up to 16 signatures".
MAX_SIGNATURES: Final = 32

_DIGITS = re.compile(r"(0|[1-9][0-9]{0,19})")
_TIME_PREFIX = "time "
_DASH = "\u2014 "


class MalformedCheckpoint(InvalidInput):
    """The text is not a checkpoint note in the format this module writes."""

    code = "log.checkpoint_malformed"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: RFC 9162 §4.10 ``TreeHeadDataV2`` fields plus the log's origin."""

    origin: str
    tree_size: int
    root_hash: bytes
    #: When the log signed it (UTC, whole seconds); ``None`` if the note has no ``time`` line.
    timestamp: datetime | None = None
    #: Further extension lines, verbatim (C2SP tlog-checkpoint); none are written by this log.
    extensions: tuple[str, ...] = field(default=())

    def body(self) -> bytes:
        """The exact bytes that are signed."""
        lines = [self.origin, str(self.tree_size), base64.b64encode(self.root_hash).decode()]
        if self.timestamp is not None:
            lines.append(_TIME_PREFIX + _format_time(self.timestamp))
        lines.extend(self.extensions)
        return ("\n".join(lines) + "\n").encode("utf-8")


@dataclass(frozen=True, slots=True)
class NoteSignature:
    key_name: str
    #: The 4-byte key ID of C2SP signed-note (see ``key_hint``).
    key_hint: bytes
    #: DER SM2 signature (for our keys); opaque bytes for others.
    signature: bytes

    def line(self) -> str:
        blob = base64.b64encode(self.key_hint + self.signature).decode()
        return f"{_DASH}{self.key_name} {blob}\n"


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint with its signatures, *not verified*: see ``trust.tlog.verify``."""

    checkpoint: Checkpoint
    #: The signed bytes as received (for a parsed note) or written.
    body: bytes
    signatures: tuple[NoteSignature, ...]

    def note(self) -> str:
        return self.body.decode("utf-8") + "\n" + "".join(s.line() for s in self.signatures)


def _format_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_hint(key_name: str, public_point: bytes) -> bytes:
    """C2SP signed-note key ID with our private signature type (module docstring)."""
    return sha256(key_name.encode("utf-8") + b"\n" + SIGNATURE_TYPE + public_point)[:4]


def sign_checkpoint(checkpoint: Checkpoint, *, key_name: str, signer: Signer) -> SignedCheckpoint:
    """Sign ``checkpoint.body()`` with an SM2 ``signer`` under ``key_name``."""
    if signer.algorithm is not SignatureAlgorithm.SM2_SM3:
        raise InvalidInput(
            f"checkpoints are signed with SM2, not {signer.algorithm}", code="log.unsupported_key"
        )
    _check_key_name(key_name)
    body = checkpoint.body()
    parse_body(body)  # never sign what we could not read back
    point = SM2PublicKey.from_der(signer.public_key_der()).point
    sig = NoteSignature(key_name, key_hint(key_name, point), signer.sign(body))
    return SignedCheckpoint(checkpoint, body, (sig,))


def _check_key_name(name: str) -> None:
    # C2SP signed-note: "Key names MUST be non-empty and MUST NOT contain any Unicode spaces or
    # plus (U+002B) characters."
    if not name or "+" in name or any(c.isspace() for c in name):
        raise MalformedCheckpoint(f"bad signed-note key name {name!r}")


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise MalformedCheckpoint(f"{what} is not base64") from exc


def parse_body(body: bytes) -> Checkpoint:
    """Parse a checkpoint body (C2SP tlog-checkpoint) strictly."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedCheckpoint("checkpoint is not UTF-8") from exc
    if not text.endswith("\n"):
        raise MalformedCheckpoint("checkpoint body must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or not all(lines):
        raise MalformedCheckpoint("checkpoint needs origin, size and root lines, none empty")
    origin, size_text, root_text, *ext = lines
    if not _DIGITS.fullmatch(size_text) or int(size_text) >= 1 << 63:
        raise MalformedCheckpoint("tree size is not a decimal number without leading zeros")
    root = _b64(root_text, "root hash")
    if len(root) != HASH_SIZE:
        raise MalformedCheckpoint("root hash is not 32 bytes")
    timestamp = None
    if ext and ext[0].startswith(_TIME_PREFIX):
        try:
            timestamp = datetime.strptime(ext[0][len(_TIME_PREFIX) :], "%Y-%m-%dT%H:%M:%SZ")
        except ValueError as exc:
            raise MalformedCheckpoint("bad time line") from exc
        timestamp = timestamp.replace(tzinfo=UTC)
        ext = ext[1:]
    return Checkpoint(origin, int(size_text), root, timestamp, tuple(ext))


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(_DASH):
        raise MalformedCheckpoint("signature lines start with an em dash and a space")
    parts = line[len(_DASH) :].split(" ")
    if len(parts) != 2:
        raise MalformedCheckpoint("signature line is '— <name> <base64>'")
    name, blob_text = parts
    _check_key_name(name)
    blob = _b64(blob_text, "signature")
    if len(blob) < 5:
        raise MalformedCheckpoint("signature too short")
    return NoteSignature(name, blob[:4], blob[4:])


def parse_note(unverified_note: str | bytes) -> SignedCheckpoint:
    """Parse a signed note (C2SP signed-note) holding a checkpoint; verifies nothing."""
    raw = unverified_note.encode("utf-8") if isinstance(unverified_note, str) else unverified_note
    if len(raw) > MAX_NOTE_BYTES:
        raise MalformedCheckpoint("note too large")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedCheckpoint("note is not UTF-8") from exc
    # "Signed notes ... MUST NOT contain any ASCII control characters ... other than newline."
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise MalformedCheckpoint("note contains control characters")
    split = text.rfind("\n\n")
    if split < 0 or not text.endswith("\n"):
        raise MalformedCheckpoint("note has no signature block")
    body = text[: split + 1].encode("utf-8")
    sig_lines = text[split + 2 : -1].split("\n")
    if len(sig_lines) > MAX_SIGNATURES:
        raise MalformedCheckpoint("too many signatures")
    signatures = tuple(_parse_signature_line(line) for line in sig_lines)
    return SignedCheckpoint(parse_body(body), body, signatures)
