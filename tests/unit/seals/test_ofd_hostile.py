"""Hostile OFD packages: a 1 GB zip bomb, 100,000 entries, paths escaping the root, XML with a
DOCTYPE/entities, broken ZIPs. Each gives a clear trust.errors error (or an INVALID result for a
single signature) within a few seconds."""

from __future__ import annotations

import contextlib
import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from seals.errors import OfdError, OfdTooLarge
from seals.ofd_package import open_package
from seals.verification import NoTrustAnchors, Verdict, verify_ofd
from tests.unit.seals._ses_support import NOW, minimal_ofd, sample, unzip, zip_files
from trust.errors import TrustError

_GIB = 1024 * 1024 * 1024


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OFD.xml plus a 1 GiB entry of zeros, written in a streaming way (never held in memory)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.ofd"
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("OFD.xml", unzip(minimal_ofd())["OFD.xml"])
        with zf.open("Doc_0/Res/zeros.bin", "w", force_zip64=True) as entry:
            for _ in range(_GIB // len(chunk)):
                entry.write(chunk)
    return path


def test_zip_bomb_is_refused_without_inflating_it(zip_bomb: Path) -> None:
    data = zip_bomb.read_bytes()
    assert len(data) < 8 * 1024 * 1024
    start = time.monotonic()
    with pytest.raises(OfdTooLarge) as info:
        verify_ofd(data, trust=NoTrustAnchors(), now=NOW)
    assert info.value.code == "ofd.entry_too_large"
    assert time.monotonic() - start < 3


def _patch_declared_sizes(data: bytes, name: bytes, new_size: int) -> bytes:
    """Make the central directory (and local header) claim a small uncompressed size."""
    out = bytearray(data)
    for sig, size_offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        pos = 0
        while (pos := out.find(sig, pos)) >= 0:
            name_len_offset = 28 if sig == b"PK\x01\x02" else 26
            name_len = int.from_bytes(
                out[pos + name_len_offset : pos + name_len_offset + 2], "little"
            )
            header = 46 if sig == b"PK\x01\x02" else 30
            if out[pos + header : pos + header + name_len] == name:
                out[pos + size_offset : pos + size_offset + 4] = new_size.to_bytes(4, "little")
            pos += 4
    return bytes(out)


def test_bomb_with_a_lying_size_field_is_stopped_by_the_streaming_cap() -> None:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("OFD.xml", unzip(minimal_ofd())["OFD.xml"])
        zf.writestr("big.bin", bytes(300 * 1024 * 1024 // 100))  # 3 MB of zeros, ~3 KB deflated
    lying = _patch_declared_sizes(raw.getvalue(), b"big.bin", 1000)
    start = time.monotonic()
    with pytest.raises(TrustError) as info:
        open_package(lying)
    assert info.value.code in ("ofd.zip_bomb", "ofd.bad_zip")
    with pytest.raises(OfdTooLarge) as ratio:  # honest sizes, but a ratio far above 100:1
        open_package(raw.getvalue())
    assert ratio.value.code == "ofd.entry_too_large"
    assert time.monotonic() - start < 3


def _many_entries(count: int) -> Iterator[tuple[str, bytes]]:
    yield "OFD.xml", unzip(minimal_ofd())["OFD.xml"]
    for i in range(count):
        yield f"Doc_0/Res/r{i}.xml", b""


def test_hundred_thousand_entries_are_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "many.ofd"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in _many_entries(100_000):
            zf.writestr(name, data)
    data = path.read_bytes()
    start = time.monotonic()
    with pytest.raises(OfdTooLarge) as info:
        verify_ofd(data, trust=NoTrustAnchors(), now=NOW)
    assert info.value.code == "ofd.too_many_entries"
    assert time.monotonic() - start < 2


def test_zip_entry_names_escaping_the_root_are_refused() -> None:
    files = unzip(minimal_ofd())
    for bad in ("../evil.xml", "Doc_0/../../evil.xml", "/abs.xml", "a\\b.xml"):
        with pytest.raises(OfdError) as info:
            open_package(zip_files({**files, bad: b"x"}))
        assert info.value.code == "ofd.unsafe_entry_name"


def test_signature_paths_escaping_the_root_make_that_signature_invalid() -> None:
    files = unzip(sample("esl-demo", "test.ofd"))
    files["Doc_0/Signs/Signatures.xml"] = files["Doc_0/Signs/Signatures.xml"].replace(
        b'BaseLoc="Sign_0/Signature.xml"', b'BaseLoc="../../../etc/passwd"'
    )
    result = verify_ofd(zip_files(files), trust=NoTrustAnchors(), now=NOW)
    (sig,) = result.signatures
    assert (sig.verdict, sig.reason) == (Verdict.INVALID, "ofd.path_escapes_root")
    files = unzip(sample("esl-demo", "test.ofd"))
    xml = files["Doc_0/Signs/Sign_0/Signature.xml"]
    files["Doc_0/Signs/Sign_0/Signature.xml"] = xml.replace(
        b'FileRef="/Doc_0/Document.xml"', b'FileRef="../../../../Doc_0/Document.xml"'
    )
    (sig,) = verify_ofd(zip_files(files), trust=NoTrustAnchors(), now=NOW).signatures
    assert "invalid_path" in {r.status.value for r in sig.references}
    assert sig.verdict is Verdict.INVALID


_BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    b'<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016">&lol2;</ofd:OFD>'
)


def test_xml_with_doctype_or_entities_is_refused() -> None:
    files = unzip(minimal_ofd())
    start = time.monotonic()
    with pytest.raises(OfdError) as info:
        verify_ofd(
            zip_files({**files, "OFD.xml": _BILLION_LAUGHS}), trust=NoTrustAnchors(), now=NOW
        )
    assert info.value.code == "ofd.xml_doctype"
    external = b'<?xml version="1.0"?><!doctype x SYSTEM "file:///etc/passwd"><x/>'
    with pytest.raises(OfdError):
        verify_ofd(zip_files({**files, "OFD.xml": external}), trust=NoTrustAnchors(), now=NOW)
    signed = unzip(sample("esl-demo", "test.ofd"))
    signed["Doc_0/Signs/Sign_0/Signature.xml"] = _BILLION_LAUGHS
    (sig,) = verify_ofd(zip_files(signed), trust=NoTrustAnchors(), now=NOW).signatures
    assert (sig.verdict, sig.reason) == (Verdict.INVALID, "ofd.xml_doctype")
    utf16 = '<?xml version="1.0" encoding="UTF-16"?><x/>'.encode("utf-16")
    with pytest.raises(OfdError) as enc:
        verify_ofd(zip_files({**files, "OFD.xml": utf16}), trust=NoTrustAnchors(), now=NOW)
    assert enc.value.code == "ofd.xml_encoding"
    assert time.monotonic() - start < 2


@pytest.mark.parametrize("data", [b"", b"not a zip", b"PK\x05\x06" + bytes(18)])
def test_non_zip_input_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(OfdError):
        verify_ofd(data, trust=NoTrustAnchors(), now=NOW)


def test_every_truncation_of_a_real_ofd_fails_cleanly() -> None:
    data = sample("esl-demo", "test.ofd")
    start = time.monotonic()
    for cut in range(0, len(data), 211):
        with contextlib.suppress(TrustError):
            verify_ofd(data[:cut], trust=NoTrustAnchors(), now=NOW)
    assert time.monotonic() - start < 10


def test_missing_ofd_xml_is_refused() -> None:
    files = unzip(minimal_ofd())
    del files["OFD.xml"]
    with pytest.raises(OfdError) as info:
        verify_ofd(zip_files(files), trust=NoTrustAnchors(), now=NOW)
    assert info.value.code == "ofd.no_ofd_xml"
