"""C2SP checkpoint notes: exact format, strict parsing, SM2 signature checked by the OpenSSL CLI."""

from __future__ import annotations

import base64
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail
from tests.unit.tlog._support import SM2TestSigner
from trust.crypto import SM2PublicKey, sha256
from trust.errors import InvalidInput
from trust.tlog.checkpoint import (
    SIGNATURE_TYPE,
    Checkpoint,
    MalformedCheckpoint,
    key_hint,
    parse_body,
    parse_note,
    sign_checkpoint,
)
from trust.tlog.merkle import leaf_hash

ORIGIN = "ywtb-trust.example/log"
ROOT = leaf_hash(b"root")
AT = datetime(2026, 11, 22, 8, 0, 0, tzinfo=UTC)


def _checkpoint(size: int = 42) -> Checkpoint:
    return Checkpoint(ORIGIN, size, ROOT, AT)


def test_body_is_the_c2sp_layout() -> None:
    body = _checkpoint().body()
    root_b64 = base64.b64encode(ROOT).decode()
    assert body == f"{ORIGIN}\n42\n{root_b64}\ntime 2026-11-22T08:00:00Z\n".encode()
    assert parse_body(body) == _checkpoint()


def test_key_hint_is_c2sp_recommendation_with_private_type() -> None:
    point = b"\x04" + bytes(64)
    expected = sha256(ORIGIN.encode() + b"\n" + b"\xff" + b"ywtb-trust/sm2-sm3" + point)[:4]
    assert SIGNATURE_TYPE == b"\xffywtb-trust/sm2-sm3"
    assert key_hint(ORIGIN, point) == expected


def test_note_round_trip() -> None:
    signer = SM2TestSigner()
    signed = sign_checkpoint(_checkpoint(), key_name=ORIGIN, signer=signer)
    note = signed.note()
    lines = note.split("\n")
    assert lines[4] == ""
    assert lines[5].startswith(f"\u2014 {ORIGIN} ")
    point = SM2PublicKey.from_der(signer.public_key_der()).point
    blob = base64.b64decode(lines[5].split(" ")[2])
    assert blob[:4] == key_hint(ORIGIN, point)
    assert parse_note(note) == signed
    assert parse_note(note.encode()) == signed


def test_only_sm2_signers() -> None:
    class ES256Signer(SM2TestSigner):
        @property
        def algorithm(self):  # type: ignore[no-untyped-def]
            from trust.signing import SignatureAlgorithm

            return SignatureAlgorithm.ES256

    with pytest.raises(InvalidInput) as exc:
        sign_checkpoint(_checkpoint(), key_name=ORIGIN, signer=ES256Signer())
    assert exc.value.code == "log.unsupported_key"


def _good_note() -> str:
    return sign_checkpoint(_checkpoint(), key_name=ORIGIN, signer=SM2TestSigner()).note()


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda n: n.replace("\n42\n", "\n042\n"), id="leading-zero"),
        pytest.param(lambda n: n.replace("\n42\n", "\n-42\n"), id="negative"),
        pytest.param(lambda n: n.replace("\n42\n", "\n99999999999999999999\n"), id="huge"),
        pytest.param(lambda n: n.replace("\n42\n", "\n\n"), id="empty-size"),
        pytest.param(lambda n: n.replace("time ", "time x"), id="bad-time"),
        pytest.param(lambda n: n.replace(base64.b64encode(ROOT).decode(), "AAAA"), id="short-root"),
        pytest.param(lambda n: n.replace(base64.b64encode(ROOT).decode(), "!!"), id="not-b64"),
        pytest.param(lambda n: n.split("\n\n")[0] + "\n", id="no-signature"),
        pytest.param(lambda n: n.rstrip("\n"), id="no-final-newline"),
        pytest.param(lambda n: n.replace("\u2014 ", "- "), id="no-em-dash"),
        pytest.param(lambda n: n.replace(f"\u2014 {ORIGIN}", "\u2014 a+b"), id="plus-in-name"),
        pytest.param(lambda n: n.replace("\n\n", "\n\t\n"), id="control-char"),
        pytest.param(lambda n: n + "\u2014 x AAAA\n", id="tiny-signature"),
        pytest.param(lambda n: n + ("\u2014 x " + "A" * 80 + "\n") * 40, id="too-many"),
        pytest.param(lambda n: n + "x" * 70000, id="too-large"),
        pytest.param(lambda n: "\n".join(n.split("\n")[1:]), id="no-origin"),
    ],
)
def test_malformed_notes(mangle: object) -> None:
    note = mangle(_good_note())  # type: ignore[operator]
    with pytest.raises(MalformedCheckpoint) as exc:
        parse_note(note)
    assert exc.value.code == "log.checkpoint_malformed"


def test_not_utf8() -> None:
    with pytest.raises(MalformedCheckpoint):
        parse_note(b"\xff\xfe\n1\nAAAA\n\n\xe2\x80\x94 x AAAAAAAA\n")


def test_openssl_cli_verifies_the_checkpoint_signature(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        skip_or_fail("openssl CLI not installed")
        return
    signer = SM2TestSigner()
    signed = sign_checkpoint(_checkpoint(7), key_name=ORIGIN, signer=signer)
    parsed = parse_note(signed.note())
    (tmp_path / "body").write_bytes(parsed.body)
    (tmp_path / "sig").write_bytes(parsed.signatures[0].signature)
    (tmp_path / "pub.pem").write_text(SM2PublicKey.from_der(signer.public_key_der()).to_pem())

    def verify(body: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                openssl, "dgst", "-sm3", "-verify", str(tmp_path / "pub.pem"),
                "-sigopt", "distid:1234567812345678",
                "-signature", str(tmp_path / "sig"), str(tmp_path / body),
            ],
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip

    ok = verify("body")
    assert ok.returncode == 0, ok.stderr
    assert "Verified OK" in ok.stdout
    (tmp_path / "other").write_bytes(parsed.body.replace(b"\n7\n", b"\n8\n"))
    assert verify("other").returncode != 0
