"""X.509 v3 certificates with SM2 keys and SM2-with-SM3 signatures: parse and build (pure).

RFC 5280 §4.1 (certificate fields), §4.2 (extensions); GB/T 20518-2018 (the Chinese profile:
SM2 keys as id-ecPublicKey + 1.2.156.10197.1.301, signatureAlgorithm 1.2.156.10197.1.501).
Parsing keeps the exact bytes of ``tbsCertificate`` (what the issuer signed) and never
re-encodes them. Anything that cannot be read raises ``BadCertificate`` (an ``InvalidInput``).
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from asn1crypto import core, keys, x509

from trust.asn1 import NAME_SM2_SM3, register_sm_oids
from trust.ca.errors import BadCertificate, BadPublicKey
from trust.ca.names import describe_name
from trust.ca.profiles import ProfileSpec
from trust.crypto import SM2PublicKey, sm3
from trust.crypto.algorithms import OID_SM2_CURVE

__all__ = [
    "CertificateFacts",
    "assemble_certificate",
    "build_extensions",
    "build_tbs_certificate",
    "certificate_to_pem",
    "key_identifier",
    "new_serial_number",
    "parse_certificate",
    "pem_to_der_list",
    "sm2_spki",
    "to_asn1_time",
]

_PEM_RE: Final = re.compile(
    rb"-----BEGIN (?P<label>[A-Z0-9 ]+)-----\s*(?P<body>[^-]*?)-----END (?P=label)-----"
)
_UTC_TIME_LIMIT: Final = datetime(2050, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    """What the CA and the path validator read from one certificate (raw slices kept)."""

    der: bytes
    serial_number: int
    subject: str
    issuer: str
    subject_name: x509.Name
    issuer_name: x509.Name
    not_before: datetime
    not_after: datetime
    spki_der: bytes
    #: The exact bytes the issuer signed (RFC 5280 §4.1.1.3).
    tbs_der: bytes
    signature_algorithm_oid: str
    #: The BIT STRING contents with 0 unused bits; ``None`` if unused bits were not 0.
    signature: bytes | None
    #: basicConstraints cA; ``None`` when the extension is absent.
    is_ca: bool | None
    path_len: int | None
    #: keyUsage bits (asn1crypto names); ``None`` when the extension is absent.
    key_usage: frozenset[str] | None
    #: extKeyUsage purposes (dotted); ``None`` when the extension is absent.
    extended_key_usage: tuple[str, ...] | None
    eku_critical: bool
    #: Critical extensions this code does not process (dotted OIDs).
    unhandled_critical: frozenset[str]
    subject_key_identifier: bytes | None
    authority_key_identifier: bytes | None

    @property
    def self_issued(self) -> bool:
        """RFC 5280 §6.1: subject and issuer names are the same."""
        return bool(self.subject_name == self.issuer_name)


_HANDLED_CRITICAL: Final = frozenset(
    {
        "2.5.29.15",  # keyUsage
        "2.5.29.19",  # basicConstraints
        "2.5.29.37",  # extKeyUsage
        "2.5.29.14",  # subjectKeyIdentifier (never critical, harmless)
        "2.5.29.35",  # authorityKeyIdentifier
        "2.5.29.17",  # subjectAltName (names are not used for path decisions here)
    }
)


def pem_to_der_list(data: bytes | str, *, label: str = "CERTIFICATE") -> list[bytes]:
    """Every ``-----BEGIN <label>-----`` block of ``data`` as DER; raw DER passes through."""
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    if raw[:1] == b"\x30":
        return [raw]
    out: list[bytes] = []
    for match in _PEM_RE.finditer(raw):
        if match.group("label").decode() != label:
            continue
        try:
            out.append(base64.b64decode(b"".join(match.group("body").split()), validate=True))
        except ValueError as exc:
            raise BadCertificate(f"PEM block is not valid base64: {exc}") from exc
    return out


def certificate_to_pem(der: bytes) -> str:
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def _time(value: Any) -> datetime:
    dt = value.native
    if not isinstance(dt, datetime):
        raise BadCertificate("certificate validity is not a time")
    return dt.astimezone(UTC)


def _extensions(tbs: x509.TbsCertificate) -> dict[str, tuple[bool, Any]]:
    out: dict[str, tuple[bool, Any]] = {}
    exts = tbs["extensions"]
    if isinstance(exts, core.Void):
        return out
    for ext in exts:
        oid = ext["extn_id"].dotted
        if oid in out:
            # RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension.
            raise BadCertificate(f"extension {oid} appears twice")
        out[oid] = (bool(ext["critical"].native), ext["extn_value"])
    return out


def _read(der: bytes) -> CertificateFacts:
    cert = x509.Certificate.load(der, strict=True)
    tbs = cert["tbs_certificate"]
    if tbs["version"].native != "v3":
        raise BadCertificate("only X.509 v3 certificates are accepted")
    exts = _extensions(tbs)
    is_ca: bool | None = None
    path_len: int | None = None
    if "2.5.29.19" in exts:
        bc = exts["2.5.29.19"][1].parsed
        is_ca = bool(bc["ca"].native)
        path_len = bc["path_len_constraint"].native
    key_usage: frozenset[str] | None = None
    if "2.5.29.15" in exts:
        key_usage = frozenset(exts["2.5.29.15"][1].parsed.native)
    eku: tuple[str, ...] | None = None
    eku_critical = False
    if "2.5.29.37" in exts:
        eku_critical = exts["2.5.29.37"][0]
        eku = tuple(p.dotted for p in exts["2.5.29.37"][1].parsed)
    ski = exts["2.5.29.14"][1].parsed.native if "2.5.29.14" in exts else None
    aki = exts["2.5.29.35"][1].parsed["key_identifier"].native if "2.5.29.35" in exts else None
    sig = cert["signature_value"]
    signature = bytes(sig.contents[1:]) if sig.contents[:1] == b"\x00" else None
    return CertificateFacts(
        der=der,
        serial_number=int(tbs["serial_number"].native),
        subject=describe_name(tbs["subject"]),
        issuer=describe_name(tbs["issuer"]),
        subject_name=tbs["subject"],
        issuer_name=tbs["issuer"],
        not_before=_time(tbs["validity"]["not_before"]),
        not_after=_time(tbs["validity"]["not_after"]),
        spki_der=tbs["subject_public_key_info"].dump(),
        tbs_der=tbs.dump(),
        signature_algorithm_oid=cert["signature_algorithm"]["algorithm"].dotted,
        signature=signature,
        is_ca=is_ca,
        path_len=path_len,
        key_usage=key_usage,
        extended_key_usage=eku,
        eku_critical=eku_critical,
        unhandled_critical=frozenset(
            oid for oid, (critical, _) in exts.items() if critical and oid not in _HANDLED_CRITICAL
        ),
        subject_key_identifier=ski,
        authority_key_identifier=aki,
    )


def parse_certificate(der: bytes) -> CertificateFacts:
    """Parse a DER certificate (every byte used); ``BadCertificate`` if it cannot be read."""
    register_sm_oids()
    if not isinstance(der, bytes) or not der:
        raise BadCertificate("certificate is empty")
    try:
        return _read(der)
    except BadCertificate:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise BadCertificate(f"certificate cannot be parsed: {exc}") from exc


def sm2_spki(public_key_der: bytes) -> bytes:
    """Check that ``public_key_der`` is an SM2 SubjectPublicKeyInfo (a point on the curve) and
    return it re-encoded canonically; ``BadPublicKey`` otherwise."""
    register_sm_oids()
    try:
        info = keys.PublicKeyInfo.load(public_key_der, strict=True)
        algorithm = info["algorithm"]
        curve = algorithm["parameters"]
        if algorithm["algorithm"].native != "ec" or curve.name != "named":
            raise BadPublicKey("public key is not an elliptic-curve key on a named curve")
        if curve.chosen.dotted != OID_SM2_CURVE:
            raise BadPublicKey("public key is not on the SM2 curve (1.2.156.10197.1.301)")
    except BadPublicKey:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BadPublicKey(f"public key cannot be read: {exc}") from exc
    try:
        key = SM2PublicKey.from_der(public_key_der)
    except NotImplementedError:
        raise
    except Exception as exc:  # the facade refuses points off the curve in its own way
        raise BadPublicKey(f"public key is not a valid SM2 point: {exc}") from exc
    return key.to_der()


def key_identifier(spki_der: bytes) -> bytes:
    """Key identifier: the leftmost 160 bits of SM3 over the subjectPublicKey BIT STRING value
    (RFC 7093 §2 method 1 with SM3 in place of SHA-256; RFC 5280 §4.2.1.2 allows any method)."""
    info = keys.PublicKeyInfo.load(spki_der)
    return sm3(info["public_key"].contents[1:])[:20]


def new_serial_number() -> int:
    """A positive serial of 127 CSPRNG bits (RFC 5280 §4.1.2.2: at most 20 octets; CA/B Forum
    style: at least 64 bits of randomness)."""
    while True:
        serial = secrets.randbits(127)
        if serial > 0:
            return serial


def to_asn1_time(dt: datetime) -> x509.Time:
    """UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)."""
    dt = dt.astimezone(UTC).replace(microsecond=0)
    if dt < _UTC_TIME_LIMIT:
        return x509.Time(name="utc_time", value=dt)
    return x509.Time(name="general_time", value=dt)


def build_extensions(
    *,
    spec: ProfileSpec,
    subject_spki_der: bytes,
    issuer_spki_der: bytes,
    crl_url: str | None,
) -> list[x509.Extension]:
    """basicConstraints, keyUsage (both critical), extKeyUsage, SKI/AKI and a CRL distribution
    point, as RFC 5280 §4.2.1 and the profile require."""
    bc: dict[str, Any] = {"ca": spec.is_ca}
    if spec.is_ca and spec.path_len is not None:
        bc["path_len_constraint"] = spec.path_len
    exts = [
        x509.Extension(
            {
                "extn_id": "basic_constraints",
                "critical": True,
                "extn_value": x509.BasicConstraints(bc),
            }
        ),
        x509.Extension(
            {
                "extn_id": "key_usage",
                "critical": True,
                "extn_value": x509.KeyUsage(set(spec.key_usage)),
            }
        ),
    ]
    if spec.extended_key_usage:
        exts.append(
            x509.Extension(
                {
                    "extn_id": "extended_key_usage",
                    "critical": spec.eku_critical,
                    "extn_value": x509.ExtKeyUsageSyntax(list(spec.extended_key_usage)),
                }
            )
        )
    exts.append(
        x509.Extension(
            {
                "extn_id": "key_identifier",
                "critical": False,
                "extn_value": core.OctetString(key_identifier(subject_spki_der)),
            }
        )
    )
    exts.append(
        x509.Extension(
            {
                "extn_id": "authority_key_identifier",
                "critical": False,
                "extn_value": x509.AuthorityKeyIdentifier(
                    {"key_identifier": key_identifier(issuer_spki_der)}
                ),
            }
        )
    )
    # Only end-entity certificates point at the issuing CA's CRL (RFC 5280 §4.2.1.13).
    if crl_url and not spec.is_ca:
        point = x509.DistributionPoint(
            {
                "distribution_point": x509.DistributionPointName(
                    name="full_name",
                    value=[x509.GeneralName(name="uniform_resource_identifier", value=crl_url)],
                )
            }
        )
        exts.append(
            x509.Extension(
                {
                    "extn_id": "crl_distribution_points",
                    "critical": False,
                    "extn_value": x509.CRLDistributionPoints([point]),
                }
            )
        )
    return exts


def build_tbs_certificate(
    *,
    serial_number: int,
    issuer: x509.Name,
    subject: x509.Name,
    spki_der: bytes,
    not_before: datetime,
    not_after: datetime,
    extensions: Sequence[x509.Extension],
) -> x509.TbsCertificate:
    """An unsigned v3 certificate with signature algorithm SM2-with-SM3 (no parameters)."""
    register_sm_oids()
    return x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial_number,
            "signature": {"algorithm": NAME_SM2_SM3},
            "issuer": issuer,
            "validity": {
                "not_before": to_asn1_time(not_before),
                "not_after": to_asn1_time(not_after),
            },
            "subject": subject,
            "subject_public_key_info": keys.PublicKeyInfo.load(spki_der),
            "extensions": list(extensions),
        }
    )


def assemble_certificate(tbs: x509.TbsCertificate, signature: bytes) -> bytes:
    """``Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }``."""
    cert = x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": NAME_SM2_SM3},
            "signature_value": signature,
        }
    )
    der: bytes = cert.dump()
    return der
