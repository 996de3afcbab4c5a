"""Errors of the licence services (catalogue, issuing, lifecycle, sharing); each a
``trust.errors`` subclass with a stable code. Kept apart from ``licences.errors`` (the pure
core's errors, owned separately); the two may be merged.
"""

from __future__ import annotations

from trust.errors import Conflict, InvalidInput, NotFound, PermissionDenied

__all__ = [
    "LicenceConflict",
    "LicenceForbidden",
    "LicenceKeyUnavailable",
    "LicenceNotFound",
    "LicenceRequestInvalid",
]


class LicenceRequestInvalid(InvalidInput):
    """An issuing, lifecycle or sharing request that breaks a rule (type, fields, holder code,
    validity, reason length ...). Instance codes ``licence.request.*``."""

    code = "licence.request.invalid"
    title = "电子证照请求无效"


class LicenceNotFound(NotFound):
    code = "licence.not_found"
    title = "电子证照不存在"


class LicenceConflict(Conflict):
    """A transition the current status does not allow, or an idempotency key reused for a
    different request. Instance codes ``licence.conflict.*``."""

    code = "licence.conflict"
    title = "电子证照状态冲突"


class LicenceForbidden(PermissionDenied):
    code = "licence.forbidden"
    title = "无权操作该电子证照"


class LicenceKeyUnavailable(NotFound):
    """No licence signing key exists yet (none is generated on a read): nothing has been
    issued, so there is no trust list or status list to publish."""

    code = "licence.key_unavailable"
    title = "尚未发布"
