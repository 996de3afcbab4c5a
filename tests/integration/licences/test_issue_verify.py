"""Issuing and verifying over HTTP (issue 5 items 2, 3, 7): identifiers and codes, the QR read
back from the rendered PDF with zxing-cpp, a changed byte, revocation seen at once, the sealed PDF
verified through the seals capability with its SM3 in the QR payload, enumeration resistance."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from licences.codes import normalise_code
from licences.envelope import decode_el1, decode_payload
from licences.identifiers import parse_identifier
from licences.model import Licence, LicenceVerification
from seals import service_verify as seals_verify
from tests.api._support import assert_problem
from tests.conftest import skip_or_fail
from tests.integration.licences.conftest import (
    CITIZEN_ID,
    LAWYER,
    Lic,
    business_body,
)
from trust.crypto import sm3
from trust.tlog.model import TlogEntry


def _qr_from_pdf(pdf: bytes, tmp_path: Path) -> str:
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    src = tmp_path / "licence.pdf"
    src.write_bytes(pdf)
    texts: list[str] = []
    # Two resolutions: a version-17 symbol has ~0.45 mm modules, a few pixels at 150 dpi.
    for dpi in ("200", "300"):
        out = tmp_path / f"page-{dpi}"
        try:
            subprocess.run(
                ["pdftoppm", "-r", dpi, "-png", "-singlefile", str(src), str(out)],
                check=True,
                capture_output=True,
            )
        except FileNotFoundError:
            skip_or_fail("pdftoppm (poppler-utils) is not installed")
        found = zxingcpp.read_barcodes(Image.open(f"{out}.png"))
        texts = [b.text for b in found if b.format == zxingcpp.BarcodeFormat.QRCode]
        if texts:
            break
    assert len(texts) == 1
    return str(texts[0])


def test_issue_returns_identifier_code_and_payload(lic: Lic) -> None:
    data = lic.issue()
    ident = parse_identifier(data["identifier"])  # check character valid
    assert ident.issuer_code == lic.org_uscc
    assert len(ident.serial) == 20
    assert ident.version == 1
    assert normalise_code(data["verification_code"])  # check character valid
    assert data["qr_payload"].startswith("EL1:")
    assert data["qr_url"].startswith("HTTPS://")
    assert data["licence"]["status"] == "issued"
    assert data["licence"]["holder_code_masked"].count("*") == 10


def test_code_stored_only_as_mac(lic: Lic) -> None:
    data = lic.issue()
    code = normalise_code(data["verification_code"])
    with lic.app.state.session_factory() as s:
        row = s.scalars(select(Licence).where(Licence.id == data["id"])).one()
        stored = [row.code_digest, row.qr_payload.encode(), row.fields.encode()]
    assert code.encode() not in b"".join(stored)
    assert len(row.code_digest) == 32


def test_typed_code_verifies_with_minimal_view(lic: Lic) -> None:
    data = lic.issue()
    spaced = data["verification_code"].lower().replace("-", " ")
    out = lic.verify_code(spaced)
    assert out["result"] == "VALID"
    assert out["licence"] == {
        "licence_name": "营业执照",
        "issuer_name": "某市市场监督管理局",
        "valid_from": "2026-11-22",
        "valid_until": None,
        "holder_name": "长沙*******有限公司",
    }
    assert out["identifier"] is None  # the code channel discloses no identifier


def test_unknown_and_wrong_codes_get_the_same_body(lic: Lic) -> None:
    data = lic.issue()
    code = normalise_code(data["verification_code"])
    wrong_check = code[:-1] + ("0" if code[-1] != "0" else "1")
    from licences.codes import new_code

    answers = [lic.verify_code(c) for c in (new_code(), wrong_check, "garbage")]
    for a in answers:
        a.pop("checked_at")
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["result"] == "NOT_FOUND"
    assert answers[0]["licence"] is None


def test_qr_in_pdf_verifies_and_a_changed_byte_does_not(lic: Lic, tmp_path: Path) -> None:
    data = lic.issue()
    printed = _qr_from_pdf(lic.pdf(data["id"]), tmp_path)
    assert printed == data["qr_url"]
    assert lic.verify_qr(printed)["result"] == "VALID"
    head, _, fragment = printed.partition("#")
    for i in (0, len(fragment) // 2, len(fragment) - 1):
        ch = fragment[i]
        changed = fragment[:i] + ("A" if ch != "A" else "B") + fragment[i + 1 :]
        out = lic.verify_qr(f"{head}#{changed}")
        assert out["result"] == "BAD_SIGNATURE", (i, out)
        assert out["licence"] is None


def test_changed_payload_byte_gives_bad_signature(lic: Lic) -> None:
    """Flip every byte of the signed payload in turn (re-encoding the envelope correctly), so
    that decoding succeeds and the signature check itself must fail."""
    import zlib

    import cbor2

    from licences.envelope import encode_el1

    data = lic.issue()
    cose = zlib.decompress(
        __import__("licences.base45", fromlist=["x"]).b45decode(data["qr_payload"][4:])
    )
    tag = cbor2.loads(cose)
    protected, unprotected, payload, signature = tag.value
    for i in range(0, len(payload), 17):
        mutated = bytearray(payload)
        mutated[i] ^= 0x01
        text = encode_el1(
            cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, bytes(mutated), signature]))
        )
        assert lic.verify_qr(text)["result"] == "BAD_SIGNATURE", i


def test_revoke_is_seen_at_once_by_code_and_qr(lic: Lic) -> None:
    data = lic.issue()
    assert lic.verify_code(data["verification_code"])["result"] == "VALID"
    r = lic.client.post(
        f"/licences/{data['id']}/revoke",
        json={"reason": "以欺骗手段取得"},
        headers=lic.issuer.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "revoked"
    by_code = lic.verify_code(data["verification_code"])
    assert (by_code["result"], by_code["reason"]) == ("INVALID", "revoked")
    by_qr = lic.verify_qr(data["qr_payload"])
    assert (by_qr["result"], by_qr["reason"]) == ("INVALID", "revoked")
    assert by_qr["signature_checked"] is True


def test_sealed_pdf_verifies_through_seals_and_matches_qr_sm3(lic: Lic) -> None:
    data = lic.issue()
    pdf = lic.pdf(data["id"])
    with lic.app.state.session_factory() as s:
        report = seals_verify.verify_file(pdf, "x.pdf", session=s, clock=lic.app.state.clock)
    assert report["verdict"] == "VALID", report["reason"]
    assert report["signatures"][0]["registry"]["seal_type"] == "admin_approval"
    payload_sm3 = None
    env = decode_el1(data["qr_payload"])
    payload_sm3 = decode_payload(env.cose.unverified_payload).document_sm3
    assert payload_sm3 == sm3(pdf)
    assert data["document_sm3"] == sm3(pdf).hex()
    # The upload channel: seal verified, record matched by SM3.
    r = lic.client.post(
        "/licences/verify/pdf", files={"file": ("licence.pdf", io.BytesIO(pdf), "application/pdf")}
    )
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "VALID"
    assert r.json()["identifier"] == data["identifier"]


def test_modified_pdf_is_bad_signature(lic: Lic) -> None:
    pdf = lic.pdf(lic.issue()["id"])
    tampered = pdf.replace(b"/Title", b"/Titlf", 1)
    assert tampered != pdf
    r = lic.client.post(
        "/licences/verify/pdf", content=tampered, headers={"content-type": "application/pdf"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "BAD_SIGNATURE"


def test_idempotency_key_gives_one_licence(lic: Lic) -> None:
    body = business_body(idempotency_key="case-2026-000123")
    first = lic.issue(body)
    again = lic.issue(body)
    assert again["identifier"] == first["identifier"]
    assert again["replayed"] is True
    assert again["verification_code"] is None
    other = business_body(idempotency_key="case-2026-000123", holder_name="另一家公司")
    r = lic.client.post("/licences", json=other, headers=lic.issuer.headers)
    assert_problem(r, 409, "licence.conflict.idempotency")
    with lic.app.state.session_factory() as s:
        assert len(s.scalars(select(Licence)).all()) == 1


def test_service_client_issues_natural_person_licence(lic: Lic) -> None:
    body = {
        "type_code": LAWYER,
        "holder_name": "张三",
        "holder_code": CITIZEN_ID.lower(),
        "fields": {
            "gender": "男",
            "practice_org": "某律师事务所",
            "practice_category": "专职律师",
            "qualification_no": "A2019",
        },
    }
    r = lic.client.post("/licences", json=body, headers=lic.system)
    assert r.status_code == 201, r.text
    assert r.json()["licence"]["holder_type_code"] == "111"
    assert r.json()["licence"]["created_by"].startswith("client:")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"holder_code": "91350100M000100Y44"}, "licence.request.bad_holder_code"),
        ({"fields": {"entity_type": "有限责任公司"}}, "licence.request.missing_field"),
        ({"fields": {**business_body()["fields"], "colour": "red"}}, "licence.request.bad_field"),
        (
            {"fields": {**business_body()["fields"], "established_on": "2019-02-30"}},
            "licence.request.bad_field",
        ),
        ({"type_code": "11100000000001011X999"}, "licence.request.unknown_type"),
        ({"valid_until": "2030-01-01"}, "licence.request.bad_validity"),
    ],
)
def test_bad_requests_are_refused(lic: Lic, change: dict[str, object], code: str) -> None:
    r = lic.client.post("/licences", json=business_body(**change), headers=lic.issuer.headers)
    assert_problem(r, 400, code)


def test_only_issuers_of_the_organisation_issue(lic: Lic) -> None:
    r = lic.client.post(
        "/licences", json=business_body(organisation_id=lic.org_id), headers=lic.outsider.headers
    )
    assert_problem(r, 403, "licence.forbidden")
    r = lic.client.post("/licences", json=business_body())
    assert r.status_code == 401
    r = lic.client.post("/licences", json=business_body(), headers=lic.auditor.headers)
    assert r.status_code in (400, 403)


def test_issue_is_logged_and_verifications_recorded(lic: Lic) -> None:
    data = lic.issue()
    lic.verify_code(data["verification_code"])
    with lic.app.state.session_factory() as s:
        kinds = list(s.scalars(select(TlogEntry.kind)))
        seen = s.scalars(select(LicenceVerification)).all()
    assert "licence.issued" in kinds
    assert "seal.used" in kinds
    assert [v.channel for v in seen] == ["code"]


def test_rate_limit_per_ip(lic: Lic) -> None:
    lic.app.state.licences_verify_limits = (3, 100)
    for _ in range(3):
        assert lic.client.post("/licences/verify/code", json={"code": "x"}).status_code == 200
    r = lic.client.post("/licences/verify/code", json={"code": "x"})
    assert_problem(r, 429, "licence.verify_rate_limited")


def test_rate_limit_per_client(lic: Lic) -> None:
    """Spec §9.1: besides the per-IP count, each authenticated client has its own limit, and
    reaching it does not stop anyone else."""
    lic.app.state.licences_verify_limits = (100, 3)
    for _ in range(3):
        r = lic.client.post("/licences/verify/code", json={"code": "x"}, headers=lic.system)
        assert r.status_code == 200, r.text
    r = lic.client.post("/licences/verify/code", json={"code": "x"}, headers=lic.system)
    body = assert_problem(r, 429, "licence.verify_rate_limited")
    assert body["retry_after"] > 0
    # The same address without credentials, and another client, are still served.
    assert lic.client.post("/licences/verify/code", json={"code": "x"}).status_code == 200
    other = lic.client.post("/licences/verify/code", json={"code": "x"}, headers=lic.issuer.headers)
    assert other.status_code == 200


def test_rate_limited_page_answers_in_chinese(lic: Lic) -> None:
    lic.app.state.licences_verify_limits = (2, 100)
    for _ in range(2):
        r = lic.client.post("/licences/verify/page", data={"code": "7KQ4-M2XA-9PHT-D3WT"})
        assert r.status_code == 200
    r = lic.client.post("/licences/verify/page", data={"code": "7KQ4-M2XA-9PHT-D3WT"})
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("text/html")
    assert int(r.headers["retry-after"]) > 0
    assert "核验请求过于频繁" in r.text
    assert '<html lang="zh' in r.text


def test_qr_payload_carries_the_status_reference(lic: Lic) -> None:
    """Issue 5: "a status reference" in the QR payload (claim 11 = [list-id, index]), in the
    printed URL form and in the issued EL1 form alike."""
    data = lic.issue()
    for text in (data["qr_url"], data["qr_payload"]):
        payload = decode_payload(decode_el1(text).cose.unverified_payload)
        assert payload.status is not None
        assert payload.status.list_id == data["licence"]["status_list_id"]
        assert payload.status.index == data["licence"]["status_index"]
