"""RFC 6238 / RFC 4226 known answers, leeway and replay refusal, the otpauth URI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from identity.totp import TotpParameters, hotp, provisioning_uri, totp, verify_totp

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "rfc6238_appendix_b.json").read_text("utf-8")
)


@pytest.mark.parametrize("algorithm", ["SHA1", "SHA256", "SHA512"])
def test_rfc6238_appendix_b(algorithm: str) -> None:
    case = VECTORS["totp"][algorithm]
    secret = case["secret_ascii"].encode("ascii")
    params = TotpParameters(algorithm=algorithm, digits=8)  # type: ignore[arg-type]
    for at, expected in case["vectors"]:
        assert totp(secret, at, params) == expected, at


def test_rfc4226_appendix_d() -> None:
    secret = VECTORS["hotp"]["secret_ascii"].encode("ascii")
    assert [hotp(secret, i) for i in range(10)] == VECTORS["hotp"]["vectors"]


def test_defaults_are_authenticator_compatible() -> None:
    p = TotpParameters()
    assert (p.algorithm, p.digits, p.step_seconds) == ("SHA1", 6, 30)


def test_leeway_and_replay() -> None:
    secret = b"12345678901234567890"
    now = datetime.fromtimestamp(1111111111, UTC)
    step = 1111111111 // 30
    code_prev = hotp(secret, step - 1)
    code_next = hotp(secret, step + 1)
    code_far = hotp(secret, step + 2)
    assert verify_totp(secret, code_prev, at=now, last_used_step=None) == step - 1
    assert verify_totp(secret, code_next, at=now, last_used_step=None) == step + 1
    assert verify_totp(secret, code_far, at=now, last_used_step=None) is None
    assert verify_totp(secret, code_prev, at=now, last_used_step=None, leeway=0) is None
    # the same step, or an earlier one, once a step was used: refused
    assert verify_totp(secret, hotp(secret, step), at=now, last_used_step=step) is None
    assert verify_totp(secret, code_prev, at=now, last_used_step=step - 1) is None
    assert verify_totp(secret, code_next, at=now, last_used_step=step) == step + 1
    for bad in ("", "12345", "1234567", "abcdef", "１２３４５６"):
        assert verify_totp(secret, bad, at=now, last_used_step=None) is None


def test_provisioning_uri() -> None:
    uri = provisioning_uri(b"12345678901234567890", account="zhang.xm", issuer="一网通办")
    assert uri == (
        "otpauth://totp/%E4%B8%80%E7%BD%91%E9%80%9A%E5%8A%9E%3Azhang.xm?"
        "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=%E4%B8%80%E7%BD%91%E9%80%9A%E5%8A%9E"
        "&algorithm=SHA1&digits=6&period=30"
    )


def test_bad_parameters_refused() -> None:
    with pytest.raises(Exception) as caught:
        TotpParameters(digits=4)
    assert getattr(caught.value, "code", "") == "identity.totp_parameters"
