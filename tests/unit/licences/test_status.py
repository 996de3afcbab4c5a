"""2-bit status lists (elicence spec §9.4): bit layout against the IETF Token Status List
example, random set/get, allocation, compression, signatures and tampering."""

from __future__ import annotations

import base64
import secrets
import zlib
from datetime import UTC, datetime, timedelta

import cbor2
import pytest

from licences.envelope import IssuerKey, sign_cose
from licences.errors import StatusListFull, StatusListInvalid, StatusListTooLarge
from licences.status import (
    MAX_ENTRIES,
    MIN_ENTRIES,
    STATUS_CONTENT_TYPE,
    LicenceStatus,
    StatusList,
    StatusListReason,
    StatusListResult,
    StatusListToken,
    allocate_index,
    decode_status_list,
    sign_status_list,
    verify_status_list,
)
from tests.unit.licences._support import ISSUER_CODE, issuer_key, kid_of, other_key
from trust.errors import TrustError, VerificationFailed

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def _token(statuses: StatusList | None = None, **changes: object) -> StatusListToken:
    fields: dict[str, object] = {
        "list_id": "hn-jst-2026-001",
        "issuer_code": ISSUER_CODE,
        "sequence": 42,
        "issued_at": NOW - timedelta(minutes=5),
        "ttl": timedelta(hours=24),
        "statuses": statuses if statuses is not None else StatusList.new(),
    }
    fields.update(changes)
    return StatusListToken(**fields)  # type: ignore[arg-type]


def _signed(token: StatusListToken | None = None) -> bytes:
    key = issuer_key()
    return sign_status_list(token or _token(), kid=kid_of(key), sign=key.sign)


def _trusted() -> dict[bytes, object]:
    return {kid_of(issuer_key()): IssuerKey(issuer_key().public_key(), frozenset({ISSUER_CODE}))}


def _verify(data: bytes, now: datetime = NOW, **kwargs: object):  # type: ignore[no-untyped-def]
    return verify_status_list(decode_status_list(data), _trusted(), now, **kwargs)  # type: ignore[arg-type]


def test_values_follow_the_spec_table() -> None:
    assert [s.value for s in LicenceStatus] == [0, 1, 2, 3]
    assert [s.name for s in LicenceStatus] == ["VALID", "SUSPENDED", "INVALID", "SUPERSEDED"]


def test_bit_layout_matches_the_token_status_list_example() -> None:
    # draft-ietf-oauth-status-list, 2-bit example: lst "eNo76fITAAPfAgc" holds the statuses
    # 1 2 0 3 0 1 0 1 1 2 3 3, least significant bits first: bytes C9 44 F9.
    example = zlib.decompress(base64.urlsafe_b64decode("eNo76fITAAPfAgc="))
    assert example == bytes.fromhex("c944f9")
    values = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]
    lst = StatusList.new().with_statuses({i: LicenceStatus(v) for i, v in enumerate(values)})
    assert lst.packed[:3] == example
    assert not any(lst.packed[3:])
    assert [lst.get(i) for i in range(12)] == values


def test_set_and_get_at_random_positions() -> None:
    lst = StatusList.new()
    expected: dict[int, LicenceStatus] = {}
    for _ in range(20):
        updates = {
            secrets.randbelow(MIN_ENTRIES): LicenceStatus(secrets.randbelow(4)) for _ in range(500)
        }
        lst = lst.with_statuses(updates)
        expected.update(updates)
    for index, value in expected.items():
        assert lst.get(index) is value
        # Neighbours sharing the byte are unaffected by each other.
    for index in range(0, MIN_ENTRIES, 997):
        assert lst.get(index) is expected.get(index, LicenceStatus.VALID)
    assert lst.get(MIN_ENTRIES - 1) is expected.get(MIN_ENTRIES - 1, LicenceStatus.VALID)
    round_trip = StatusList.from_compressed(lst.compressed(), lst.size)
    assert round_trip == lst


def test_set_overwrites_both_bits() -> None:
    lst = StatusList.new().with_statuses({5: LicenceStatus.SUPERSEDED})
    for value in (LicenceStatus.SUSPENDED, LicenceStatus.INVALID, LicenceStatus.VALID):
        lst = lst.with_statuses({5: value})
        assert lst.get(5) is value
        assert lst.get(4) is LicenceStatus.VALID
        assert lst.get(6) is LicenceStatus.VALID


def test_all_zero_list_compresses_to_almost_nothing() -> None:
    lst = StatusList.new()
    assert lst.size == 131_072
    assert len(lst.packed) == 32 * 1024
    compressed = lst.compressed()
    assert len(compressed) < 100  # 32 KiB of zeros -> a few dozen bytes with zlib -9
    signed = _signed()
    assert len(signed) < 300  # the whole signed file


def test_bad_indices_values_and_sizes() -> None:
    lst = StatusList.new()
    for index in (-1, MIN_ENTRIES, True, 1.0):
        with pytest.raises(StatusListInvalid):
            lst.get(index)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        lst.with_statuses({0: 4})  # type: ignore[dict-item]
    for size in (MIN_ENTRIES - 4, MAX_ENTRIES + 4, MIN_ENTRIES + 1, 0):
        with pytest.raises(StatusListInvalid):
            StatusList.new(size)
    with pytest.raises(StatusListInvalid):
        StatusList(MIN_ENTRIES, b"\x00" * 10)


def test_from_compressed_bounds() -> None:
    bomb = zlib.compress(bytes(MAX_ENTRIES), 9)
    with pytest.raises(StatusListInvalid):
        StatusList.from_compressed(bomb, MIN_ENTRIES)  # inflates beyond the expected size
    with pytest.raises(StatusListInvalid):
        StatusList.from_compressed(zlib.compress(bytes(100)), MIN_ENTRIES)  # too short
    with pytest.raises(StatusListInvalid):
        StatusList.from_compressed(b"not zlib", MIN_ENTRIES)
    with pytest.raises(StatusListInvalid):
        StatusList.from_compressed(StatusList.new().compressed() + b"x", MIN_ENTRIES)


def test_allocate_index_never_collides() -> None:
    used: set[int] = set()
    for _ in range(5000):
        index = allocate_index(used)
        assert 0 <= index < MIN_ENTRIES
        assert index not in used
        used.add(index)
    # Spread over the whole list (random, not sequential).
    assert max(used) > MIN_ENTRIES * 0.9
    assert min(used) < MIN_ENTRIES * 0.1


def test_allocate_index_when_nearly_full_and_full() -> None:
    used = set(range(MIN_ENTRIES))
    free = {17, 99_999}
    used -= free
    seen = {allocate_index(used) for _ in range(40)}
    assert seen <= free
    assert seen == free  # both are reachable (probability of missing one: 2^-39)
    with pytest.raises(StatusListFull):
        allocate_index(set(range(MIN_ENTRIES)))


# --------------------------------------------------------------------------- signed lists


def test_signed_round_trip() -> None:
    lst = StatusList.new().with_statuses(
        {7: LicenceStatus.SUSPENDED, 70_000: LicenceStatus.INVALID}
    )
    token = _token(lst)
    result = _verify(_signed(token), expected_list_id="hn-jst-2026-001", min_sequence=42)
    assert result.result is StatusListResult.VALID
    assert result.usable
    assert result.token == token
    assert result.token.statuses.get(7) is LicenceStatus.SUSPENDED
    assert result.token.statuses.get(70_000) is LicenceStatus.INVALID
    assert result.age == timedelta(minutes=5)


def test_payload_shape() -> None:
    data = _signed()
    payload = cbor2.loads(cbor2.loads(data).value[2])
    assert sorted(payload) == list(range(1, 10))
    assert payload[7] == 2
    assert payload[8] == MIN_ENTRIES
    assert zlib.decompress(payload[9]) == bytes(MIN_ENTRIES // 4)
    protected = cbor2.loads(cbor2.loads(data).value[0])
    assert protected[3] == STATUS_CONTENT_TYPE


def test_tampering_gives_bad_signature() -> None:
    data = bytearray(_signed())
    outer = cbor2.loads(bytes(data))
    payload = outer.value[2]
    start = bytes(data).index(payload)
    for offset in range(len(payload)):
        tampered = bytearray(data)
        tampered[start + offset] ^= 0x01
        result = _verify(bytes(tampered))
        assert result.result is StatusListResult.BAD_SIGNATURE
        assert result.token is None


def test_unknown_key_and_unbound_issuer() -> None:
    data = _signed()
    unverified = decode_status_list(data)
    none = verify_status_list(unverified, {}, NOW)
    assert none.result is StatusListResult.UNKNOWN_ISSUER
    other = {kid_of(issuer_key()): IssuerKey(issuer_key().public_key(), frozenset({"X" * 18}))}
    unbound = verify_status_list(unverified, other, NOW)  # type: ignore[arg-type]
    assert unbound.reason is StatusListReason.ISSUER_NOT_BOUND_TO_KEY
    wrong = {kid_of(issuer_key()): other_key().public_key()}
    assert verify_status_list(unverified, wrong, NOW).result is StatusListResult.BAD_SIGNATURE  # type: ignore[arg-type]


def test_freshness_sequence_and_list_id() -> None:
    data = _signed()
    token_time = NOW - timedelta(minutes=5)
    assert _verify(data, now=token_time + timedelta(hours=24)).result is StatusListResult.VALID
    stale = _verify(data, now=token_time + timedelta(hours=24, seconds=1))
    assert stale.result is StatusListResult.STALE
    assert stale.age == timedelta(hours=24, seconds=1)
    assert not stale.usable
    future = _verify(data, now=token_time - timedelta(seconds=91))
    assert future.result is StatusListResult.NOT_YET_VALID
    assert _verify(data, min_sequence=43).result is StatusListResult.ROLLED_BACK
    assert _verify(data, expected_list_id="other").result is StatusListResult.WRONG_LIST
    with pytest.raises(VerificationFailed):
        _verify(data, now=datetime(2026, 1, 1))


def _sign_payload(payload: dict[int, object]) -> bytes:
    key = issuer_key()
    body = cbor2.dumps(payload, canonical=True)
    return sign_cose(body, kid=kid_of(key), sign=key.sign, content_type=STATUS_CONTENT_TYPE)


def test_signed_but_small_odd_or_newer() -> None:
    base = cbor2.loads(cbor2.loads(_signed()).value[2])
    small = {**base, 8: 1024, 9: zlib.compress(bytes(256))}
    assert _verify(_sign_payload(small)).result is StatusListResult.TOO_SMALL
    assert _verify(_sign_payload({**base, 1: 2})).result is StatusListResult.UNSUPPORTED_VERSION
    for broken in ({**base, 7: 1}, {**base, 9: b"junk"}, {**base, 6: 5},
                   {k: v for k, v in base.items() if k != 4}, {**base, 2: "bad id!"},
                   {True if k == 1 else k: v for k, v in base.items()}):  # fmt: skip
        result = _verify(_sign_payload(broken))
        assert result.result is StatusListResult.UNREADABLE, broken


def test_a_licence_envelope_is_not_a_status_list() -> None:
    from licences.envelope import sign_envelope
    from tests.unit.licences._support import typical_payload

    key = issuer_key()
    licence = sign_envelope(typical_payload(), kid=kid_of(key), sign=key.sign)
    with pytest.raises(StatusListInvalid):
        decode_status_list(licence)


def test_decode_limits_and_garbage() -> None:
    with pytest.raises(StatusListTooLarge):
        decode_status_list(bytes(MAX_ENTRIES))
    for data in (b"", b"\x00", b"\x84", cbor2.dumps([b"", {}, b"", b""]), secrets.token_bytes(500)):
        with pytest.raises(TrustError) as err:
            decode_status_list(data)
        assert err.value.code.startswith("licence.")


def test_token_validation() -> None:
    for changes in ({"list_id": ""}, {"issuer_code": "short"}, {"sequence": -1},
                    {"issued_at": datetime(2026, 1, 1)},
                    {"ttl": timedelta(seconds=10)}, {"ttl": timedelta(days=30)},
                    {"ttl": timedelta(seconds=90.5)}, {"statuses": b""}):  # fmt: skip
        with pytest.raises(StatusListInvalid):
            _token(**changes)
