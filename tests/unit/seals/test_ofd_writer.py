"""seals.ofd_writer: a sealed OFD re-verifies; flipping one byte in any file is caught; a second
signature keeps the first intact; Signatures.xml protected by an earlier signature is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from seals.errors import OfdError
from seals.ofd_writer import SealPlacement, seal_ofd, ses_signature_callback
from seals.verification import (
    AnchorListEvaluator,
    CheckStatus,
    NoTrustAnchors,
    ReferenceStatus,
    Verdict,
    verify_ofd,
)
from tests.unit.seals._ses_support import (
    NOW,
    SesPki,
    make_pki,
    make_test_seal,
    minimal_ofd,
    sample,
    unzip,
    zip_files,
)
from trust.errors import Conflict, TrustError

SIGNED_AT = datetime(2026, 5, 20, 3, 0, tzinfo=UTC)
PLACEMENT = SealPlacement(page_index=1, x_mm=120, y_mm=200, width_mm=40, height_mm=40)


@pytest.fixture(scope="module")
def pki() -> SesPki:
    return make_pki()


def _seal(pki: SesPki, document: bytes, placement: SealPlacement = PLACEMENT) -> bytes:
    seal = make_test_seal(pki)
    return seal_ofd(
        document,
        seal_der=seal,
        placement=placement,
        signing_time=SIGNED_AT,
        sign_ses=ses_signature_callback(
            seal_der=seal, signer_cert=pki.signer.cert, sign=pki.signer.sign, signing_time=SIGNED_AT
        ),
    )


@pytest.fixture(scope="module")
def sealed(pki: SesPki) -> bytes:
    return _seal(pki, minimal_ofd(pages=2))


def test_sealed_ofd_layout(sealed: bytes) -> None:
    files = unzip(sealed)
    assert list(files)[:5] == [
        "OFD.xml",
        "Doc_0/Document.xml",
        "Doc_0/PublicRes.xml",
        "Doc_0/Pages/Page_0/Content.xml",
        "Doc_0/Pages/Page_1/Content.xml",
    ]
    assert set(files) - set(unzip(minimal_ofd(pages=2))) == {
        "Doc_0/Signs/Signatures.xml",
        "Doc_0/Signs/Sign_0/Seal.esl",
        "Doc_0/Signs/Sign_0/Signature.xml",
        "Doc_0/Signs/Sign_0/SignedValue.dat",
    }
    assert (
        b"<ofd:Signatures>Doc_0/Signs/Signatures.xml</ofd:Signatures></ofd:DocBody>"
        in (files["OFD.xml"])
    )
    signatures = files["Doc_0/Signs/Signatures.xml"]
    assert b"<ofd:MaxSignId>1</ofd:MaxSignId>" in signatures
    assert b'ID="1" Type="Seal" BaseLoc="/Doc_0/Signs/Sign_0/Signature.xml"' in signatures
    signature = files["Doc_0/Signs/Sign_0/Signature.xml"]
    assert b'PageRef="2" Boundary="120 200 40 40"' in signature
    assert b'CheckMethod="1.2.156.10197.1.401"' in signature
    assert b"Signatures.xml" not in signature


def test_sealed_ofd_verifies_valid_with_anchor(pki: SesPki, sealed: bytes) -> None:
    result = verify_ofd(sealed, trust=AnchorListEvaluator([pki.root.cert]), now=NOW)
    assert result.verdict is Verdict.VALID, result.to_dict()
    (sig,) = result.signatures
    assert {r.path for r in sig.references} == {
        "OFD.xml",
        "Doc_0/Document.xml",
        "Doc_0/PublicRes.xml",
        "Doc_0/Pages/Page_0/Content.xml",
        "Doc_0/Pages/Page_1/Content.xml",
        "Doc_0/Signs/Sign_0/Seal.esl",
    }
    assert result.uncovered_files == ("Doc_0/Signs/Signatures.xml",)
    assert sig.seal_file.status is CheckStatus.PASS
    assert sig.property_info == "/Doc_0/Signs/Sign_0/Signature.xml"
    without_anchor = verify_ofd(sealed, trust=NoTrustAnchors(), now=NOW)
    assert without_anchor.verdict is Verdict.INDETERMINATE


def test_writer_output_is_deterministic_apart_from_the_signature_values(pki: SesPki) -> None:
    a, b = unzip(_seal(pki, minimal_ofd(2))), unzip(_seal(pki, minimal_ofd(2)))
    assert list(a) == list(b)
    same = [n for n in a if not n.endswith(("SignedValue.dat", "Seal.esl", "Signature.xml"))]
    assert all(a[n] == b[n] for n in same)


def _flip(data: bytes, position: int) -> bytes:
    out = bytearray(data)
    out[position] ^= 0x01
    return bytes(out)


def _flip_position(name: str, data: bytes) -> int:
    if name.endswith("Signatures.xml"):
        # Signatures.xml is deliberately not covered (§7.5 step 3); a flip in the BaseLoc is
        # what can change the meaning; MaxSignId / ID text is outside every signature.
        return data.index(b"Sign_0/Signature.xml") + 5
    return len(data) // 2


def test_flipping_one_byte_in_any_file_is_caught(pki: SesPki, sealed: bytes) -> None:
    files = unzip(sealed)
    anchors = AnchorListEvaluator([pki.root.cert])
    for name, data in files.items():
        tampered = dict(files)
        tampered[name] = _flip(data, _flip_position(name, data))
        try:
            result = verify_ofd(zip_files(tampered), trust=anchors, now=NOW)
        except TrustError:
            continue  # e.g. OFD.xml no longer parses: the package is refused outright
        assert result.verdict is Verdict.INVALID, (name, result.reason)


def test_flipping_a_byte_in_page_content_is_document_modified(pki: SesPki, sealed: bytes) -> None:
    files = unzip(sealed)
    page = files["Doc_0/Pages/Page_1/Content.xml"]
    files["Doc_0/Pages/Page_1/Content.xml"] = page.replace("第2页".encode(), "第3页".encode())
    result = verify_ofd(zip_files(files), trust=AnchorListEvaluator([pki.root.cert]), now=NOW)
    assert (result.verdict, result.reason) == (Verdict.INVALID, "document_modified")


def test_second_signature_on_a_real_document_keeps_the_first(pki: SesPki) -> None:
    twice = _seal(pki, sample("esl-demo", "test.ofd"), SealPlacement(0, 10, 10, 40, 40))
    files = unzip(twice)
    assert "Doc_0/Signs/Sign_1/Signature.xml" in files
    result = verify_ofd(twice, trust=AnchorListEvaluator([pki.root.cert]), now=NOW)
    first, second = result.signatures
    assert first.signature_id == "1"
    assert second.signature_id == "2"
    assert all(r.status is ReferenceStatus.OK for r in first.references)
    assert first.verdict is Verdict.INDETERMINATE  # the Koal chain is still unknown
    assert second.verdict is Verdict.VALID, second.to_dict()
    assert b'BaseLoc="Sign_0/Signature.xml"' in files["Doc_0/Signs/Signatures.xml"]
    assert b"<ofd:MaxSignId>2</ofd:MaxSignId>" in files["Doc_0/Signs/Signatures.xml"]


def test_refuses_when_an_existing_signature_protects_signatures_xml(pki: SesPki) -> None:
    files = unzip(sample("esl-demo", "test.ofd"))
    xml = files["Doc_0/Signs/Sign_0/Signature.xml"]
    files["Doc_0/Signs/Sign_0/Signature.xml"] = xml.replace(
        b"</ofd:References>",
        b'<ofd:Reference FileRef="/Doc_0/Signs/Signatures.xml">'
        b"<ofd:CheckValue>AA==</ofd:CheckValue></ofd:Reference></ofd:References>",
    )
    with pytest.raises(Conflict) as info:
        _seal(pki, zip_files(files), SealPlacement(0, 10, 10, 40, 40))
    assert info.value.code == "ofd.signatures_protected"


def test_refuses_a_page_that_does_not_exist(pki: SesPki) -> None:
    with pytest.raises(OfdError) as info:
        _seal(pki, minimal_ofd(pages=1), SealPlacement(3, 0, 0, 10, 10))
    assert info.value.code == "ofd.no_such_page"
