"""Master key: sources, file permissions, no overwrite, wrapping, and secrecy of its bytes."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import pytest

from keys.masterkey import MasterKey, create_master_key_file
from trust.config import load_settings
from trust.errors import Conflict, IntegrityFailure, Misconfigured

HEX = "7f3a" * 16  # 64 hex characters


def _settings(tmp_path: Path, **overrides: object):  # type: ignore[no-untyped-def]
    base: dict[str, object] = {"environment": "test", "data_dir": tmp_path / "var"}
    base.update(overrides)
    return load_settings(environ={}, overrides=base)


def _write(path: Path, text: str, mode: int) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_from_hex_accepts_64_hex_characters_and_surrounding_whitespace() -> None:
    a = MasterKey.from_hex(HEX, source="test")
    b = MasterKey.from_hex(f"  {HEX.upper()}\n", source="test")
    assert a.check_value == b.check_value
    assert len(a.check_value) == 32


@pytest.mark.parametrize("bad", ["", "00" * 31, "00" * 33, "zz" * 32, HEX[:-1] + "g"])
def test_from_hex_refuses_wrong_length_or_non_hex_without_echoing_it(bad: str) -> None:
    with pytest.raises(Misconfigured) as info:
        MasterKey.from_hex(bad, source="settings")
    assert info.value.code == "keys.master_key_invalid"
    assert "settings" in info.value.detail
    if bad:
        assert bad not in str(info.value)


def test_repr_str_and_pickle_never_show_the_key() -> None:
    key = MasterKey.from_hex(HEX, source="test")
    for text in (repr(key), str(key), f"{key}", f"{key!r}"):
        assert HEX not in text.lower()
        assert "hidden" in text
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_different_keys_have_different_check_values_and_check_is_not_the_key() -> None:
    a = MasterKey.from_hex(HEX, source="t")
    b = MasterKey.from_hex("7f3b" + HEX[4:], source="t")
    assert a.check_value != b.check_value
    assert a.check_value.hex() != HEX
    assert bytes.fromhex(HEX) not in a.check_value


def test_wrap_is_encrypted_bound_to_aad_and_refused_under_another_key() -> None:
    key = MasterKey.from_hex(HEX, source="t")
    secret = b"PKCS#8 stand-in " * 4
    blob = key.wrap(secret, aad=b"record-1")
    assert secret not in blob
    assert key.wrap(secret, aad=b"record-1") != blob  # fresh nonce each time
    assert key.unwrap(blob, aad=b"record-1") == secret
    with pytest.raises(IntegrityFailure) as info:
        key.unwrap(blob, aad=b"record-2")
    assert info.value.code == "keys.unwrap_failed"
    other = MasterKey.from_hex("11" * 32, source="t")
    with pytest.raises(IntegrityFailure):
        other.unwrap(blob, aad=b"record-1")


def test_from_settings_prefers_the_setting_over_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "master.key", "22" * 32, 0o600)
    settings = _settings(tmp_path, master_key=HEX, master_key_file=path)
    assert (
        MasterKey.from_settings(settings).check_value
        == MasterKey.from_hex(HEX, source="t").check_value
    )


def test_from_settings_reads_a_0600_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "master.key", HEX + "\n", 0o600)
    key = MasterKey.from_settings(_settings(tmp_path, master_key_file=path))
    assert key.check_value == MasterKey.from_hex(HEX, source="t").check_value


def test_from_settings_reads_a_0400_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "master.key", HEX, 0o400)
    assert MasterKey.from_settings(_settings(tmp_path, master_key_file=path))


def test_default_file_location_is_under_the_data_dir(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    create_master_key_file(settings.resolved_master_key_file)
    assert MasterKey.from_settings(settings)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o700 | 0o004])
def test_file_readable_by_group_or_others_is_refused_with_the_fix(
    tmp_path: Path, mode: int
) -> None:
    path = _write(tmp_path / "master.key", HEX, mode)
    with pytest.raises(Misconfigured) as info:
        MasterKey.from_settings(_settings(tmp_path, master_key_file=path))
    assert info.value.code == "keys.master_key_file_mode"
    assert str(path) in info.value.detail
    assert "chmod 600" in info.value.detail
    assert f"{mode:04o}" in info.value.detail
    assert HEX not in str(info.value)
    assert path.read_text() == HEX  # untouched


def test_directory_instead_of_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.mkdir(mode=0o700)
    with pytest.raises(Misconfigured) as info:
        MasterKey.from_file(path)
    assert "not a regular file" in info.value.detail


def test_missing_file_names_the_setting_and_trustctl_init(tmp_path: Path) -> None:
    with pytest.raises(Misconfigured) as info:
        MasterKey.from_settings(_settings(tmp_path))
    assert info.value.code == "keys.master_key_missing"
    assert "TRUST_MASTER_KEY" in info.value.detail
    assert "trustctl init" in info.value.detail


def test_file_with_bad_content_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(b"\xff\xfe" * 32)
    path.chmod(0o600)
    with pytest.raises(Misconfigured) as info:
        MasterKey.from_file(path)
    assert info.value.code == "keys.master_key_invalid"


def test_placeholder_key_is_refused_in_production(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        environment="production",
        database_url="postgresql://db/x",
        public_base_url="https://trust.example",
        master_key="00" * 32,
    )
    with pytest.raises(Misconfigured) as info:
        MasterKey.from_settings(settings)
    assert info.value.code == "keys.master_key_placeholder"


def test_create_writes_a_random_0600_key_that_loads(tmp_path: Path) -> None:
    path = create_master_key_file(tmp_path / "sub" / "master.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert len(text.strip()) == 64
    assert MasterKey.from_file(path)
    second = create_master_key_file(tmp_path / "other.key")
    assert second.read_text() != text


def test_create_is_0600_even_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = create_master_key_file(tmp_path / "master.key")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_create_refuses_to_overwrite_and_leaves_the_file_alone(tmp_path: Path) -> None:
    path = create_master_key_file(tmp_path / "master.key")
    before = path.read_bytes()
    with pytest.raises(Conflict) as info:
        create_master_key_file(path)
    assert info.value.code == "keys.master_key_exists"
    assert str(path) in info.value.detail
    assert path.read_bytes() == before


def test_create_refuses_a_symlink_in_place_of_the_file(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("precious")
    link = tmp_path / "master.key"
    link.symlink_to(target)
    with pytest.raises(Conflict):
        create_master_key_file(link)
    assert target.read_text() == "precious"
