"""A deliberately naive pure-Python SM2 oracle, written from GB/T 32918.2 §6.1/§7.1 (eseal spec
§2.3) with the curve of GB/T 32918.5. Affine coordinates, no constant time: tests only.

It shares nothing with the facade: its own constants, and SM3 from gmssl.
"""

from __future__ import annotations

from gmssl import sm3 as gm_sm3

P = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF", 16)
A = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC", 16)
B = int("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93", 16)
N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)
G = (
    int("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7", 16),
    int("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0", 16),
)

Point = tuple[int, int] | None  # None = point at infinity


def sm3(data: bytes) -> bytes:
    return bytes.fromhex(gm_sm3.sm3_hash(list(data)))


def _add(p1: Point, p2: Point) -> Point:
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2 and (y1 + y2) % P == 0:
        return None
    if p1 == p2:
        lam = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return x3, (lam * (x1 - x3) - y1) % P


def mul(k: int, point: Point) -> Point:
    result: Point = None
    while k:
        if k & 1:
            result = _add(result, point)
        point = _add(point, point)
        k >>= 1
    return result


def z_value(xa: int, ya: int, user_id: bytes) -> bytes:
    fields = b"".join(v.to_bytes(32, "big") for v in (A, B, G[0], G[1], xa, ya))
    return sm3((len(user_id) * 8).to_bytes(2, "big") + user_id + fields)


def sign_with_k(d: int, e: bytes, k: int) -> tuple[int, int]:
    """Steps A4-A7 with a given k (for the Annex A known answer)."""
    x1 = mul(k, G)
    assert x1 is not None
    r = (int.from_bytes(e, "big") + x1[0]) % N
    s = pow(1 + d, -1, N) * (k - r * d) % N
    return r, s


def verify(xa: int, ya: int, message: bytes, r: int, s: int, user_id: bytes) -> bool:
    """Steps B1-B7 over the message (Z_A computed here)."""
    if not (0 < r < N and 0 < s < N):
        return False
    e = int.from_bytes(sm3(z_value(xa, ya, user_id) + message), "big")
    t = (r + s) % N
    if t == 0:
        return False
    point = _add(mul(s, G), mul(t, (xa, ya)))
    return point is not None and (e + point[0]) % N == r


def verify_digest(xa: int, ya: int, e: bytes, r: int, s: int) -> bool:
    """Steps B3-B7 with a given ``e`` (no Z_A, no SM3): what a producer that signs a digest
    directly, as SM2 over ``e``, made (eseal spec §9, the dms360 quirk)."""
    if not (0 < r < N and 0 < s < N):
        return False
    t = (r + s) % N
    if t == 0:
        return False
    point = _add(mul(s, G), mul(t, (xa, ya)))
    return point is not None and (int.from_bytes(e, "big") + point[0]) % N == r
