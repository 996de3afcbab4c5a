"""DA/T 70-2018 rules over the parsed case and the facts read from its files (earchive §4.1).

真实性: file properties (size, format by magic bytes, page count) equal the metadata; metadata is
plausible and consistent (档号 parts, dates, no future times, material codes from the item's
list); metadata ↔ content links resolve both ways. 完整性: SM3 per file, register counts and
bytes, 件内序号 without gaps, every mandatory processing node present and in order, every
mandatory material present, the decision present and sealed, the licence present and sealed
on approval. 可用性: format on the allow-list, the file opens and its first page decodes, no
encryption. Each function returns ``CheckItem``s; none raises on bad data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Final

from archive.case import Case, DetachedFile, Material, MaterialRole, NodeKind, parse_archival_code
from archive.checks_files import FileFacts
from archive.checks_report import CheckItem, CheckOutcome, CheckPolicy, Dimension, item
from archive.checks_seals import SealFindings

__all__ = [
    "file_property_items",
    "integrity_items",
    "metadata_items",
    "usability_items",
]

AUT, INT, USE = Dimension.AUTHENTICITY, Dimension.INTEGRITY, Dimension.USABILITY
PASS, FAIL, NA = CheckOutcome.PASS, CheckOutcome.FAIL, CheckOutcome.NOT_AVAILABLE

#: declared format -> formats the bytes may show
_COMPATIBLE: Final[Mapping[str, frozenset[str]]] = {
    "pdf": frozenset({"pdf", "pdfa"}),
    "pdfa": frozenset({"pdfa"}),
    "doc": frozenset({"ole2"}),
    "xls": frozenset({"ole2"}),
    "docx": frozenset({"zip"}),
    "xlsx": frozenset({"zip"}),
    "ses_signature": frozenset({"der"}),
    "seal": frozenset({"der"}),
}
_NODE_RANK: Final = {kind: rank for rank, kind in enumerate(NodeKind)}
_BASE_NODES: Final = (NodeKind.APPLY, NodeKind.ACCEPT, NodeKind.CLOSE)
_DECIDED_NODES: Final = (NodeKind.REVIEW, NodeKind.DECIDE)


def _declared_files(case: Case) -> Iterator[tuple[str, str, int, str, int | None]]:
    """(file, declared format or detached kind, size, sm3, pages) for every named file."""
    for m in case.materials:
        yield m.file, m.format.value, m.size, m.sm3, m.pages
        for d in m.detached:
            yield d.file, d.kind.value, d.size, d.sm3, None


# --------------------------------------------------------------------------- 真实性


def file_property_items(case: Case, facts: Mapping[str, FileFacts]) -> list[CheckItem]:
    out: list[CheckItem] = []
    check = "authenticity.file_properties"
    for name, declared, size, _, pages in _declared_files(case):
        f = facts.get(name)
        if f is None:
            continue  # reported once by the link check
        if f.size == size:
            out.append(item(AUT, check, name, PASS, "size.ok", "文件大小与元数据一致"))
        else:
            out.append(
                item(
                    AUT,
                    check,
                    name,
                    FAIL,
                    "size.mismatch",
                    "文件大小与元数据不一致",
                    f"{size} ≠ {f.size}",
                )
            )
        allowed = _COMPATIBLE.get(declared, frozenset({declared}))
        if declared == "other" or f.probe.format in allowed:
            out.append(item(AUT, check, name, PASS, "format.ok", "文件格式与元数据一致"))
        else:
            detail = f"声明 {declared}，实际 {f.probe.format}"
            out.append(
                item(AUT, check, name, FAIL, "format.mismatch", "文件格式与元数据不一致", detail)
            )
        if pages is None:
            continue
        if f.probe.pages is None:
            out.append(
                item(AUT, check, name, NA, "pages.not_countable", "无法统计页数", blocking=False)
            )
        elif f.probe.pages == pages:
            out.append(item(AUT, check, name, PASS, "pages.ok", "页数与元数据一致"))
        else:
            detail = f"{pages} ≠ {f.probe.pages}"
            out.append(item(AUT, check, name, FAIL, "pages.mismatch", "页数与元数据不一致", detail))
    return out


def metadata_items(case: Case, now: datetime) -> list[CheckItem]:
    check = "authenticity.metadata"
    out: list[CheckItem] = []
    if case.archival_code is not None:
        code = parse_archival_code(case.archival_code)  # shape already checked by the parser
        parts = {"fonds": (code.fonds, case.fonds), "year": (code.year, case.year)}
        parts["retention"] = (code.retention, case.retention)
        for name, (in_code, in_case) in parts.items():
            if in_code != in_case:
                detail = f"档号中为 {in_code}，元数据为 {in_case}"
                out.append(
                    item(
                        AUT,
                        check,
                        "archival_code",
                        FAIL,
                        f"archival_code.{name}",
                        "档号与元数据不一致",
                        detail,
                    )
                )
    for i, node in enumerate(case.nodes):
        if node.time > now:
            out.append(
                item(
                    AUT, check, f"nodes[{i}]", FAIL, "metadata.future_time", "办理时间晚于检测时间"
                )
            )
    decide = [n for n in case.nodes if n.node is NodeKind.DECIDE]
    if case.decision is not None and decide and decide[-1].time.date() != case.decision.date:
        detail = f"{case.decision.date} ≠ {decide[-1].time.date()}"
        out.append(
            item(
                AUT,
                check,
                "decision.date",
                FAIL,
                "metadata.decision_date",
                "决定书日期与决定环节时间不一致",
                detail,
            )
        )
    close = [n for n in case.nodes if n.node is NodeKind.CLOSE]
    if close and close[-1].time.year != case.year:
        out.append(item(AUT, check, "year", FAIL, "metadata.year", "年度与办结时间不一致"))
    known = {r.code for r in case.service_item.required_materials}
    for m in case.materials:
        if m.material_code is not None and m.material_code not in known:
            detail = f"材料编码 {m.material_code} 不在事项材料清单中"
            out.append(
                item(
                    AUT,
                    check,
                    m.file,
                    FAIL,
                    "metadata.unknown_material_code",
                    "材料编码不在清单中",
                    detail,
                )
            )
    if not out:
        out.append(item(AUT, check, "case.json", PASS, "metadata.ok", "元数据准确、一致"))
    return out


# --------------------------------------------------------------------------- 完整性


def _digest_items(case: Case, facts: Mapping[str, FileFacts]) -> list[CheckItem]:
    out: list[CheckItem] = []
    for name, _, _, sm3, _ in _declared_files(case):
        f = facts.get(name)
        if f is None:
            continue
        if f.sm3 == sm3:
            out.append(item(INT, "integrity.digest", name, PASS, "digest.ok", "SM3 摘要一致"))
        else:
            out.append(
                item(
                    INT,
                    "integrity.digest",
                    name,
                    FAIL,
                    "digest.mismatch",
                    "SM3 摘要与提交时不一致",
                    f"声明 {sm3}，实际 {f.sm3}",
                )
            )
    return out


def _register_items(case: Case, facts: Mapping[str, FileFacts]) -> list[CheckItem]:
    check, reg = "integrity.register", case.register
    count, total = len(facts), sum(f.size for f in facts.values())
    out = []
    if reg.file_count != count or len(case.file_names()) != count:
        detail = f"登记 {reg.file_count}，元数据 {len(case.file_names())}，实际 {count}"
        out.append(
            item(
                INT,
                check,
                "register.file_count",
                FAIL,
                "register.count_mismatch",
                "文件数量与登记不一致",
                detail,
            )
        )
    if reg.total_bytes != total:
        detail = f"登记 {reg.total_bytes}，实际 {total}"
        out.append(
            item(
                INT,
                check,
                "register.total_bytes",
                FAIL,
                "register.bytes_mismatch",
                "文件总字节数与登记不一致",
                detail,
            )
        )
    return out or [item(INT, check, "register", PASS, "register.ok", "数量与字节数与登记一致")]


def _sequence_items(case: Case) -> list[CheckItem]:
    seqs = sorted(m.seq for m in case.materials)
    if seqs == list(range(1, len(seqs) + 1)) and seqs:
        return [item(INT, "integrity.sequence", "materials", PASS, "sequence.ok", "件内序号连续")]
    gaps = sorted(set(range(1, max(seqs, default=0) + 1)) - set(seqs))
    return [
        item(
            INT,
            "integrity.sequence",
            "materials",
            FAIL,
            "sequence.gap",
            "件内序号不连续",
            f"缺少 {gaps}",
        )
    ]


def _process_items(case: Case, policy: CheckPolicy) -> list[CheckItem]:
    check, out = "integrity.process", []
    required = list(_BASE_NODES)
    if case.outcome.decided:
        required += _DECIDED_NODES
        if policy.delivery_node_required:
            required.append(NodeKind.DELIVER)
    if case.licences:
        required.append(NodeKind.MAKE_LICENCE)
    present = {n.node for n in case.nodes}
    for kind in sorted(set(required) - present, key=_NODE_RANK.__getitem__):
        out.append(
            item(
                INT,
                check,
                f"nodes.{kind.value}",
                FAIL,
                "process.missing_node",
                f"缺少办理环节：{kind.value}",
            )
        )
    for prev, node in zip(case.nodes, case.nodes[1:], strict=False):
        if _NODE_RANK[node.node] < _NODE_RANK[prev.node] or node.time < prev.time:
            detail = f"{prev.node.value} {prev.time:%Y-%m-%dT%H:%M%z} → "
            detail += f"{node.node.value} {node.time:%Y-%m-%dT%H:%M%z}"
            out.append(
                item(
                    INT,
                    check,
                    f"nodes.{node.node.value}",
                    FAIL,
                    "process.out_of_order",
                    "办理环节顺序或时间倒置",
                    detail,
                )
            )
    repeated = [
        k for k in present if k is not NodeKind.REVIEW and sum(n.node is k for n in case.nodes) > 1
    ]
    for kind in repeated:
        out.append(
            item(
                INT,
                check,
                f"nodes.{kind.value}",
                FAIL,
                "process.repeated_node",
                f"办理环节重复：{kind.value}",
            )
        )
    return out or [item(INT, check, "nodes", PASS, "process.ok", "办理过程信息完整、有序")]


def _material_items(case: Case) -> list[CheckItem]:
    check, out = "integrity.materials", []
    codes = {m.material_code for m in case.materials}
    for req in case.service_item.required_materials:
        if req.mandatory and req.code not in codes:
            out.append(
                item(
                    INT,
                    check,
                    f"material.{req.code}",
                    FAIL,
                    "materials.missing_required",
                    f"缺少必要材料：{req.name}",
                )
            )
    if not any(m.role is MaterialRole.APPLICATION_FORM for m in case.materials):
        out.append(
            item(INT, check, "materials", FAIL, "materials.no_application_form", "缺少申请表")
        )
    return out or [item(INT, check, "materials", PASS, "materials.ok", "材料清单所列材料齐全")]


def _sealed_material(
    case: Case, seq: int, role: MaterialRole, what: str, seals: Mapping[str, SealFindings]
) -> list[CheckItem]:
    check = f"integrity.{role.value}"
    m = case.material(seq)
    if m is None or m.role is not role:
        return [
            item(
                INT,
                check,
                f"materials.seq={seq}",
                FAIL,
                f"{role.value}.material_missing",
                f"{what}文件缺失",
            )
        ]
    found = seals.get(m.file)
    if not m.sealed or found is None or found.intact == 0:
        detail = "元数据未声明签章" if not m.sealed else "文件中没有完好的签章"
        return [
            item(
                INT,
                check,
                m.file,
                FAIL,
                f"{role.value}.not_sealed",
                f"{what}未加盖有效电子印章",
                detail,
            )
        ]
    return [item(INT, check, m.file, PASS, f"{role.value}.sealed", f"{what}齐全并已签章")]


def _result_items(
    case: Case, policy: CheckPolicy, seals: Mapping[str, SealFindings]
) -> list[CheckItem]:
    out: list[CheckItem] = []
    if case.decision is not None:
        out += _sealed_material(
            case, case.decision.material_seq, MaterialRole.DECISION, "决定书", seals
        )
    elif case.outcome.decided:
        out.append(
            item(
                INT,
                "integrity.decision",
                "decision",
                FAIL,
                "decision.missing",
                "缺少结果文书（决定书）",
            )
        )
    if case.outcome.grants and policy.licence_required_on_approval and not case.licences:
        out.append(
            item(
                INT,
                "integrity.licence",
                "licences",
                FAIL,
                "licence.missing",
                "准予许可但缺少电子证照",
            )
        )
    if case.licences and not case.outcome.grants:
        out.append(
            item(INT, "integrity.licence", "licences", FAIL, "licence.unexpected", "未准予却有证照")
        )
    for lic in case.licences:
        out += _sealed_material(
            case, lic.material_seq, MaterialRole.LICENCE, f"电子证照 {lic.number} ", seals
        )
    return out


def _declared_sealed_items(case: Case, seals: Mapping[str, SealFindings]) -> list[CheckItem]:
    out = []
    for m in case.materials:
        found = seals.get(m.file)
        if m.sealed and (found is None or found.total == 0):
            out.append(
                item(
                    AUT,
                    "authenticity.seal",
                    m.file,
                    FAIL,
                    "seal.missing",
                    "元数据声明已签章，但文件中没有签章",
                )
            )
    return out


def _signing_time_items(case: Case, seals: Mapping[str, SealFindings]) -> list[CheckItem]:
    """Signing times agree with the process trail (earchive spec §4.1, additional checks): a
    decision or licence cannot be signed before the application or after the case closed."""
    starts = [n.time for n in case.nodes if n.node is NodeKind.APPLY]
    ends = [n.time for n in case.nodes if n.node is NodeKind.CLOSE]
    if not starts or not ends:
        return []  # reported as missing nodes
    out = []
    for m in case.materials:
        if m.role not in (MaterialRole.DECISION, MaterialRole.LICENCE) or m.file not in seals:
            continue
        for ev in seals[m.file].evidence:
            raw = ev.report().get("signing_time")
            when = datetime.fromisoformat(raw) if isinstance(raw, str) else None
            if when is not None and not min(starts) <= when <= max(ends):
                detail = f"签署时间 {raw}"
                out.append(
                    item(
                        AUT,
                        "authenticity.metadata",
                        m.file,
                        FAIL,
                        "seal.signing_time_outside_process",
                        "签章时间不在办理过程之内",
                        detail,
                    )
                )
    return out


def integrity_items(
    case: Case,
    facts: Mapping[str, FileFacts],
    seals: Mapping[str, SealFindings],
    policy: CheckPolicy,
) -> list[CheckItem]:
    return [
        *_digest_items(case, facts),
        *_register_items(case, facts),
        *_sequence_items(case),
        *_process_items(case, policy),
        *_material_items(case),
        *_result_items(case, policy, seals),
        *_declared_sealed_items(case, seals),
        *_signing_time_items(case, seals),
    ]


# --------------------------------------------------------------------------- 可用性


def usability_items(
    facts: Mapping[str, FileFacts], detached: Mapping[str, DetachedFile], policy: CheckPolicy
) -> list[CheckItem]:
    out: list[CheckItem] = []
    for name, f in sorted(facts.items()):
        p = f.probe
        if name in detached and p.format == "der":
            out.append(item(USE, "usability.format", name, PASS, "format.evidence", "签章数据文件"))
            continue
        if p.format in policy.allowed_formats:
            out.append(
                item(
                    USE,
                    "usability.format",
                    name,
                    PASS,
                    "format.allowed",
                    f"格式 {p.format} 在允许范围内",
                )
            )
        else:
            out.append(
                item(
                    USE,
                    "usability.format",
                    name,
                    FAIL,
                    "format.not_allowed",
                    f"格式 {p.format} 不适合长期保存",
                )
            )
        if p.encrypted:
            out.append(
                item(USE, "usability.encryption", name, FAIL, "encryption.present", "文件已加密")
            )
        if p.opens is True:
            out.append(
                item(USE, "usability.opens", name, PASS, "render.ok", "文件可打开，首页可解码")
            )
        elif p.opens is False:
            out.append(
                item(
                    USE,
                    "usability.opens",
                    name,
                    FAIL,
                    p.reason,
                    "文件无法打开或首页无法解码",
                    p.detail,
                )
            )
        else:
            blocking = policy.block_when_render_unavailable or not p.reason.startswith("render.")
            out.append(
                item(
                    USE,
                    "usability.opens",
                    name,
                    NA,
                    p.reason,
                    "无法检测可呈现性",
                    p.detail,
                    blocking=blocking,
                )
            )
    return out


def detached_index(materials: tuple[Material, ...]) -> dict[str, DetachedFile]:
    return {d.file: d for m in materials for d in m.detached}
