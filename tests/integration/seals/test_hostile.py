"""Hostile uploads through the HTTP API, the pure verifiers and the CLI: an OFD zip bomb, deeply
nested ASN.1, huge pictures (a decompression-bomb PNG as a seal image, and a seal declaring an
absurd picture), PDFs with broken cross-references, truncated files. Each gets a clear answer -
problem+json with a stable code over HTTP (never a 500), a ``TrustError`` with that code from
the pure functions, exit status 3 and the code on the command line - and nothing is inflated:
memory stays bounded (tracemalloc peak)."""

from __future__ import annotations

import base64
import io
import tracemalloc
import zipfile
from collections.abc import Callable
from typing import Any

from PIL import Image

from seals.der_build import enc_seq
from seals.ofd_package import open_package
from seals.pdf_verify import verify_pdf_signatures
from seals.ses import parse_seal, parse_ses_signature
from seals.verification import NoTrustAnchors, Verdict, verify_seal
from tests.api._support import assert_problem
from tests.integration.seals._web import Api
from tests.unit.seals._ses_support import (
    NOW,
    make_pki,
    make_test_seal,
    minimal_ofd,
    unzip,
)
from tests.unit.seals.pdf_fixtures import broken_xref, make_pdf
from trust.errors import TrustError

_MIB = 1024 * 1024


def zip_bomb(inflated_mib: int = 512) -> bytes:
    """A valid-looking OFD whose one resource inflates to ``inflated_mib`` MiB of zeros."""
    out = io.BytesIO()
    chunk = bytes(_MIB)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("OFD.xml", unzip(minimal_ofd())["OFD.xml"])
        with zf.open("Doc_0/Res/zeros.bin", "w", force_zip64=True) as entry:
            for _ in range(inflated_mib):
                entry.write(chunk)
    return out.getvalue()


def nested_der(depth: int = 10_000) -> bytes:
    """``depth`` SEQUENCEs inside each other (definite lengths, so it is well-formed BER)."""
    der = enc_seq()
    for _ in range(depth):
        der = enc_seq(der)
    return der


def png_bomb(side: int = 60_000) -> bytes:
    """A small PNG whose header declares ``side`` x ``side`` pixels (3.6 gigapixels)."""
    out = io.BytesIO()
    Image.new("1", (1, 1)).save(out, "PNG")
    raw = bytearray(out.getvalue())
    # IHDR: width and height at bytes 16..24; fix the chunk CRC after patching.
    import zlib

    raw[16:20] = side.to_bytes(4, "big")
    raw[20:24] = side.to_bytes(4, "big")
    raw[29:33] = zlib.crc32(bytes(raw[12:29])).to_bytes(4, "big")
    return bytes(raw)


def _peak_mib(fn: Callable[[], Any]) -> tuple[Any, float]:
    tracemalloc.start()
    try:
        try:
            result: Any = fn()
        except TrustError as exc:
            result = exc
        return result, tracemalloc.get_traced_memory()[1] / _MIB
    finally:
        tracemalloc.stop()


# --------------------------------------------------------------------------- pure verifiers


def test_zip_bomb_is_refused_by_the_package_reader_without_inflating() -> None:
    bomb = zip_bomb()
    assert len(bomb) < 2 * _MIB
    result, peak = _peak_mib(lambda: open_package(bomb))
    assert isinstance(result, TrustError)
    assert result.code == "ofd.entry_too_large"
    assert peak < 64


def test_deeply_nested_asn1_is_refused_at_a_fixed_depth() -> None:
    nested = nested_der()
    for parse in (parse_seal, parse_ses_signature):
        result, peak = _peak_mib(lambda parse=parse: parse(nested))  # type: ignore[misc]
        assert isinstance(result, TrustError)
        assert result.code == "seal.der_too_deep"
        assert peak < 16


def test_a_seal_declaring_a_huge_picture_verifies_without_decoding_it() -> None:
    pki = make_pki()
    seal = make_test_seal(pki, picture=png_bomb(), picture_width_mm=10**9, picture_height_mm=10**9)
    result, peak = _peak_mib(lambda: verify_seal(seal, trust=NoTrustAnchors(), at=None, now=NOW))
    assert result.verdict is Verdict.INDETERMINATE  # intact, but no trusted anchor
    assert "seal.picture_size_implausible" in result.non_conformities
    assert peak < 16


def test_pdf_with_broken_cross_references_is_a_clear_error() -> None:
    result, peak = _peak_mib(lambda: verify_pdf_signatures(broken_xref(make_pdf(pages=2))))
    assert isinstance(result, TrustError)
    assert result.code == "seal.pdf_malformed"
    assert peak < 64


# --------------------------------------------------------------------------- HTTP


def _upload(api: Api, name: str, data: bytes) -> Any:
    return api.client.post("/seals/verify", files={"file": (name, data)})


def test_hostile_uploads_get_problem_json_with_stable_codes(api: Api) -> None:
    pdf = make_pdf(pages=2)
    cases = [
        ("bomb.ofd", zip_bomb(), 413, "ofd.entry_too_large"),
        ("nested.sig", nested_der(), 400, "seal.der_too_deep"),
        ("nested.esl", nested_der(), 400, "seal.der_too_deep"),
        ("broken.pdf", broken_xref(pdf), 400, "seal.pdf_malformed"),
        ("truncated.pdf", pdf[: len(pdf) // 3], 400, "seal.pdf_malformed"),
        ("truncated.ofd", minimal_ofd()[:200], 400, "ofd.not_a_zip"),
    ]
    for name, data, status, code in cases:
        body = assert_problem(_upload(api, name, data), status, code)
        assert body["detail"], name


def test_hostile_documents_to_stamp_get_problem_json(api: Api) -> None:
    seal_id = str(api.seal()["id"])
    octet = {**api.stamper.headers, "content-type": "application/octet-stream"}
    pdf = make_pdf(pages=2)
    cases = [
        ("ofd", zip_bomb(), 413, "ofd.entry_too_large"),
        ("pdf", broken_xref(pdf), 400, "seal.pdf_malformed"),
    ]
    for form, data, status, code in cases:
        assert_problem(
            api.client.post(f"/seals/{seal_id}/stamp/{form}", content=data, headers=octet),
            status,
            code,
        )


def test_a_decompression_bomb_as_seal_image_is_refused(api: Api) -> None:
    body = {
        "organisation_id": api.org_id,
        "seal_type": "admin_approval",
        "name": "某市市场监督管理局行政审批专用章",
        "reason": "新设窗口",
        "image_base64": base64.b64encode(png_bomb()).decode(),
    }
    created = api.client.post("/seals", json=body, headers=api.custodian.headers)
    assert_problem(created, 400, "seal.bad_image")
