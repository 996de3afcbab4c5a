"""The seals HTTP API on the real app: lifecycle, stamping (multipart and raw body), the
two-person rule, usage history, public verification by upload (rate-limited), problem+json
errors with stable codes, never a 500."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image

from seals import api_support
from tests.api._support import assert_problem
from tests.integration.seals._web import Api
from tests.unit.seals._ses_support import minimal_ofd, sample
from tests.unit.seals.pdf_fixtures import make_pdf
from trust.crypto import sm3

DATA = b"approval decision 2026-001\n"


def test_lifecycle_over_http(api: Api) -> None:
    seal = api.seal()
    seal_id = str(seal["id"])
    assert seal["status"] == "active"
    assert seal["type_label"] == "行政审批专用章"
    got = api.client.get(f"/seals/{seal_id}", headers=api.stamper.headers)
    assert got.status_code == 200
    esl = api.client.get(f"/seals/{seal_id}/seal.esl", headers=api.stamper.headers)
    assert esl.headers["content-type"] == "application/octet-stream"
    assert sm3(esl.content).hex() == seal["esl_sm3"]
    png = api.client.get(f"/seals/{seal_id}/image.png", headers=api.stamper.headers)
    assert png.headers["content-type"] == "image/png"
    listed = api.client.get("/seals", headers=api.stamper.headers).json()
    assert [s["id"] for s in listed] == [seal_id]
    assert api.client.get("/seals", headers=api.outsider.headers).json() == []
    for action, status in (("suspend", "suspended"), ("resume", "active"), ("revoke", "revoked")):
        r = api.client.post(
            f"/seals/{seal_id}/{action}", json={"reason": "测试"}, headers=api.custodian.headers
        )
        assert r.json()["status"] == status
    again = api.client.post(
        f"/seals/{seal_id}/resume", json={"reason": "x"}, headers=api.custodian.headers
    )
    assert_problem(again, 409, "seal.bad_transition")


def test_lifecycle_refusals(api: Api) -> None:
    body = {"organisation_id": api.org_id, "seal_type": "公章", "name": "章", "reason": "x"}
    assert_problem(api.client.post("/seals", json=body), 401, "auth.required")
    assert_problem(
        api.client.post("/seals", json=body, headers=api.stamper.headers), 403, "seal.not_custodian"
    )
    bad_type = {**body, "seal_type": "私章"}
    assert_problem(
        api.client.post("/seals", json=bad_type, headers=api.custodian.headers),
        400,
        "seal.unknown_type",
    )
    bad_image = {**body, "image_base64": "!!!"}
    assert_problem(
        api.client.post("/seals", json=bad_image, headers=api.custodian.headers),
        400,
        "seal.bad_image",
    )
    assert_problem(
        api.client.post("/seals", json={**body, "extra": 1}, headers=api.custodian.headers),
        422,
        "request.invalid",
    )
    assert_problem(
        api.client.get("/seals/seal_nope", headers=api.custodian.headers), 404, "seal.not_found"
    )
    assert_problem(
        api.client.post(
            "/seals", content=b"x", headers={**api.custodian.headers, "content-type": "text/plain"}
        ),
        415,
        "request.unsupported_media_type",
    )


def test_uploaded_image(api: Api) -> None:
    out = io.BytesIO()
    Image.new("RGBA", (300, 300), (230, 0, 18, 255)).save(out, "PNG")
    seal = api.seal(image_base64=base64.b64encode(out.getvalue()).decode(), image_width_mm=40)
    assert seal["picture_source"] == "uploaded"
    assert (seal["picture_width_mm"], seal["picture_height_mm"]) == (40, 40)


def _verify(api: Api, data: bytes, original: bytes | None = None) -> dict[str, object]:
    files = {"file": ("upload.bin", data)}
    if original is not None:
        files["original"] = ("original.bin", original)
    r = api.client.post("/seals/verify", files=files)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def test_stamp_three_forms_and_verify_by_upload(api: Api) -> None:
    seal_id = str(api.seal()["id"])
    pdf = make_pdf(pages=2)
    r = api.client.post(
        f"/seals/{seal_id}/stamp/pdf?keyword=（盖章）",
        files={"file": ("决定书.pdf", pdf, "application/pdf")},
        headers=api.stamper.headers,
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert "stamped.pdf" in r.headers["content-disposition"]
    assert r.headers["x-output-sm3"] == sm3(r.content).hex()
    assert _verify(api, r.content)["verdict"] == "VALID"
    timestamped = api.client.post(
        f"/seals/{seal_id}/stamp/pdf?timestamp=true",
        files={"file": ("决定书.pdf", pdf, "application/pdf")},
        headers=api.stamper.headers,
    )
    assert timestamped.status_code == 200, timestamped.text
    report = _verify(api, timestamped.content)
    sigs = report["signatures"]
    assert isinstance(sigs, list)
    assert len(sigs) == 1
    sig: Any = sigs[0]
    assert report["verdict"] == "VALID"
    assert (sig["checks"]["timestamp"]["status"], sig["time_basis"]) == ("pass", "timestamp")

    raw = api.client.post(
        f"/seals/{seal_id}/stamp/bytes?property_info=decision.txt",
        content=DATA,
        headers={**api.stamper.headers, "content-type": "application/octet-stream"},
    )
    assert raw.status_code == 200, raw.text
    assert _verify(api, raw.content, DATA)["verdict"] == "VALID"
    assert _verify(api, raw.content)["verdict"] == "INDETERMINATE"

    ofd = api.client.post(
        f"/seals/{seal_id}/stamp/ofd?x_mm=20&y_mm=30",
        content=minimal_ofd(),
        headers={**api.system, "content-type": "application/ofd"},
    )
    assert ofd.status_code == 200, ofd.text
    report = _verify(api, ofd.content)
    assert report["verdict"] == "VALID"

    usage = api.client.get(f"/seals/{seal_id}/usage", headers=api.custodian.headers).json()
    assert [u["form"] for u in usage] == ["ofd", "bytes", "pdf", "pdf"] or len(usage) == 4
    assert {u["actor"].split(":")[0] for u in usage} == {"user", "client"}
    assert_problem(
        api.client.get(f"/seals/{seal_id}/usage", headers=api.stamper.headers),
        403,
        "seal.not_custodian",
    )


def test_stamping_refusals(api: Api) -> None:
    seal_id = str(api.seal()["id"])
    url = f"/seals/{seal_id}/stamp/bytes"
    octet = {"content-type": "application/octet-stream"}
    assert_problem(
        api.client.post(url, content=DATA, headers={**api.outsider.headers, **octet}),
        403,
        "seal.not_authorised",
    )
    assert_problem(
        api.client.post(url, content=b"", headers={**api.stamper.headers, **octet}),
        400,
        "seal.invalid_request",
    )
    assert_problem(
        api.client.post(
            f"/seals/{seal_id}/stamp/pdf",
            content=b"not a pdf",
            headers={**api.stamper.headers, **octet},
        ),
        400,
        "seal.pdf_malformed",
    )
    assert_problem(
        api.client.post(
            f"/seals/{seal_id}/stamp/ofd?keyword=x",
            content=minimal_ofd(),
            headers={**api.stamper.headers, **octet},
        ),
        400,
        "seal.invalid_request",
    )
    api.client.post(
        f"/seals/{seal_id}/suspend", json={"reason": "x"}, headers=api.custodian.headers
    )
    assert_problem(
        api.client.post(url, content=DATA, headers={**api.stamper.headers, **octet}),
        409,
        "seal.suspended",
    )


def test_two_person_rule_over_http(api: Api) -> None:
    seal_id = str(api.seal(two_person_rule=True)["id"])
    pdf = make_pdf(pages=1)
    r = api.client.post(
        f"/seals/{seal_id}/stamp/pdf", files={"file": ("a.pdf", pdf)}, headers=api.both.headers
    )
    assert r.status_code == 202, r.text
    request_id = r.json()["id"]
    assert r.headers["location"] == f"/seals/requests/{request_id}"
    assert r.json()["document_sm3"] == sm3(pdf).hex()
    assert_problem(
        api.client.post(f"/seals/requests/{request_id}/approve", headers=api.both.headers),
        403,
        "seal.approver_is_requester",
    )
    assert_problem(
        api.client.post(f"/seals/requests/{request_id}/approve", headers=api.stamper.headers),
        403,
        "seal.not_custodian",
    )
    ok = api.client.post(f"/seals/requests/{request_id}/approve", headers=api.custodian.headers)
    assert ok.json()["status"] == "approved"
    changed = api.client.post(
        f"/seals/requests/{request_id}/execute",
        files={"file": ("a.pdf", make_pdf(pages=2))},
        headers=api.both.headers,
    )
    assert_problem(changed, 409, "seal.document_mismatch")
    done = api.client.post(
        f"/seals/requests/{request_id}/execute",
        files={"file": ("a.pdf", pdf)},
        headers=api.both.headers,
    )
    assert done.status_code == 200, done.text
    assert _verify(api, done.content)["verdict"] == "VALID"
    status = api.client.get(f"/seals/requests/{request_id}", headers=api.custodian2.headers)
    assert status.json()["status"] == "executed"
    usage = api.client.get(f"/seals/{seal_id}/usage", headers=api.custodian.headers).json()
    assert [u["request_id"] for u in usage] == [request_id]


def test_verify_upload_errors_and_samples(api: Api) -> None:
    assert_problem(
        api.client.post("/seals/verify", files={"file": ("x.txt", b"hello")}),
        400,
        "seal.unknown_file_kind",
    )
    assert_problem(
        api.client.post("/seals/verify", files={"other": ("x.txt", b"hello")}),
        400,
        "seal.invalid_request",
    )
    report = _verify(api, sample("esl-demo", "test-1.ofd"))
    assert (report["verdict"], report["reason"]) == ("INVALID", "document_modified")
    raw = api.client.post(
        "/seals/verify?filename=Seal.esl",
        content=sample("esl-demo", "Seal.esl"),
        headers={"content-type": "application/octet-stream"},
    )
    assert raw.json()["verdict"] == "INDETERMINATE"
    assert raw.json()["filename"] == "Seal.esl"


def test_verify_upload_size_bound(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_support, "MAX_DOCUMENT_BYTES", 1000)
    big = b"%PDF-1.7\n" + bytes(2000)
    assert_problem(
        api.client.post("/seals/verify", files={"file": ("big.pdf", big)}),
        413,
        "seal.document_too_large",
    )


def test_verify_is_rate_limited_per_ip(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_support, "VERIFY_LIMIT", 3)
    ofd = sample("esl-demo", "test.ofd")
    for _ in range(3):
        assert api.client.post("/seals/verify", files={"file": ("a.ofd", ofd)}).status_code == 200
    limited = api.client.post("/seals/verify", files={"file": ("a.ofd", ofd)})
    body = assert_problem(limited, 429, "seal.verify_rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
    assert body["retry_after"] >= 1


def test_hostile_input_is_a_problem_never_a_500(api: Api) -> None:
    seal_id = str(api.seal()["id"])
    octet = {**api.stamper.headers, "content-type": "application/octet-stream"}
    pdf = make_pdf(pages=1)
    cases = [
        (f"/seals/{seal_id}/stamp/pdf", pdf[: len(pdf) // 2], {}),
        (f"/seals/{seal_id}/stamp/pdf", pdf, {"page": "9"}),
        (f"/seals/{seal_id}/stamp/pdf", pdf, {"x_mm": "1999", "y_mm": "1999"}),
        (f"/seals/{seal_id}/stamp/pdf", pdf, {"keyword": "不存在的关键字"}),
        (f"/seals/{seal_id}/stamp/pdf", pdf, {"x_mm": "10"}),
        (f"/seals/{seal_id}/stamp/ofd", b"PK\x03\x04garbage", {}),
        (f"/seals/{seal_id}/stamp/ofd", minimal_ofd(), {"page": "5"}),
        (f"/seals/{seal_id}/stamp/bytes", DATA, {"property_info": "非ASCII"}),
        (f"/seals/{seal_id}/stamp/bytes", DATA, {"page": "0"}),
    ]
    for path, body, params in cases:
        r = api.client.post(path, content=body, params=params, headers=octet)
        assert 400 <= r.status_code < 500, (path, params, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    broken_multipart = api.client.post(
        f"/seals/{seal_id}/stamp/bytes",
        content=b'--x\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc',
        headers={**api.stamper.headers, "content-type": "multipart/form-data; boundary=x"},
    )
    assert 400 <= broken_multipart.status_code < 500, broken_multipart.text
    for junk in (b"\x30\x82\xff\xff" + bytes(10), b"%PDF-1.7\n%%EOF", b"PK\x03\x04" + bytes(30)):
        r = api.client.post("/seals/verify", files={"file": ("junk.sig", junk)})
        assert r.status_code < 500, r.text
    assert count_usage(api, seal_id) == 0


def count_usage(api: Api, seal_id: str) -> int:
    return len(api.client.get(f"/seals/{seal_id}/usage", headers=api.custodian.headers).json())
