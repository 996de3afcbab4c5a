"""Crypto facade benchmark: SM2 sign/verify and SM3 throughput, with peers measured in the same run.

Peers: ``openssl speed -seconds N sm2`` (the system OpenSSL 3 doing the same SM2-with-SM3
EVP_DigestSign/EVP_DigestVerify over 20-byte messages, re-initialised per operation), gmssl (pure
Python) and bare ``hashlib.new('sm3')``.

``openssl speed`` divides by user CPU time by default; every rate here is therefore also per user
CPU second (for the facade's SM2, wall-time rates are recorded beside them). On a shared machine
this removes much of the noise that other processes add to wall-clock figures; the facade and
``openssl speed`` are also measured in alternating rounds, so that drift affects both alike.

Run: ``python -m bench.crypto_bench`` (or ``python -m bench``).
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

from asn1crypto import keys
from gmssl import sm2 as gm_sm2

from trust.crypto import SM3, sm2_verify
from trust.crypto.backend import BACKEND_NAMES, BackendName, active, available_backends, configure
from trust.crypto.private_keys import generate_sm2

MESSAGE_BYTES = 20  # what `openssl speed sm2` signs
SM3_TOTAL = 64 * 1024 * 1024
SM3_CHUNK = 1024 * 1024
#: Foundation issue, "Targets": SM2 sign and verify through the facade at least 0.8x the OpenSSL
#: figure of the same run; SM3 streaming through the facade at least 0.9x bare hashlib.
TARGET_VS_OPENSSL = 0.8
TARGET_SM3_VS_HASHLIB = 0.9
_SPEED_LINE = re.compile(r"SM2 \(CurveSM2\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)")


def _user_seconds() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


def _rate(operation: Callable[[], object], seconds: float) -> dict[str, float]:
    """``operation`` run back to back for about ``seconds`` of wall time: operations per second
    of user CPU time (the divisor ``openssl speed`` uses unless given ``-elapsed``) and per
    second of wall time (which also counts time lost to other processes on a shared machine)."""
    count, wall0, user0 = 0, time.perf_counter(), _user_seconds()
    deadline = wall0 + seconds
    while True:
        operation()
        count += 1
        wall = time.perf_counter()
        if wall >= deadline:
            return {"cpu": count / (_user_seconds() - user0), "wall": count / (wall - wall0)}


def facade_sm2(name: BackendName, seconds: float) -> dict[str, float]:
    """Sign/s and verify/s through the public facade with backend ``name`` active."""
    previous = active().info.name
    configure(name)
    try:
        key = generate_sm2()
        public = key.public_key()
        message = os.urandom(MESSAGE_BYTES)
        signature = key.sign(message)
        sign = _rate(lambda: key.sign(message), seconds)
        verify = _rate(lambda: sm2_verify(public, message, signature), seconds)
    finally:
        configure(previous)
    return {
        "sign_per_s": sign["cpu"],
        "verify_per_s": verify["cpu"],
        "sign_per_wall_s": sign["wall"],
        "verify_per_wall_s": verify["wall"],
    }


def openssl_speed(seconds: float) -> dict[str, Any]:
    """``openssl speed -seconds N sm2``; records why when it is missing or lacks SM2."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return {"error": "openssl command line not installed"}
    whole = max(1, round(seconds))
    proc = subprocess.run(
        [openssl, "speed", "-seconds", str(whole), "sm2"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60 + 4 * whole,
    )
    match = _SPEED_LINE.search(proc.stdout)
    if proc.returncode != 0 or match is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        return {"error": f"`openssl speed sm2` gave no SM2 figures: {tail}"}
    return {"sign_per_s": float(match[1]), "verify_per_s": float(match[2]), "seconds": whole}


def gmssl_sm2(iterations: int) -> dict[str, float]:
    """gmssl sign/s and verify/s per user CPU second (pure Python: few iterations); our own
    nonce, not gmssl's."""
    key = generate_sm2()
    d = keys.PrivateKeyInfo.load(key.to_pkcs8_der())["private_key"].parsed["private_key"].native
    crypt = gm_sm2.CryptSM2(private_key=f"{d:064x}", public_key="00")
    crypt.public_key = key.public_key().point[1:].hex()  # its constructor mangles leading 0/4
    message = os.urandom(MESSAGE_BYTES)
    started = _user_seconds()
    signatures = [crypt.sign_with_sm3(message, secrets.token_hex(32)) for _ in range(iterations)]
    sign = iterations / (_user_seconds() - started)
    started = _user_seconds()
    for signature in signatures:
        assert crypt.verify_with_sm3(signature, message), "gmssl rejects its own signature"
    verify = iterations / (_user_seconds() - started)
    return {"sign_per_s": sign, "verify_per_s": verify, "iterations": iterations}


def sm3_throughput() -> dict[str, float]:
    """MiB per user CPU second of the facade's streaming SM3 and of bare hashlib, same data."""
    data = memoryview(os.urandom(SM3_TOTAL))
    chunks = [data[i : i + SM3_CHUNK] for i in range(0, SM3_TOTAL, SM3_CHUNK)]

    def timed(hasher: Any) -> tuple[float, bytes]:
        started = _user_seconds()
        for chunk in chunks:
            hasher.update(chunk)
        digest: bytes = hasher.digest()
        return SM3_TOTAL / 2**20 / (_user_seconds() - started), digest

    facade, bare = [], []
    for _ in range(2):  # alternate, so that a burst of load elsewhere hits both sides
        rate, facade_digest = timed(SM3())
        facade.append(rate)
        rate, bare_digest = timed(hashlib.new("sm3"))
        bare.append(rate)
        assert facade_digest == bare_digest, "SM3 implementations disagree"
    return {"facade_mb_s": sum(facade) / 2, "hashlib_mb_s": sum(bare) / 2}


def _mean(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: sum(r[k] for r in runs) / len(runs) for k in runs[0]}


def interleaved_sm2(
    names: list[BackendName], seconds: float
) -> tuple[dict[BackendName, dict[str, float]], dict[str, Any], int]:
    """Facade rates per backend and ``openssl speed`` rates, measured in alternating rounds
    (facade slices of 0.25 s per operation, ``openssl speed`` 1 s per operation: its minimum),
    so that a change of machine load during the run affects every side alike. Many short rounds
    average out the bursts of a shared machine better than one long run each."""
    rounds = max(2, round(seconds / 0.25))
    facade_runs: dict[BackendName, list[dict[str, float]]] = {n: [] for n in names}
    speed_runs: list[dict[str, Any]] = []
    speed_error: dict[str, Any] | None = None
    for _ in range(rounds):
        for name in names:
            facade_runs[name].append(facade_sm2(name, seconds / rounds))
        if speed_error is None:
            speed = openssl_speed(1)
            if "error" in speed:
                speed_error = speed
            else:
                speed_runs.append(speed)
    facade = {n: _mean(runs) for n, runs in facade_runs.items()}
    if speed_error is not None or not speed_runs:
        return facade, speed_error or {"error": "no openssl speed run"}, rounds
    return facade, _mean(speed_runs) | {"runs": len(speed_runs)}, rounds


def _ratio(value: float, peer: float | None) -> float | None:
    return None if not peer else value / peer


def _row(
    name: str,
    value: float,
    unit: str,
    peer: str,
    peer_value: float | None,
    target: float | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "value": value,
        "unit": unit,
        "peer": peer,
        "peer_value": peer_value,
        "ratio": _ratio(value, peer_value),
        "target": target,
    }


def _rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    name = result["active_backend"]
    mine, speed = result["facade"][name], result["openssl_speed"]
    gm, sm3 = result["gmssl"], result["sm3"]
    rows = []
    for op in ("sign", "verify"):
        key = f"{op}_per_s"
        rows.append(
            _row(
                f"SM2 {op} facade ({name})",
                mine[key],
                "op/s",
                "openssl speed sm2",
                speed.get(key),
                TARGET_VS_OPENSSL,
            )
        )
    for other, figures in result["facade"].items():
        if other != name:
            for op in ("sign", "verify"):
                key = f"{op}_per_s"
                rows.append(
                    _row(
                        f"SM2 {op} facade ({other})",
                        figures[key],
                        "op/s",
                        "openssl speed sm2",
                        speed.get(key),
                    )
                )
    for op in ("sign", "verify"):
        key = f"{op}_per_s"
        rows.append(_row(f"SM2 {op} facade ({name})", mine[key], "op/s", "gmssl", gm[key]))
    rows.append(
        _row(
            "SM3 streaming facade, 64 MiB / 1 MiB chunks",
            sm3["facade_mb_s"],
            "MiB/s",
            "hashlib.new('sm3')",
            sm3["hashlib_mb_s"],
            TARGET_SM3_VS_HASHLIB,
        )
    )
    return rows


def run(seconds: float = 2.0, *, quick: bool = False) -> dict[str, Any]:
    """Measure everything once; figures, ratios and ``rows`` for ``python -m bench``."""
    if quick:
        seconds = min(seconds, 1.0)
    name = active().info.name
    available = available_backends()
    others = [n for n in BACKEND_NAMES if n != name and not isinstance(available[n], Exception)]
    facade, speed, rounds = interleaved_sm2([name, *others], seconds)
    gm = gmssl_sm2(2 if quick else 5)
    sm3 = sm3_throughput()
    mine = facade[name]
    result: dict[str, Any] = {
        "title": "crypto facade (SM2, SM3)",
        "seconds_per_measure": seconds,
        "rounds": rounds,
        "message_bytes": MESSAGE_BYTES,
        "active_backend": name,
        "backend_info": {n: str(i) for n, i in available.items()},
        "facade": facade,
        "openssl_speed": speed,
        "gmssl": gm,
        "sm3": sm3,
        "ratios": {
            "sign_vs_openssl_speed": _ratio(mine["sign_per_s"], speed.get("sign_per_s")),
            "verify_vs_openssl_speed": _ratio(mine["verify_per_s"], speed.get("verify_per_s")),
            "sign_vs_gmssl": _ratio(mine["sign_per_s"], gm["sign_per_s"]),
            "verify_vs_gmssl": _ratio(mine["verify_per_s"], gm["verify_per_s"]),
            "sm3_facade_vs_hashlib": _ratio(sm3["facade_mb_s"], sm3["hashlib_mb_s"]),
        },
    }
    result["rows"] = _rows(result)
    return result


def _print(result: dict[str, Any]) -> None:
    print(f"active backend: {result['active_backend']}; {result['backend_info']}")
    if "error" in result["openssl_speed"]:
        print(f"openssl speed: {result['openssl_speed']['error']}")
    print(f"{'measure':<48} {'value':>10} {'unit':<6} {'peer':<22} {'peer value':>10} {'ratio':>6}")
    for row in result["rows"]:
        peer_value, ratio = row["peer_value"], row["ratio"]
        flag = ""
        if ratio is not None and row["target"] is not None:
            flag = "  ok" if ratio >= row["target"] else f"  BELOW {row['target']}"
        print(
            f"{row['name']:<48} {row['value']:>10,.1f} {row['unit']:<6} {row['peer']:<22} "
            f"{(f'{peer_value:,.1f}' if peer_value else '-'):>10} "
            f"{(f'{ratio:.2f}' if ratio is not None else '-'):>6}{flag}"
        )


if __name__ == "__main__":
    _print(run())
