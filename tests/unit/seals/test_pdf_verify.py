# pyHanko's writer API is only partly annotated:
# mypy: disable-error-code="no-untyped-call"
"""Our own PDF signature verifier (seals/pdf_verify.py): every check fails on its own, closed."""

from __future__ import annotations

import io
import re
import time
from datetime import UTC, datetime

import pytest
from asn1crypto import cms
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from seals import pdf_verify
from seals.appearance import render_seal, round_seal
from seals.fonts import find_cjk_font
from seals.pdf_verify import (
    LaterChanges,
    PdfMalformed,
    PdfTooLarge,
    verify_pdf_signatures,
)
from seals.stamping import Placement, stamp_pdf
from tests.conftest import skip_or_fail
from tests.unit.seals.pdf_fixtures import (
    TestSm2Signer,
    broken_xref,
    cms_of,
    garbage,
    make_pdf,
    make_test_signer,
    replace_cms,
    signature_holes,
)
from trust.crypto import SignatureEncoding
from trust.errors import TrustError, Unavailable

SIGNED_AT = datetime(2026, 11, 22, 8, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def seal_png() -> bytes:
    try:
        find_cjk_font()
    except Unavailable as exc:
        skip_or_fail(str(exc))
    return render_seal(round_seal("某某市行政审批服务局", "行政审批专用章"), dpi=150).png


def _stamp(pdf: bytes, signer: TestSm2Signer, png: bytes, y_mm: float = 20) -> bytes:
    return stamp_pdf(
        pdf,
        signer=signer,
        seal_image_png=png,
        seal_size_mm=(42, 42),
        placement=Placement(0, 20, y_mm),
        signing_time=SIGNED_AT,
    )


@pytest.fixture(scope="module")
def signer() -> TestSm2Signer:
    return make_test_signer()


@pytest.fixture(scope="module")
def signed(signer: TestSm2Signer, seal_png: bytes) -> bytes:
    return _stamp(make_pdf(), signer, seal_png)


def _only(pdf: bytes) -> pdf_verify.PdfSignatureCheck:
    (check,) = verify_pdf_signatures(pdf).signatures
    return check


def _resign_cms(signed: bytes, edit: object) -> bytes:
    """Edit the CMS (a callable on its SignerInfo / SignedData) and write it back in place."""
    info = cms.ContentInfo.load(cms_of(signed))
    assert callable(edit)
    edit(info["content"])
    return replace_cms(signed, info.dump(force=True))


def test_unsigned_pdf_has_no_signatures_and_is_not_intact() -> None:
    result = verify_pdf_signatures(make_pdf())
    assert result.signatures == ()
    assert not result.all_intact  # fails closed
    assert result.revisions == 1


def test_flipping_one_covered_byte_fails_the_digest(signed: bytes) -> None:
    text = signed.index(b"Tj") - 3  # a hex digit in the first page's text (first range)
    doc_id = signed.rindex(b"/ID [ <") + 8  # a hex digit in the last trailer (second range)
    (hole,) = signature_holes(signed)
    assert text < hole[0] < hole[1] < doc_id
    for offset in (text, doc_id):
        other = b"0" if signed[offset : offset + 1] != b"0" else b"1"  # still a hex digit
        check = _only(signed[:offset] + other + signed[offset + 1 :])
        assert not check.digest_ok, offset
        assert "digest_mismatch" in check.reasons
        assert check.signature_ok  # the signed attributes themselves are untouched
        assert not check.intact


def test_a_changed_signature_value_fails_the_signature(signed: bytes) -> None:
    def edit(sd: cms.SignedData) -> None:
        si = sd["signer_infos"][0]
        sig = bytearray(si["signature"].native)
        sig[-1] ^= 1  # last byte of s
        si["signature"] = bytes(sig)

    check = _only(_resign_cms(signed, edit))
    assert check.byte_range_ok
    assert check.digest_ok
    assert not check.signature_ok
    assert "signature_mismatch" in check.reasons


def test_a_changed_signed_attribute_fails_the_signature(signed: bytes) -> None:
    def edit(sd: cms.SignedData) -> None:
        attrs = sd["signer_infos"][0]["signed_attrs"]
        for attr in attrs:
            if attr["type"].native == "signing_time":
                attr["values"] = [cms.Time(name="utc_time", value=datetime(2020, 1, 1, tzinfo=UTC))]

    check = _only(_resign_cms(signed, edit))
    assert check.digest_ok
    assert not check.signature_ok
    assert check.signing_time == datetime(2020, 1, 1, tzinfo=UTC)


def test_a_foreign_certificate_does_not_verify(signed: bytes) -> None:
    impostor = make_test_signer()  # same issuer name and serial, different key

    def edit(sd: cms.SignedData) -> None:
        from asn1crypto import x509

        sd["certificates"] = [
            cms.CertificateChoices(
                name="certificate", value=x509.Certificate.load(impostor.chain[0])
            )
        ]

    check = _only(_resign_cms(signed, edit))
    assert not check.signature_ok
    assert check.signer_certificate == impostor.chain[0]
    assert "signature_mismatch" in check.reasons


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("drop_message_digest", "no_message_digest"),
        ("sha256_digest_algorithm", "unsupported_digest_algorithm"),
        ("ecdsa_signature_algorithm", "unsupported_signature_algorithm"),
        ("no_certificates", "signer_certificate_missing"),
        ("garbage", "cms_malformed"),
    ],
)
def test_cms_problems_fail_closed_with_a_reason(signed: bytes, change: str, reason: str) -> None:
    info = cms.ContentInfo.load(cms_of(signed))
    sd = info["content"]
    si = sd["signer_infos"][0]
    if change == "drop_message_digest":
        si["signed_attrs"] = [a for a in si["signed_attrs"] if a["type"].native != "message_digest"]
    elif change == "sha256_digest_algorithm":
        si["digest_algorithm"] = {"algorithm": "sha256"}
    elif change == "ecdsa_signature_algorithm":
        si["signature_algorithm"] = {"algorithm": "sha256_ecdsa"}
    elif change == "no_certificates":
        sd["certificates"] = []
    der = b"\x30\x03\x02\x01\x01" if change == "garbage" else info.dump(force=True)
    check = _only(replace_cms(signed, der))
    assert check.byte_range_ok  # only the CMS changed
    assert not check.intact
    assert any(r.startswith(reason) for r in check.reasons), check.reasons


def test_raw_r_s_signatures_are_accepted_and_flagged(seal_png: bytes) -> None:
    raw_signer = make_test_signer()
    raw_signer.raw_signatures = True
    check = _only(_stamp(make_pdf(), raw_signer, seal_png))
    assert check.intact
    assert check.signature_encoding is SignatureEncoding.RAW
    assert "raw_signature_encoding" in check.reasons


def test_byte_range_must_start_at_zero_and_frame_the_contents(signed: bytes) -> None:
    m = re.search(rb"/ByteRange\s*\[\s*0 (\d+)", signed)
    assert m is not None
    not_zero = signed[: m.start()] + m.group(0).replace(b"[0 ", b"[1 ") + signed[m.end() :]
    check = _only(not_zero)
    assert not check.byte_range_ok
    assert "byte_range_malformed" in check.reasons
    assert not check.intact

    a = int(m.group(1))
    shifted = str(a - 1).rjust(len(m.group(1))).encode()  # same length: hole starts 1 byte early
    moved = signed[: m.start(1)] + shifted + signed[m.end(1) :]
    check = _only(moved)
    assert not check.byte_range_ok
    assert "byte_range_hole_not_contents" in check.reasons


def test_content_changed_after_signing_is_reported_as_other(signed: bytes) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    page_ref, _ = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    extra = writer.add_object(
        generic.StreamObject(stream_data=b"BT /F1 30 Tf 100 100 Td (X) Tj ET")
    )
    page["/Contents"] = generic.ArrayObject([page.raw_get("/Contents"), extra])
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    check = _only(out.getvalue())
    assert check.intact  # the signed revision itself is unchanged ...
    assert not check.covers_whole_file  # ... but it is no longer the whole document
    assert check.later_revisions == (2,)  # revision 0 is the original, 1 the signature
    assert check.later_changes is LaterChanges.OTHER
    assert "later_changes_other" in check.reasons


def test_bytes_appended_after_the_signature_are_not_whole_file(signed: bytes) -> None:
    check = _only(signed + b"\n% trailing junk\n")
    assert not check.covers_whole_file
    assert check.later_changes is LaterChanges.UNKNOWN
    assert {"not_whole_file", "unexplained_trailing_bytes"} <= set(check.reasons)


def _hostile(signed: bytes) -> list[bytes]:
    return [signed[:n] for n in (0, 5, 300, len(signed) // 3, len(signed) - 25)] + [
        broken_xref(make_pdf()),
        garbage(),
        b"%PDF-1.7\n" + b"[" * 100_000,
    ]


def test_hostile_pdfs_raise_clear_errors_quickly(signed: bytes) -> None:
    for data in _hostile(signed):
        start = time.monotonic()
        outcome: object
        try:
            outcome = verify_pdf_signatures(data)
        except TrustError as exc:
            outcome = exc
        assert time.monotonic() - start < 5
        if isinstance(outcome, TrustError):
            assert isinstance(outcome, PdfMalformed), outcome
            assert outcome.code == "seal.pdf_malformed"
        else:  # a truncation that still parses must not produce an intact signature
            assert isinstance(outcome, pdf_verify.PdfVerification)
            assert not outcome.all_intact


def test_size_and_type_limits(monkeypatch: pytest.MonkeyPatch, signed: bytes) -> None:
    monkeypatch.setattr(pdf_verify, "MAX_PDF_BYTES", 1000)
    with pytest.raises(PdfTooLarge):
        verify_pdf_signatures(signed)
    with pytest.raises(PdfMalformed):
        verify_pdf_signatures("not bytes")  # type: ignore[arg-type]
