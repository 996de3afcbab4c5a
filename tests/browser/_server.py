"""A real ``create_app`` server for browser tests: ``python -m tests.browser._server PORT``.

Settings come from ``TRUST_*`` environment variables (a temporary SQLite data directory and a
test master key); the schema is created from the models, as the other tests do.
"""

from __future__ import annotations

import sys

import uvicorn

from trust.config import load_settings
from trust.db import make_engine
from trust.migrations.registry import load_all_models
from trust.web.app import create_app
from trust.web.http_protocol import HTTP_PROTOCOL


def main(port: int) -> None:
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    load_all_models().create_all(engine)
    engine.dispose()
    # The HTTP protocol of ``trustctl serve`` (one socket write per small response).
    uvicorn.run(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        http=HTTP_PROTOCOL,
    )


if __name__ == "__main__":
    main(int(sys.argv[1]))
