"""Verifying SM2/SM3 signatures inside a PDF ourselves (eseal spec §11; ISO 32000-1 §12.8).

pyHanko's validator cannot check SM2, so it is used here only to *read* the file (page tree,
signature fields, revisions, and its difference analysis of later incremental updates); every
cryptographic check is done with ``trust.crypto``:

1. ``/ByteRange`` is ``[0 a b c]``, the hole ``a..b`` is exactly the hex string ``/Contents``,
   and the covered bytes are the whole revision that introduced the signature
   (ISO 32000-1 §12.8.1). Bytes after it (incremental updates) are listed and classified;
2. SM3 of the covered bytes equals the CMS ``messageDigest`` signed attribute (RFC 5652 §11.2);
3. the SM2 signature (DER or raw r||s, eseal spec §2.4) over the DER ``SET OF`` signed
   attributes (RFC 5652 §5.4, eseal spec §8 form A) verifies with the signer certificate's key,
   the certificate being found in the CMS by issuer and serial number.

A signature timestamp token in the SignerInfo's unsigned attributes (RFC 3161 Appendix A,
``id-aa-signatureTimeStampToken``) is extracted with the signature value it must cover; checking
it (imprint, TSA signature, chain) belongs to the service's ``TimestampVerifier``.

Every check is reported separately with reason codes; nothing is trusted here (certificate path,
validity and revocation belong to the seals verification service).
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from asn1crypto import cms, x509
from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.decode_limits import DecodeLimits
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, ModificationLevel
from pyhanko.sign.fields import enumerate_sig_fields

from trust.crypto import SM3, InvalidSignature, SignatureEncoding, SM2PublicKey, sm2_verify
from trust.crypto.algorithms import OID_GBT35275_DATA, OID_SM2_SIGN, OID_SM2_WITH_SM3, OID_SM3
from trust.crypto.compare import constant_time_equal
from trust.errors import InvalidInput, PayloadTooLarge, TrustError

__all__ = [
    "MAX_PDF_BYTES",
    "LaterChanges",
    "PdfMalformed",
    "PdfSignatureCheck",
    "PdfTooLarge",
    "PdfVerification",
    "open_pdf",
    "verify_pdf_signatures",
]

MAX_PDF_BYTES: Final = 128 * 1024 * 1024
MAX_SIGNATURES: Final = 64
_MAX_CONTENTS: Final = 256 * 1024  # a CMS with a chain and a timestamp is a few KiB
_OID_DATA: Final = "1.2.840.113549.1.7.1"
_OID_SIGNED_DATA: Final = ("1.2.840.113549.1.7.2", "1.2.156.10197.6.1.4.2.2")
_OID_CONTENT_TYPE: Final = "1.2.840.113549.1.9.3"
_OID_MESSAGE_DIGEST: Final = "1.2.840.113549.1.9.4"
_OID_SIGNING_TIME: Final = "1.2.840.113549.1.9.5"
_OID_SIGNATURE_TIMESTAMP: Final = "1.2.840.113549.1.9.16.2.14"
_SM2_SIGNATURE_OIDS: Final = frozenset({OID_SM2_WITH_SM3, OID_SM2_SIGN})
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
_EOF_TAIL: Final = re.compile(rb"startxref\s+(\d+)\s+%%EOF[\r\n]*\Z")
_ASN1_ERRORS: Final = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)

logger = logging.getLogger(__name__)


class PdfMalformed(InvalidInput):
    """The bytes are not a PDF this service can read (truncated, broken xref, garbage...)."""

    code = "seal.pdf_malformed"
    title = "PDF 文件无效"


class PdfTooLarge(PayloadTooLarge):
    code = "seal.pdf_too_large"
    title = "PDF 文件过大"


class LaterChanges(StrEnum):
    """What the incremental updates after a signature's revision do (pyHanko diff analysis)."""

    NONE = "none"  # the signature covers the whole file
    SIGNATURES = "signatures"  # only signatures / form filling / DSS and document timestamps
    ANNOTATIONS = "annotations"  # also annotations (comments, stamps)
    OTHER = "other"  # anything else: the visible document may differ from what was signed
    UNKNOWN = "unknown"  # could not be analysed (coverage unclear, unreadable revision)


@dataclass(frozen=True, slots=True)
class PdfSignatureCheck:
    """One signature field's checks. ``reasons`` holds stable codes for every failed check
    and for findings (``not_whole_file``, ``raw_signature_encoding``)."""

    field_name: str
    byte_range: tuple[int, ...]
    #: the /ByteRange is well formed, its hole is exactly /Contents, and it covers the whole
    #: revision that introduced the signature
    byte_range_ok: bool
    #: nothing follows the signed revision
    covers_whole_file: bool
    #: revision numbers (0 = the original file) appended after the signed revision
    later_revisions: tuple[int, ...]
    later_changes: LaterChanges
    #: SM3 of the covered bytes equals the messageDigest signed attribute
    digest_ok: bool
    #: the SM2 signature over the signed attributes verifies with the signer certificate
    signature_ok: bool
    signature_encoding: SignatureEncoding | None
    signer_certificate: bytes | None = field(repr=False)  # DER, as found in the CMS
    signing_time: datetime | None  # the signingTime signed attribute (signer's claim)
    reasons: tuple[str, ...]
    #: DER of the signature timestamp token (unsigned attribute), when present
    timestamp_token: bytes | None = field(default=None, repr=False)
    #: the SignerInfo signature value: what the timestamp's messageImprint must cover
    signature_value: bytes = field(default=b"", repr=False)

    @property
    def intact(self) -> bool:
        """The signed bytes are unchanged and the signature verifies (not: trusted, and not:
        no later changes - see ``covers_whole_file`` / ``later_changes``)."""
        return self.byte_range_ok and self.digest_ok and self.signature_ok


@dataclass(frozen=True, slots=True)
class PdfVerification:
    signatures: tuple[PdfSignatureCheck, ...]
    revisions: int

    @property
    def all_intact(self) -> bool:
        """At least one signature, and every one intact (fails closed on none)."""
        return bool(self.signatures) and all(s.intact for s in self.signatures)


def open_pdf(pdf: bytes, *, decode_limits: DecodeLimits | None = None) -> PdfFileReader:
    """A pyHanko reader over ``pdf`` (pyHanko's limits for untrusted input unless
    ``decode_limits`` says otherwise), or ``PdfMalformed`` / ``PdfTooLarge``."""
    if not isinstance(pdf, bytes | bytearray):
        raise PdfMalformed("PDF input must be bytes")
    if len(pdf) > MAX_PDF_BYTES:
        raise PdfTooLarge(f"PDF larger than {MAX_PDF_BYTES} bytes")
    if not bytes(pdf[:1024]).lstrip().startswith(b"%PDF-"):
        raise PdfMalformed("not a PDF file (no %PDF- header)")
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=True, decode_limits=decode_limits)
        reader.root["/Pages"]
    except TrustError:
        raise
    except Exception as exc:  # pyHanko raises many types on hostile input; all mean "malformed"
        raise PdfMalformed(f"unreadable PDF: {type(exc).__name__}: {exc}"[:300]) from exc
    if reader.encrypted:
        raise PdfMalformed("encrypted PDFs are not supported", code="seal.pdf_encrypted")
    return reader


def verify_pdf_signatures(pdf: bytes) -> PdfVerification:
    """Check every filled signature field of ``pdf``. Raises ``PdfMalformed`` if the file cannot
    be read at all; a signature that fails a check is a result, not an error."""
    reader = open_pdf(pdf)
    try:
        fields = list(enumerate_sig_fields(reader, filled_status=True))
        revisions = int(reader.xrefs.total_revisions)
    except TrustError:
        raise
    except Exception as exc:
        raise PdfMalformed(f"unreadable signature fields: {exc}"[:300]) from exc
    if len(fields) > MAX_SIGNATURES:
        raise PdfMalformed(f"more than {MAX_SIGNATURES} signatures", code="seal.pdf_too_complex")
    checks = tuple(
        _check_signature_safely(bytes(pdf), reader, str(name), value, sig_field)
        for name, value, sig_field in fields
    )
    return PdfVerification(signatures=checks, revisions=revisions)


# --------------------------------------------------------------------------- byte range


@dataclass(frozen=True, slots=True)
class _Range:
    values: tuple[int, ...]
    ok: bool
    whole_file: bool
    reasons: tuple[str, ...]


def _check_byte_range(pdf: bytes, sig_obj: generic.DictionaryObject) -> tuple[_Range, bytes]:
    """ISO 32000-1 §12.8.1: [0 a b c], the gap a..b is exactly the /Contents hex string."""
    try:
        raw = sig_obj.raw_get("/ByteRange")
        items = list(raw) if isinstance(raw, generic.ArrayObject) else []
        # integers only: int(0.5) would quietly turn a bogus range into a plausible one
        values = tuple(v for v in items if isinstance(v, int) and not isinstance(v, bool))
        if len(values) != len(items):
            values = ()
        contents_obj = sig_obj.raw_get("/Contents")
        contents = bytes(contents_obj.original_bytes)
    except (KeyError, ValueError, TypeError, AttributeError):
        return _Range((), False, False, ("byte_range_malformed",)), b""
    if len(values) != 4 or values[0] != 0 or any(v < 0 for v in values):
        return _Range(values, False, False, ("byte_range_malformed",)), contents
    _, a, b, c = values
    if not (a < b <= b + c <= len(pdf)) or c == 0:
        return _Range(values, False, False, ("byte_range_out_of_file",)), contents
    hole = pdf[a:b]
    reasons: list[str] = []
    if (
        not (hole[:1] == b"<" and hole[-1:] == b">" and set(hole[1:-1]) <= _HEX)
        or len(hole) % 2
        or bytes.fromhex(hole[1:-1].decode()) != contents
    ):
        reasons.append("byte_range_hole_not_contents")
    whole = b + c == len(pdf)
    if not whole:
        reasons.append("not_whole_file")
    ok = not [r for r in reasons if r != "not_whole_file"]
    return _Range(values, ok, whole, tuple(reasons)), contents


def _covered_sm3(pdf: bytes, values: tuple[int, ...]) -> bytes:
    view = memoryview(pdf)
    h = SM3()
    h.update(bytes(view[0 : values[1]]))
    h.update(bytes(view[values[2] : values[2] + values[3]]))
    return h.digest()


def _signed_revision(pdf: bytes, reader: PdfFileReader, sig_field: Any, end: int) -> int | None:
    """The revision that introduced the signature, if the byte range ends exactly where that
    revision ends (its ``startxref`` and ``%%EOF``) and covers every xref section up to it."""
    value = sig_field.get_object().raw_get("/V")
    if not isinstance(value, generic.IndirectObject):
        return None
    xrefs = reader.xrefs
    revision = int(xrefs.get_last_change(value.reference))
    tail = _EOF_TAIL.search(pdf, max(0, end - 1024), end)
    if tail is None or int(tail.group(1)) != xrefs.get_startxref_for_revision(revision):
        return None
    if any(xrefs.get_xref_container_info(r).end_location > end for r in range(revision + 1)):
        return None
    return revision


def _later(
    pdf: bytes, reader: PdfFileReader, sig_field: Any, rng: _Range
) -> tuple[bool, tuple[int, ...], LaterChanges, tuple[str, ...]]:
    """(signed revision fully covered, later revision numbers, their classification, reasons)."""
    try:
        revision = _signed_revision(pdf, reader, sig_field, rng.values[2] + rng.values[3])
        total = int(reader.xrefs.total_revisions)
    except Exception as exc:  # pyHanko's xref cache on a hostile file
        logger.info("coverage analysis failed: %s", exc)
        revision = None
    if revision is None:
        return False, (), LaterChanges.UNKNOWN, ("revision_not_covered",)
    later = tuple(range(revision + 1, total))
    if not later and rng.whole_file:
        return True, later, LaterChanges.NONE, ()
    if not later:  # bytes after the signed revision that are not an incremental update
        return True, later, LaterChanges.UNKNOWN, ("unexplained_trailing_bytes",)
    try:
        diff = DEFAULT_DIFF_POLICY.review_file(reader, revision)
        level = getattr(diff, "modification_level", None)  # None: SuspiciousModification
    except Exception as exc:
        logger.info("difference analysis failed: %s", exc)
        level = None
    changes = _classify(level)
    return True, later, changes, (f"later_changes_{changes.value}",)


def _classify(level: ModificationLevel | None) -> LaterChanges:
    if level is None:  # pyHanko returned SuspiciousModification (or failed)
        return LaterChanges.OTHER
    if level == ModificationLevel.NONE:
        return LaterChanges.NONE
    if level <= ModificationLevel.FORM_FILLING:
        return LaterChanges.SIGNATURES
    if level == ModificationLevel.ANNOTATIONS:
        return LaterChanges.ANNOTATIONS
    return LaterChanges.OTHER


# --------------------------------------------------------------------------- CMS


@dataclass(frozen=True, slots=True)
class _Cms:
    digest_ok: bool
    signature_ok: bool
    encoding: SignatureEncoding | None
    certificate: bytes | None
    signing_time: datetime | None
    reasons: tuple[str, ...]
    timestamp_token: bytes | None = None
    signature_value: bytes = b""


def _timestamp_token(signer_info: cms.SignerInfo, reasons: list[str]) -> bytes | None:
    """The first signature timestamp token among the unsigned attributes, as DER."""
    unsigned = signer_info["unsigned_attrs"]
    if not unsigned:
        return None
    tokens = [
        value
        for attr in unsigned
        if attr["type"].dotted == _OID_SIGNATURE_TIMESTAMP
        for value in attr["values"]
    ]
    if not tokens:
        return None
    if len(tokens) > 1:
        reasons.append("several_signature_timestamps")  # the first one is checked
    return bytes(tokens[0].dump())


def _der_prefix(contents: bytes) -> bytes:
    """The DER object at the start of /Contents (which is zero-padded to the reserved size)."""
    if len(contents) < 2 or contents[0] != 0x30:
        raise ValueError("not a DER SEQUENCE")
    first = contents[1]
    if first < 0x80:
        return contents[: 2 + first]
    n = first & 0x7F
    if not 1 <= n <= 4 or len(contents) < 2 + n:
        raise ValueError("bad DER length")
    length = int.from_bytes(contents[2 : 2 + n], "big")
    end = 2 + n + length
    if end > len(contents) or any(contents[end:]):
        raise ValueError("DER length disagrees with /Contents")
    return contents[:end]


def _attributes(signer_info: cms.SignerInfo) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for attr in signer_info["signed_attrs"]:
        oid = attr["type"].dotted
        if oid in found:
            raise ValueError(f"duplicate signed attribute {oid}")  # RFC 5652 §11.1-11.3
        found[oid] = list(attr["values"])
    return found


def _signer_certificate(signed_data: cms.SignedData, sid: cms.SignerIdentifier) -> x509.Certificate:
    if sid.name != "issuer_and_serial_number":
        raise LookupError("signer identified by key identifier")
    issuer = sid.chosen["issuer"].dump()
    serial = sid.chosen["serial_number"].native
    for choice in signed_data["certificates"] or ():
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        tbs = cert["tbs_certificate"]
        if tbs["serial_number"].native == serial and tbs["issuer"].dump() == issuer:
            return cert
    raise LookupError("signer certificate not in the CMS")


def _check_cms(contents: bytes, covered_digest: bytes | None) -> _Cms:
    reasons: list[str] = []
    try:
        info = cms.ContentInfo.load(_der_prefix(contents), strict=True)
        if info["content_type"].dotted not in _OID_SIGNED_DATA:
            return _Cms(False, False, None, None, None, ("cms_not_signed_data",))
        signed_data = info["content"]
        signer_infos = list(signed_data["signer_infos"])
        if len(signer_infos) != 1:
            return _Cms(False, False, None, None, None, ("cms_signer_count",))
        si = signer_infos[0]
        if si["digest_algorithm"]["algorithm"].dotted != OID_SM3:
            reasons.append("unsupported_digest_algorithm")
        if si["signature_algorithm"]["algorithm"].dotted not in _SM2_SIGNATURE_OIDS:
            reasons.append("unsupported_signature_algorithm")
        if not si["signed_attrs"]:
            return _Cms(False, False, None, None, None, (*reasons, "no_signed_attributes"))
        attrs = _attributes(si)
        signed_attrs_der = b"\x31" + si["signed_attrs"].dump()[1:]  # [0] IMPLICIT -> SET OF
        signature = bytes(si["signature"].native)
        token = _timestamp_token(si, reasons)
    except _ASN1_ERRORS as exc:
        return _Cms(False, False, None, None, None, (f"cms_malformed: {exc}"[:120],))
    digest_ok = _check_digest(attrs, covered_digest, reasons)
    signing_time = _signing_time(attrs, reasons)
    cert_der, encoding, signature_ok = None, None, False
    try:
        cert = _signer_certificate(signed_data, si["sid"])
        cert_der = bytes(cert.dump())
    except (LookupError, *_ASN1_ERRORS):
        reasons.append("signer_certificate_missing")
    if cert_der is not None:
        encoding, signature_ok = _check_sm2(cert_der, signed_attrs_der, signature, reasons)
    signature_ok = signature_ok and not {
        "unsupported_digest_algorithm",
        "unsupported_signature_algorithm",
        "content_type_mismatch",
    } & set(reasons)
    return _Cms(
        digest_ok, signature_ok, encoding, cert_der, signing_time, tuple(reasons), token, signature
    )


def _check_digest(attrs: dict[str, list[Any]], covered: bytes | None, reasons: list[str]) -> bool:
    content_type = attrs.get(_OID_CONTENT_TYPE)
    if (
        content_type is None
        or len(content_type) != 1
        or content_type[0].dotted
        not in (
            _OID_DATA,
            OID_GBT35275_DATA,
        )
    ):
        reasons.append("content_type_mismatch")  # RFC 5652 §5.3: must be present, = eContentType
    digest = attrs.get(_OID_MESSAGE_DIGEST)
    if digest is None or len(digest) != 1:
        reasons.append("no_message_digest")
        return False
    if covered is None:
        return False
    if not constant_time_equal(bytes(digest[0].native), covered):
        reasons.append("digest_mismatch")
        return False
    return True


def _signing_time(attrs: dict[str, list[Any]], reasons: list[str]) -> datetime | None:
    values = attrs.get(_OID_SIGNING_TIME)
    if not values:
        reasons.append("no_signing_time")
        return None
    try:
        value = values[0].chosen.native if hasattr(values[0], "chosen") else values[0].native
    except _ASN1_ERRORS:
        reasons.append("signing_time_malformed")
        return None
    return value if isinstance(value, datetime) else None


def _check_sm2(
    cert_der: bytes, signed_attrs_der: bytes, signature: bytes, reasons: list[str]
) -> tuple[SignatureEncoding | None, bool]:
    try:
        public_key = SM2PublicKey.from_certificate(cert_der)
    except TrustError:
        reasons.append("signer_key_not_sm2")
        return None, False
    try:
        encoding = sm2_verify(public_key, signed_attrs_der, signature)
    except InvalidSignature as exc:
        reasons.append(f"signature_{exc.reason}")
        return None, False
    if encoding is SignatureEncoding.RAW:
        reasons.append("raw_signature_encoding")  # accepted, flagged (eseal spec §2.4)
    return encoding, True


# --------------------------------------------------------------------------- one signature


def _check_signature(
    pdf: bytes, reader: PdfFileReader, name: str, value: Any, sig_field: Any
) -> PdfSignatureCheck:
    try:
        sig_obj = value.get_object()
        if not isinstance(sig_obj, generic.DictionaryObject):
            raise TypeError("signature value is not a dictionary")
    except (misc.PdfError, TypeError, ValueError) as exc:
        return _broken(name, f"signature_object_unreadable: {exc}"[:120])
    rng, contents = _check_byte_range(pdf, sig_obj)
    revision_ok, changes = False, LaterChanges.UNKNOWN
    later: tuple[int, ...] = ()
    later_reasons: tuple[str, ...] = ()
    if rng.ok:
        revision_ok, later, changes, later_reasons = _later(pdf, reader, sig_field, rng)
    covered = _covered_sm3(pdf, rng.values) if rng.ok else None
    if len(contents) > _MAX_CONTENTS:
        result = _Cms(False, False, None, None, None, ("contents_too_large",))
    else:
        result = _check_cms(contents, covered)
    return PdfSignatureCheck(
        field_name=name,
        byte_range=rng.values,
        byte_range_ok=rng.ok and revision_ok,
        covers_whole_file=rng.whole_file and revision_ok,
        later_revisions=later,
        later_changes=changes,
        digest_ok=result.digest_ok and rng.ok,
        signature_ok=result.signature_ok,
        signature_encoding=result.encoding,
        signer_certificate=result.certificate,
        signing_time=result.signing_time,
        reasons=rng.reasons + later_reasons + result.reasons,
        timestamp_token=result.timestamp_token,
        signature_value=result.signature_value,
    )


def _check_signature_safely(
    pdf: bytes, reader: PdfFileReader, name: str, value: Any, sig_field: Any
) -> PdfSignatureCheck:
    """A signature that cannot even be examined is a failed result, not a crash (fail closed)."""
    try:
        return _check_signature(pdf, reader, name, value, sig_field)
    except Exception as exc:
        logger.info("signature %s could not be examined: %s", name, exc)
        return _broken(name, f"signature_unreadable: {type(exc).__name__}")


def _broken(name: str, reason: str) -> PdfSignatureCheck:
    return PdfSignatureCheck(
        field_name=name,
        byte_range=(),
        byte_range_ok=False,
        covers_whole_file=False,
        later_revisions=(),
        later_changes=LaterChanges.UNKNOWN,
        digest_ok=False,
        signature_ok=False,
        signature_encoding=None,
        signer_certificate=None,
        signing_time=None,
        reasons=(reason,),
    )
