"""``openapi.yaml``: the OpenAPI document the app serves, as YAML with a stable key order.

``python -m trust.web.openapi_export > openapi.yaml`` (``make openapi``) prints it; with a path
argument it writes that file instead. ``tests/api/test_openapi.py`` fails when the file at the
repository root and the app differ.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any, Final, cast

import yaml
from fastapi import FastAPI

__all__ = ["export_openapi", "main", "schema_app"]

_TOP_LEVEL_ORDER: Final = ("openapi", "info", "servers", "paths", "components", "tags")


def _ordered(schema: dict[str, Any]) -> dict[str, Any]:
    first = {key: schema[key] for key in _TOP_LEVEL_ORDER if key in schema}
    return first | {key: value for key, value in schema.items() if key not in first}


def export_openapi(app: FastAPI) -> str:
    """The app's OpenAPI document as YAML: top-level keys in the usual order, everything below
    in the order the app produces it (deterministic: routers mount in ``ROUTER_MODULES`` order)."""
    return yaml.safe_dump(_ordered(app.openapi()), sort_keys=False, allow_unicode=True, width=100)


class _NoKeyStore:
    """Stands in for the keystore when the app is built only to read its schema."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("schema-only app: no keystore")


def schema_app(data_dir: Path) -> FastAPI:
    """An app built only for its schema: test settings, no keys, nothing started."""
    from keys.interfaces import KeyStore
    from trust.config import load_settings
    from trust.web.app import create_app

    settings = load_settings(environ={}, overrides={"environment": "test", "data_dir": data_dir})
    return create_app(settings, keystore=cast(KeyStore, _NoKeyStore()))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    with tempfile.TemporaryDirectory() as tmp:
        text = export_openapi(schema_app(Path(tmp)))
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
