"""Constant-time comparison for secrets, codes, MACs and PKCE verifiers."""

from __future__ import annotations

import hmac

__all__ = ["constant_time_equal"]


def constant_time_equal(a: bytes | str, b: bytes | str) -> bool:
    """Compare without leaking the position of the first difference. Strings are UTF-8 encoded."""
    a_bytes = a.encode("utf-8") if isinstance(a, str) else a
    b_bytes = b.encode("utf-8") if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)
