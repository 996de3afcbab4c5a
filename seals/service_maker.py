"""The seal-making side of the registry: seal pictures, the holder certificate, the seal-making
authority (制章者) and the v4 SESeal itself (GB/T 38540-2020; eseal spec §6).

* Pictures: an uploaded PNG or JPEG (at most ``MAX_IMAGE_BYTES`` and ``MAX_IMAGE_PIXELS`` per
  side) is decoded and re-encoded as PNG, which drops metadata and anything that is not pixels;
  otherwise a picture is drawn by ``seals.appearance`` in the seal type's shape.
* The seal-making authority is one service key (usage SEAL_MAKER, no owner) with a seal-maker
  certificate from this service's CA; ``ensure_seal_maker`` creates both on first use and is
  idempotent (like ``trust.cli.ca.ensure_ca``).
* ``make_esl`` signs through the maker ``Signer`` (no private key here) and re-verifies the
  result with ``seals.verification.verify_seal`` before it is returned.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from PIL import Image
from sqlalchemy.orm import Session

from keys.interfaces import KeyStore, KeyUsage
from seals.appearance import oval_seal, render_seal, round_seal, square_seal
from seals.errors import BadSealImage, BadSealRequest, SealImageTooLarge
from seals.lifecycle import SealShapeKind, SealType, type_info
from seals.ports import NoTrustAnchors
from seals.ses_build import SealSpec, make_seal_v4
from seals.verification import CheckStatus, verify_seal
from trust.ca import service as ca_service
from trust.ca.names import SubjectName
from trust.ca.profiles import Profile
from trust.ca.records import IssuedCertificate
from trust.clock import Clock
from trust.config import Settings
from trust.errors import IntegrityFailure, NotFound
from trust.signing import SignatureAlgorithm, Signer

__all__ = [
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "SEAL_VID",
    "SealPicture",
    "ensure_seal_maker",
    "issue_holder_certificate",
    "make_esl",
    "picture_for",
]

#: SES_Header.Vid written into our seals.
SEAL_VID: Final = "YWTB-TRUST"
MAX_IMAGE_BYTES: Final = 1024 * 1024
MAX_IMAGE_PIXELS: Final = 2000
_DEFAULT_SIZE_MM: Final = {
    SealShapeKind.ROUND: (42, 42),
    SealShapeKind.OVAL: (40, 30),
    SealShapeKind.SQUARE: (20, 20),
}
_UB: Final = 64  # RFC 5280 upper bound of CN and O


@dataclass(frozen=True, slots=True)
class SealPicture:
    png: bytes
    source: str  # "drawn" | "uploaded"
    width_mm: int
    height_mm: int


def _reencode(image_bytes: bytes) -> bytes:
    if len(image_bytes) > MAX_IMAGE_BYTES:
        raise SealImageTooLarge(f"印章图片超过 {MAX_IMAGE_BYTES} 字节")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(image_bytes)) as image:
                if image.format not in ("PNG", "JPEG"):
                    raise BadSealImage("印章图片须为 PNG 或 JPEG")
                width, height = image.size
                if not (1 <= width <= MAX_IMAGE_PIXELS and 1 <= height <= MAX_IMAGE_PIXELS):
                    raise BadSealImage(f"印章图片的宽和高应为 1 至 {MAX_IMAGE_PIXELS} 像素")
                image.load()
                rgba = image.convert("RGBA")
    except BadSealImage:
        raise
    except (OSError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise BadSealImage("无法读取印章图片") from None
    out = io.BytesIO()
    rgba.save(out, "PNG", optimize=False, compress_level=9)
    return out.getvalue()


def _size(value: tuple[int, int] | None, shape: SealShapeKind) -> tuple[int, int]:
    width, height = value if value is not None else _DEFAULT_SIZE_MM[shape]
    if not (10 <= width <= 100 and 10 <= height <= 100):
        raise BadSealRequest("印章尺寸应为 10 至 100 毫米")
    return int(width), int(height)


def picture_for(
    *,
    seal_type: SealType,
    organisation_name: str,
    uscc: str,
    person_name: str | None,
    image: bytes | None,
    image_size_mm: tuple[int, int] | None,
) -> SealPicture:
    """The uploaded image (re-encoded) or a drawn one: round for 公章/专用章 (organisation name
    on the arc, the type below the star), oval for 财务/发票专用章 (with the USCC as the middle
    line), square for 法定代表人名章 (the person's name)."""
    info = type_info(seal_type)
    width, height = _size(image_size_mm, info.shape)
    if image is not None:
        return SealPicture(_reencode(image), "uploaded", width, height)
    if info.shape is SealShapeKind.SQUARE:
        if not person_name or not person_name.strip():
            raise BadSealRequest("法定代表人名章须提供姓名（person_name）或上传图片")
        design = square_seal(person_name.strip(), side_mm=float(width))
    elif info.shape is SealShapeKind.OVAL:
        design = oval_seal(
            organisation_name,
            info.label,
            serial=uscc,
            width_mm=float(width),
            height_mm=float(height),
        )
    else:
        label = "" if seal_type is SealType.OFFICIAL else info.label
        design = round_seal(organisation_name, label, diameter_mm=float(width))
        height = width
    drawn = render_seal(design)
    return SealPicture(drawn.png, "drawn", width, height)


def issue_holder_certificate(
    *,
    session: Session,
    clock: Clock,
    issuer: Signer,
    public_key_der: bytes,
    key_id: str,
    common_name: str,
    organisation_name: str,
    uscc: str,
    days: int,
    actor: str,
) -> IssuedCertificate:
    """A seal-holder certificate (profile ``seal_holder``): CN = the seal's name, O = the
    organisation, organizationIdentifier = NTRCN-<USCC> (ETSI EN 319 412-1 §5.1.4)."""
    subject = SubjectName.create(
        common_name=common_name[:_UB], organization=organisation_name[:_UB], uscc=uscc
    )
    return ca_service.issue_certificate(
        session=session,
        clock=clock,
        issuer_signer=issuer,
        subject_public_key_der=public_key_der,
        subject=subject,
        profile=Profile.SEAL_HOLDER,
        key_id=key_id,
        validity_days=days,
        actor=actor,
    )


def ensure_seal_maker(
    *, session: Session, clock: Clock, keystore: KeyStore, settings: Settings, actor: str
) -> Signer:
    """The seal-making authority's signer: the active SEAL_MAKER service key (generated if
    missing) with a seal-maker certificate (issued if missing). Idempotent."""
    try:
        signer = keystore.active_signer(session=session, usage=KeyUsage.SEAL_MAKER)
        key_id, public_key = signer.key_id, signer.public_key_der()
    except NotFound:
        info = keystore.generate(
            session=session,
            clock=clock,
            usage=KeyUsage.SEAL_MAKER,
            algorithm=SignatureAlgorithm.SM2_SM3,
            label="电子印章制作系统",
            actor=actor,
        )
        key_id, public_key = info.key_id, info.public_key_der
    if ca_service.certificate_for_key(session=session, key_id=key_id) is None:
        issuing = keystore.signer(
            session=session, key_id=ca_service.authority_key_id(session=session)
        )
        ca_service.issue_certificate(
            session=session,
            clock=clock,
            issuer_signer=issuing,
            subject_public_key_der=public_key,
            subject=SubjectName.create(
                common_name=f"{settings.ca_name} 电子印章制作系统"[:_UB],
                organization=settings.ca_name[:_UB],
            ),
            profile=Profile.SEAL_MAKER,
            key_id=key_id,
            actor=actor,
        )
    return keystore.signer(session=session, key_id=key_id)


def make_esl(
    *,
    maker: Signer,
    es_id: str,
    seal_type: SealType,
    name: str,
    holder_cert: bytes,
    create_date: datetime,
    valid_start: datetime,
    valid_end: datetime,
    picture_png: bytes,
    picture_size_mm: tuple[int, int],
) -> bytes:
    """The v4 SESeal listing ``holder_cert`` (certListType 1), signed by the maker; re-verified
    (format, maker signature, maker certificate, validity) before it is returned."""
    chain = list(maker.certificate_chain())
    if not chain:
        raise IntegrityFailure("the seal maker key has no certificate", code="seal.maker_no_cert")
    spec = SealSpec(
        vid=SEAL_VID,
        es_id=es_id,
        seal_type=type_info(seal_type).ses_code,
        name=name,
        signer_certs=(holder_cert,),
        create_date=create_date,
        valid_start=valid_start,
        valid_end=valid_end,
        picture=picture_png,
        picture_width_mm=picture_size_mm[0],
        picture_height_mm=picture_size_mm[1],
        picture_type="PNG",
    )
    esl = make_seal_v4(spec, maker_cert=chain[0], sign=maker.sign)
    check = verify_seal(esl, trust=NoTrustAnchors(), at=create_date)
    for part in (check.format, check.seal_signature, check.maker_cert_valid, check.seal_valid):
        if part.status is not CheckStatus.PASS:
            raise IntegrityFailure(
                f"the made seal does not verify: {part.reason}", code="seal.self_check_failed"
            )
    return esl
