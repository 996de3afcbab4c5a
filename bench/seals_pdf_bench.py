"""PDF seal benchmark: stamping and verifying a ~1 MB PDF, against bare SM2 sign/verify.

Stamping = parse, one incremental update with the seal picture, SM3 over the file, one SM2
signature through ``trust.signing.Signer``, then our own verification of the output (eseal spec
§6). Verifying = parse, byte-range checks, SM3 over the file, one SM2 verification, pyHanko's
coverage analysis. Peers: ``trust.crypto`` SM2 sign and verify over a 20-byte message, measured
in the same run (ratios are the meaningful figures on a shared machine). ``notes`` lists where
the time goes, from one cProfile run of each operation.

Test material comes from ``tests/unit/seals/pdf_fixtures.py`` (generated, nothing downloaded).
Run: ``python -m bench --only seals_pdf_bench`` or ``python -m bench.seals_pdf_bench``.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from seals.appearance import render_seal, round_seal
from seals.pdf_verify import verify_pdf_signatures
from seals.stamping import Placement, stamp_pdf
from tests.unit.seals.pdf_fixtures import make_pdf, make_test_signer
from trust.crypto import sm2_verify
from trust.crypto.private_keys import generate_sm2

PDF_BYTES = 1_000_000
# Stamping a 1 MB file does far more than one signature (two parses, ~2 MB of SM3, a PNG
# decode and re-encode, our own verification): 1 % of the bare signing rate is the bar.
TARGET_STAMP_RATIO = 0.01
TARGET_VERIFY_RATIO = 0.01


def _rate(operation: Callable[[], object], seconds: float, minimum: int = 3) -> float:
    count, start = 0, time.perf_counter()
    while True:
        operation()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and count >= minimum:
            return count / elapsed


def _top(operation: Callable[[], object], limit: int = 8) -> list[str]:
    profile = cProfile.Profile()
    profile.enable()
    operation()
    profile.disable()
    stats = pstats.Stats(profile, stream=io.StringIO())
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]
    out = []
    for (path, line, func), (_, calls, tottime, _, _) in rows[:limit]:
        where = f"{os.path.basename(path)}:{line}" if line else path
        out.append(
            f"{func} ({where}) {tottime * 1000:.1f} ms self, {calls} calls, "
            f"{100 * tottime / total:.0f}%"
        )
    return out


def run(quick: bool = False) -> dict[str, Any]:
    seconds = 1.0 if quick else 5.0
    signer = make_test_signer()
    png = render_seal(round_seal("某某市行政审批服务局", "行政审批专用章")).png
    pdf = make_pdf(pages=3, padding_bytes=PDF_BYTES)
    when = datetime(2026, 11, 22, 8, 0, 0, tzinfo=UTC)

    def stamp() -> bytes:
        return stamp_pdf(
            pdf,
            signer=signer,
            seal_image_png=png,
            seal_size_mm=(42, 42),
            placement=Placement(0, 120, 200),
            signing_time=when,
        )

    stamped = stamp()
    assert verify_pdf_signatures(stamped).all_intact

    def verify() -> None:
        assert verify_pdf_signatures(stamped).all_intact

    key = generate_sm2()
    public = key.public_key()
    message = os.urandom(20)
    signature = key.sign(message)
    sign_rate = _rate(lambda: key.sign(message), seconds)
    verify_rate = _rate(lambda: sm2_verify(public, message, signature), seconds)
    stamp_rate = _rate(stamp, seconds)
    pdf_verify_rate = _rate(verify, seconds)
    mb = len(stamped) / 1e6
    return {
        "title": f"PDF seals ({mb:.2f} MB PDF, wall-clock rates)",
        "rows": [
            {"name": "PDF stamp (seal + SM2 CMS + self-check)", "value": stamp_rate,
             "unit": "stamps/s", "peer": "trust.crypto SM2 sign", "peer_value": sign_rate,
             "ratio": stamp_rate / sign_rate, "target": TARGET_STAMP_RATIO},
            {"name": "PDF verify (byte range, SM3, SM2)", "value": pdf_verify_rate,
             "unit": "verifies/s", "peer": "trust.crypto SM2 verify", "peer_value": verify_rate,
             "ratio": pdf_verify_rate / verify_rate, "target": TARGET_VERIFY_RATIO},
        ],
        "notes": {"stamp_top_self_time": _top(stamp), "verify_top_self_time": _top(verify)},
    }  # fmt: skip


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=2, ensure_ascii=False))
