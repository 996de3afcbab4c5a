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

Service and HTTP figures (issue 5 "Performance"; ``licences.service_*``):

- issuing (render + seal through the seals service + sign + store + log) per second and per
  CPU-second of this process (one core), on SQLite, each licence its own transaction;
- verification by 核验码 over HTTP at 32 connections (``bench.http_load``: uvicorn, one worker)
  against the bare FastAPI endpoint returning small JSON, same run (target ratio >= 0.5), with
  each server's CPU time per request beside it (steadier than req/s on a shared machine); every
  request does the per-IP rate-limit count and writes the holder's 核验记录, committed before it
  answers, as in production (group-committed with the concurrent requests', ``trust.db_batch``;
  the limit itself is raised for the run with ``TRUST_LICENCES_VERIFY_LIMITS``);
- verification latency (service call, one transaction: HMAC, lookup, live status, record) with
  10 thousand and with 1 million licences on PostgreSQL (rows bulk-loaded with COPY; each size
  in its own database, their samples taken alternately so that fsync drift falls on both), ratio
  1M / 10k (target <= 1.3; reported as 10k / 1M so that "higher is better" like the others).

Rates are wall-clock. Run: ``python -m bench --only licences_bench`` or
``python -m bench.licences_bench``.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from licences.codes import new_code
from licences.envelope import (
    LicencePayload,
    StatusReference,
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
        status=StatusReference("11430000006122244L-1", 98_765),  # as issued (claim 11)
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
    service_rows, service_notes = _service_rows(quick)
    return {
        "title": "E-licences (EL1 envelope, status list, PDF, issuing, verify; wall-clock)",
        "rows": [
            *service_rows,
            {
                "name": "EL1 sign + encode (SM2, CBOR, zlib, Base45)",
                "value": el1_sign,
                "unit": "envelopes/s",
                "peer": "trust.crypto SM2 sign (same bytes)",
                "peer_value": sign_rate,
                "ratio": el1_sign / sign_rate,
                "target": TARGET_SIGN_RATIO,
            },
            {
                "name": "EL1 decode + verify",
                "value": el1_verify,
                "unit": "envelopes/s",
                "peer": "trust.crypto SM2 verify (same bytes)",
                "peer_value": verify_rate,
                "ratio": el1_verify / verify_rate,
                "target": TARGET_VERIFY_RATIO,
            },
            {
                "name": "status list decode + verify (131,072)",
                "value": status_verify,
                "unit": "lists/s",
                "peer": "trust.crypto SM2 verify",
                "peer_value": verify_rate,
                "ratio": status_verify / verify_rate,
                "target": TARGET_STATUS_VERIFY_RATIO,
            },
            {
                "name": "licence PDF, embedded font, new characters",
                "value": render_fresh,
                "unit": "pages/s",
                "peer": "PDF with STSong-Light",
                "peer_value": render_std,
                "ratio": render_fresh / render_std,
                "target": None,
            },
            {
                "name": "licence PDF, embedded font, cached subset",
                "value": render_cached,
                "unit": "pages/s",
                "peer": "PDF with STSong-Light",
                "peer_value": render_std,
                "ratio": render_cached / render_std,
                "target": None,
            },
        ],
        "notes": {
            "cose_bytes": len(cose),
            "el1_chars": len(text),
            "url_chars": len(url),
            "qr_version_el1_ec_q": qr_el1.version,
            "qr_version_url_ec_q": qr_url.version,
            "status_list_file_bytes": len(status_file),
            **service_notes,
        },
    }


# --------------------------------------------------------------------------- service and HTTP


def _seed_issuer(session: Any, clock: Any, keystore: Any, settings: Any) -> tuple[Any, str]:
    """CA, a department with an active 行政审批专用章, the demo catalogue; (issuer, org id)."""
    from licences import service as licence_service
    from seals import service as seals_service
    from seals.lifecycle import SealType
    from seals.service import SealApplication
    from trust.cli.ca import ensure_ca
    from trust.cli.demo import demo_uscc
    from trust.cli.licence import DEMO_TYPES, cli_issuer
    from trust.principals import service as principals
    from trust.principals.principal import Principal, PrincipalKind
    from trust.principals.roles import Grant, Role

    ensure_ca(session=session, clock=clock, keystore=keystore, settings=settings)
    org = principals.create_organisation(
        session=session,
        clock=clock,
        name="基准市市场监督管理局",
        uscc=demo_uscc("11", "350100", f"{secrets.randbelow(10**8):08d}"),
        kind="department",
        actor="bench",
    )
    custodian = Principal(
        kind=PrincipalKind.USER,
        id="bench",
        display="bench",
        organisation_id=None,
        grants=frozenset({Grant(Role.SEAL_CUSTODIAN, org.id)}),
        authenticated_by="bench",
    )
    seal = seals_service.apply_seal(
        session=session,
        clock=clock,
        principal=custodian,
        application=SealApplication(
            organisation_id=org.id,
            seal_type=SealType.ADMIN_APPROVAL,
            name="基准市市场监督管理局行政审批专用章",
            reason="bench",
        ),
    )
    seals_service.make_seal(
        session=session,
        clock=clock,
        keystore=keystore,
        settings=settings,
        principal=custodian,
        seal_id=seal.id,
        reason="bench",
    )
    seals_service.activate_seal(
        session=session, clock=clock, principal=custodian, seal_id=seal.id, reason="bench"
    )
    for spec in DEMO_TYPES:
        licence_service.register_type(session=session, clock=clock, spec=spec, actor="bench")
    return cli_issuer(org.id), org.id


def _issue_request(i: int) -> Any:
    from licences.issuance import IssueRequest
    from trust.checkchars import org_code_check_char, uscc_check_char
    from trust.cli.licence import DEMO_TYPES

    body = f"{10_000_000 + i:08d}"
    first17 = "91350100" + body + org_code_check_char(body)
    return IssueRequest(
        type_code=DEMO_TYPES[0].code,
        holder_name=_fresh_name(),
        holder_code=first17 + uscc_check_char(first17),
        fields={
            "entity_type": "有限责任公司",
            "legal_representative": "张三",
            "registered_capital": "壹仟万元整",
            "established_on": "2020-05-18",
            "address": "长沙市岳麓区某路 8 号",
            "business_scope": "房屋建筑工程施工。",
        },
    )


@dataclass
class _Issuing:
    """A database with the schema, a department with an active seal and the demo catalogue
    (``_seed_issuer``), and what issuing through the service layer needs."""

    engine: Any
    sessions: Any
    clock: Any
    keystore: Any
    config: Any
    issuer: Any

    def issue(self, i: int) -> Any:
        """Issue ``_issue_request(i)`` in its own transaction; the issued licence."""
        from licences.service_issue import issue_licence

        with self.sessions() as s, s.begin():
            return issue_licence(
                session=s,
                clock=self.clock,
                keystore=self.keystore,
                config=self.config,
                principal=self.issuer,
                request=_issue_request(i),
            )


def _issuing(data_dir: str, database_url: str | None = None) -> _Issuing:
    """``_Issuing`` on ``database_url`` (SQLite in ``data_dir`` by default); the caller
    disposes of its engine."""
    from keys.software import SoftwareKeyStore
    from licences.service_keys import config_from_settings
    from trust.clock import SystemClock
    from trust.config import load_settings
    from trust.db import make_engine, session_factory
    from trust.migrations.registry import load_all_models

    overrides = {"environment": "test", "data_dir": data_dir, "master_key": _MASTER_KEY}
    if database_url is not None:
        overrides["database_url"] = database_url
    settings = load_settings(environ={}, overrides=overrides)
    engine = make_engine(settings.resolved_database_url)
    load_all_models().create_all(engine)
    sessions, clock = session_factory(engine), SystemClock()
    keystore = SoftwareKeyStore.from_settings(settings)
    with sessions() as s, s.begin():
        issuer, _org = _seed_issuer(s, clock, keystore, settings)
    return _Issuing(engine, sessions, clock, keystore, config_from_settings(settings), issuer)


def _issuing_rate(quick: bool) -> dict[str, Any]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="licence-bench-") as tmp:
        issuing = _issuing(tmp)
        issuing.issue(0)  # warm fonts, keys, caches
        count = 5 if quick else 40
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(1, count + 1):
            issuing.issue(i)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        issuing.engine.dispose()
    return {"count": count, "per_second": count / wall, "per_cpu_second": count / cpu}


_MASTER_KEY = "00112233445566778899aabbccddeeff" * 2


def _verify_http_rows(quick: bool) -> list[dict[str, Any]]:
    import json
    import os

    from bench.http_load import build_request, compare_with_fastapi_peer
    from keys.software import SoftwareKeyStore
    from licences.service_issue import issue_licence
    from licences.service_keys import config_from_settings
    from trust.clock import SystemClock

    def make_requests(served: Any) -> bytes:
        settings = served.settings
        clock = SystemClock()
        keystore = SoftwareKeyStore.from_settings(settings)
        with served.session_scope() as s:
            issuer, _org = _seed_issuer(s, clock, keystore, settings)
        with served.session_scope() as s:
            issued = issue_licence(
                session=s,
                clock=clock,
                keystore=keystore,
                config=config_from_settings(settings),
                principal=issuer,
                request=_issue_request(1),
            )
        body = json.dumps({"code": issued.verification_code}).encode()
        return build_request(
            "POST",
            "/licences/verify/code",
            host=served.host,
            headers={"Content-Type": "application/json"},
            body=body,
        )

    previous = os.environ.get("TRUST_LICENCES_VERIFY_LIMITS")
    os.environ["TRUST_LICENCES_VERIFY_LIMITS"] = "1000000000,1000000000"
    try:
        return compare_with_fastapi_peer(
            "verify by code over HTTP, 32 conn",
            make_requests,
            method="POST",
            peer_body=b'{"code": "7KQ4-M2XA-9PHT-D3WT"}',
            peer_headers={"Content-Type": "application/json"},
            target=0.5,
            quick=quick,
        )
    finally:
        if previous is None:
            os.environ.pop("TRUST_LICENCES_VERIFY_LIMITS", None)
        else:
            os.environ["TRUST_LICENCES_VERIFY_LIMITS"] = previous


def _bulk_rows(conn: Any, template: dict[str, Any], start: int, stop: int, key: bytes) -> None:
    """COPY licence rows ``start``…``stop-1`` (identifier, code digest, status slot unique)."""
    from licences.codes import code_digest
    from trust.crypto import hmac_sm3

    columns = list(template)
    with conn.cursor() as cur, cur.copy(f"COPY licence ({', '.join(columns)}) FROM STDIN") as copy:
        for n in range(start, stop):
            row = dict(template)
            row["id"] = f"lic_bulk{n:012d}"
            row["identifier"] = f"{template['identifier'][:-26]}B{n:019d}.001.0"
            row["serial"] = f"B{n:019d}"
            row["code_digest"] = code_digest(key, _bulk_code(n))
            row["holder_lookup"] = hmac_sm3(key, n.to_bytes(8, "big"))
            row["status_list_id"] = f"bulk-{n // 131_072}"
            row["status_index"] = n % 131_072
            row["document_sm3"] = f"{n:064x}"
            copy.write_row([row[c] for c in columns])


def _bulk_code(n: int) -> str:
    from licences.codes import CODE_ALPHABET, code_check_char

    digits = []
    for _ in range(15):
        n, r = divmod(n, 31)
        digits.append(CODE_ALPHABET[r])
    body = "".join(digits)
    return body + code_check_char(body)


@dataclass
class _LatencyDatabase:
    """One private PostgreSQL database loaded with ``size`` licences, for ``_latency_rows``."""

    size: int
    engine: Any
    sessions: Any
    config: Any
    load_seconds: float


def _latency_database(
    stack: contextlib.ExitStack, server: str, tmp: str, size: int
) -> _LatencyDatabase:
    """A private database with the schema, an issuer, one licence issued through the service
    and ``size - 1`` more bulk-loaded from it with COPY (then ANALYZE)."""
    from bench.http_load import private_postgres_database
    from licences.model import Licence

    issuing = _issuing(tmp, stack.enter_context(private_postgres_database(server)))
    engine, sessions, config = issuing.engine, issuing.sessions, issuing.config
    stack.callback(engine.dispose)
    issued = issuing.issue(1)
    with sessions() as s:
        real = s.get(Licence, issued.record.id)
        assert real is not None
        template = {c.name: getattr(real, c.key) for c in Licence.__table__.columns}
    template["document_pdf"] = b"%PDF-1.7 bench placeholder"
    template["idempotency_key"] = None
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        began = time.perf_counter()
        _bulk_rows(driver, template, 0, size - 1, config.code_key)
        driver.commit()
        with driver.cursor() as cur:
            cur.execute("ANALYZE licence")
        driver.commit()
        load_seconds = time.perf_counter() - began
    finally:
        raw.close()
    return _LatencyDatabase(size, engine, sessions, config, load_seconds)


def _latency_rows(quick: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """p50 latency of one verification by code (its own transaction, committed) with 10,000
    and with 1,000,000 licences, each size in its own database, the samples of the two sizes
    taken alternately: a commit is mostly an fsync whose time drifts on a shared machine, and
    alternating puts any drift (a checkpoint after the bulk load, a neighbour's I/O) on both
    sizes alike instead of on whichever was measured second."""
    import random
    import tempfile

    from bench.http_load import postgres_base_url
    from licences.service_verify import Verifier, verify_code
    from trust.clock import SystemClock

    server = postgres_base_url()
    if server is None:
        return [], {"latency_note": "PostgreSQL not reachable: 10k vs 1M not measured"}
    small_size, large_size = (10_000, 200_000) if quick else (10_000, 1_000_000)
    samples = 300 if quick else 2000
    clock, who = SystemClock(), Verifier(client="bench")
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        small = _latency_database(stack, server, tmp, small_size)
        large = _latency_database(stack, server, tmp, large_size)
        with large.engine.connect() as conn:  # the bulk load's dirty pages: written now
            conn.exec_driver_sql("CHECKPOINT")
        picks = {
            db.size: [_bulk_code(random.randrange(db.size - 1)) for _ in range(samples + 50)]
            for db in (small, large)
        }
        times: dict[int, list[float]] = {small.size: [], large.size: []}
        for i in range(samples + 50):
            for db in (small, large) if i % 2 else (large, small):
                began = time.perf_counter()
                with db.sessions() as s, s.begin():
                    out = verify_code(
                        session=s,
                        clock=clock,
                        config=db.config,
                        raw_code=picks[db.size][i],
                        who=who,
                    )
                if i >= 50:  # the first ones warm the caches and the plans
                    times[db.size].append(time.perf_counter() - began)
                assert out.result.value == "VALID", out
        with large.engine.connect() as conn:
            total = int(conn.exec_driver_sql("SELECT count(*) FROM licence").scalar_one())
        load_seconds = small.load_seconds + large.load_seconds
    lat_small, lat_large = (
        sorted(t)[len(t) // 2] * 1000 for t in (times[small.size], times[large.size])
    )
    rows = [
        {
            "name": f"verify by code latency p50, {small_size:,} licences (PostgreSQL)",
            "value": lat_small,
            "unit": "ms",
            "peer": None,
            "peer_value": None,
            "ratio": None,
            "target": None,
        },
        {
            "name": f"verify by code latency p50, {total:,} licences (PostgreSQL)",
            "value": lat_large,
            "unit": "ms",
            "peer": f"{small_size:,} licences (alternate samples)",
            "peer_value": lat_small,
            "ratio": lat_small / lat_large,
            "target": 1 / 1.3,
        },
    ]
    notes = {
        "latency_ratio_large_over_small": lat_large / lat_small,
        "bulk_load_seconds": round(load_seconds, 1),
        "bulk_rows": total,
    }
    return rows, notes


def _service_rows(quick: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    issuing = _issuing_rate(quick)
    rows: list[dict[str, Any]] = [
        {
            "name": "issue licence (render+seal+sign+store+log)",
            "value": issuing["per_cpu_second"],
            "unit": "/CPU-s",
            "peer": f"wall-clock {issuing['per_second']:.1f}/s",
            "peer_value": issuing["per_second"],
            "ratio": None,
            "target": None,
        }
    ]
    rows += _verify_http_rows(quick)
    latency, notes = _latency_rows(quick)
    return rows + latency, {"issued_for_rate": issuing["count"], **notes}


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=2, ensure_ascii=False))
