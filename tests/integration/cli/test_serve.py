"""``trustctl serve`` runs uvicorn as production needs it: the app factory, no uvicorn access
log (the app's own, without query strings), no server header, proxy headers, and our HTTP
protocol (``trust.web.http_protocol``: one socket write per small response). uvicorn itself is
replaced by a recorder: what the command passes is the subject."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn
from uvicorn.importer import import_from_string

from tests.integration.cli.conftest import invoke
from trust.cli.context import CliContext
from trust.web.http_protocol import HttpProtocol


def test_serve_runs_uvicorn_with_our_protocol_and_options(
    ctx: CliContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The command exports its overrides as TRUST_* variables for uvicorn's worker processes:
    # they are taken back after the test (set here first, so that monkeypatch restores them).
    for key in ctx.overrides:
        monkeypatch.setenv(f"TRUST_{key.upper()}", "")
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append((a, k)))
    out = invoke(ctx, "serve", "--host", "127.0.0.1", "--port", "8123", "--workers", "2")
    assert "listening on http://127.0.0.1:8123/" in out
    ((args, kwargs),) = calls
    assert args == ("trust.web.asgi:app",)
    assert import_from_string(kwargs["http"]) is HttpProtocol
    expected = {"factory": True, "host": "127.0.0.1", "port": 8123, "workers": 2}
    expected |= {"proxy_headers": True, "server_header": False, "access_log": False}
    assert {key: kwargs[key] for key in expected} == expected
