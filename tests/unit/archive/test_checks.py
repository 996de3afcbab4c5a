# pyHanko's writer API is only partly annotated:
# mypy: disable-error-code="no-untyped-call"
"""archive.checks: the DA/T 70 four-properties battery over a realistic case folder. A valid case
passes; each defect is named with its reason code; a case with many defects lists them all."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PdfFileWriter

from archive.case import NodeKind
from archive.checks import (
    CheckOutcome,
    CheckPolicy,
    CheckReport,
    Dimension,
    ReportVerdict,
    check_case,
)
from archive.checks_files import examine
from archive.scan import ClamavScanner
from seals.verification import AnchorListEvaluator, NoTrustAnchors
from tests.unit.archive.case_factory import NOW, CaseFolder, jpeg, write_case
from tests.unit.seals.pdf_fixtures import make_pdf
from trust.crypto import sm3_hex

DECISION = "0006-准予许可决定书.pdf"
LICENCE = "0007-电子证照.ofd"
XML = "0004-企业信息.xml"
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

Mutate = Callable[[dict[str, Any]], None]
Tamper = Callable[[dict[str, bytes]], None]


def _check(folder: Path, trust: AnchorListEvaluator, **kw: Any) -> CheckReport:
    return check_case(folder, now=NOW, trust=trust, **kw)


def _case(
    tmp_path: Path,
    *,
    mutate: Mutate | None = None,
    tamper: Tamper | None = None,
    extra: dict[str, bytes] | None = None,
) -> CaseFolder:
    return write_case(tmp_path / "case", mutate=mutate, tamper=tamper, extra_files=extra)


def _material(case: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in case["materials"] if m["file"] == name)


def _flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


# --------------------------------------------------------------------------- the good case


def test_a_valid_case_passes_with_every_dimension_checked(
    case_folder: CaseFolder, trust: AnchorListEvaluator
) -> None:
    report = _check(case_folder.path, trust)
    assert report.verdict is ReportVerdict.PASSED, report.failures
    assert {i.dimension for i in report.items} == set(Dimension)
    assert report.case_number == "SP20260510-000123"
    seals = {(s.subject, s.kind, s.verdict) for s in report.seals}
    assert seals == {
        (DECISION, "pdf", "VALID"),
        (LICENCE, "ofd", "VALID"),
        ("0004-企业信息.xml.sig", "ses_signature", "VALID"),
    }
    pdf = next(s for s in report.seals if s.kind == "pdf")
    assert pdf.report()["trust"]["status"] == "trusted"
    assert pdf.certificates
    facts = {f.name: f for f in report.files}
    assert facts[DECISION].probe.pages == 2
    assert facts[LICENCE].probe.format == "ofd"
    doc = json.loads(report.to_json())
    assert doc["verdict"] == "passed"
    assert doc["standard"] == "DA/T 70-2018"
    assert doc["virus_scans"][0]["engine"] == "builtin-eicar"


def test_seals_without_a_trust_anchor_leave_the_report_incomplete(
    case_folder: CaseFolder,
) -> None:
    report = check_case(case_folder.path, now=NOW, trust=NoTrustAnchors())
    assert report.verdict is ReportVerdict.INCOMPLETE
    assert not report.failures
    assert {i.subject for i in report.unavailable} == {DECISION, LICENCE, "0004-企业信息.xml.sig"}
    relaxed = CheckPolicy(require_trusted_seals=False)
    report = check_case(case_folder.path, now=NOW, trust=NoTrustAnchors(), policy=relaxed)
    assert report.verdict is ReportVerdict.PASSED


# --------------------------------------------------------------------------- 真实性 / 完整性


def test_a_changed_byte_is_a_digest_mismatch(tmp_path: Path, trust: AnchorListEvaluator) -> None:
    folder = _case(
        tmp_path,
        tamper=lambda f: f.update({"0002-营业执照.jpg": _flip(f["0002-营业执照.jpg"], 400)}),
    )
    report = _check(folder.path, trust)
    assert ("0002-营业执照.jpg", "digest.mismatch") in report.reasons()
    assert report.verdict is ReportVerdict.FAILED


def test_missing_and_unreferenced_files(tmp_path: Path, trust: AnchorListEvaluator) -> None:
    def drop(files: dict[str, bytes]) -> None:
        del files["0003-经营场所照片.png"]
        files["9999-说明.txt"] = b"not registered"

    report = _check(_case(tmp_path, tamper=drop).path, trust)
    reasons = report.reasons()
    assert ("0003-经营场所照片.png", "link.missing_file") in reasons
    assert ("9999-说明.txt", "link.unreferenced_file") in reasons
    assert ("9999-说明.txt", "format.not_allowed") in reasons


def test_register_counts_and_bytes(tmp_path: Path, trust: AnchorListEvaluator) -> None:
    def wrong(case: dict[str, Any]) -> None:
        case["register"]["file_count"] += 1
        case["register"]["total_bytes"] -= 1

    reasons = _check(_case(tmp_path, mutate=wrong).path, trust).reasons()
    assert ("register.file_count", "register.count_mismatch") in reasons
    assert ("register.total_bytes", "register.bytes_mismatch") in reasons


def test_declared_size_format_and_pages_are_read_from_the_bytes(
    tmp_path: Path, trust: AnchorListEvaluator
) -> None:
    def lie(case: dict[str, Any]) -> None:
        _material(case, "0001-申请表.pdf")["pages"] = 3
        _material(case, "0002-营业执照.jpg")["format"] = "png"
        _material(case, "0003-经营场所照片.png")["size"] += 1

    reasons = _check(_case(tmp_path, mutate=lie).path, trust).reasons()
    assert ("0001-申请表.pdf", "pages.mismatch") in reasons
    assert ("0002-营业执照.jpg", "format.mismatch") in reasons
    assert ("0003-经营场所照片.png", "size.mismatch") in reasons


def test_processing_nodes_complete_and_in_order(tmp_path: Path, trust: AnchorListEvaluator) -> None:
    def nodes(case: dict[str, Any]) -> None:
        case["nodes"] = [n for n in case["nodes"] if n["node"] != "审查"]
        decide = next(n for n in case["nodes"] if n["node"] == "决定")
        decide["time"] = "2026-05-09T10:00:00+08:00"  # before the application

    reasons = _check(_case(tmp_path, mutate=nodes).path, trust).reasons()
    assert ("nodes.审查", "process.missing_node") in reasons
    assert ("nodes.决定", "process.out_of_order") in reasons
    assert ("decision.date", "metadata.decision_date") in reasons


def test_required_materials_and_sequence(tmp_path: Path, trust: AnchorListEvaluator) -> None:
    def lose(case: dict[str, Any]) -> None:
        _material(case, "0002-营业执照.jpg")["material_code"] = None
        _material(case, "0003-经营场所照片.png")["seq"] = 9

    reasons = _check(_case(tmp_path, mutate=lose).path, trust).reasons()
    assert ("material.M02", "materials.missing_required") in reasons
    assert ("materials", "sequence.gap") in reasons


def test_an_unsealed_decision_fails(tmp_path: Path, trust: AnchorListEvaluator) -> None:
    unsigned = make_pdf(pages=2, keyword=None)

    def swap(files: dict[str, bytes]) -> None:
        files[DECISION] = unsigned

    def declare(case: dict[str, Any]) -> None:  # declared digests match: only the seal is wrong
        m = _material(case, DECISION)
        case["register"]["total_bytes"] += len(unsigned) - m["size"]
        m["size"], m["sm3"] = len(unsigned), sm3_hex(unsigned)

    report = _check(_case(tmp_path, mutate=declare, tamper=swap).path, trust)
    assert report.reasons() == {(DECISION, "decision.not_sealed"), (DECISION, "seal.missing")}


def test_a_decision_changed_inside_the_signed_bytes_fails(
    tmp_path: Path, trust: AnchorListEvaluator
) -> None:
    def edit(files: dict[str, bytes]) -> None:
        pdf = files[DECISION]
        at = pdf.index(b"/MediaBox") + 12  # a digit of the first page's MediaBox
        files[DECISION] = _flip(pdf, at)

    reasons = _check(_case(tmp_path, tamper=edit).path, trust).reasons()
    assert (DECISION, "digest.mismatch") in reasons
    assert any(s == DECISION and r.startswith("seal.") for s, r in reasons)
    assert (DECISION, "decision.not_sealed") in reasons


def test_an_update_appended_after_the_signature_fails(
    tmp_path: Path, trust: AnchorListEvaluator
) -> None:
    def append(files: dict[str, bytes]) -> None:
        writer = IncrementalPdfFileWriter(io.BytesIO(files[DECISION]))
        writer.root["/Lang"] = generic.pdf_string("en")
        writer.update_root()
        out = io.BytesIO()
        writer.write(out)
        files[DECISION] = out.getvalue()

    reasons = _check(_case(tmp_path, tamper=append).path, trust).reasons()
    assert (DECISION, "seal.modified_after_signing") in reasons
    assert (DECISION, "seal.update_after_last_signature") in reasons


def test_approval_without_a_licence_fails(tmp_path: Path, trust: AnchorListEvaluator) -> None:
    def no_licence(case: dict[str, Any]) -> None:
        case["licences"] = []

    reasons = _check(_case(tmp_path, mutate=no_licence).path, trust).reasons()
    assert ("licences", "licence.missing") in reasons


def test_refusal_needs_no_licence_but_a_decision(
    tmp_path: Path, trust: AnchorListEvaluator
) -> None:
    def refuse(case: dict[str, Any]) -> None:
        case["outcome"] = "refused"
        case["decision"] = None

    reasons = _check(_case(tmp_path, mutate=refuse).path, trust).reasons()
    assert ("decision", "decision.missing") in reasons
    assert ("licences", "licence.unexpected") in reasons


def test_archival_code_must_agree_with_the_metadata(
    tmp_path: Path, trust: AnchorListEvaluator
) -> None:
    def recode(case: dict[str, Any]) -> None:
        case["archival_code"] = "B001-WS·2025·D10·XK·ZC-005"

    reasons = _check(_case(tmp_path, mutate=recode).path, trust).reasons()
    assert {r for s, r in reasons if s == "archival_code"} == {
        "archival_code.fonds",
        "archival_code.year",
        "archival_code.retention",
    }


def test_invalid_metadata_is_listed_and_the_files_are_still_checked(
    tmp_path: Path, trust: AnchorListEvaluator
) -> None:
    def break_it(case: dict[str, Any]) -> None:
        case["retention"] = "forever"
        case["applicant"]["id_number"] = "123"

    report = _check(_case(tmp_path, mutate=break_it, extra={"x.txt": EICAR}).path, trust)
    reasons = report.reasons()
    assert ("retention", "metadata.bad_value") in reasons
    assert ("applicant.id_number", "metadata.uscc.malformed") in reasons
    assert ("x.txt", "virus.found") in reasons
    assert report.case_number is None


def test_unreadable_case_json(tmp_path: Path, trust: AnchorListEvaluator) -> None:
    folder = _case(tmp_path)
    (folder.path / "case.json").write_bytes(b"{not json")
    report = _check(folder.path, trust)
    assert ("case.json", "archive.case_not_json") in report.reasons()


# --------------------------------------------------------------------------- 可用性


def _encrypted_pdf() -> bytes:
    writer = PdfFileWriter()
    writer.insert_page(
        generic.DictionaryObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/Page"),
                generic.pdf_name("/MediaBox"): generic.ArrayObject(
                    [generic.NumberObject(v) for v in (0, 0, 595, 842)]
                ),
            }
        )
    )
    writer.encrypt("owner-secret", "user-secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "fmt", "reason"),
    [
        ("0008-加密.pdf", _encrypted_pdf(), "pdf", "pdf.encrypted"),
        ("0008-截断.pdf", make_pdf(pages=1)[:300], "pdf", "pdf.unreadable"),
        ("0008-损坏.jpg", jpeg()[:200], "jpeg", "image.undecodable"),
        ("0008-坏.xml", b"<?xml version='1.0'?><a><b></a>", "xml", "xml.malformed"),
        (
            "0008-实体.xml",
            b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',
            "xml",
            "xml.doctype_refused",
        ),
    ],
)
def test_files_that_do_not_open(
    tmp_path: Path, trust: AnchorListEvaluator, name: str, data: bytes, fmt: str, reason: str
) -> None:
    def add(case: dict[str, Any]) -> None:
        case["materials"].append(
            {
                "seq": 8,
                "role": "attachment",
                "material_code": "M03",
                "title": "其他",
                "file": name,
                "original_name": None,
                "size": len(data),
                "sm3": sm3_hex(data),
                "format": fmt,
                "pages": None,
                "sealed": False,
                "detached": [],
            }
        )

    report = _check(_case(tmp_path, mutate=add, extra={name: data}).path, trust)
    assert report.reasons() == {(name, reason)} | (
        {(name, "encryption.present")} if reason == "pdf.encrypted" else set()
    )


def test_formats_outside_the_allow_list_fail(tmp_path: Path, trust: AnchorListEvaluator) -> None:
    policy = CheckPolicy(allowed_formats=frozenset({"pdf", "ofd", "xml", "png"}))
    report = _check(_case(tmp_path).path, trust, policy=policy)
    assert report.reasons() == {("0002-营业执照.jpg", "format.not_allowed")}


# --------------------------------------------------------------------------- 安全性


def test_the_builtin_eicar_detector_always_runs(tmp_path: Path, trust: AnchorListEvaluator) -> None:
    padded = b"header bytes " * 100 + EICAR + b" trailer"

    def swap(files: dict[str, bytes]) -> None:
        files[XML] = b"<?xml version='1.0'?><a>" + EICAR.replace(b"<", b"") + b"</a>"

    report = _check(_case(tmp_path, tamper=swap, extra={"z.bin": padded}).path, trust)
    found = {s for s, r in report.reasons() if r == "virus.found"}
    assert found == {XML, "z.bin"}


def test_clamav_without_a_database_is_not_a_pass(
    tmp_path: Path, case_folder: CaseFolder, trust: AnchorListEvaluator
) -> None:
    empty = tmp_path / "empty-db"
    empty.mkdir()
    scanner = ClamavScanner(database_dir=empty)
    report = _check(case_folder.path, trust, scanners=[scanner])
    clam = [i for i in report.items if i.dimension is Dimension.SECURITY and i.subject == "clamav"]
    assert [(i.outcome, i.reason) for i in clam] in (
        [(CheckOutcome.NOT_AVAILABLE, "scan.clamav_no_database")],
        [(CheckOutcome.NOT_AVAILABLE, "scan.clamav_not_installed")],
    )
    assert report.verdict is ReportVerdict.INCOMPLETE  # blocking by default
    lenient = CheckPolicy(block_when_scanner_unavailable=False)
    report = _check(case_folder.path, trust, scanners=[scanner], policy=lenient)
    assert report.verdict is ReportVerdict.PASSED
    assert report.unavailable


def test_a_case_with_many_defects_lists_every_one(
    tmp_path: Path, trust: AnchorListEvaluator
) -> None:
    def mutate(case: dict[str, Any]) -> None:
        case["nodes"] = [n for n in case["nodes"] if n["node"] != NodeKind.DELIVER.value]
        case["licences"] = []
        _material(case, "0001-申请表.pdf")["pages"] = 5

    def tamper(files: dict[str, bytes]) -> None:
        files["0002-营业执照.jpg"] = _flip(files["0002-营业执照.jpg"], 300)
        files["evil.bin"] = EICAR

    reasons = _check(_case(tmp_path, mutate=mutate, tamper=tamper).path, trust).reasons()
    assert {
        ("nodes.送达", "process.missing_node"),
        ("licences", "licence.missing"),
        ("0001-申请表.pdf", "pages.mismatch"),
        ("0002-营业执照.jpg", "digest.mismatch"),
        ("evil.bin", "virus.found"),
        ("evil.bin", "link.unreferenced_file"),
        ("register.file_count", "register.count_mismatch"),
    } <= reasons


def test_signing_times_must_fall_within_the_process(
    tmp_path: Path, trust: AnchorListEvaluator
) -> None:
    def close_early(case: dict[str, Any]) -> None:
        for node in case["nodes"]:
            if node["node"] in ("决定", "制证", "送达", "办结"):
                node["time"] = "2026-05-19T09:00:00+08:00"  # the seals say 2026-05-20
        case["decision"]["date"] = "2026-05-19"

    reasons = _check(_case(tmp_path, mutate=close_early).path, trust).reasons()
    assert {s for s, r in reasons if r == "seal.signing_time_outside_process"} == {
        DECISION,
        LICENCE,
    }


def test_symlinks_and_odd_entries_break_the_package_structure(
    tmp_path: Path, trust: AnchorListEvaluator
) -> None:
    folder = _case(tmp_path)
    (folder.path / "notes.txt").write_text("stray")
    outside = tmp_path / "outside.pdf"
    outside.write_bytes(make_pdf(pages=1))
    (folder.path / "files" / "link.pdf").symlink_to(outside)
    (folder.path / "files" / os.fsdecode(b"bad\xffname.txt")).write_bytes(b"x")
    reasons = _check(folder.path, trust).reasons()
    assert ("notes.txt", "structure.unexpected_entry") in reasons
    assert ("link.pdf", "structure.not_a_regular_file") in reasons
    assert ("bad\\udcffname.txt", "structure.bad_file_name") in reasons


def test_probes_made_while_staging_are_used_not_repeated(
    tmp_path: Path, trust: AnchorListEvaluator
) -> None:
    """``examined`` facts (probed from the staged copy) stand in for the checks' own probe: a
    file the staging found unopenable fails even though its bytes here would open."""
    folder = _case(tmp_path).path
    name = "0002-营业执照.jpg"
    real = examine(folder / "files" / name, name)
    assert real.probe.opens is True
    staged = replace(real, probe=replace(real.probe, opens=False, reason="jpeg.truncated"))
    report = _check(folder, trust, examined={name: staged})
    assert report.reasons() == {(name, "jpeg.truncated")}
    assert next(f for f in report.files if f.name == name) == staged
    assert not _check(folder, trust, examined={}).reasons()
