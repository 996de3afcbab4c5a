"""Periodic jobs of the archive (run by ``trust.jobs``; earchive spec §4.3 "a fixity sweep (on
demand and scheduled)", §5.1 appraisal at the end of retention): each runs a keyword-only
sweep that opens one transaction per item itself.

- ``archive.fixity``: the least recently checked packages (at most ``FIXITY_PER_RUN`` a run,
  so every package gets its turn across runs);
- ``archive.appraisal``: packages whose retention ended go to appraisal (never deleted);
- ``archive.inventory``: the store against the catalogue (what dead ingests left behind);
- ``archive.uploads``: abandoned uploads expire.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from archive.inventory import sweep_inventory
from archive.service_tools import uploads_root
from archive.service_uploads import expire_uploads
from archive.sweeps import sweep_appraisal, sweep_fixity
from trust.jobs.schedule import JobContext, PeriodicJob

__all__ = ["FIXITY_PER_RUN", "JOBS"]

FIXITY_PER_RUN: Final = 1000


def _fixity(ctx: JobContext) -> str:
    return sweep_fixity(
        session_factory=ctx.session_factory,
        clock=ctx.clock,
        keystore=ctx.keystore,
        settings=ctx.settings,
        actor="job",
        limit=FIXITY_PER_RUN,
    ).line()


def _appraisal(ctx: JobContext) -> str:
    return sweep_appraisal(session_factory=ctx.session_factory, clock=ctx.clock, actor="job").line()


def _inventory(ctx: JobContext) -> str:
    return sweep_inventory(
        session_factory=ctx.session_factory, clock=ctx.clock, settings=ctx.settings, actor="job"
    ).line()


def _uploads(ctx: JobContext) -> str:
    return expire_uploads(
        session_factory=ctx.session_factory, clock=ctx.clock, root=uploads_root(ctx.settings)
    ).line()


JOBS: Final = (
    PeriodicJob(
        name="archive.fixity",
        every=timedelta(hours=1),
        run=_fixity,
        description="固定性巡检：重新计算摘要并验证签名、时间戳与日志（最久未查者优先）",
        lease=timedelta(hours=2),
    ),
    PeriodicJob(
        name="archive.appraisal",
        every=timedelta(days=1),
        run=_appraisal,
        description="保管期满的档案进入鉴定（不会自动删除）",
    ),
    PeriodicJob(
        name="archive.inventory",
        every=timedelta(days=1),
        run=_inventory,
        description="清点存储：清除无档案引用的对象与中断归档的残留",
        lease=timedelta(hours=2),
    ),
    PeriodicJob(
        name="archive.uploads",
        every=timedelta(hours=1),
        run=_uploads,
        description="清理超过一天未完成的上传",
    ),
)
