"""Stamping a PDF: a visible seal plus a CMS SignedData SM2/SM3 signature (eseal spec §11).

pyHanko builds the PDF side (incremental update, signature field, /ByteRange, CMS assembly) and
a small pyHanko ``Signer`` subclass delegates the one private-key operation to our
``trust.signing.Signer`` (SM2 over SM3(Z || signed attributes), default ID, DER). Each call
adds one incremental update, so earlier signatures keep verifying.

Placement (``Placement``): page index from 0, and the offset of the seal box's **top-left
corner from the top-left corner of the page's visible area (CropBox)** in millimetres, y
downwards - the convention of OFD ``StampAnnot Boundary`` (eseal spec §7.2). ``KeywordPlacement``
centres the seal on a keyword found in the page text (seals/pdf_text.py, pure Python).
Cross-page seal (骑缝章): the picture is cut into N vertical slices, slice i sits flush with the
right edge of page i; all slices are widgets of the one signature field carrying the signature.

Timestamp (optional): ``TsaTimeStamper`` is a pyHanko ``TimeStamper`` that calls a function of
this process (the service's TSA, ``trust.tsa.service.timestamp``) instead of an RFC 3161 server;
pyHanko puts the token into the SignerInfo's unsigned attributes as
``signature-time-stamp-token`` (RFC 3161 Appendix A) over the SM2 signature value, with SM3.

Pages with /Rotate other than 0 are refused for now (``seal.page_rotated``).
"""

# pyHanko's PDF object and writer API is only partly annotated:
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import asyncio
import functools
import io
import math
import zlib
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from asn1crypto import algos, cms, x509
from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.stamp import StaticStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from seals.pdf_text import KeywordHit, find_keyword
from seals.pdf_verify import PdfMalformed, open_pdf, verify_pdf_signatures
from trust.asn1 import NAME_SM2_SM3, NAME_SM3, register_sm_oids
from trust.crypto import SM2PublicKey
from trust.crypto.algorithms import OID_SHA256, OID_SM3
from trust.errors import Conflict, IntegrityFailure, InvalidInput, TrustError
from trust.signing import SignatureAlgorithm, Signer

__all__ = [
    "MAX_SEAL_PNG_BYTES",
    "KeywordHit",
    "KeywordPlacement",
    "Placement",
    "TokenSource",
    "TsaTimeStamper",
    "find_keyword",
    "stamp_pdf",
]

PT_PER_MM: Final = 72 / 25.4
MAX_SEAL_PNG_BYTES: Final = 8 * 1024 * 1024
MAX_SEAL_PIXELS: Final = 4000
MAX_CROSS_PAGES: Final = 32  # slices narrower than ~1.3 mm (42 mm / 32) are not legible
_SM2_MAX_DER: Final = 72  # SEQUENCE { r, s } with both integers 33 bytes
_WIDGET_FLAGS: Final = 4 | 128  # Print | Locked (ISO 32000-1 §12.5.3)
_MAX_TREE_DEPTH: Final = 64


@dataclass(frozen=True, slots=True)
class Placement:
    """Seal box on page ``page`` (0-based); its top-left corner ``x_mm`` right of and ``y_mm``
    below the top-left corner of the page's CropBox. With ``cross_page`` only ``y_mm`` is
    used and the slices start on ``page``."""

    page: int
    x_mm: float
    y_mm: float


@dataclass(frozen=True, slots=True)
class KeywordPlacement:
    """Centre the seal on occurrence ``occurrence`` (0 = first in reading order, -1 = last) of
    ``keyword`` on ``page`` (None: all pages), shifted ``offset_mm`` (right, down)."""

    keyword: str
    occurrence: int = 0
    page: int | None = None
    offset_mm: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True, slots=True)
class _Box:
    x0: float
    y0: float
    x1: float
    y1: float


# --------------------------------------------------------------------------- pyHanko signer


class _DelegatingSm2Signer(signers.Signer):
    """pyHanko ``Signer`` whose raw signature comes from a ``trust.signing.Signer``."""

    def __init__(self, signer: Signer, leaf: x509.Certificate, chain: Sequence[x509.Certificate]):
        super().__init__(
            signing_cert=leaf,
            cert_registry=SimpleCertificateStore.from_certs(chain),
            signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": NAME_SM2_SM3}),
            embed_roots=True,
        )
        self._delegate = signer

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if digest_algorithm != NAME_SM3:
            raise InvalidInput(
                f"SM2 signatures use SM3, not {digest_algorithm}", code="seal.bad_algorithm"
            )
        if dry_run:
            return bytes(_SM2_MAX_DER)
        return self._delegate.sign(data)


def _pyhanko_signer(signer: Signer) -> _DelegatingSm2Signer:
    if signer.algorithm is not SignatureAlgorithm.SM2_SM3:
        raise InvalidInput("PDF seals are signed with SM2-with-SM3", code="seal.bad_algorithm")
    chain_der = list(signer.certificate_chain())
    if not chain_der:
        raise InvalidInput("the signer has no certificate", code="seal.no_certificate")
    try:
        chain = [x509.Certificate.load(der) for der in chain_der]
        leaf_key = SM2PublicKey.from_certificate(chain_der[0])
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"unusable signer certificate: {exc}", code="seal.bad_certificate"
        ) from exc
    if leaf_key.to_der() != SM2PublicKey.from_der(signer.public_key_der()).to_der():
        raise InvalidInput(
            "the signer's key does not match its certificate", code="seal.bad_certificate"
        )
    return _DelegatingSm2Signer(signer, chain[0], chain[1:])


#: ``(digest algorithm OID, digest) -> DER TimeStampToken`` - e.g. the service's TSA.
TokenSource = Callable[[str, bytes], bytes]
_DIGEST_OIDS: Final = {NAME_SM3: OID_SM3, "sha256": OID_SHA256}


class TsaTimeStamper(TimeStamper):
    """pyHanko ``TimeStamper`` answered in-process by ``source`` (no HTTP round trip).

    pyHanko asks once for a dummy token (to size the signature container) and once for the real
    one over the digest of the signature value; both come from ``source``."""

    def __init__(self, source: TokenSource) -> None:
        super().__init__(include_nonce=False)
        self._source = source

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        oid = _DIGEST_OIDS.get(md_algorithm)
        if oid is None:
            raise InvalidInput(
                f"no timestamps over {md_algorithm} digests", code="seal.bad_algorithm"
            )
        try:
            token = cms.ContentInfo.load(self._source(oid, bytes(message_digest)), strict=True)
            if not isinstance(token["content"], cms.SignedData):  # not inside pyHanko later
                raise ValueError("not a SignedData token")
        except TrustError:
            raise
        except (ValueError, TypeError) as exc:
            raise IntegrityFailure(
                f"the TSA returned an unreadable token: {exc}"[:200], code="seal.tsa_bad_token"
            ) from exc
        return token


# --------------------------------------------------------------------------- page geometry


def _inherited(page: generic.DictionaryObject, key: str) -> Any:
    node: Any = page
    for _ in range(_MAX_TREE_DEPTH):
        if key in node:
            return node[key]
        if "/Parent" not in node:
            return None
        node = node["/Parent"]
    raise PdfMalformed("page tree too deep or cyclic")


def _page_box(page: generic.DictionaryObject) -> _Box:
    """The CropBox (defaulting to the MediaBox), normalised. Refuses rotated pages."""
    try:
        rotate = int(_inherited(page, "/Rotate") or 0)
        raw = _inherited(page, "/CropBox") or _inherited(page, "/MediaBox")
        x0, y0, x1, y1 = (float(v) for v in raw)
    except TrustError:
        raise
    except Exception as exc:  # wrong types anywhere in a hostile page dictionary
        raise PdfMalformed("page has no usable MediaBox / CropBox / Rotate") from exc
    if rotate % 360 != 0:
        raise InvalidInput("pages with /Rotate are not supported yet", code="seal.page_rotated")
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise PdfMalformed("page box is not finite")
    box = _Box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    if not (1 <= box.x1 - box.x0 <= 14400 and 1 <= box.y1 - box.y0 <= 14400):
        raise PdfMalformed("page size out of range")
    return box


def _page(writer: IncrementalPdfFileWriter, index: int) -> tuple[Any, _Box]:
    if not isinstance(index, int) or index < 0:
        raise InvalidInput(f"no page {index!r} in the document", code="seal.no_such_page")
    try:
        page_ref, _ = writer.find_page_for_modification(index)
        page = page_ref.get_object()
    except TrustError:
        raise
    except Exception as exc:
        raise InvalidInput(f"no page {index} in the document", code="seal.no_such_page") from exc
    return page_ref, _page_box(page)


def _page_count(writer: IncrementalPdfFileWriter) -> int:
    try:
        count = int(writer.root["/Pages"]["/Count"])
    except Exception as exc:
        raise PdfMalformed("page tree has no /Count") from exc
    if not 1 <= count <= 100_000:
        raise PdfMalformed("implausible page count")
    return count


def _rect_from_top_left(box: _Box, x_mm: float, y_mm: float, w: float, h: float) -> _Box:
    x0 = box.x0 + x_mm * PT_PER_MM
    y1 = box.y1 - y_mm * PT_PER_MM
    return _Box(x0, y1 - h, x0 + w, y1)


def _check_inside(rect: _Box, box: _Box) -> None:
    eps = 0.01
    if (
        rect.x0 < box.x0 - eps
        or rect.y0 < box.y0 - eps
        or rect.x1 > box.x1 + eps
        or (rect.y1 > box.y1 + eps)
    ):
        raise InvalidInput("the seal does not fit on the page there", code="seal.outside_page")


# --------------------------------------------------------------------------- seal picture


@dataclass(frozen=True, slots=True)
class _SealImage:
    """The seal picture as PDF image data: RGB and alpha (the /SMask), each Flate-compressed."""

    width: int
    height: int
    rgb_deflated: bytes
    alpha_deflated: bytes


def _decode_png(png: bytes) -> _SealImage:
    if not isinstance(png, bytes) or len(png) > MAX_SEAL_PNG_BYTES:
        raise InvalidInput("seal image missing or too large", code="seal.bad_image")
    try:
        image = Image.open(io.BytesIO(png))
        if image.format != "PNG":
            raise InvalidInput("the seal image must be a PNG", code="seal.bad_image")
        if max(image.size) > MAX_SEAL_PIXELS or min(image.size) < 1:
            raise InvalidInput("seal image dimensions out of range", code="seal.bad_image")
        image.load()
        rgba = image.convert("RGBA")
    except TrustError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidInput(f"unreadable seal image: {exc}", code="seal.bad_image") from exc
    return _SealImage(
        rgba.width,
        rgba.height,
        zlib.compress(rgba.convert("RGB").tobytes(), 6),
        zlib.compress(rgba.getchannel("A").tobytes(), 6),
    )


#: A seal is stamped again and again with the same picture: decoding, splitting and deflating
#: it was an eighth of the time of stamping a 1 MB PDF. Small pictures only (bounded memory).
_decode_png_cached = functools.lru_cache(maxsize=8)(_decode_png)
_CACHED_PNG_BYTES: Final = 2 * 1024 * 1024


def _load_png(png: bytes) -> _SealImage:
    if isinstance(png, bytes) and len(png) <= _CACHED_PNG_BYTES:
        return _decode_png_cached(png)
    return _decode_png(png)


def _image_xobject(writer: IncrementalPdfFileWriter, image: _SealImage) -> Any:
    """An image XObject (ISO 32000-1 §8.9.5) with the alpha channel as its soft mask."""

    def stream(colour_space: str, data: bytes, extra: dict[Any, Any]) -> Any:
        obj = generic.StreamObject(
            {
                pdf_name("/Type"): pdf_name("/XObject"),
                pdf_name("/Subtype"): pdf_name("/Image"),
                pdf_name("/Width"): generic.NumberObject(image.width),
                pdf_name("/Height"): generic.NumberObject(image.height),
                pdf_name("/ColorSpace"): pdf_name(colour_space),
                pdf_name("/BitsPerComponent"): generic.NumberObject(8),
                pdf_name("/Filter"): pdf_name("/FlateDecode"),
                **extra,
            },
            encoded_data=data,
        )
        return writer.add_object(obj)

    smask = stream("/DeviceGray", image.alpha_deflated, {})
    return stream("/DeviceRGB", image.rgb_deflated, {pdf_name("/SMask"): smask})


def _check_size(size_mm: tuple[float, float]) -> tuple[float, float]:
    try:
        w, h = (float(v) for v in size_mm)
    except (TypeError, ValueError) as exc:
        raise InvalidInput("seal_size_mm must be (width, height)", code="seal.bad_size") from exc
    if not (5 <= w <= 200 and 5 <= h <= 200):
        raise InvalidInput("seal size must be 5..200 mm", code="seal.bad_size")
    return w * PT_PER_MM, h * PT_PER_MM


def _slice_form(
    writer: IncrementalPdfFileWriter, image_ref: Any, w: float, h: float, part: int, parts: int
) -> Any:
    """A form XObject showing vertical slice ``part`` of ``parts`` of the image (BBox clips)."""
    slice_w = w / parts
    form = generic.StreamObject(
        {
            pdf_name("/Type"): pdf_name("/XObject"),
            pdf_name("/Subtype"): pdf_name("/Form"),
            pdf_name("/BBox"): generic.ArrayObject(
                [
                    generic.FloatObject(0),
                    generic.FloatObject(0),
                    generic.FloatObject(slice_w),
                    generic.FloatObject(h),
                ]
            ),
            pdf_name("/Resources"): generic.DictionaryObject(
                {pdf_name("/XObject"): generic.DictionaryObject({pdf_name("/Seal"): image_ref})}
            ),
        },
        stream_data=b"q %.4f 0 0 %.4f %.4f 0 cm /Seal Do Q" % (w, h, -part * slice_w),
    )
    form.compress()
    return writer.add_object(form)


def _set_appearance(annot: generic.DictionaryObject, form_ref: Any) -> None:
    annot[pdf_name("/AP")] = generic.DictionaryObject({pdf_name("/N"): form_ref})
    annot[pdf_name("/F")] = generic.NumberObject(_WIDGET_FLAGS)


def _rect(box: _Box) -> generic.ArrayObject:
    return generic.ArrayObject(
        [generic.FloatObject(round(v, 4)) for v in (box.x0, box.y0, box.x1, box.y1)]
    )


# --------------------------------------------------------------------------- placement


@dataclass(frozen=True, slots=True)
class _Plan:
    """Where the widgets go: (page index, rect) per slice; one entry when not cross-page."""

    widgets: tuple[tuple[int, _Box], ...]
    width: float
    height: float


def _plan(
    pdf: bytes,
    writer: IncrementalPdfFileWriter,
    placement: Placement | KeywordPlacement,
    size: tuple[float, float],
    cross_page: bool,
) -> _Plan:
    w, h = size
    numbers = (
        (placement.x_mm, placement.y_mm)
        if isinstance(placement, Placement)
        else tuple(getattr(placement, "offset_mm", ()))
    )
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in numbers):
        raise InvalidInput("placement needs finite millimetres", code="seal.bad_placement")
    if cross_page:
        if not isinstance(placement, Placement):
            raise InvalidInput(
                "a cross-page seal is placed with Placement (y_mm)", code="seal.bad_placement"
            )
        return _plan_cross_page(writer, placement, w, h)
    if isinstance(placement, KeywordPlacement):
        hit = _keyword_hit(pdf, placement)
        _, box = _page(writer, hit.page)
        cx = (hit.x0 + hit.x1) / 2 + placement.offset_mm[0] * PT_PER_MM
        cy = (hit.y0 + hit.y1) / 2 - placement.offset_mm[1] * PT_PER_MM
        rect = _Box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        _check_inside(rect, box)
        return _Plan(((hit.page, rect),), w, h)
    if not isinstance(placement, Placement):
        raise InvalidInput(
            "placement must be Placement or KeywordPlacement", code="seal.bad_placement"
        )
    _, box = _page(writer, placement.page)
    rect = _rect_from_top_left(box, placement.x_mm, placement.y_mm, w, h)
    _check_inside(rect, box)
    return _Plan(((placement.page, rect),), w, h)


def _plan_cross_page(
    writer: IncrementalPdfFileWriter, placement: Placement, w: float, h: float
) -> _Plan:
    pages = range(placement.page, _page_count(writer))
    if not 2 <= len(pages) <= MAX_CROSS_PAGES:
        raise InvalidInput(
            f"a cross-page seal spans 2..{MAX_CROSS_PAGES} pages", code="seal.bad_placement"
        )
    slice_w = w / len(pages)
    widgets = []
    for index in pages:
        _, box = _page(writer, index)
        top = box.y1 - placement.y_mm * PT_PER_MM
        rect = _Box(box.x1 - slice_w, top - h, box.x1, top)
        _check_inside(rect, box)
        widgets.append((index, rect))
    return _Plan(tuple(widgets), w, h)


def _keyword_hit(pdf: bytes, placement: KeywordPlacement) -> KeywordHit:
    hits = find_keyword(pdf, placement.keyword, page=placement.page)
    try:
        return hits[placement.occurrence]
    except IndexError:
        raise InvalidInput(
            f"keyword {placement.keyword!r} not found (occurrence {placement.occurrence})",
            code="seal.keyword_not_found",
        ) from None


# --------------------------------------------------------------------------- signing


def _field_name(writer: IncrementalPdfFileWriter, requested: str | None) -> str:
    existing = {str(name) for name, _, _ in fields.enumerate_sig_fields(writer)}
    if requested is not None:
        if not 1 <= len(requested) <= 64 or "." in requested or not requested.isprintable():
            raise InvalidInput(
                "field_name: 1..64 printable characters, no '.'", code="seal.bad_field"
            )
        if requested in existing:
            raise Conflict(f"signature field {requested!r} exists", code="seal.field_exists")
        return requested
    n = len(existing) + 1
    while f"Seal{n}" in existing:
        n += 1
    return f"Seal{n}"


def _add_widgets(
    writer: IncrementalPdfFileWriter, name: str, plan: _Plan, image: _SealImage
) -> None:
    """Give the field's own widget the first slice's appearance and add one widget per further
    slice (cross-page seal): all are kids of the one signature field."""
    ((_, _, field_ref),) = fields.enumerate_sig_fields(writer, with_name=name)
    field = field_ref.get_object()
    image_ref = _image_xobject(writer, image)
    parts = len(plan.widgets)
    kids = field["/Kids"]
    first = kids[0].get_object()
    _set_appearance(first, _slice_form(writer, image_ref, plan.width, plan.height, 0, parts))
    first[pdf_name("/Parent")] = field_ref  # ISO 32000-1 §12.7.3.1: kids point to the field
    for part, (index, rect) in enumerate(plan.widgets[1:], start=1):
        page_ref, _ = writer.find_page_for_modification(index)
        widget = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Annot"),
                pdf_name("/Subtype"): pdf_name("/Widget"),
                pdf_name("/Rect"): _rect(rect),
                pdf_name("/P"): page_ref,
                pdf_name("/Parent"): field_ref,
            }
        )
        form = _slice_form(writer, image_ref, plan.width, plan.height, part, parts)
        _set_appearance(widget, form)
        widget_ref = writer.add_object(widget)
        kids.append(widget_ref)
        writer.register_annotation(page_ref, widget_ref)


def _reserved_hex_chars(pdf_signer: signers.PdfSigner) -> int | None:
    """Room for the CMS (as hex) without a trial signature (pyHanko would build a whole dummy
    CMS, about a third of the stamping time): the certificates plus 1 KiB for SignerInfo,
    signed attributes and the 72-byte SM2 value, which take about 510 bytes. Not more: every
    reader parses the reserved hex string character by character."""
    if pdf_signer.default_timestamper is not None:
        return None
    certs = [pdf_signer.signer.signing_cert, *pdf_signer.signer.cert_registry]
    return 2 * (sum(len(c.dump()) for c in certs) + 1024)


def _run(coroutine: Coroutine[Any, Any, bytes]) -> bytes:
    # A private loop rather than asyncio.run(): no SIGINT handler juggling (whose repr of the
    # running task alone cost ~20 ms per stamp) and nothing left behind. A caller already inside
    # a running loop (an async route, a sync-over-async driver) gets a worker thread instead,
    # since one thread cannot run two loops.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_private_loop(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_run_private_loop, coroutine).result()


def _run_private_loop(coroutine: Coroutine[Any, Any, bytes]) -> bytes:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


async def _sign(
    writer: IncrementalPdfFileWriter,
    pdf_signer: signers.PdfSigner,
    plan: _Plan,
    image: _SealImage,
    signing_time: datetime,
) -> bytes:
    # pyHanko's interrupted-signing steps (PdfSigner.async_sign_pdf), split so that the signing
    # time is ours and the widgets get their pictures before the document is written out.
    session = pdf_signer.init_signing_session(writer)
    session.system_time = signing_time
    validation = await session.perform_presign_validation(writer)
    reserved = _reserved_hex_chars(pdf_signer)
    if reserved is None:  # a timestamp token's size is not known in advance: let pyHanko measure
        reserved = await session.estimate_signature_container_size(validation, tight=False)
    tbs = session.prepare_tbs_document(validation_info=validation, bytes_reserved=reserved)
    _add_widgets(writer, str(pdf_signer.signature_meta.field_name), plan, image)
    prepared, output = tbs.digest_tbs_document()
    post = await tbs.perform_signature(
        document_digest=prepared.document_digest,
        pdf_cms_signed_attrs=PdfCMSSignedAttributes(signing_time=signing_time),
    )
    await post.post_signature_processing(output)
    if not isinstance(output, io.BytesIO):  # digest_tbs_document() without output= makes one
        raise TypeError("pyHanko returned no in-memory output")
    return output.getvalue()


def stamp_pdf(
    pdf: bytes,
    *,
    signer: Signer,
    seal_image_png: bytes,
    seal_size_mm: tuple[float, float],
    placement: Placement | KeywordPlacement,
    signing_time: datetime,
    cross_page: bool = False,
    reason: str | None = None,
    location: str | None = None,
    field_name: str | None = None,
    timestamper: TimeStamper | None = None,
) -> bytes:
    """Return ``pdf`` with one more incremental update holding a visible seal and its SM2/SM3
    CMS signature. The output is verified with ``verify_pdf_signatures`` before it is returned.
    With ``timestamper`` (e.g. ``TsaTimeStamper``) the SignerInfo also carries a signature
    timestamp token over the signature value (RFC 3161 Appendix A).

    Synchronous (runs pyHanko's coroutines on a private event loop): call it from a worker
    thread in async code.
    """
    if signing_time.tzinfo is None:
        raise InvalidInput("signing_time must carry a time zone", code="seal.bad_time")
    register_sm_oids()
    size = _check_size(seal_size_mm)
    image = _load_png(seal_image_png)
    reader = open_pdf(pdf)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), prev=reader)
    try:
        plan = _plan(pdf, writer, placement, size, cross_page)
        name = _field_name(writer, field_name)
    except TrustError:
        raise
    except Exception as exc:  # pyHanko reading a hostile page tree or form
        raise PdfMalformed(f"unreadable PDF structure: {type(exc).__name__}") from exc
    first_page, first_rect = plan.widgets[0]
    pdf_signer = signers.PdfSigner(
        signers.PdfSignatureMetadata(
            field_name=name,
            md_algorithm=NAME_SM3,
            reason=reason,
            location=location,
            subfilter=fields.SigSeedSubFilter.ADOBE_PKCS7_DETACHED,
        ),
        signer=_pyhanko_signer(signer),
        timestamper=timestamper,
        stamp_style=StaticStampStyle(border_width=0, background=None),
        new_field_spec=fields.SigFieldSpec(
            sig_field_name=name,
            on_page=first_page,
            box=(first_rect.x0, first_rect.y0, first_rect.x1, first_rect.y1),  # type: ignore[arg-type]  # floats are fine: pyHanko writes FloatObjects
            combine_annotation=False,
        ),
    )
    try:
        out = _run(_sign(writer, pdf_signer, plan, image, signing_time))
    except TrustError:
        raise
    except Exception as exc:  # pyHanko: SigningError, PdfWriteError, locked documents...
        raise Conflict(f"could not sign the PDF: {exc}"[:300], code="seal.pdf_sign_failed") from exc
    _self_check(out, name, timestamped=timestamper is not None)
    return out


def _self_check(out: bytes, name: str, *, timestamped: bool) -> None:
    """eseal spec §6: run our own verifier over every output."""
    result = verify_pdf_signatures(out)
    mine = [s for s in result.signatures if s.field_name == name]
    if (
        len(mine) != 1
        or not (mine[0].intact and mine[0].covers_whole_file)
        or (timestamped and mine[0].timestamp_token is None)
    ):
        reasons = mine[0].reasons if mine else ("missing",)
        raise IntegrityFailure(
            f"the stamped PDF does not verify: {', '.join(reasons)}", code="seal.self_check_failed"
        )
