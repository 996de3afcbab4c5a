"""Errors of the time-stamp authority, with stable codes and the RFC 3161 §2.4.2 PKIFailureInfo
bit each one is answered with."""

from __future__ import annotations

from typing import ClassVar

from trust.errors import InvalidInput, Unavailable

__all__ = [
    "TsaBadAlg",
    "TsaBadDataFormat",
    "TsaBadRequest",
    "TsaRefusal",
    "TsaUnacceptedExtension",
    "TsaUnacceptedPolicy",
    "TsaUnavailable",
    "UnsupportedMediaType",
]


class TsaRefusal(InvalidInput):
    """A time-stamp request the TSA refuses; ``failure_info`` names the PKIFailureInfo bit."""

    code = "tsa.bad_request"
    title = "时间戳请求无效"
    failure_info: ClassVar[str] = "bad_request"


class TsaBadRequest(TsaRefusal):
    """Malformed or not permitted (RFC 3161 §2.4.2 badRequest)."""


class TsaBadAlg(TsaRefusal):
    code = "tsa.bad_alg"
    title = "不支持的摘要算法"
    failure_info = "bad_alg"


class TsaBadDataFormat(TsaRefusal):
    code = "tsa.bad_data_format"
    title = "时间戳请求数据格式错误"
    failure_info = "bad_data_format"


class TsaUnacceptedPolicy(TsaRefusal):
    code = "tsa.unaccepted_policy"
    title = "不支持所请求的时间戳策略"
    failure_info = "unaccepted_policy"


class TsaUnacceptedExtension(TsaRefusal):
    code = "tsa.unaccepted_extension"
    title = "不支持所请求的扩展"
    failure_info = "unaccepted_extensions"


class TsaUnavailable(Unavailable):
    """The TSA cannot sign (no certificate, certificate unsuitable or expired): systemFailure."""

    code = "tsa.unavailable"
    title = "时间戳服务暂不可用"
    failure_info: ClassVar[str] = "system_failure"


class UnsupportedMediaType(InvalidInput):
    """The HTTP body is not ``application/timestamp-query`` (RFC 3161 §3.4)."""

    code = "tsa.unsupported_media_type"
    http_status = 415
    title = "不支持的媒体类型"
