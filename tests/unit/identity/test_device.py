"""RFC 8628 rules: user-code alphabet, entropy and normalisation; the §3.5 polling decision."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from identity.device import (
    SLOW_DOWN_STEP,
    USER_CODE_ALPHABET,
    USER_CODE_LENGTH,
    DeviceStatus,
    PollOutcome,
    format_user_code,
    new_device_code,
    new_user_code,
    normalise_user_code,
    poll,
    verification_uri_complete,
)

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=10)


def test_alphabet_is_unambiguous() -> None:
    # No vowels (no words), no digits (no 0/O, 1/I/L confusion), no duplicates.
    assert set(USER_CODE_ALPHABET).isdisjoint("AEIOUY0123456789")
    assert len(set(USER_CODE_ALPHABET)) == len(USER_CODE_ALPHABET) == 20


def test_user_code_entropy_is_enough() -> None:
    # RFC 8628 §6.1 example: 8 characters of 20 consonants, ~34.5 bits.
    assert USER_CODE_LENGTH * math.log2(len(USER_CODE_ALPHABET)) > 34


def test_user_codes_use_only_the_alphabet_and_vary() -> None:
    codes = {new_user_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(len(c) == USER_CODE_LENGTH and set(c) <= set(USER_CODE_ALPHABET) for c in codes)


def test_device_code_is_long() -> None:
    assert len(new_device_code()) >= 43  # 256 bits, base64url


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("BCDF-GHJK", "BCDFGHJK"),
        ("bcdf ghjk", "BCDFGHJK"),
        ("bcdf－ghjk", "BCDFGHJK"),  # full-width hyphen from a Chinese keyboard
        ("BCDFGHJK", "BCDFGHJK"),
        ("BCDF-GHJ", None),  # too short
        ("BCDF-GHJA", None),  # vowel
        ("BCDF-GHJ0", None),  # digit
        ("B" * 40, None),
        ("", None),
    ],
)
def test_normalise(typed: str, expected: str | None) -> None:
    assert normalise_user_code(typed) == expected


def test_verification_uri_complete_carries_the_formatted_code() -> None:
    uri = verification_uri_complete("https://id.example.gov.cn/oidc/device", "BCDFGHJK")
    parts = urlsplit(uri)
    assert parts.path == "/oidc/device"
    assert parse_qs(parts.query) == {"user_code": [format_user_code("BCDFGHJK")]}
    assert normalise_user_code(parse_qs(parts.query)["user_code"][0]) == "BCDFGHJK"


def _poll(status: DeviceStatus, now: datetime, last: datetime | None = None) -> PollOutcome:
    return poll(status=status, now=now, expires_at=LATER, last_polled_at=last, interval=5).outcome


def test_pending_then_slow_down_when_polling_too_fast() -> None:
    assert _poll(DeviceStatus.PENDING, NOW) is PollOutcome.AUTHORIZATION_PENDING
    fast = poll(
        status=DeviceStatus.PENDING,
        now=NOW + timedelta(seconds=2),
        expires_at=LATER,
        last_polled_at=NOW,
        interval=5,
    )
    assert fast.outcome is PollOutcome.SLOW_DOWN
    assert fast.interval == 5 + SLOW_DOWN_STEP
    patient = poll(
        status=DeviceStatus.PENDING,
        now=NOW + timedelta(seconds=10),
        expires_at=LATER,
        last_polled_at=NOW,
        interval=10,
    )
    assert patient.outcome is PollOutcome.AUTHORIZATION_PENDING
    assert patient.interval == 10


def test_denied_approved_consumed_and_expired() -> None:
    assert _poll(DeviceStatus.DENIED, NOW) is PollOutcome.ACCESS_DENIED
    assert _poll(DeviceStatus.APPROVED, NOW) is PollOutcome.ISSUE
    assert _poll(DeviceStatus.CONSUMED, NOW) is PollOutcome.INVALID_GRANT
    assert _poll(DeviceStatus.APPROVED, LATER) is PollOutcome.EXPIRED_TOKEN
    assert _poll(DeviceStatus.PENDING, LATER + timedelta(seconds=1)) is PollOutcome.EXPIRED_TOKEN
