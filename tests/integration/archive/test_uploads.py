"""Abandoned uploads expire (``expire_uploads``, a periodic job): an open or completed upload
without activity for ``max_age`` is marked ``expired`` and its file removed; a recent one, or
one resumed meanwhile, stays; a file no live upload owns goes once it is old; an expired upload
cannot be submitted."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archive.model import ArchiveUpload
from archive.service_tools import uploads_root
from archive.service_uploads import (
    append_chunk,
    complete_upload,
    create_upload,
    expire_uploads,
    take_upload,
)
from tests.integration.archive.conftest import ArchiveWorld
from trust.clock import FixedClock
from trust.crypto import sm3_hex
from trust.errors import Conflict

OWNER = "user:archivist"


def _upload(world: ArchiveWorld, clock: FixedClock, data: bytes, *, complete: bool) -> str:
    root = uploads_root(world.settings)
    with world.db() as s, s.begin():
        up = create_upload(
            session=s, clock=clock, root=root, owner=OWNER, filename="c.zip", size=None
        )
        append_chunk(
            session=s,
            clock=clock,
            root=root,
            upload_id=up.id,
            owner=OWNER,
            offset=0,
            chunks=[data],
        )
        if complete:
            complete_upload(
                session=s,
                clock=clock,
                root=root,
                upload_id=up.id,
                owner=OWNER,
                sm3=sm3_hex(data),
                size=len(data),
            )
    return up.id


def _state(world: ArchiveWorld, upload_id: str) -> str:
    with world.db() as s:
        row = s.get(ArchiveUpload, upload_id)
        assert row is not None
        return row.state


def test_abandoned_uploads_expire_and_recent_ones_stay(world: ArchiveWorld) -> None:
    # file ages are wall-clock: this test's clock starts at the real time
    clock = FixedClock(datetime.now(UTC))
    root = uploads_root(world.settings)
    open_old = _upload(world, clock, b"a" * 1000, complete=False)
    done_old = _upload(world, clock, b"b" * 2000, complete=True)
    clock.advance(timedelta(hours=20))
    resumed = _upload(world, clock, b"c" * 10, complete=False)
    orphan = root / "upl_NOROW"  # a file whose row never committed
    orphan.write_bytes(b"x" * 5)
    old = (clock.now() - timedelta(days=3)).timestamp()
    os.utime(orphan, (old, old))
    clock.advance(timedelta(hours=5))  # 25 h after the first two, 5 h after the third
    young_orphan = root / "upl_JUSTNOW"  # being created right now, its row not yet committed
    young_orphan.write_bytes(b"y")
    now = clock.now().timestamp()
    os.utime(young_orphan, (now, now))
    swept = expire_uploads(
        session_factory=world.db, clock=clock, root=root, max_age=timedelta(hours=24)
    )
    assert swept.expired == 2
    assert swept.files_removed == 3  # two expired uploads and the old orphan
    assert swept.bytes_freed == 1000 + 2000 + 5
    assert (_state(world, open_old), _state(world, done_old)) == ("expired", "expired")
    assert _state(world, resumed) == "open"
    assert sorted(p.name for p in root.iterdir()) == sorted([resumed, young_orphan.name])
    with world.db() as s, s.begin(), pytest.raises(Conflict) as err:
        take_upload(session=s, root=root, upload_id=done_old, owner=OWNER)
    assert err.value.code == "archive.upload_consumed"
    # a second run finds nothing more to do
    again = expire_uploads(
        session_factory=world.db, clock=clock, root=root, max_age=timedelta(hours=24)
    )
    assert (again.expired, again.files_removed) == (0, 0)


def test_a_chunk_renews_an_upload(world: ArchiveWorld, tmp_path: Path) -> None:
    clock = FixedClock(datetime.now(UTC))
    root = uploads_root(world.settings)
    upload_id = _upload(world, clock, b"a" * 10, complete=False)
    clock.advance(timedelta(hours=23))
    with world.db() as s, s.begin():
        append_chunk(
            session=s,
            clock=clock,
            root=root,
            upload_id=upload_id,
            owner=OWNER,
            offset=10,
            chunks=[b"b"],
        )
    clock.advance(timedelta(hours=2))
    swept = expire_uploads(session_factory=world.db, clock=clock, root=root)
    assert swept.expired == 0
    assert _state(world, upload_id) == "open"
