"""Run every benchmark once, print a table of figures and ratios, write ``bench/results.json``.

Each benchmark module exposes ``run(...) -> dict`` whose ``rows`` list holds
``{"name", "value", "unit", "peer", "peer_value", "ratio", "target"}`` entries. Peers are measured
in the same run because the machines are shared and noisy; absolute figures vary, ratios less so.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

MODULES = (
    "bench.crypto_bench",
    "bench.tlog_bench",
    "bench.seals_pdf_bench",
    "bench.seals_bench",
    "bench.licences_bench",
    "bench.archive_bench",
    "bench.oidc_bench",
)


def _print_rows(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n== {title} ==")
    print(f"{'measure':<44} {'value':>14} {'unit':<10} {'peer':<28} {'ratio':>7} {'target':>7}")
    for r in rows:
        ratio = r.get("ratio")
        target = r.get("target")
        flag = ""
        if ratio is not None and target is not None:
            flag = "  ok" if ratio >= target else "  BELOW TARGET"
        print(
            f"{r['name']:<44} {r['value']:>14,.1f} {r.get('unit', ''):<10} "
            f"{(r.get('peer') or ''):<28} "
            f"{(f'{ratio:.2f}' if ratio is not None else '-'):>7} "
            f"{(f'{target:.2f}' if target is not None else '-'):>7}{flag}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", help="comma-separated module names (e.g. crypto_bench)")
    parser.add_argument("--quick", action="store_true", help="shorter runs (smoke)")
    args = parser.parse_args()
    selected = [m for m in MODULES if not args.only or m.split(".")[-1] in args.only.split(",")]
    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "benchmarks": {},
    }
    for name in selected:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            print(f"skipping {name}: {exc}")
            continue
        started = time.perf_counter()
        out = (
            module.run(quick=args.quick)
            if "quick" in module.run.__code__.co_varnames
            else module.run()
        )
        out["seconds"] = round(time.perf_counter() - started, 1)
        results["benchmarks"][name] = out
        _print_rows(out.get("title", name), out.get("rows", []))
    path = Path(__file__).resolve().parent / "results.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
