"""A realistic submitted case folder, made at test time (no binary fixtures in git).

``write_case(folder)`` writes ``case.json`` + ``files/`` for an approved 行政许可 case:

==== ============================ ============ =====================================
seq  file                         role         made with
==== ============================ ============ =====================================
1    0001-申请表.pdf               application  ``make_pdf`` (pdf_fixtures), unsigned
2    0002-营业执照.jpg             attachment   Pillow JPEG
3    0003-经营场所照片.png          attachment   Pillow PNG
4    0004-企业信息.xml             attachment   XML + detached SES_Signature ``.sig``
5    0005-受理通知书.pdf           notice       ``make_pdf``, unsigned
6    0006-准予许可决定书.pdf        decision     ``seals.stamping.stamp_pdf`` (SM2 test signer)
7    0007-电子证照.ofd             licence      ``seals.ofd_writer.seal_ofd`` (SES test PKI)
==== ============================ ============ =====================================

The signed bytes are made once per process (``materials()``); ``write_case`` copies them and
computes sizes and SM3 from the bytes, so ``mutate`` (a callback on the case dict) and
``tamper`` (on the file bytes) make the negative cases. ``anchors`` are the two test roots.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from seals.ofd_writer import SealPlacement, seal_ofd, ses_signature_callback
from seals.ses_build import make_ses_signature_v4
from seals.stamping import Placement, stamp_pdf
from tests.unit.seals._ses_support import make_pki, make_test_seal, minimal_ofd
from tests.unit.seals.pdf_fixtures import make_pdf, make_test_signer
from trust.checkchars import (
    iso7064_mod37_36_check_char,
    org_code_check_char,
    uscc_check_char,
)
from trust.crypto import sm3, sm3_hex

NOW = datetime(2026, 11, 22, 8, 0, 0, tzinfo=UTC)
DECIDED_AT = datetime(2026, 5, 20, 2, 0, 0, tzinfo=UTC)  # 10:00 +08:00
LICENSED_AT = datetime(2026, 5, 20, 3, 0, 0, tzinfo=UTC)
APPLICANT_USCC = "91350100M000100Y43"  # elicence spec §10: a valid code


def make_uscc(org_body: str = "00000001", prefix: str = "11350100") -> str:
    """A valid GB 32100 code for an organisation body of 8 characters."""
    org = org_body + org_code_check_char(org_body)
    first17 = prefix + org
    return first17 + uscc_check_char(first17)


AGENCY_USCC = make_uscc()


def licence_identifier(serial: str = "20260000001", version: str = "001") -> str:
    body = "11100000000013338W011" + AGENCY_USCC + serial + version
    check = iso7064_mod37_36_check_char(body)
    return f"1.2.156.3005.2.11100000000013338W011.{AGENCY_USCC}.{serial}.{version}.{check}"


def seal_png() -> bytes:
    """A red ring: a stand-in seal picture that needs no CJK font."""
    img = Image.new("RGBA", (240, 240), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.ellipse((8, 8, 232, 232), outline=(200, 0, 0, 255), width=12)
    draw.regular_polygon((120, 120, 40), 5, fill=(200, 0, 0, 255))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def jpeg(size: tuple[int, int] = (320, 200)) -> bytes:
    img = Image.new("RGB", size, (240, 240, 230))
    ImageDraw.Draw(img).rectangle(
        (20, 20, size[0] - 20, size[1] - 20), outline=(0, 0, 120), width=4
    )
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=85)
    return out.getvalue()


def png(size: tuple[int, int] = (200, 150)) -> bytes:
    img = Image.new("RGB", size, (90, 140, 90))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


XML_ATTACHMENT = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<企业信息><名称>某某科技有限公司</名称>"
    f"<统一社会信用代码>{APPLICANT_USCC}</统一社会信用代码>"
    '<注册资本 单位="万元">500</注册资本></企业信息>\n'
).encode()


@dataclass(frozen=True)
class Materials:
    """The bytes of every file, made once, and the trust anchors that make them VALID."""

    files: dict[str, bytes]
    anchors: tuple[bytes, ...]


@lru_cache(maxsize=1)
def materials() -> Materials:
    pdf_signer = make_test_signer("某某市行政审批服务局")
    decision = stamp_pdf(
        make_pdf(pages=2, keyword=None),
        signer=pdf_signer,
        seal_image_png=seal_png(),
        seal_size_mm=(40.0, 40.0),
        placement=Placement(page=1, x_mm=120, y_mm=200),
        signing_time=DECIDED_AT,
        reason="准予行政许可",
    )
    pki = make_pki()
    seal = make_test_seal(pki)
    licence = seal_ofd(
        minimal_ofd(pages=1),
        seal_der=seal,
        placement=SealPlacement(page_index=0, x_mm=120, y_mm=200, width_mm=40, height_mm=40),
        signing_time=LICENSED_AT,
        sign_ses=ses_signature_callback(
            seal_der=seal,
            signer_cert=pki.signer.cert,
            sign=pki.signer.sign,
            signing_time=LICENSED_AT,
        ),
    )
    xml_sig = make_ses_signature_v4(
        seal_der=seal,
        signer_cert=pki.signer.cert,
        time_info=DECIDED_AT,
        data_hash=sm3(XML_ATTACHMENT),
        property_info="files/0004.xml",  # IA5String: ASCII only
        sign=pki.signer.sign,
    )
    files = {
        "0001-申请表.pdf": make_pdf(pages=1, keyword=None),
        "0002-营业执照.jpg": jpeg(),
        "0003-经营场所照片.png": png(),
        "0004-企业信息.xml": XML_ATTACHMENT,
        "0004-企业信息.xml.sig": xml_sig,
        "0005-受理通知书.pdf": make_pdf(pages=1, keyword=None),
        "0006-准予许可决定书.pdf": decision,
        "0007-电子证照.ofd": licence,
    }
    return Materials(files, (pdf_signer.chain[-1], pki.root.cert))


def _material(
    seq: int, role: str, code: str | None, title: str, name: str, fmt: str, **kw: Any
) -> dict[str, Any]:
    return {
        "seq": seq,
        "role": role,
        "material_code": code,
        "title": title,
        "file": name,
        "original_name": kw.get("original_name"),
        "size": 0,  # filled from the bytes
        "sm3": "",
        "format": fmt,
        "pages": kw.get("pages"),
        "sealed": kw.get("sealed", False),
        "detached": kw.get("detached", []),
    }


def case_dict() -> dict[str, Any]:
    nodes = [
        ("申请", "2026-05-10T09:00:00+08:00", "申请人（网上申报）", "提交申请"),
        ("受理", "2026-05-10T10:30:00+08:00", "窗口人员 张三", "予以受理"),
        ("审查", "2026-05-12T15:00:00+08:00", "审查人员 李四", "材料齐全，符合法定形式"),
        ("决定", "2026-05-20T10:00:00+08:00", "审批负责人 王五", "准予许可"),
        ("制证", "2026-05-20T11:00:00+08:00", "制证系统", "生成电子证照"),
        ("送达", "2026-05-20T15:00:00+08:00", "送达系统", "电子送达"),
        ("办结", "2026-05-21T09:00:00+08:00", "系统", "办结"),
    ]
    return {
        "schema": "ywtb-case/1",
        "case_number": "SP20260510-000123",
        "version": 1,
        "archival_code": "A439-WS·2026·D30·XK·ZC-005",
        "fonds": "A439",
        "year": 2026,
        "retention": "D30",
        "classification": "依申请公开",
        "agency": {"name": "某某市行政审批服务局", "code": AGENCY_USCC},
        "service_item": {
            "code": "000123456789-XK-0001",
            "name": "食品经营许可（新办）",
            "type": "行政许可",
            "required_materials": [
                {"code": "M01", "name": "食品经营许可申请书", "mandatory": True},
                {"code": "M02", "name": "营业执照", "mandatory": True},
                {"code": "M03", "name": "经营场所照片", "mandatory": False},
                {"code": "M04", "name": "企业基本信息", "mandatory": True},
            ],
        },
        "applicant": {
            "kind": "legal",
            "name": "某某科技有限公司",
            "id_type": "统一社会信用代码",
            "id_number": APPLICANT_USCC,
        },
        "nodes": [{"node": n, "time": t, "actor": a, "result": r} for n, t, a, r in nodes],
        "materials": [
            _material(
                1,
                "application_form",
                "M01",
                "食品经营许可申请书",
                "0001-申请表.pdf",
                "pdf",
                pages=1,
            ),
            _material(
                2,
                "attachment",
                "M02",
                "营业执照",
                "0002-营业执照.jpg",
                "jpeg",
                pages=1,
                original_name="营业执照扫描件.JPG",
            ),
            _material(3, "attachment", "M03", "经营场所照片", "0003-经营场所照片.png", "png"),
            _material(
                4,
                "attachment",
                "M04",
                "企业基本信息",
                "0004-企业信息.xml",
                "xml",
                detached=[
                    {"file": "0004-企业信息.xml.sig", "kind": "ses_signature", "size": 0, "sm3": ""}
                ],
            ),
            _material(5, "notice", None, "受理通知书", "0005-受理通知书.pdf", "pdf", pages=1),
            _material(
                6,
                "decision",
                None,
                "准予行政许可决定书",
                "0006-准予许可决定书.pdf",
                "pdf",
                pages=2,
                sealed=True,
            ),
            _material(
                7,
                "licence",
                None,
                "食品经营许可证",
                "0007-电子证照.ofd",
                "ofd",
                pages=1,
                sealed=True,
            ),
        ],
        "decision": {
            "number": "某审批许决字〔2026〕123号",
            "material_seq": 6,
            "date": "2026-05-20",
        },
        "licences": [
            {
                "identifier": licence_identifier(),
                "number": "JY13501000012345",
                "name": "食品经营许可证",
                "material_seq": 7,
                "valid_from": "2026-05-20",
                "valid_to": "2031-05-19",
            }
        ],
        "outcome": "approved",
        "register": {"file_count": 0, "total_bytes": 0},
    }


@dataclass(frozen=True)
class CaseFolder:
    path: Path
    case: dict[str, Any]
    anchors: tuple[bytes, ...]

    def file(self, name: str) -> Path:
        return self.path / "files" / name


def fill_digests(case: dict[str, Any], files: dict[str, bytes]) -> None:
    """Sizes, SM3 and the register from the bytes (entries whose file is absent are left)."""
    for m in case["materials"]:
        for entry in [m, *m.get("detached", [])]:
            data = files.get(entry["file"])
            if data is not None:
                entry["size"], entry["sm3"] = len(data), sm3_hex(data)
    case["register"] = {
        "file_count": len(files),
        "total_bytes": sum(len(b) for b in files.values()),
    }


def write_case(
    folder: Path,
    *,
    mutate: Callable[[dict[str, Any]], None] | None = None,
    tamper: Callable[[dict[str, bytes]], None] | None = None,
    extra_files: dict[str, bytes] | None = None,
) -> CaseFolder:
    """Write a valid case folder; ``mutate`` edits case.json after the digests are filled;
    ``tamper`` edits the file bytes after case.json is fixed (so declared digests go stale);
    ``extra_files`` are added to ``files/`` and registered like the others."""
    made = materials()
    files = dict(made.files)
    files.update(extra_files or {})
    case = case_dict()
    fill_digests(case, files)
    if mutate is not None:
        mutate(case)
    if tamper is not None:
        tamper(files)
    (folder / "files").mkdir(parents=True)
    for name, data in files.items():
        (folder / "files" / name).write_bytes(data)
    (folder / "case.json").write_text(
        json.dumps(case, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return CaseFolder(folder, case, made.anchors)
