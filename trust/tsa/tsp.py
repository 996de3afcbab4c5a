"""RFC 3161 time-stamp protocol structures with SM2/SM3 and GB/T 35275 OIDs (pure).

- ``parse_request``: ``TimeStampReq`` (RFC 3161 §2.4.1), strictly, refusing with the
  PKIFailureInfo of §2.4.2 (badRequest, badAlg, badDataFormat, unacceptedExtension);
- ``build_tst_info``: ``TSTInfo`` version 1 (§2.4.2) with policy, messageImprint, a serial
  number, genTime with accuracy, the echoed nonce and the TSA name;
- ``build_token``: the TimeStampToken, a ``ContentInfo`` whose contentType is GB/T 35275
  signedData (1.2.156.10197.6.1.4.2.2) carrying a CMS SignedData (RFC 5652 §5): digestAlgorithm
  SM3 (1.2.156.10197.1.401), eContentType id-ct-TSTInfo (1.2.840.113549.1.9.16.1.4), signed
  attributes contentType + messageDigest (SM3) + signingCertificateV2 (RFC 5816 ESSCertIDv2 with
  SM3), signatureAlgorithm SM2 (1.2.156.10197.1.301.1); the SM2 signature covers the DER
  ``SET OF`` signed attributes (RFC 5652 §5.4);
- ``granted_response`` / ``rejection_response``: ``TimeStampResp`` (§2.4.2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from asn1crypto import algos, cms, core, tsp, x509

from trust.asn1 import NAME_GBT35275_SIGNED_DATA, NAME_SM2, NAME_SM3, register_sm_oids
from trust.crypto import sm3
from trust.crypto.algorithms import ALLOWED_DIGEST_OIDS
from trust.tsa.errors import (
    TsaBadAlg,
    TsaBadDataFormat,
    TsaBadRequest,
    TsaUnacceptedExtension,
)

__all__ = [
    "OID_TST_INFO",
    "TimeStampRequest",
    "build_token",
    "build_tst_info",
    "granted_response",
    "is_der_sequence",
    "parse_request",
    "rejection_response",
]

OID_TST_INFO: Final = "1.2.840.113549.1.9.16.1.4"
#: Both allowed digests (SM3, SHA-256) are 32 bytes.
_DIGEST_LENGTH: Final = 32
#: Nonces larger than this are refused (RFC 3161 §2.4.1 suggests 64 bits).
_MAX_NONCE_BITS: Final = 256
_MAX_REQUEST: Final = 4096


class TimeStampRespWithOptionalToken(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """``TimeStampResp`` (RFC 3161 §2.4.2): the token is OPTIONAL (asn1crypto says required)."""

    _fields = [  # noqa: RUF012 - asn1crypto's declarative class attribute
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


@dataclass(frozen=True, slots=True)
class TimeStampRequest:
    """A checked ``TimeStampReq``."""

    digest_algorithm_oid: str
    digest: bytes
    policy_oid: str | None
    nonce: int | None
    cert_req: bool


def _read_request(der: bytes) -> TimeStampRequest:
    req = tsp.TimeStampReq.load(der, strict=True)
    if req["version"].native != "v1":
        raise TsaBadRequest("TimeStampReq version must be 1")
    imprint = req["message_imprint"]
    algorithm = imprint["hash_algorithm"]
    oid = algorithm["algorithm"].dotted
    params = algorithm["parameters"]
    if oid not in ALLOWED_DIGEST_OIDS:
        raise TsaBadAlg(f"digest algorithm {oid} is not accepted (SM3 or SHA-256)")
    if params.dump() not in (b"", b"\x05\x00"):
        raise TsaBadAlg("digest algorithm parameters must be absent or NULL")
    digest = imprint["hashed_message"].native
    if not isinstance(digest, bytes) or len(digest) != _DIGEST_LENGTH:
        raise TsaBadDataFormat("hashedMessage length does not match the digest algorithm")
    if not isinstance(req["extensions"], core.Void):
        raise TsaUnacceptedExtension("no request extensions are supported")
    policy = req["req_policy"]
    nonce = req["nonce"].native
    if nonce is not None and (nonce < 0 or nonce.bit_length() > _MAX_NONCE_BITS):
        raise TsaBadRequest("nonce must be a non-negative integer of at most 256 bits")
    return TimeStampRequest(
        digest_algorithm_oid=oid,
        digest=digest,
        policy_oid=None if isinstance(policy, core.Void) else policy.dotted,
        nonce=nonce,
        cert_req=bool(req["cert_req"].native),
    )


def is_der_sequence(data: bytes) -> bool:
    """``data`` is exactly one DER SEQUENCE (X.690 §8.1, §10.1: tag 0x30, a definite length in
    its shortest form, as many content bytes as the length says, nothing after it). Only the
    outer TLV is read: it tells a TimeStampReq with bad content (answered with a TimeStampResp,
    RFC 3161 §2.4.2) from bytes that are not a DER request at all."""
    if len(data) < 2 or data[0] != 0x30:
        return False
    first = data[1]
    if first < 0x80:
        return len(data) == 2 + first
    count = first & 0x7F
    # 0x80 is BER's indefinite length; lengths above 4 bytes exceed any request (and memory).
    if count == 0 or count > 4 or len(data) < 2 + count:
        return False
    length_bytes = data[2 : 2 + count]
    length = int.from_bytes(length_bytes, "big")
    if length_bytes[0] == 0 or length < 0x80:  # DER: the shortest length form only
        return False
    return len(data) == 2 + count + length


def parse_request(unverified_der: bytes) -> TimeStampRequest:
    """Parse and check a DER ``TimeStampReq``; ``TsaRefusal`` subclasses otherwise."""
    register_sm_oids()
    if not unverified_der or len(unverified_der) > _MAX_REQUEST:
        raise TsaBadRequest("time-stamp request is empty or too large")
    try:
        return _read_request(unverified_der)
    except (TsaBadRequest, TsaBadAlg, TsaBadDataFormat, TsaUnacceptedExtension):
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise TsaBadRequest(f"time-stamp request cannot be parsed: {exc}") from exc


def build_tst_info(
    *,
    policy_oid: str,
    digest_algorithm_oid: str,
    digest: bytes,
    serial_number: int,
    gen_time: datetime,
    accuracy_seconds: int,
    nonce: int | None,
    tsa_name: x509.Name | None,
) -> bytes:
    """DER ``TSTInfo`` (RFC 3161 §2.4.2); ``ordering`` is absent (FALSE)."""
    register_sm_oids()
    info: dict[str, Any] = {
        "version": "v1",
        "policy": policy_oid,
        "message_imprint": {
            "hash_algorithm": {"algorithm": digest_algorithm_oid},
            "hashed_message": digest,
        },
        "serial_number": serial_number,
        "gen_time": gen_time.astimezone(UTC),
        "accuracy": {"seconds": accuracy_seconds},
    }
    if nonce is not None:
        info["nonce"] = nonce
    if tsa_name is not None:
        info["tsa"] = x509.GeneralName(name="directory_name", value=tsa_name)
    der: bytes = tsp.TSTInfo(info).dump()
    return der


def _ess_cert_id_v2(cert: x509.Certificate) -> dict[str, Any]:
    """RFC 5816 §2.2.1 ESSCertIDv2 with SM3 as hashAlgorithm (so it is not the SHA-256 default)."""
    return {
        "hash_algorithm": {"algorithm": NAME_SM3},
        "cert_hash": sm3(cert.dump()),
        "issuer_serial": {
            "issuer": [x509.GeneralName(name="directory_name", value=cert.issuer)],
            "serial_number": cert.serial_number,
        },
    }


def _signed_attributes(tst_info_der: bytes, cert: x509.Certificate) -> cms.CMSAttributes:
    return cms.CMSAttributes(
        [
            {"type": "content_type", "values": ["tst_info"]},
            {"type": "message_digest", "values": [sm3(tst_info_der)]},
            {"type": "signing_certificate_v2", "values": [{"certs": [_ess_cert_id_v2(cert)]}]},
        ]
    )


def build_token(
    *,
    tst_info_der: bytes,
    signer_certificate_der: bytes,
    certificates: Sequence[bytes],
    sign: Callable[[bytes], bytes],
) -> bytes:
    """The TimeStampToken: ``sign`` receives the DER ``SET OF`` signed attributes and returns the
    SM2 signature (DER r,s). ``certificates`` are put in SignedData.certificates as given."""
    register_sm_oids()
    cert = x509.Certificate.load(signer_certificate_der)
    attrs = _signed_attributes(tst_info_der, cert)
    signature = sign(attrs.dump())
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number",
                value={"issuer": cert.issuer, "serial_number": cert.serial_number},
            ),
            "digest_algorithm": {"algorithm": NAME_SM3},
            "signed_attrs": attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": NAME_SM2}),
            "signature": signature,
        }
    )
    signed_data: dict[str, Any] = {
        # RFC 5652 §5.1: version 3 because eContentType is not id-data.
        "version": "v3",
        "digest_algorithms": [{"algorithm": NAME_SM3}],
        "encap_content_info": {
            "content_type": "tst_info",
            "content": core.ParsableOctetString(tst_info_der),
        },
        "signer_infos": [signer_info],
    }
    if certificates:
        signed_data["certificates"] = [x509.Certificate.load(c) for c in certificates]
    token = cms.ContentInfo(
        {"content_type": NAME_GBT35275_SIGNED_DATA, "content": cms.SignedData(signed_data)}
    )
    der: bytes = token.dump()
    return der


def granted_response(token_der: bytes) -> bytes:
    """``TimeStampResp`` with status granted (0) and the token."""
    register_sm_oids()
    der: bytes = TimeStampRespWithOptionalToken(
        {"status": {"status": "granted"}, "time_stamp_token": cms.ContentInfo.load(token_der)}
    ).dump()
    return der


def rejection_response(failure_info: str, text: str) -> bytes:
    """``TimeStampResp`` with status rejection (2), a statusString and one PKIFailureInfo bit."""
    der: bytes = TimeStampRespWithOptionalToken(
        {
            "status": {
                "status": "rejection",
                "status_string": [text[:200]],
                "fail_info": tsp.PKIFailureInfo({failure_info}),
            }
        }
    ).dump()
    return der
