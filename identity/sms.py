"""SMS delivery behind one protocol: the development outbox (a table, shown on a page) or an
HTTP gateway. The sender receives the finished text; callers never log it (it holds a code)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.errors import RegistryBadResponse
from identity.model import SmsOutbox
from identity.verifiers.http import RegistryHttp
from trust.clock import Clock
from trust.ids import new_id

__all__ = ["HttpSmsSender", "OutboxSender", "SmsSender", "outbox_messages"]


@runtime_checkable
class SmsSender(Protocol):
    def send(self, *, session: Session, clock: Clock, phone: str, text: str) -> str:
        """Deliver ``text`` to ``phone``; return a delivery reference (no content)."""
        ...


class OutboxSender:
    """Development only (``IdentityConfig`` refuses it in production): stores the message in
    ``identity_sms_outbox`` in the caller's transaction."""

    def send(self, *, session: Session, clock: Clock, phone: str, text: str) -> str:
        row = SmsOutbox(id=new_id("sms"), phone=phone, body=text, created_at=clock.now())
        session.add(row)
        return row.id


class HttpSmsSender:
    """POSTs ``{"phone", "text"}`` to an SMS gateway; expects ``{"message_id": ...}``."""

    def __init__(self, http: RegistryHttp, url: str) -> None:
        self._http = http
        self._url = url

    def send(self, *, session: Session, clock: Clock, phone: str, text: str) -> str:
        ref = new_id("sms")
        answer = self._http.post(self._url, {"phone": phone, "text": text}, request_ref=ref)
        message_id = answer.body.get("message_id")
        if not isinstance(message_id, str):
            raise RegistryBadResponse("短信网关未返回消息标识")
        return message_id[:64]


def outbox_messages(*, session: Session, limit: int = 50) -> list[SmsOutbox]:
    """Newest first (for the development outbox page)."""
    stmt = select(SmsOutbox).order_by(SmsOutbox.created_at.desc(), SmsOutbox.id).limit(limit)
    return list(session.scalars(stmt))
