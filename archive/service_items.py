"""Service items (政务服务事项) with their required-materials lists (材料清单), checked at ingest,
and a few realistic demonstration items."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.case import ItemType, RequiredMaterial, Retention
from archive.model import ArchiveServiceItem
from trust.clock import Clock
from trust.errors import InvalidInput

__all__ = ["DEMO_ITEMS", "ServiceItemRecord", "list_service_items", "upsert_service_item"]


@dataclass(frozen=True, slots=True)
class ServiceItemRecord:
    code: str
    name: str
    item_type: str
    retention: str
    required_materials: tuple[RequiredMaterial, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "item_type": self.item_type,
            "retention": self.retention,
            "required_materials": [
                {"code": m.code, "name": m.name, "mandatory": m.mandatory}
                for m in self.required_materials
            ],
        }


def _record(row: ArchiveServiceItem) -> ServiceItemRecord:
    mats = tuple(
        RequiredMaterial(m["code"], m["name"], bool(m["mandatory"]))
        for m in json.loads(row.required_materials)
    )
    return ServiceItemRecord(row.code, row.name, row.item_type, row.retention, mats)


def upsert_service_item(
    *, session: Session, clock: Clock, item: ServiceItemRecord
) -> ServiceItemRecord:
    try:
        ItemType(item.item_type)
        Retention(item.retention)
    except ValueError:
        raise InvalidInput("事项类型或保管期限无效", code="archive.bad_service_item") from None
    if not item.code.strip() or not item.name.strip():
        raise InvalidInput("事项编码和名称不能为空", code="archive.bad_service_item")
    row = session.get(ArchiveServiceItem, item.code)
    mats = json.dumps(item.to_dict()["required_materials"], ensure_ascii=False)
    if row is None:
        row = ArchiveServiceItem(code=item.code)
        session.add(row)
    row.name, row.item_type, row.retention = item.name, item.item_type, item.retention
    row.required_materials = mats
    row.updated_at = clock.now()
    session.flush()
    return _record(row)


def list_service_items(*, session: Session) -> list[ServiceItemRecord]:
    rows = session.scalars(select(ArchiveServiceItem).order_by(ArchiveServiceItem.code))
    return [_record(r) for r in rows]


def _m(code: str, name: str, mandatory: bool = True) -> RequiredMaterial:
    return RequiredMaterial(code, name, mandatory)


DEMO_ITEMS: Final = (
    ServiceItemRecord(
        "000123456789-XK-0001",
        "食品经营许可（新办）",
        "行政许可",
        "D30",
        (
            _m("M01", "食品经营许可申请书"),
            _m("M02", "营业执照"),
            _m("M03", "经营场所照片", False),
            _m("M04", "企业基本信息"),
        ),
    ),
    ServiceItemRecord(
        "000123456789-XK-0002",
        "公共场所卫生许可（新办）",
        "行政许可",
        "D30",
        (
            _m("M01", "卫生许可申请书"),
            _m("M02", "营业执照"),
            _m("M03", "卫生检测报告"),
            _m("M04", "从业人员健康合格证明"),
        ),
    ),
    ServiceItemRecord(
        "000123456789-QR-0001",
        "出生医学证明首次签发",
        "行政确认",
        "Y",
        (_m("M01", "父母身份证明"), _m("M02", "分娩记录")),
    ),
    ServiceItemRecord(
        "000123456789-GF-0001",
        "城乡居民最低生活保障金给付",
        "行政给付",
        "D10",
        (_m("M01", "低保申请书"), _m("M02", "家庭收入证明"), _m("M03", "户口簿", False)),
    ),
)
