"""Building a licence (pure): the checked issuing request, the EL1 payloads and the document to
render. ``licences.service_issue`` runs it, seals the PDF through ``seals.service_stamp`` and
stores the result.

Two EL1 objects are signed per licence (elicence spec §9.1 item 3, §9.2):

* the **printed** one, inside the PDF as the URL form (``HTTPS://<host>/E#…``): it cannot carry
  SM3 of the sealed file that contains it, so key 12 is absent;
* the **issued** one, made after sealing, in the ``EL1:`` form: it carries key 12 = SM3 of the
  sealed PDF, binding paper, file and code. It is what the issuing API returns as the QR payload
  (for the holder's app and for display), and what a verifier compares with an uploaded file.

Both carry the status reference (key 11, ``[list-id, index]``), so that a verifier — the verify
page in the browser — can check the live status offline-first from the issuer's signed status
list, and the server learns only which list (≥ 131,072 entries) was fetched, never which
licence. Spec §9.4 keeps the index out of printed QRs as "a cross-verifier correlator"; issue 5
asks for "a status reference" in the QR payload. The printed QR already carries the GB/T 36904
identifier, which names the licence exactly as well as the index does, so the index adds no
linkability between verifiers; it removes the phone-home with the licence identifier that a
live check otherwise needs. Size: the reference adds about 30 bytes; for a typical licence the
printed URL form stays at QR version 17 at EC Q (85×85 modules, 0.47 mm in the 44 mm box) with
or without it, inside the spec §9.3 range (≤ version 19 at EC Q, the dynamic tier's size);
``tests/unit/licences/test_render.py`` checks both.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from licences.catalogue import (
    LicenceTypeSpec,
    check_holder_code,
    compute_validity,
    field_rows,
    mask_holder_code,
    validate_fields,
)
from licences.envelope import LicencePayload, StatusReference, holder_digest, mask_holder_name
from licences.identifiers import LicenceIdentifier
from licences.render import LicenceDocument
from licences.service_errors import LicenceRequestInvalid

__all__ = [
    "CheckedRequest",
    "IssueRequest",
    "build_document",
    "build_payload",
    "check_request",
    "new_licence_number",
]

_MAX_NAME: Final = 100
_KEY_RE: Final = re.compile(r"[A-Za-z0-9._:-]{8,128}")
_AREA_RE: Final = re.compile(r"[0-9]{6}")
_NUMBER_RE: Final = re.compile(r"[0-9A-Za-z\u4e00-\u9fff()（）〔〕\[\]-]{1,64}")


@dataclass(frozen=True, slots=True)
class IssueRequest:
    """What an issuer sends (unverified)."""

    type_code: str
    holder_name: str
    holder_code: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    valid_from: date | None = None  # default: the issue date
    valid_until: date | None = None  # by the type's rule
    licence_number: str | None = None  # default: generated
    area_code: str | None = None  # GB/T 2260
    idempotency_key: str | None = None
    organisation_id: str | None = None


@dataclass(frozen=True, slots=True)
class CheckedRequest:
    spec: LicenceTypeSpec
    holder_name: str
    holder_code: str
    fields: dict[str, str]
    issued_on: date
    valid_from: date
    valid_until: date | None
    licence_number: str | None
    area_code: str | None


def check_request(
    spec: LicenceTypeSpec,
    request: IssueRequest,
    *,
    today: date,
    kept_valid_from: date | None = None,
) -> CheckedRequest:
    """Holder code (GB 11643 / GB 32100), face fields, validity, number, area code.

    ``kept_valid_from`` (a change that keeps the original validity): 有效期起 as it was issued,
    not checked against today again; ``request.valid_from`` is then ignored."""
    name = " ".join(str(request.holder_name or "").split())
    if not 0 < len(name) <= _MAX_NAME or not name.isprintable():
        raise LicenceRequestInvalid(
            f"持证主体名称为 1 至 {_MAX_NAME} 个字符", code="licence.request.holder_name"
        )
    code = check_holder_code(spec.holder_kind, request.holder_code, today=today)
    values = validate_fields(spec, request.fields, today=today)
    valid_from = kept_valid_from or request.valid_from or today
    if kept_valid_from is None and abs((valid_from - today).days) > 366:
        raise LicenceRequestInvalid(
            "有效期起应在签发日前后一年内", code="licence.request.bad_validity"
        )
    valid_until = compute_validity(spec, valid_from, request.valid_until)
    number = request.licence_number
    if number is not None and not _NUMBER_RE.fullmatch(number):
        raise LicenceRequestInvalid("证照编号格式错误", code="licence.request.number")
    if request.area_code is not None and not _AREA_RE.fullmatch(request.area_code):
        raise LicenceRequestInvalid("管辖属地编码应为 6 位数字", code="licence.request.area")
    if request.idempotency_key is not None and not _KEY_RE.fullmatch(request.idempotency_key):
        raise LicenceRequestInvalid(
            "幂等键为 8 至 128 个字母、数字或 ._:-", code="licence.request.idempotency_key"
        )
    return CheckedRequest(
        spec, name, code, values, today, valid_from, valid_until, number, request.area_code
    )


def new_licence_number(spec: LicenceTypeSpec, today: date) -> str:
    """证照编号 as printed: the type's prefix, the year and 10 CSPRNG digits."""
    digits = "".join(secrets.choice("0123456789") for _ in range(10))
    return f"{spec.number_prefix}{today.year}{digits}"


def build_payload(
    checked: CheckedRequest,
    identifier: LicenceIdentifier,
    *,
    licence_number: str,
    issuer_name: str,
    salt: bytes,
    document_sm3: bytes | None,
    status: StatusReference | None,
) -> LicencePayload:
    return LicencePayload(
        identifier=identifier.text,
        type_code=identifier.type_code,
        licence_number=licence_number,
        issuer_code=identifier.issuer_code,
        issued_on=checked.issued_on,
        valid_from=checked.valid_from,
        valid_until=checked.valid_until,
        masked_holder_name=mask_holder_name(checked.holder_name),
        holder_digest=holder_digest(
            salt, checked.spec.holder_kind.holder_type_code, checked.holder_code
        ),
        document_sm3=document_sm3,
        status=status,
        issuer_name=issuer_name,
    )


def build_document(
    checked: CheckedRequest,
    identifier: LicenceIdentifier,
    *,
    licence_number: str,
    issuer_name: str,
    qr_text: str,
    verification_code: str,
) -> LicenceDocument:
    holder_label = (
        "统一社会信用代码" if checked.spec.holder_kind.value == "legal" else "公民身份号码"
    )
    rows = ((holder_label, checked.holder_code), *field_rows(checked.spec, checked.fields))
    return LicenceDocument(
        licence_name=checked.spec.name,
        licence_number=licence_number,
        holder_name=checked.holder_name,
        face_fields=rows,
        issuer_name=issuer_name,
        issued_on=checked.issued_on,
        valid_from=checked.valid_from,
        valid_until=checked.valid_until,
        identifier=identifier.text,
        qr_text=qr_text,
        verification_code=verification_code,
    )


def masked_code(checked: CheckedRequest) -> str:
    return mask_holder_code(checked.holder_code)
