"""E-licence benchmark: EL1 envelope sign+encode and decode+verify, status lists, PDF rendering.

Peers, measured in the same run on the same machine (ratios are what matters on a shared box):

- EL1 sign+encode (CBOR payload, Sig_structure, one SM2 signature, DER -> raw, zlib, Base45)
  against a bare ``trust.crypto`` SM2 signature over the same Sig_structure bytes;
- EL1 decode+verify (Base45, bounded inflate, COSE parse, one SM2 verification, payload parse
  and date checks) against a bare SM2 verification of the same bytes;
- status list (131,072 entries, 1 % non-zero) decode+verify against a bare SM2 verification;
- licence PDF rendering with an embedded font subset, (a) a new character set every time (the
  fontTools subset + CFF->TrueType conversion runs) and (b) a repeated character set (the
  subset is cached), against rendering with the standard non-embedded ``STSong-Light``.

Rates are wall-clock. Run: ``python -m bench --only licences_bench`` or
``python -m bench.licences_bench``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from licences.codes import new_code
from licences.envelope import (
    LicencePayload,
    decode_cose,
    decode_el1,
    encode_el1,
    encode_el1_url,
    holder_digest,
    make_kid,
    mask_holder_name,
    new_holder_salt,
    sign_envelope,
    verify_envelope,
)
from licences.identifiers import build_identifier
from licences.render import LicenceDocument, make_qr, render_licence_pdf
from licences.status import (
    LicenceStatus,
    StatusList,
    StatusListToken,
    decode_status_list,
    sign_status_list,
    verify_status_list,
)
from trust.crypto import sm2_verify
from trust.crypto.private_keys import generate_sm2

TARGET_SIGN_RATIO = 0.5  # envelope work beside one signature should stay under 2x
TARGET_VERIFY_RATIO = 0.5
TARGET_STATUS_VERIFY_RATIO = 0.1  # inflating and checking 32 KiB beside one verification
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
_NAME_POOL = "华东南北中新鑫鼎盛泰恒达通远航宏伟信诚安康明德嘉禾瑞丰永昌兴隆晨晖锦绣" * 2


def _rate(operation: Callable[[], object], seconds: float, minimum: int = 3) -> float:
    count, start = 0, time.perf_counter()
    while True:
        operation()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and count >= minimum:
            return count / elapsed


def _payload() -> LicencePayload:
    ident = build_identifier("11100000000013338W011", "11430000006122244L")
    return LicencePayload(
        identifier=ident.text,
        type_code=ident.type_code,
        licence_number="D243012345",
        issuer_code=ident.issuer_code,
        issued_on=date(2026, 3, 2),
        valid_from=date(2026, 3, 2),
        valid_until=date(2031, 3, 1),
        masked_holder_name=mask_holder_name("长沙市某某建筑工程有限公司"),
        holder_digest=holder_digest(new_holder_salt(), "001", "91430100MA4L0ABC2X"),
        issuer_name="湖南省住房和城乡建设厅",
    )


def _document(qr_text: str, payload: LicencePayload) -> LicenceDocument:
    return LicenceDocument(
        licence_name="建筑业企业资质证书",
        licence_number=payload.licence_number,
        holder_name="长沙市某某建筑工程有限公司",
        face_fields=(
            ("统一社会信用代码", "91430100MA4L0ABC2X"),
            ("法定代表人", "王某某"),
            ("注册地址", "湖南省长沙市岳麓区麓谷街道某某路188号"),
            ("资质类别及等级", "建筑工程施工总承包贰级；市政公用工程施工总承包叁级"),
        ),
        issuer_name="湖南省住房和城乡建设厅",
        issued_on=payload.issued_on,
        valid_from=payload.valid_from,
        valid_until=payload.valid_until,
        identifier=payload.identifier,
        qr_text=qr_text,
        verification_code=new_code(),
    )


def _fresh_name() -> str:
    picked = "".join(secrets.choice(_NAME_POOL) for _ in range(4))
    return f"长沙市{picked}建筑工程有限公司"


def run(quick: bool = False) -> dict[str, Any]:
    seconds = 1.0 if quick else 4.0
    key = generate_sm2()
    public = key.public_key()
    kid = make_kid(public.to_der())
    trusted = {kid: public}
    payload = _payload()
    cose = sign_envelope(payload, kid=kid, sign=key.sign)
    text = encode_el1(cose)
    url = encode_el1_url(cose, "zwfw.hunan.gov.cn")
    tbs = decode_cose(cose).to_be_signed()
    der = key.sign(tbs)
    assert verify_envelope(decode_el1(text), trusted, NOW).valid

    statuses = StatusList.new().with_statuses(
        {secrets.randbelow(131_072): LicenceStatus(1 + secrets.randbelow(3)) for _ in range(1311)}
    )
    issuer = "11430000006122244L"
    token = StatusListToken("hn-2026-001", issuer, 1, NOW, timedelta(days=1), statuses)
    status_file = sign_status_list(token, kid=kid, sign=key.sign)

    def verify_status() -> None:
        assert verify_status_list(decode_status_list(status_file), trusted, NOW).usable

    doc = _document(url, payload)
    render_licence_pdf(doc)  # warm the font lookup and the cached subset

    sign_rate = _rate(lambda: key.sign(tbs), seconds)
    verify_rate = _rate(lambda: sm2_verify(public, tbs, der), seconds)
    el1_sign = _rate(lambda: encode_el1(sign_envelope(payload, kid=kid, sign=key.sign)), seconds)
    el1_verify = _rate(lambda: verify_envelope(decode_el1(text), trusted, NOW), seconds)
    status_verify = _rate(verify_status, seconds)
    render_std = _rate(lambda: render_licence_pdf(doc, embed_font=False), seconds)
    render_cached = _rate(lambda: render_licence_pdf(doc), seconds)
    render_fresh = _rate(
        lambda: render_licence_pdf(replace(doc, holder_name=_fresh_name())), seconds
    )
    qr_el1, qr_url = make_qr(text, "Q"), make_qr(url, "Q")
    return {
        "title": "E-licences (EL1 envelope, status list, PDF; wall-clock rates)",
        "rows": [
            {"name": "EL1 sign + encode (SM2, CBOR, zlib, Base45)", "value": el1_sign,
             "unit": "envelopes/s", "peer": "trust.crypto SM2 sign (same bytes)",
             "peer_value": sign_rate, "ratio": el1_sign / sign_rate,
             "target": TARGET_SIGN_RATIO},
            {"name": "EL1 decode + verify", "value": el1_verify, "unit": "envelopes/s",
             "peer": "trust.crypto SM2 verify (same bytes)", "peer_value": verify_rate,
             "ratio": el1_verify / verify_rate, "target": TARGET_VERIFY_RATIO},
            {"name": "status list decode + verify (131,072)", "value": status_verify,
             "unit": "lists/s", "peer": "trust.crypto SM2 verify", "peer_value": verify_rate,
             "ratio": status_verify / verify_rate, "target": TARGET_STATUS_VERIFY_RATIO},
            {"name": "licence PDF, embedded font, new characters", "value": render_fresh,
             "unit": "pages/s", "peer": "PDF with STSong-Light", "peer_value": render_std,
             "ratio": render_fresh / render_std, "target": None},
            {"name": "licence PDF, embedded font, cached subset", "value": render_cached,
             "unit": "pages/s", "peer": "PDF with STSong-Light", "peer_value": render_std,
             "ratio": render_cached / render_std, "target": None},
        ],
        "notes": {
            "cose_bytes": len(cose),
            "el1_chars": len(text),
            "url_chars": len(url),
            "qr_version_el1_ec_q": qr_el1.version,
            "qr_version_url_ec_q": qr_url.version,
            "status_list_file_bytes": len(status_file),
        },
    }  # fmt: skip


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=2, ensure_ascii=False))
