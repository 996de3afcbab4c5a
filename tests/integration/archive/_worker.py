"""A separate process that ingests one case (``python -m tests.integration.archive._worker``):
used to SIGKILL an ingest midway and to race two ingests of the same case.

Arguments: a JSON object ``{"url", "search_path", "data_dir", "master_key", "folder",
"pause_at", "marker"}``. With ``pause_at`` the worker writes ``marker`` when the ingest reaches
that stage (for the stages that move bytes, once some bytes moved: in the middle of the stage)
and then sleeps (to be killed); ``marker`` is also written with the outcome at the end.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from archive.service import ingest_case
from archive.service_tools import archive_tools
from archive.submission import IngestProgress
from keys.software import SoftwareKeyStore
from trust.clock import FixedClock
from trust.config import load_settings
from trust.db import make_engine, session_factory


def main() -> None:
    args = json.loads(sys.argv[1])
    settings = load_settings(
        environ={},
        overrides={
            "environment": "test",
            "data_dir": args["data_dir"],
            "database_url": args["url"],
            "master_key": args["master_key"],
        },
    )
    engine = make_engine(args["url"], search_path=args.get("search_path"))
    sessions = session_factory(engine)
    keystore = SoftwareKeyStore.from_settings(settings)
    clock = FixedClock(datetime(2026, 11, 22, 8, 0, 0, tzinfo=UTC))
    marker = Path(args["marker"])

    def step(event: IngestProgress) -> None:
        midway = event.stage not in ("normalising", "publishing") or event.done < event.total
        if event.stage == args.get("pause_at") and midway:
            marker.write_text(event.stage)
            time.sleep(120)

    with sessions() as session, session.begin():
        done = ingest_case(
            session=session,
            clock=clock,
            keystore=keystore,
            tools=archive_tools(session=session, settings=settings),
            source=Path(args["folder"]),
            actor="worker",
            progress=step,
        )
    marker.write_text(
        json.dumps({"code": done.package.archival_code, "created": done.created}),
        encoding="utf-8",
    )
    engine.dispose()


if __name__ == "__main__":
    main()
