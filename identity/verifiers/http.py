"""One JSON-over-HTTP call to an authoritative source, with the failure rules every adapter
shares (fail closed):

- connection error, timeout, HTTP 5xx or 429 -> ``RegistryUnavailable``
  (``identity.registry_unavailable``);
- any other non-200 status, a body that is not a JSON object -> ``RegistryBadResponse``;
- an answer labelled ``"simulated": true`` in production -> ``RegistryBadResponse``
  (``identity.simulated_source_refused``): simulated data never proofs a real account.

The SM3 digest of the exact response bytes is kept as evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from identity.errors import RegistryBadResponse, RegistryUnavailable
from trust.crypto import sm3

__all__ = ["RegistryAnswer", "RegistryHttp"]


@dataclass(frozen=True, slots=True)
class RegistryAnswer:
    url: str
    body: Mapping[str, Any]
    digest: bytes
    simulated: bool


class RegistryHttp:
    """Wraps an ``httpx.Client`` (a real one, or one on an ASGI transport in tests). The client
    carries the timeout (``IdentityConfig.http_timeout_seconds``; httpx's default is 5 s)."""

    def __init__(self, client: httpx.Client, *, allow_simulated: bool) -> None:
        self._client = client
        self._allow_simulated = allow_simulated

    def post(self, url: str, payload: Mapping[str, Any], *, request_ref: str) -> RegistryAnswer:
        try:
            response = self._client.post(
                url,
                json=dict(payload),
                headers={"X-Request-Id": request_ref, "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise RegistryUnavailable(
                f"权威核验源 {_origin(url)} 无法访问（{type(exc).__name__}）"
            ) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise RegistryUnavailable(
                f"权威核验源 {_origin(url)} 暂不可用（HTTP {response.status_code}）"
            )
        if response.status_code != 200:
            raise RegistryBadResponse(
                f"权威核验源 {_origin(url)} 拒绝了请求（HTTP {response.status_code}）"
            )
        raw = response.content
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise RegistryBadResponse(f"权威核验源 {_origin(url)} 返回的不是 JSON 对象")
        simulated = body.get("simulated") is True
        if simulated and not self._allow_simulated:
            raise RegistryBadResponse(
                "生产环境拒绝模拟数据源的核验结果", code="identity.simulated_source_refused"
            )
        return RegistryAnswer(url=url, body=body, digest=sm3(raw), simulated=simulated)


def _origin(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")
