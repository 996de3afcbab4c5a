"""seals.ofd / verify_ofd on the shared OFD samples (outcomes as samples/README.md states), plus
path resolution (eseal spec §7.4) and package reading."""

from __future__ import annotations

import json

import pytest

from seals.errors import OfdError
from seals.ofd_package import open_package, resolve_path
from seals.verification import (
    REASON_DOCUMENT_MODIFIED,
    CheckStatus,
    NoTrustAnchors,
    ReferenceStatus,
    Verdict,
    verify_ofd,
)
from tests.unit.seals._ses_support import NOW, sample, zip_files


@pytest.mark.parametrize(
    ("ref", "base", "expected"),
    [
        ("/Doc_0/Document.xml", "Doc_0/Signs", "Doc_0/Document.xml"),
        ("//Doc_0/Signs/Sign_0/Seal.esl", "Doc_0/Signs/Sign_0", "Doc_0/Signs/Sign_0/Seal.esl"),
        ("Sign_0/Signature.xml", "Doc_0/Signs", "Doc_0/Signs/Sign_0/Signature.xml"),
        ("SignedValue.dat", "Doc_0/Signs/Sign_0", "Doc_0/Signs/Sign_0/SignedValue.dat"),
        ("./a/../b/./c.xml", "Doc_0", "Doc_0/b/c.xml"),
        ("../Res/x.png", "Doc_0/Pages", "Doc_0/Res/x.png"),
        ("Doc_0/Document.xml", "", "Doc_0/Document.xml"),
    ],
)
def test_path_resolution(ref: str, base: str, expected: str) -> None:
    assert resolve_path(ref, base) == expected


@pytest.mark.parametrize("ref", ["../../etc/passwd", "/../x", "a/../../../b", "..", "a\\b", ""])
def test_paths_escaping_the_root_or_unusable_are_refused(ref: str) -> None:
    with pytest.raises(OfdError) as info:
        resolve_path(ref, "Doc_0")
    assert info.value.code in ("ofd.path_escapes_root", "ofd.bad_path")


def test_package_ignores_zip_metadata_and_directory_entries() -> None:
    pkg = open_package(sample("esl-demo", "test-1.ofd"))  # with directory entries
    assert "Doc_0/" not in pkg.names
    assert "OFD.xml" in pkg.names
    assert len(pkg.names) == 8
    pkg = open_package(sample("esl-demo", "test.ofd"))  # impossible DOS timestamps
    assert len(pkg.names) == 8


def _checks(sig: object) -> dict[str, tuple[str, str]]:
    return {k: (v["status"], v["reason"]) for k, v in sig.to_dict()["checks"].items()}  # type: ignore[attr-defined]


def test_tax_invoice_ofd() -> None:
    result = verify_ofd(
        sample("easyofd", "vat_special_einvoice5.ofd"), trust=NoTrustAnchors(), now=NOW
    )
    assert result.verdict is Verdict.INDETERMINATE
    assert result.reason == "trust.no_anchors_configured"
    assert result.uncovered_files == ("Doc_0/Signs/Signatures.xml",)
    (sig,) = result.signatures
    assert (sig.signature_id, sig.kind, sig.signature_path) == (
        "2",
        "seal",
        "Doc_0/Signs/Sign_0/Signature.xml",
    )
    assert len(sig.references) == 13
    assert all(r.status is ReferenceStatus.OK for r in sig.references)
    assert "OFD.xml" in {r.path for r in sig.references}
    assert sig.ofd_references.get("ok") == "13/13"
    checks = _checks(sig)
    assert checks["document_hash"] == ("pass", "ok")
    assert checks["signer_signature"] == ("pass", "ok")
    assert checks["seal_signature"] == ("pass", "ok")
    assert checks["signer_cert_in_seal"] == ("pass", "ok")
    assert checks["maker_cert_valid"] == ("pass", "cert.valid_at_signing_time_expired_now")
    assert checks["seal_valid_at_signing_time"] == (
        "pass",
        "seal.valid_at_signing_time_expired_now",
    )
    assert checks["seal_file"] == ("not_checked", "ofd.no_seal_file")
    assert "ofd.signature_type_absent" in result.non_conformities
    json.dumps(result.to_dict(), ensure_ascii=False)
    assert result.to_dict()["verdict"] == "INDETERMINATE"


def test_esl_demo_test_ofd() -> None:
    result = verify_ofd(sample("esl-demo", "test.ofd"), trust=NoTrustAnchors(), now=NOW)
    assert result.verdict is Verdict.INDETERMINATE
    (sig,) = result.signatures
    assert [(r.file_ref, r.status) for r in sig.references] == [
        ("/Doc_0/Pages/Page_0/Content.xml", ReferenceStatus.OK),
        ("//Doc_0/Signs/Sign_0/Seal.esl", ReferenceStatus.OK),
        ("/Doc_0/Document.xml", ReferenceStatus.OK),
        ("/Doc_0/PublicRes.xml", ReferenceStatus.OK),
    ]
    assert sig.uncovered_files == ("Doc_0/Signs/Signatures.xml", "OFD.xml")
    checks = _checks(sig)
    assert checks["seal_file"] == ("pass", "ok")  # Seal.esl = the seal inside SignedValue.dat
    assert checks["document_hash"] == ("pass", "ok")
    assert checks["signer_signature"] == ("pass", "ok")
    assert sig.seal_signature.get("encoding") == "raw"
    assert "seal.maker_signature_raw_rs" in sig.non_conformities
    assert checks["signer_cert_valid_at_signing_time"] == (
        "pass",
        "cert.valid_at_signing_time_expired_now",
    )
    assert "ofd.legacy_namespace:OFD.xml" in result.non_conformities


def test_esl_demo_modified_document_is_reported_as_modified() -> None:
    result = verify_ofd(sample("esl-demo", "test-1.ofd"), trust=NoTrustAnchors(), now=NOW)
    assert (result.verdict, result.reason) == (Verdict.INVALID, REASON_DOCUMENT_MODIFIED)
    (sig,) = result.signatures
    statuses = {r.path: r.status for r in sig.references}
    assert statuses["Doc_0/Pages/Page_0/Content.xml"] is ReferenceStatus.MISMATCH
    assert sum(s is ReferenceStatus.OK for s in statuses.values()) == 3
    assert sig.ofd_references.status is CheckStatus.FAIL
    for name in ("signer_signature", "seal_signature", "document_hash"):
        assert getattr(sig, name).status is CheckStatus.PASS
    assert (sig.verdict, sig.reason) == (Verdict.INVALID, REASON_DOCUMENT_MODIFIED)


def test_missing_signed_value_breaks_that_signature_only() -> None:
    from tests.unit.seals._ses_support import unzip

    files = unzip(sample("esl-demo", "test.ofd"))
    del files["Doc_0/Signs/Sign_0/SignedValue.dat"]
    result = verify_ofd(zip_files(files), trust=NoTrustAnchors(), now=NOW)
    (sig,) = result.signatures
    assert (sig.verdict, sig.reason) == (Verdict.INVALID, "ofd.signed_value_missing")
    assert sig.ofd_references.status is CheckStatus.PASS  # still reported


def test_unsigned_ofd_is_not_valid() -> None:
    from tests.unit.seals._ses_support import minimal_ofd

    result = verify_ofd(minimal_ofd(), trust=NoTrustAnchors(), now=NOW)
    assert (result.verdict, result.reason) == (Verdict.INVALID, "ofd.no_signatures")
