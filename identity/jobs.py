"""Periodic jobs of the identity capability (run by ``trust.jobs``): back-channel logout
delivery, the cleanup of expired OIDC and channel rows, and destroying retired signing keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from identity.channels_service_logout import cleanup_channels, deliver_backchannel_logouts
from identity.keying import IdentityKeys
from identity.oidc_service_context import OidcContext
from identity.oidc_service_resources import cleanup, prune_retired_signing_keys
from identity.oidc_service_sessions import expire_sessions
from identity.oidc_settings import load_oidc_settings
from identity.scan_login import sweep_scan_logins
from trust.jobs.schedule import JobContext, PeriodicJob

__all__ = ["JOBS"]


def _oidc(ctx: JobContext) -> OidcContext:
    return OidcContext(
        load_oidc_settings(ctx.settings),
        IdentityKeys.from_settings(ctx.settings),
        keystore=ctx.keystore,
    )


def _deliver_logouts(ctx: JobContext) -> str:
    report = deliver_backchannel_logouts(
        session_factory=ctx.session_factory,
        clock=ctx.clock,
        keystore=ctx.keystore,
        issuer=_oidc(ctx).issuer,
    )
    return (
        f"claimed={report.claimed} delivered={report.delivered} "
        f"retried={report.retried} failed={report.failed}"
    )


def _expire_sessions(ctx: JobContext) -> str:
    """End the sessions that ran out since the last run: their portals' back-channel logouts
    are queued within this job's interval, not the cleanup's ten minutes."""
    with ctx.session_factory() as session, session.begin():
        ended = expire_sessions(session=session, clock=ctx.clock, ctx=_oidc(ctx))
    queued = sum(len(e.backchannel_client_ids) for e in ended)
    return f"sessions_expired={len(ended)} backchannel_logouts={queued}"


def _cleanup(ctx: JobContext) -> str:
    with ctx.session_factory() as session, session.begin():
        report = cleanup(session=session, clock=ctx.clock, ctx=_oidc(ctx))
    with ctx.session_factory() as session, session.begin():
        channels = cleanup_channels(session=session, clock=ctx.clock)
    with ctx.session_factory() as session, session.begin():
        scan_logins = sweep_scan_logins(session=session, clock=ctx.clock)
    counts = {
        **report.as_dict(),
        "device_authorizations": channels.device_authorizations,
        "federation_logins": channels.federation_logins,
        "outbox_rows": channels.outbox_rows,
        "scan_logins": scan_logins,
    }
    return " ".join(f"{name}={count}" for name, count in counts.items())


def _prune_keys(ctx: JobContext) -> str:
    with ctx.session_factory() as session, session.begin():
        pruned = prune_retired_signing_keys(
            session=session, clock=ctx.clock, ctx=_oidc(ctx), keystore=ctx.keystore, actor="job"
        )
    return f"destroyed={len(pruned.destroyed)}"


JOBS: Final = (
    PeriodicJob(
        name="identity.deliver-logouts",
        every=timedelta(seconds=5),
        run=_deliver_logouts,
        description="向接入网站投递到期的后端通道退出通知（失败重试）",
        lease=timedelta(minutes=2),
    ),
    PeriodicJob(
        name="identity.expire-sessions",
        every=timedelta(seconds=30),
        run=_expire_sessions,
        description="结束已超时的登录会话，并为其接入网站排队后端通道退出通知",
    ),
    PeriodicJob(
        name="identity.cleanup",
        every=timedelta(minutes=10),
        run=_cleanup,
        description="结束过期会话并清理过期的授权码、令牌、设备与扫码登录及投递记录",
    ),
    PeriodicJob(
        name="identity.prune-signing-keys",
        every=timedelta(hours=1),
        run=_prune_keys,
        description="销毁已退役且所签令牌均已过期的令牌签名密钥",
    ),
)
