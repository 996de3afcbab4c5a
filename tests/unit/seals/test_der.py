"""seals.der: exact slices, canonical findings, limits; hostile DER never raises anything but
trust.errors and stays fast."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

import pytest

from seals.der import Tags, parse, read_int, read_oid, read_time
from seals.der_build import enc_generalized_time, enc_integer, enc_oid, enc_seq
from seals.errors import MalformedDer
from seals.ses import classify_signed_value, parse_seal, parse_ses_signature
from tests.unit.seals._ses_support import sample
from trust.errors import TrustError


def test_raw_slices_are_exact_bytes_of_the_input() -> None:
    data = enc_seq(enc_integer(5), enc_seq(enc_oid("1.2.156.10197.1.501")))
    root = parse(data).root
    assert root.raw == data
    assert root.children[1].raw == enc_seq(enc_oid("1.2.156.10197.1.501"))
    assert read_oid(root.children[1].children[0]) == "1.2.156.10197.1.501"


@pytest.mark.parametrize("value", [0, 1, 127, 128, 255, 256, -1, -128, -129, 2**255, -(2**70)])
def test_integer_round_trip(value: int) -> None:
    el = parse(enc_integer(value)).root
    assert read_int(el) == value
    assert parse(enc_integer(value)).findings == ()


def test_generalized_time_round_trip_is_canonical() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    der = enc_generalized_time(when)
    assert der == b"\x18\x0f20260102030405Z"
    assert read_time(parse(der).root) == (when, True)


def test_non_minimal_length_and_integer_are_findings_not_errors() -> None:
    parsed = parse(bytes.fromhex("30 81 05 02 03 00 00 01".replace(" ", "")))
    assert "der.non_minimal_length@0" in parsed.findings
    assert "der.non_minimal_integer@3" in parsed.findings


@pytest.mark.parametrize(
    ("hex_data", "code"),
    [
        ("3080020100 0000", "seal.der_indefinite_length"),
        ("30030201", "seal.malformed_der"),  # truncated
        ("3003020101ff", "seal.der_trailing_data"),
        ("2403040100", "seal.malformed_der"),  # constructed OCTET STRING is BER, not DER
        ("3085ffffffffff", "seal.malformed_der"),  # 5-byte length field
    ],
)
def test_rejected_encodings(hex_data: str, code: str) -> None:
    data = bytes.fromhex(hex_data.replace(" ", ""))
    with pytest.raises(MalformedDer) as info:
        parse(data)
    assert info.value.code == code


def test_ten_thousand_deep_nesting_is_refused_quickly() -> None:
    data = b"\x05\x00"
    for _ in range(10_000):
        n = len(data)
        length = (
            bytes([n])
            if n < 0x80
            else bytes([0x82 if n < 65536 else 0x83]) + n.to_bytes(2 if n < 65536 else 3, "big")
        )
        data = b"\x30" + length + data
    start = time.monotonic()
    with pytest.raises(MalformedDer) as info:
        parse(data)
    assert info.value.code == "seal.der_too_deep"
    for reader in (parse_seal, parse_ses_signature, classify_signed_value):
        with pytest.raises(TrustError):
            reader(data)
    assert time.monotonic() - start < 2


def test_every_truncation_of_a_real_signature_fails_cleanly_and_fast() -> None:
    data = sample("esl-demo", "test.ofd")  # the OFD itself is not DER; use its SignedValue
    from tests.unit.seals._ses_support import unzip

    signed_value = unzip(data)["Doc_0/Signs/Sign_0/SignedValue.dat"]
    start = time.monotonic()
    for cut in range(len(signed_value)):
        with pytest.raises(TrustError):
            parse_ses_signature(signed_value[:cut])
    seal = sample("esl-demo", "Seal.esl")
    for cut in range(len(seal)):
        with pytest.raises(TrustError):
            parse_seal(seal[:cut])
    assert time.monotonic() - start < 10


def test_truncated_inner_elements_with_patched_outer_length_fail_cleanly() -> None:
    """Cut the seal at every 97th byte but keep the outer header consistent, so the reader has
    to descend before it meets the damage."""
    seal = sample("ofdrw", "gm", "UserV4.esl")
    for cut in range(8, len(seal), 97):
        body = seal[4:cut]
        data = b"\x30\x82" + len(body).to_bytes(2, "big") + body
        with pytest.raises(TrustError):
            parse_seal(data)


def test_random_byte_mutations_only_raise_trust_errors() -> None:
    rng = random.Random(20261122)  # fixed seed: reproducible
    originals = [sample("ofdrw", "gm", "SignedValueV4.dat"), sample("ofdrw", "gm", "UserV1.esl")]
    start = time.monotonic()
    for i in range(1500):
        data = bytearray(originals[i % 2])
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(min(len(data), 2000))] = rng.randrange(256)
        try:
            if i % 2:
                parse_seal(bytes(data))
            else:
                parse_ses_signature(bytes(data))
        except TrustError:
            pass
    assert time.monotonic() - start < 20


def test_string_types_are_reported() -> None:
    from seals.der import read_text

    value, tag = read_text(parse(b"\x13\x03ABC").root)
    assert (value, tag) == ("ABC", Tags.PRINTABLE_STRING)
