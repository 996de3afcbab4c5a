"""Signed 2-bit licence status lists (elicence spec §9.4).

Per issuer, lists of at least 131,072 entries (the W3C Bitstring Status List floor: herd
privacy), each licence at a random index. Entry values (spec §9.4 table):

======  ==========  =================================================================
value   status      meaning
======  ==========  =================================================================
0       VALID       有效
1       SUSPENDED   暂扣
2       INVALID     撤销 / 吊销 / 注销 / 撤回 / 过期 / 转出
3       SUPERSEDED  a newer 版本号 exists; follow 关联证照标识
======  ==========  =================================================================

Bit order as the IETF Token Status List (draft-ietf-oauth-status-list §4.1): entry ``i`` lives
in byte ``i // 4`` at bits ``2·(i mod 4)`` and ``2·(i mod 4) + 1`` (least significant first).

Format choice: CBOR signed as COSE_Sign1 with the same SM2 keys and code as the EL1 envelope
(``licences.envelope.sign_cose``), rather than JSON + a detached SM2 signature: one canonical
encoding, one signature input (RFC 9052 Sig_structure), one verifier. The protected header
carries content type ``STATUS_CONTENT_TYPE`` so a status list can never pass as a licence and
vice versa. Payload map::

    { 1: ver (1), 2: list-id, 3: issuer USCC, 4: sequence, 5: iat (s), 6: ttl (s),
      7: bits (2), 8: size (entries), 9: lst = zlib(packed entries) }
"""

from __future__ import annotations

import re
import secrets
import zlib
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Any, Final

import cbor2

from licences.envelope import (
    CLOCK_SKEW,
    CoseSign1,
    IssuerKey,
    SignFn,
    TrustedKeys,
    decode_cose,
    int_keyed_map,
    issuer_allowed,
    sign_cose,
    verify_cose_signature,
)
from licences.errors import (
    EnvelopeMalformed,
    EnvelopeTooLarge,
    EnvelopeUnsupported,
    StatusListFull,
    StatusListInvalid,
    StatusListTooLarge,
)
from trust.errors import VerificationFailed

__all__ = [
    "BITS",
    "MAX_ENTRIES",
    "MIN_ENTRIES",
    "STATUS_CONTENT_TYPE",
    "LicenceStatus",
    "StatusList",
    "StatusListReason",
    "StatusListResult",
    "StatusListToken",
    "StatusListVerification",
    "UnverifiedStatusList",
    "allocate_index",
    "decode_status_list",
    "sign_status_list",
    "verify_status_list",
]

BITS: Final = 2
MIN_ENTRIES: Final = 131_072  # spec §9.4 floor (16 KiB at 1 bit in W3C terms; 32 KiB here)
MAX_ENTRIES: Final = 1 << 20
STATUS_CONTENT_TYPE: Final = "application/el1-status+cbor"
STATUS_VERSION: Final = 1
_MAX_FILE: Final = MAX_ENTRIES * BITS // 8 + 4096  # incompressible list + header
_MAX_TTL: Final = 7 * 24 * 3600
_LIST_ID_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
_USCC_SHAPE: Final = re.compile(r"[0-9A-Z]{18}")
_RANDOM_TRIES: Final = 64


class LicenceStatus(IntEnum):
    VALID = 0
    SUSPENDED = 1
    INVALID = 2
    SUPERSEDED = 3


def _check_size(size: int) -> None:
    # Spec §9.4: at least 131,072 entries; a multiple of 4 so the packing has no partial byte.
    if type(size) is int and size < MIN_ENTRIES:
        raise StatusListInvalid(
            f"status list size {size} is below the floor of {MIN_ENTRIES} entries",
            code="licence.status.below_floor",
        )
    if type(size) is not int or size > MAX_ENTRIES or size % 4:
        raise StatusListInvalid(
            f"status list size must be a multiple of 4 in [{MIN_ENTRIES}, {MAX_ENTRIES}]",
            code="licence.status.bad_size",
        )


@dataclass(frozen=True, slots=True)
class StatusList:
    """An immutable list of ``size`` 2-bit entries packed least-significant-first."""

    size: int
    packed: bytes

    def __post_init__(self) -> None:
        _check_size(self.size)
        if type(self.packed) is not bytes or len(self.packed) != self.size * BITS // 8:
            raise StatusListInvalid(
                "packed entries do not match the size", code="licence.status.bad_size"
            )

    @classmethod
    def new(cls, size: int = MIN_ENTRIES) -> StatusList:
        _check_size(size)
        return cls(size, bytes(size * BITS // 8))

    def _check_index(self, index: int) -> None:
        if type(index) is not int or not 0 <= index < self.size:
            raise StatusListInvalid(
                f"index must be in [0, {self.size})", code="licence.status.bad_index"
            )

    def get(self, index: int) -> LicenceStatus:
        self._check_index(index)
        return LicenceStatus((self.packed[index >> 2] >> ((index & 3) * BITS)) & 0b11)

    def with_statuses(self, updates: Mapping[int, LicenceStatus]) -> StatusList:
        """A copy with ``updates`` applied."""
        buf = bytearray(self.packed)
        for index, value in updates.items():
            self._check_index(index)
            status = LicenceStatus(value)  # refuses anything but 0…3
            shift = (index & 3) * BITS
            buf[index >> 2] = (buf[index >> 2] & ~(0b11 << shift) & 0xFF) | (status << shift)
        return StatusList(self.size, bytes(buf))

    def compressed(self) -> bytes:
        """zlib (RFC 1950), as the IETF Token Status List ``lst``."""
        return zlib.compress(self.packed, 9)

    @classmethod
    def from_compressed(cls, data: bytes, size: int) -> StatusList:
        """Inflate at most the expected number of bytes (zip-bomb bound) and check the size."""
        _check_size(size)
        expected = size * BITS // 8
        inflater = zlib.decompressobj(wbits=15)
        try:
            packed = inflater.decompress(data, expected + 1)
        except zlib.error:
            raise StatusListInvalid(
                "lst is not zlib data", code="licence.status.bad_zlib"
            ) from None
        if len(packed) != expected or not inflater.eof or inflater.unused_data:
            raise StatusListInvalid(
                "lst does not inflate to exactly size × 2 bits", code="licence.status.bad_zlib"
            )
        return cls(size, packed)


def allocate_index(used: Set[int], size: int = MIN_ENTRIES) -> int:
    """A uniformly random index in [0, size) not in ``used`` (CSPRNG; spec §9.4 "random index
    allocation"). Raises ``StatusListFull`` when every index is taken."""
    _check_size(size)
    for _ in range(_RANDOM_TRIES):
        candidate = secrets.randbelow(size)
        if candidate not in used:
            return candidate
    # Nearly full (each try failed with probability used/size): pick among the free ones.
    free = [i for i in range(size) if i not in used]
    if not free:
        raise StatusListFull(f"all {size} indices are in use")
    return free[secrets.randbelow(len(free))]


@dataclass(frozen=True, slots=True)
class StatusListToken:
    """The signed content of a status list."""

    list_id: str
    issuer_code: str  # USCC of the issuer (bound to the signing key by the trust list)
    sequence: int  # increases with every publication; verifiers refuse going back
    issued_at: datetime
    ttl: timedelta  # verifiers treat the list as stale after issued_at + ttl
    statuses: StatusList

    def __post_init__(self) -> None:
        if not isinstance(self.list_id, str) or not _LIST_ID_RE.fullmatch(self.list_id):
            raise StatusListInvalid("list id must be 1…64 characters [A-Za-z0-9._-]")
        if not isinstance(self.issuer_code, str) or not _USCC_SHAPE.fullmatch(self.issuer_code):
            raise StatusListInvalid("issuer code must be 18 characters [0-9A-Z]")
        if type(self.sequence) is not int or not 0 <= self.sequence < 1 << 63:
            raise StatusListInvalid("sequence must be a non-negative 63-bit integer")
        if not isinstance(self.issued_at, datetime) or self.issued_at.tzinfo is None:
            raise StatusListInvalid("issued_at must be a timezone-aware datetime")
        seconds = self.ttl.total_seconds() if isinstance(self.ttl, timedelta) else -1
        if not 60 <= seconds <= _MAX_TTL or seconds != int(seconds):
            raise StatusListInvalid("ttl must be whole seconds from 1 minute to 7 days")
        if not isinstance(self.statuses, StatusList):
            raise StatusListInvalid("statuses must be a StatusList")

    @property
    def expires_at(self) -> datetime:
        return self.issued_at + self.ttl


def sign_status_list(token: StatusListToken, *, kid: bytes, sign: SignFn) -> bytes:
    """COSE_Sign1 bytes of the list (served as a static file)."""
    payload = {
        1: STATUS_VERSION,
        2: token.list_id,
        3: token.issuer_code,
        4: token.sequence,
        5: int(token.issued_at.timestamp()),
        6: int(token.ttl.total_seconds()),
        7: BITS,
        8: token.statuses.size,
        9: token.statuses.compressed(),
    }
    return sign_cose(
        cbor2.dumps(payload, canonical=True),
        kid=kid,
        sign=sign,
        content_type=STATUS_CONTENT_TYPE,
    )


@dataclass(frozen=True, slots=True)
class UnverifiedStatusList:
    """A status list file whose signature has NOT been checked."""

    cose: CoseSign1

    @property
    def kid(self) -> bytes:
        return self.cose.kid


def decode_status_list(data: bytes) -> UnverifiedStatusList:
    """Parse the COSE structure only. Raises ``StatusListTooLarge`` / ``StatusListInvalid``."""
    try:
        return UnverifiedStatusList(
            decode_cose(data, content_type=STATUS_CONTENT_TYPE, max_bytes=_MAX_FILE)
        )
    except EnvelopeTooLarge:
        raise StatusListTooLarge(f"status list file exceeds {_MAX_FILE} bytes") from None
    except (EnvelopeMalformed, EnvelopeUnsupported) as exc:
        raise StatusListInvalid(f"not a status list: {exc.detail}", code=exc.code) from None


class StatusListResult(StrEnum):
    VALID = "VALID"
    STALE = "STALE"  # signed and readable, but past issued_at + ttl: show its age (§9.7)
    NOT_YET_VALID = "NOT_YET_VALID"  # issued_at in the future beyond the clock-skew window
    ROLLED_BACK = "ROLLED_BACK"  # sequence below one already seen
    WRONG_LIST = "WRONG_LIST"  # not the list id the licence refers to
    TOO_SMALL = "TOO_SMALL"  # below the herd-privacy floor (per-holder tracking lists)
    BAD_SIGNATURE = "BAD_SIGNATURE"
    UNKNOWN_ISSUER = "UNKNOWN_ISSUER"
    UNREADABLE = "UNREADABLE"
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"


class StatusListReason(StrEnum):
    OK = "ok"
    UNKNOWN_KID = "unknown_kid"
    ISSUER_NOT_BOUND_TO_KEY = "issuer_not_bound_to_key"
    SIGNATURE_MALFORMED = "signature_malformed"
    SIGNATURE_MISMATCH = "signature_mismatch"
    PAYLOAD_MALFORMED = "payload_malformed"
    PAYLOAD_VERSION = "payload_version"
    BELOW_FLOOR = "below_floor"
    LIST_ID_MISMATCH = "list_id_mismatch"
    SEQUENCE_BEHIND = "sequence_behind"
    PAST_TTL = "past_ttl"
    ISSUED_IN_FUTURE = "issued_in_future"


@dataclass(frozen=True, slots=True)
class StatusListVerification:
    """Outcome of ``verify_status_list``. ``token`` is set once the signature verified under a
    trusted key that may sign for the list's issuer and the payload parsed (so also for STALE,
    NOT_YET_VALID, ROLLED_BACK, WRONG_LIST); only ``usable`` lists should be used to decide a
    licence's status. ``age`` = now − issued_at."""

    result: StatusListResult
    reason: StatusListReason
    kid: bytes
    checked_at: datetime
    token: StatusListToken | None = None
    age: timedelta | None = None

    @property
    def usable(self) -> bool:
        return self.result is StatusListResult.VALID


def _parse_token(data: bytes) -> StatusListToken:
    """Raises ``EnvelopeUnsupported`` (version) or ``StatusListInvalid``."""
    try:
        m: Any = cbor2.loads(data, max_depth=1, allow_indefinite=False, allow_duplicate_keys=False)
    except Exception:  # cbor2 raises assorted errors on hostile input
        raise StatusListInvalid("status list payload is not CBOR") from None
    if not int_keyed_map(m):
        raise StatusListInvalid("status list payload is not an integer-keyed map")
    if type(m.get(1)) is not int or m[1] != STATUS_VERSION:
        raise EnvelopeUnsupported("unknown status list version")
    if set(m) != set(range(1, 10)) or m[7] != BITS or type(m[7]) is not int:
        raise StatusListInvalid("status list payload keys or bit width are wrong")
    for key, kind in ((2, str), (3, str), (4, int), (5, int), (6, int), (8, int), (9, bytes)):
        if type(m[key]) is not kind:
            raise StatusListInvalid("status list payload member has the wrong type")
    if not 0 <= m[5] < 253402300800:
        raise StatusListInvalid("iat out of range")
    token = StatusListToken(
        list_id=m[2],
        issuer_code=m[3],
        sequence=m[4],
        issued_at=datetime.fromtimestamp(m[5], UTC),
        ttl=timedelta(seconds=m[6]),
        statuses=StatusList.from_compressed(m[9], m[8]),
    )
    if cbor2.dumps(m, canonical=True) != data:
        raise StatusListInvalid("status list payload is not deterministically encoded")
    return token


def verify_status_list(
    unverified: UnverifiedStatusList,
    trusted_issuer_keys: TrustedKeys,
    now: datetime,
    *,
    expected_list_id: str | None = None,
    min_sequence: int | None = None,
) -> StatusListVerification:
    """Trusted kid → SM2 signature → payload (size floor) → issuer binding → list id →
    sequence → freshness. Raises ``VerificationFailed`` only for a naive ``now``."""
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise VerificationFailed("verification time must be timezone-aware")
    cose = unverified.cose
    r, why = StatusListResult, StatusListReason

    def done(
        result: StatusListResult, reason: StatusListReason, token: StatusListToken | None = None
    ) -> StatusListVerification:
        age = None if token is None else now - token.issued_at
        return StatusListVerification(result, reason, cose.kid, now, token, age)

    entry = trusted_issuer_keys.get(cose.kid)
    if entry is None:
        return done(r.UNKNOWN_ISSUER, why.UNKNOWN_KID)
    key = entry.public_key if isinstance(entry, IssuerKey) else entry
    failure = verify_cose_signature(cose, key)
    if failure is not None:
        return done(r.BAD_SIGNATURE, StatusListReason(failure))
    try:
        token = _parse_token(cose.unverified_payload)
    except EnvelopeUnsupported:
        return done(r.UNSUPPORTED_VERSION, why.PAYLOAD_VERSION)
    except StatusListInvalid as exc:
        if exc.code == "licence.status.below_floor":
            return done(r.TOO_SMALL, why.BELOW_FLOOR)
        return done(r.UNREADABLE, why.PAYLOAD_MALFORMED)
    if not issuer_allowed(entry, token.issuer_code):
        return done(r.UNKNOWN_ISSUER, why.ISSUER_NOT_BOUND_TO_KEY)
    if expected_list_id is not None and token.list_id != expected_list_id:
        return done(r.WRONG_LIST, why.LIST_ID_MISMATCH, token)
    if min_sequence is not None and token.sequence < min_sequence:
        return done(r.ROLLED_BACK, why.SEQUENCE_BEHIND, token)
    if token.issued_at > now + CLOCK_SKEW:
        return done(r.NOT_YET_VALID, why.ISSUED_IN_FUTURE, token)
    if now > token.expires_at:
        return done(r.STALE, why.PAST_TTL, token)
    return done(r.VALID, why.OK, token)
