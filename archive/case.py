"""The case (办件) metadata model and its parser from ``case.json`` (earchive spec §7.3).

Element choice follows the spec's minimum case metadata (GB/T 42727-2023 Annex D and DA/T 46-2009
names are marked [verify] there; a mapping layer will rename on export once confirmed).

A **submission folder** is ``case.json`` plus ``files/`` holding every material and every
detached signature by its plain file name. ``case.json`` (UTF-8, no BOM, no duplicate keys,
unknown keys refused; times ISO 8601 with a UTC offset; dates ``YYYY-MM-DD``)::

    {
      "schema": "ywtb-case/1",
      "case_number": "SP2025-000123",            办件编号, [0-9A-Za-z_-]{4,64}
      "version": 1,                              >= 1 (补正/更正 make a new version)
      "archival_code": "A439-WS·2025·D30·003-005" | null,   档号, DA/T 13-2022 (· = U+00B7)
      "fonds": "A439",                           全宗号, [A-Z0-9]{1,16}
      "year": 2025,                              年度
      "retention": "Y" | "D30" | "D10",          保管期限: 永久 / 30年 / 10年
      "classification": "公开" | "依申请公开" | "不予公开",     开放状态 [verify value set]
      "agency": {"name": "...", "code": "<USCC>"},            实施机构 / 立档单位
      "service_item": {
        "code": "...",                           事项编码 (implementation code), [0-9A-Za-z_-]{4,64}
        "name": "...",                           事项名称
        "type": "行政许可" | "行政确认" | "行政给付" | "行政裁决" | "行政奖励" | "其他行政权力"
                | "公共服务",                      事项类型
        "required_materials": [                  材料清单
          {"code": "M01", "name": "申请表", "mandatory": true}, ...]
      },
      "applicant": {"kind": "natural" | "legal", "name": "...",
                    "id_type": "居民身份证" | "港澳居民来往内地通行证" | "台湾居民来往大陆通行证"
                               | "护照" | "外国人永久居留身份证" | "统一社会信用代码",
                    "id_number": "..."},          GB 11643 / GB 32100 check characters verified
      "nodes": [                                 办理环节 in order
        {"node": "申请" | "受理" | "审查" | "决定" | "办结" | "送达" | "制证",
         "time": "2025-03-01T09:00:00+08:00", "actor": "...", "result": "..." | null}, ...],
      "materials": [                             件内文件
        {"seq": 1,                               件内序号 (1..n, no gaps)
         "role": "application_form" | "attachment" | "notice" | "decision" | "licence" | "other",
         "material_code": "M01" | null,          code in required_materials
         "title": "...", "file": "0001-申请表.pdf",  plain name in files/: no "/", "\\", "%",
                                                    no control characters
         "original_name": "..." | null,
         "size": 12345, "sm3": "<64 hex>",
         "format": "pdf" | "pdfa" | "ofd" | "jpeg" | "png" | "tiff" | "xml" | "mp4" | "mp3"
                   | "wav" | "doc" | "docx" | "xls" | "xlsx" | "zip" | "rar" | "other",
         "pages": 2 | null, "sealed": true | false,
         "detached": [{"file": "0002-x.xml.sig", "kind": "ses_signature" | "seal",
                       "size": 900, "sm3": "<64 hex>"}]}   (optional; ses_signature covers
                                                            the material's bytes)
      ],
      "decision": {"number": "...", "material_seq": 30, "date": "2025-03-05"} | null,  结果文书
      "licences": [{"identifier": "1.2.156.3005.2....", "number": "...", "name": "...",
                    "material_seq": 40, "valid_from": "2025-03-05", "valid_to": null}],
      "outcome": "approved" | "partially_approved" | "refused" | "not_accepted" | "withdrawn"
                 | "terminated",               办理结果
      "register": {"file_count": 7, "total_bytes": 123456}   归档登记表: every file in files/
    }

The parser checks shapes, value sets (值域), check characters and special characters; it reports
**every** problem at once (``CaseMetadataInvalid.extra["problems"]``). Rules across fields
(node order, required materials, decision sealed, licence on approval, counts) are DA/T 70 checks
in ``archive.checks``: a case that parses may still fail them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, TypeVar

from archive.errors import CaseMetadataInvalid
from trust.checkchars import iso7064_mod37_36_is_valid, validate_citizen_id, validate_uscc
from trust.errors import InvalidInput

__all__ = [
    "CASE_SCHEMA",
    "MAX_CASE_JSON_BYTES",
    "Agency",
    "Applicant",
    "ApplicantKind",
    "ArchivalCode",
    "Case",
    "Classification",
    "Decision",
    "DetachedFile",
    "DetachedKind",
    "FileFormat",
    "IdType",
    "ItemType",
    "Licence",
    "Material",
    "MaterialRole",
    "MetadataProblem",
    "NodeKind",
    "Outcome",
    "ProcessNode",
    "Register",
    "RequiredMaterial",
    "Retention",
    "ServiceItem",
    "is_licence_identifier",
    "load_case",
    "parse_archival_code",
    "parse_case",
]

CASE_SCHEMA: Final = "ywtb-case/1"
MAX_CASE_JSON_BYTES: Final = 4 * 1024 * 1024
_CODE = re.compile(r"[0-9A-Za-z_-]{4,64}")
_SHORT_CODE = re.compile(r"[0-9A-Za-z_.-]{1,32}")
_SM3_HEX = re.compile(r"[0-9a-f]{64}")
#: no control characters, no separators, no "%": LoC bagit-python 1.9.0 does not decode the
#: RFC 8493 "%25" escape, so a bag holding such a name would fail validation there
_FILE_NAME_BAD = re.compile(r"[\x00-\x1f\x7f/\\%]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_LICENCE_ROOT: Final = "1.2.156.3005.2"


class Retention(StrEnum):
    """保管期限 (GB/T 18894-2016; codes DA/T 13-2022)."""

    PERMANENT = "Y"  # 永久
    D30 = "D30"  # 定期30年
    D10 = "D10"  # 定期10年

    @property
    def label(self) -> str:
        return {"Y": "永久", "D30": "30年", "D10": "10年"}[self.value]


class Classification(StrEnum):
    PUBLIC = "公开"
    ON_REQUEST = "依申请公开"
    NOT_PUBLIC = "不予公开"


class ItemType(StrEnum):
    LICENSING = "行政许可"
    CONFIRMATION = "行政确认"
    BENEFIT = "行政给付"
    ADJUDICATION = "行政裁决"
    REWARD = "行政奖励"
    OTHER_POWER = "其他行政权力"
    PUBLIC_SERVICE = "公共服务"


class ApplicantKind(StrEnum):
    NATURAL = "natural"  # 自然人
    LEGAL = "legal"  # 法人或其他组织


class IdType(StrEnum):
    CITIZEN_ID = "居民身份证"
    HK_MACAO_PERMIT = "港澳居民来往内地通行证"
    TAIWAN_PERMIT = "台湾居民来往大陆通行证"
    PASSPORT = "护照"
    FOREIGN_PERMANENT = "外国人永久居留身份证"
    USCC = "统一社会信用代码"


class NodeKind(StrEnum):
    """办理环节, in their canonical order (``ORDER``)."""

    APPLY = "申请"
    ACCEPT = "受理"
    REVIEW = "审查"
    DECIDE = "决定"
    MAKE_LICENCE = "制证"
    DELIVER = "送达"
    CLOSE = "办结"


class MaterialRole(StrEnum):
    APPLICATION_FORM = "application_form"  # 申请表
    ATTACHMENT = "attachment"  # 申请材料附件
    NOTICE = "notice"  # 受理通知书 etc.
    DECISION = "decision"  # 决定书 (结果文书)
    LICENCE = "licence"  # 电子证照
    OTHER = "other"


class FileFormat(StrEnum):
    """Declared formats. The usability allow-list is policy (``archive.checks``); formats that
    are never allowed are still known here so that they fail as "not allowed", not as
    "unknown value"."""

    PDF = "pdf"
    PDFA = "pdfa"
    OFD = "ofd"
    JPEG = "jpeg"
    PNG = "png"
    TIFF = "tiff"
    XML = "xml"
    MP4 = "mp4"
    MP3 = "mp3"
    WAV = "wav"
    DOC = "doc"
    DOCX = "docx"
    XLS = "xls"
    XLSX = "xlsx"
    ZIP = "zip"
    RAR = "rar"
    OTHER = "other"


class DetachedKind(StrEnum):
    SES_SIGNATURE = "ses_signature"  # GB/T 38540 SES_Signature over the material's bytes
    SEAL = "seal"  # an SESeal (.esl) kept with the material


class Outcome(StrEnum):
    APPROVED = "approved"  # 准予
    PARTIALLY_APPROVED = "partially_approved"  # 部分准予
    REFUSED = "refused"  # 不予
    NOT_ACCEPTED = "not_accepted"  # 不予受理
    WITHDRAWN = "withdrawn"  # 撤回
    TERMINATED = "terminated"  # 终止

    @property
    def grants(self) -> bool:
        return self in (Outcome.APPROVED, Outcome.PARTIALLY_APPROVED)

    @property
    def decided(self) -> bool:
        return self in (Outcome.APPROVED, Outcome.PARTIALLY_APPROVED, Outcome.REFUSED)


@dataclass(frozen=True, slots=True)
class MetadataProblem:
    path: str  # JSON path, e.g. "materials[2].sm3"
    code: str  # stable, e.g. "metadata.bad_value"
    message: str  # Chinese, for the report page

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class RequiredMaterial:
    code: str
    name: str
    mandatory: bool


@dataclass(frozen=True, slots=True)
class ServiceItem:
    code: str
    name: str
    type: ItemType
    required_materials: tuple[RequiredMaterial, ...]


@dataclass(frozen=True, slots=True)
class Agency:
    name: str
    code: str  # USCC


@dataclass(frozen=True, slots=True)
class Applicant:
    kind: ApplicantKind
    name: str
    id_type: IdType
    id_number: str

    def masked_id(self) -> str:
        """For indexes and lists: keep the first 4 and last 4 characters."""
        n = self.id_number
        return n[:4] + "*" * max(0, len(n) - 8) + n[-4:] if len(n) > 8 else "*" * len(n)


@dataclass(frozen=True, slots=True)
class ProcessNode:
    node: NodeKind
    time: datetime
    actor: str
    result: str | None


@dataclass(frozen=True, slots=True)
class DetachedFile:
    file: str
    kind: DetachedKind
    size: int
    sm3: str


@dataclass(frozen=True, slots=True)
class Material:
    seq: int
    role: MaterialRole
    material_code: str | None
    title: str
    file: str
    original_name: str | None
    size: int
    sm3: str
    format: FileFormat
    pages: int | None
    sealed: bool
    detached: tuple[DetachedFile, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    number: str  # 结果文书编号
    material_seq: int
    date: date


@dataclass(frozen=True, slots=True)
class Licence:
    identifier: str  # GB/T 36904-2018
    number: str  # 证照编号 as printed
    name: str
    material_seq: int
    valid_from: date
    valid_to: date | None


@dataclass(frozen=True, slots=True)
class Register:
    """归档登记表 figures for this case: every file of ``files/``."""

    file_count: int
    total_bytes: int


@dataclass(frozen=True, slots=True)
class ArchivalCode:
    """档号 by item (DA/T 13-2022): 全宗号-门类代码·年度·保管期限代码[·机构或问题代码…]-件号."""

    fonds: str
    category: str
    year: int
    retention: Retention
    class_codes: tuple[str, ...]
    item_number: str


@dataclass(frozen=True, slots=True)
class Case:
    schema: str
    case_number: str
    version: int
    archival_code: str | None
    fonds: str
    year: int
    retention: Retention
    classification: Classification
    agency: Agency
    service_item: ServiceItem
    applicant: Applicant
    nodes: tuple[ProcessNode, ...]
    materials: tuple[Material, ...]
    decision: Decision | None
    licences: tuple[Licence, ...]
    outcome: Outcome
    register: Register

    def material(self, seq: int) -> Material | None:
        return next((m for m in self.materials if m.seq == seq), None)

    def file_names(self) -> tuple[str, ...]:
        """Every file the case names (materials, then their detached files)."""
        names = [m.file for m in self.materials]
        names += [d.file for m in self.materials for d in m.detached]
        return tuple(names)


# --------------------------------------------------------------------------- codes

_CATEGORIES: Final = frozenset(
    [
        "WS",
        "KJ",
        "RS",
        "KU",
        "ZY",
        "ZP",
        "LY",
        "LX",
        "SJ",
        "YJ",
        "WY",
        "MT",
        "SW",
    ]  # DA/T 13-2022 门类代码
)
_ARCHIVAL = re.compile(
    r"(?P<fonds>[A-Z0-9]{1,16})-(?P<cat>[A-Z]{2})·(?P<year>\d{4})·(?P<ret>Y|D30|D10)"
    r"(?P<cls>(?:·[A-Z0-9]{1,16})*)-(?P<item>\d{1,6})"
)


def parse_archival_code(value: str) -> ArchivalCode:
    """Parse a 档号; ``InvalidInput`` (code ``metadata.archival_code``) if malformed."""
    m = _ARCHIVAL.fullmatch(value)
    if m is None or m["cat"] not in _CATEGORIES:
        raise InvalidInput(f"档号格式不符合 DA/T 13: {value!r}", code="metadata.archival_code")
    return ArchivalCode(
        fonds=m["fonds"],
        category=m["cat"],
        year=int(m["year"]),
        retention=Retention(m["ret"]),
        class_codes=tuple(c for c in m["cls"].split("·") if c),
        item_number=m["item"],
    )


def is_licence_identifier(value: str) -> bool:
    """GB/T 36904-2018 identifier: root ``1.2.156.3005.2``, 21-char type code, 18-char USCC
    (or 6-digit region code, local variant), serial, 3-digit version, ISO/IEC 7064 MOD 37,36
    check character over the four middle segments (elicence spec §2)."""
    if not value.startswith(_LICENCE_ROOT + "."):
        return False
    parts = value[len(_LICENCE_ROOT) + 1 :].split(".")
    if len(parts) != 5:
        return False
    type_code, issuer, serial, version, check = parts
    shapes = (
        re.fullmatch(r"[0-9A-Z]{21}", type_code)
        and re.fullmatch(r"[0-9A-Z]{18}|[0-9]{6}", issuer)
        and re.fullmatch(r"[0-9A-Z]{1,64}", serial)
        and re.fullmatch(r"[0-9]{3}", version)
        and re.fullmatch(r"[0-9A-Z]", check)
    )
    return bool(shapes) and iso7064_mod37_36_is_valid(type_code + issuer + serial + version + check)


# --------------------------------------------------------------------------- reader

_T = TypeVar("_T")
_E = TypeVar("_E", bound=StrEnum)


class _Reader:
    """Collects problems while reading a JSON object tree; never raises on bad values."""

    def __init__(self) -> None:
        self.problems: list[MetadataProblem] = []

    def problem(self, path: str, code: str, message: str) -> None:
        self.problems.append(MetadataProblem(path, code, message))

    def obj(self, value: Any, path: str, keys: Mapping[str, bool]) -> dict[str, Any] | None:
        """``keys``: name -> required. Unknown keys and missing required keys are problems."""
        if not isinstance(value, dict):
            self.problem(path, "metadata.bad_type", f"{path or '根'} 应为对象")
            return None
        for key in value:
            if key not in keys:
                self.problem(_join(path, key), "metadata.unknown_field", f"未定义的字段 {key}")
        for key, required in keys.items():
            if required and value.get(key) is None:
                self.problem(_join(path, key), "metadata.missing", f"缺少必填字段 {key}")
        return value

    def text(
        self,
        value: Any,
        path: str,
        *,
        pattern: re.Pattern[str] | None = None,
        max_len: int = 200,
    ) -> str | None:
        if value is None:
            return None  # a missing required field was reported by obj()
        if not isinstance(value, str) or not value.strip():
            self.problem(path, "metadata.bad_type", f"{path} 应为非空字符串")
            return None
        if _CONTROL.search(value):
            self.problem(path, "metadata.special_character", f"{path} 含有控制字符")
            return None
        if value != value.strip() or len(value) > max_len:
            self.problem(path, "metadata.bad_length", f"{path} 长度或首尾空白不符合要求")
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.problem(path, "metadata.bad_format", f"{path} 格式不正确")
            return None
        return value

    def integer(self, value: Any, path: str, *, minimum: int = 0) -> int | None:
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            self.problem(path, "metadata.bad_value", f"{path} 应为不小于 {minimum} 的整数")
            return None
        return value

    def boolean(self, value: Any, path: str) -> bool | None:
        if value is None:
            return None
        if not isinstance(value, bool):
            self.problem(path, "metadata.bad_type", f"{path} 应为 true 或 false")
            return None
        return value

    def enum(self, value: Any, path: str, kind: type[_E]) -> _E | None:
        if value is None:
            return None
        try:
            return kind(value)
        except ValueError:
            allowed = "、".join(m.value for m in kind)
            self.problem(path, "metadata.bad_value", f"{path} 的值不在值域内（{allowed}）")
            return None

    def timestamp(self, value: Any, path: str) -> datetime | None:
        text = self.text(value, path, max_len=40)
        if text is None:
            return None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None or "T" not in text:
            self.problem(path, "metadata.bad_time", f"{path} 应为带时区的 ISO 8601 时间")
            return None
        return parsed

    def day(self, value: Any, path: str) -> date | None:
        text = self.text(value, path, max_len=10)
        if text is None:
            return None
        parsed = None
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            try:
                parsed = date.fromisoformat(text)
            except ValueError:
                parsed = None
        if parsed is None:
            self.problem(path, "metadata.bad_date", f"{path} 应为 YYYY-MM-DD 日期")
        return parsed

    def items(self, value: Any, path: str, parse: Callable[[Any, str], _T | None]) -> list[_T]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, "metadata.bad_type", f"{path} 应为数组")
            return []
        out = [parse(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return [v for v in out if v is not None]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --------------------------------------------------------------------------- sections


def _file_name(r: _Reader, value: Any, path: str) -> str | None:
    name = r.text(value, path, max_len=240)
    if name is None:
        return None
    if _FILE_NAME_BAD.search(name) or name in (".", "..") or len(name.encode()) > 255:
        r.problem(path, "metadata.bad_file_name", f"{path} 不是安全的文件名")
        return None
    return name


def _agency(r: _Reader, value: Any, path: str) -> Agency | None:
    o = r.obj(value, path, {"name": True, "code": True})
    if o is None:
        return None
    name = r.text(o.get("name"), _join(path, "name"))
    code = _uscc(r, o.get("code"), _join(path, "code"))
    return Agency(name, code) if name is not None and code is not None else None


def _uscc(r: _Reader, value: Any, path: str) -> str | None:
    text = r.text(value, path, max_len=18)
    if text is None:
        return None
    try:
        return validate_uscc(text)
    except InvalidInput as exc:
        r.problem(path, f"metadata.{exc.code}", f"{path}: {exc.detail}")
        return None


def _required_material(r: _Reader, value: Any, path: str) -> RequiredMaterial | None:
    o = r.obj(value, path, {"code": True, "name": True, "mandatory": True})
    if o is None:
        return None
    code = r.text(o.get("code"), _join(path, "code"), pattern=_SHORT_CODE)
    name = r.text(o.get("name"), _join(path, "name"))
    mandatory = r.boolean(o.get("mandatory"), _join(path, "mandatory"))
    if code is None or name is None or mandatory is None:
        return None
    return RequiredMaterial(code, name, mandatory)


def _service_item(r: _Reader, value: Any, path: str) -> ServiceItem | None:
    o = r.obj(value, path, {"code": True, "name": True, "type": True, "required_materials": True})
    if o is None:
        return None
    code = r.text(o.get("code"), _join(path, "code"), pattern=_CODE)
    name = r.text(o.get("name"), _join(path, "name"))
    kind = r.enum(o.get("type"), _join(path, "type"), ItemType)
    rm_path = _join(path, "required_materials")
    required = r.items(
        o.get("required_materials"), rm_path, lambda v, p: _required_material(r, v, p)
    )
    codes = [m.code for m in required]
    if len(set(codes)) != len(codes):
        r.problem(rm_path, "metadata.duplicate", "材料清单中的材料编码重复")
    if code is None or name is None or kind is None:
        return None
    return ServiceItem(code, name, kind, tuple(required))


def _applicant(r: _Reader, value: Any, path: str) -> Applicant | None:
    o = r.obj(value, path, {"kind": True, "name": True, "id_type": True, "id_number": True})
    if o is None:
        return None
    kind = r.enum(o.get("kind"), _join(path, "kind"), ApplicantKind)
    name = r.text(o.get("name"), _join(path, "name"))
    id_type = r.enum(o.get("id_type"), _join(path, "id_type"), IdType)
    id_path = _join(path, "id_number")
    number = r.text(o.get("id_number"), id_path, max_len=32)
    if kind is None or name is None or id_type is None or number is None:
        return None
    legal_types = (IdType.USCC,)
    if (kind is ApplicantKind.LEGAL) != (id_type in legal_types):
        r.problem(_join(path, "id_type"), "metadata.bad_value", "证件类型与申请人类型不符")
        return None
    try:
        if id_type is IdType.CITIZEN_ID:
            number = validate_citizen_id(number)
        elif id_type is IdType.USCC:
            number = validate_uscc(number)
        elif not re.fullmatch(r"[0-9A-Za-z]{5,32}", number):
            raise InvalidInput("证件号码格式不正确", code="id_number.malformed")
    except InvalidInput as exc:
        r.problem(id_path, f"metadata.{exc.code}", f"{id_path}: {exc.detail}")
        return None
    return Applicant(kind, name, id_type, number)


def _node(r: _Reader, value: Any, path: str) -> ProcessNode | None:
    o = r.obj(value, path, {"node": True, "time": True, "actor": True, "result": False})
    if o is None:
        return None
    node = r.enum(o.get("node"), _join(path, "node"), NodeKind)
    when = r.timestamp(o.get("time"), _join(path, "time"))
    actor = r.text(o.get("actor"), _join(path, "actor"))
    result = r.text(o.get("result"), _join(path, "result"), max_len=2000)
    if node is None or when is None or actor is None:
        return None
    return ProcessNode(node, when, actor, result)


def _sm3(r: _Reader, value: Any, path: str) -> str | None:
    return r.text(value, path, pattern=_SM3_HEX, max_len=64)


def _detached(r: _Reader, value: Any, path: str) -> DetachedFile | None:
    o = r.obj(value, path, {"file": True, "kind": True, "size": True, "sm3": True})
    if o is None:
        return None
    file = _file_name(r, o.get("file"), _join(path, "file"))
    kind = r.enum(o.get("kind"), _join(path, "kind"), DetachedKind)
    size = r.integer(o.get("size"), _join(path, "size"))
    digest = _sm3(r, o.get("sm3"), _join(path, "sm3"))
    if file is None or kind is None or size is None or digest is None:
        return None
    return DetachedFile(file, kind, size, digest)


_MATERIAL_KEYS: Final = {
    "seq": True,
    "role": True,
    "material_code": False,
    "title": True,
    "file": True,
    "original_name": False,
    "size": True,
    "sm3": True,
    "format": True,
    "pages": False,
    "sealed": True,
    "detached": False,
}


def _material(r: _Reader, value: Any, path: str) -> Material | None:
    o = r.obj(value, path, _MATERIAL_KEYS)
    if o is None:
        return None

    def at(key: str) -> str:
        return _join(path, key)

    seq = r.integer(o.get("seq"), at("seq"), minimum=1)
    role = r.enum(o.get("role"), at("role"), MaterialRole)
    code = r.text(o.get("material_code"), at("material_code"), pattern=_SHORT_CODE)
    title = r.text(o.get("title"), at("title"))
    file = _file_name(r, o.get("file"), at("file"))
    original = r.text(o.get("original_name"), at("original_name"), max_len=255)
    size = r.integer(o.get("size"), at("size"))
    digest = _sm3(r, o.get("sm3"), at("sm3"))
    fmt = r.enum(o.get("format"), at("format"), FileFormat)
    pages = r.integer(o.get("pages"), at("pages"), minimum=1)
    sealed = r.boolean(o.get("sealed"), at("sealed"))
    detached = r.items(o.get("detached"), at("detached"), lambda v, p: _detached(r, v, p))
    if (
        seq is None
        or role is None
        or title is None
        or file is None
        or size is None
        or digest is None
        or fmt is None
        or sealed is None
    ):
        return None
    return Material(
        seq, role, code, title, file, original, size, digest, fmt, pages, sealed, tuple(detached)
    )


def _decision(r: _Reader, value: Any, path: str) -> Decision | None:
    o = r.obj(value, path, {"number": True, "material_seq": True, "date": True})
    if o is None:
        return None
    number = r.text(o.get("number"), _join(path, "number"), max_len=100)
    seq = r.integer(o.get("material_seq"), _join(path, "material_seq"), minimum=1)
    day = r.day(o.get("date"), _join(path, "date"))
    if number is None or seq is None or day is None:
        return None
    return Decision(number, seq, day)


def _licence(r: _Reader, value: Any, path: str) -> Licence | None:
    keys = {
        "identifier": True,
        "number": True,
        "name": True,
        "material_seq": True,
        "valid_from": True,
        "valid_to": False,
    }
    o = r.obj(value, path, keys)
    if o is None:
        return None
    ident_path = _join(path, "identifier")
    ident = r.text(o.get("identifier"), ident_path, max_len=128)
    if ident is not None and not is_licence_identifier(ident):
        r.problem(ident_path, "metadata.licence_identifier", "证照标识不符合 GB/T 36904")
        ident = None
    number = r.text(o.get("number"), _join(path, "number"), max_len=100)
    name = r.text(o.get("name"), _join(path, "name"))
    seq = r.integer(o.get("material_seq"), _join(path, "material_seq"), minimum=1)
    valid_from = r.day(o.get("valid_from"), _join(path, "valid_from"))
    valid_to = r.day(o.get("valid_to"), _join(path, "valid_to"))
    if ident is None or number is None or name is None or seq is None or valid_from is None:
        return None
    if valid_to is not None and valid_to < valid_from:
        r.problem(_join(path, "valid_to"), "metadata.implausible", "有效期截止早于起始")
    return Licence(ident, number, name, seq, valid_from, valid_to)


def _register(r: _Reader, value: Any, path: str) -> Register | None:
    o = r.obj(value, path, {"file_count": True, "total_bytes": True})
    if o is None:
        return None
    count = r.integer(o.get("file_count"), _join(path, "file_count"))
    total = r.integer(o.get("total_bytes"), _join(path, "total_bytes"))
    return Register(count, total) if count is not None and total is not None else None


_TOP_KEYS: Final = {
    "schema": True,
    "case_number": True,
    "version": True,
    "archival_code": False,
    "fonds": True,
    "year": True,
    "retention": True,
    "classification": True,
    "agency": True,
    "service_item": True,
    "applicant": True,
    "nodes": True,
    "materials": True,
    "decision": False,
    "licences": False,
    "outcome": True,
    "register": True,
}


def _duplicates(r: _Reader, case_materials: list[Material]) -> None:
    seen: set[str] = set()
    for m in case_materials:
        for name in [m.file, *(d.file for d in m.detached)]:
            if name in seen:
                r.problem(f"materials(seq={m.seq})", "metadata.duplicate", f"文件名 {name} 重复")
            seen.add(name)
    seqs = [m.seq for m in case_materials]
    if len(set(seqs)) != len(seqs):
        r.problem("materials", "metadata.duplicate", "件内序号重复")


def _case(r: _Reader, doc: Any) -> Case | None:
    o = r.obj(doc, "", _TOP_KEYS)
    if o is None:
        return None
    schema = o.get("schema")
    if schema is not None and schema != CASE_SCHEMA:
        r.problem("schema", "metadata.schema", f"不支持的元数据版本 {schema!r}")
    case_number = r.text(o.get("case_number"), "case_number", pattern=_CODE)
    version = r.integer(o.get("version"), "version", minimum=1)
    archival_code = r.text(o.get("archival_code"), "archival_code", max_len=100)
    if archival_code is not None:
        try:
            parse_archival_code(archival_code)
        except InvalidInput as exc:
            r.problem("archival_code", exc.code, exc.detail)
    fonds = r.text(o.get("fonds"), "fonds", pattern=re.compile(r"[A-Z0-9]{1,16}"))
    year = r.integer(o.get("year"), "year", minimum=1949)
    retention = r.enum(o.get("retention"), "retention", Retention)
    classification = r.enum(o.get("classification"), "classification", Classification)
    agency = _agency(r, o.get("agency"), "agency")
    item = _service_item(r, o.get("service_item"), "service_item")
    applicant = _applicant(r, o.get("applicant"), "applicant")
    nodes = r.items(o.get("nodes"), "nodes", lambda v, p: _node(r, v, p))
    materials = r.items(o.get("materials"), "materials", lambda v, p: _material(r, v, p))
    _duplicates(r, materials)
    decision = _decision(r, o["decision"], "decision") if o.get("decision") is not None else None
    licences = r.items(o.get("licences"), "licences", lambda v, p: _licence(r, v, p))
    outcome = r.enum(o.get("outcome"), "outcome", Outcome)
    register = _register(r, o.get("register"), "register")
    if (
        r.problems
        or case_number is None
        or version is None
        or fonds is None
        or year is None
        or retention is None
        or classification is None
        or agency is None
        or item is None
        or applicant is None
        or outcome is None
        or register is None
    ):
        return None
    return Case(
        schema=CASE_SCHEMA,
        case_number=case_number,
        version=version,
        archival_code=archival_code,
        fonds=fonds,
        year=year,
        retention=retention,
        classification=classification,
        agency=agency,
        service_item=item,
        applicant=applicant,
        nodes=tuple(nodes),
        materials=tuple(materials),
        decision=decision,
        licences=tuple(licences),
        outcome=outcome,
        register=register,
    )


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            problem = MetadataProblem(key, "metadata.duplicate_key", f"字段 {key} 重复")
            raise CaseMetadataInvalid(
                f"duplicate key {key!r} in case.json", extra={"problems": [problem.to_dict()]}
            )
        out[key] = value
    return out


def _refuse_constant(name: str) -> Any:
    raise CaseMetadataInvalid(f"{name} is not JSON", code="archive.case_not_json")


def parse_case(raw: bytes) -> Case:
    """Parse and validate ``case.json`` bytes; ``CaseMetadataInvalid`` lists every problem."""
    if len(raw) > MAX_CASE_JSON_BYTES:
        raise CaseMetadataInvalid("case.json is too large", code="archive.case_too_large")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CaseMetadataInvalid("case.json is not UTF-8", code="archive.case_not_utf8") from None
    if text.startswith("\ufeff"):
        raise CaseMetadataInvalid("case.json starts with a BOM", code="archive.case_not_utf8")
    try:
        doc = json.loads(
            text, object_pairs_hook=_no_duplicate_keys, parse_constant=_refuse_constant
        )
    except json.JSONDecodeError as exc:
        raise CaseMetadataInvalid(
            f"case.json is not JSON: {exc}", code="archive.case_not_json"
        ) from None
    reader = _Reader()
    case = _case(reader, doc)
    if case is None:
        problems = [p.to_dict() for p in reader.problems]
        raise CaseMetadataInvalid(
            f"case.json has {len(problems)} problem(s)", extra={"problems": problems}
        )
    return case


def load_case(folder: Path) -> Case:
    """``parse_case`` of ``<folder>/case.json`` (size-capped read)."""
    path = Path(folder) / "case.json"
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CASE_JSON_BYTES + 1)
    except FileNotFoundError:
        raise CaseMetadataInvalid("case.json is missing", code="archive.case_missing") from None
    return parse_case(raw)
