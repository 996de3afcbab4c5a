"""Shared material for the licences unit tests: a test issuer key and a typical payload."""

from __future__ import annotations

import functools
from datetime import date

from licences.envelope import (
    LicencePayload,
    holder_digest,
    make_kid,
    mask_holder_name,
)
from licences.identifiers import build_identifier
from trust.crypto.private_keys import SM2PrivateKey, generate_sm2

TYPE_CODE = "11100000000013338W011"  # spec §2.4: 住房和城乡建设部 + 011
ISSUER_CODE = "11430000006122244L"  # spec §2.4
HOLDER_NAME = "长沙市某某建筑工程有限公司"
HOLDER_SALT = bytes(range(16))


@functools.cache
def issuer_key() -> SM2PrivateKey:
    return generate_sm2()


@functools.cache
def other_key() -> SM2PrivateKey:
    return generate_sm2()


def kid_of(key: SM2PrivateKey) -> bytes:
    return make_kid(key.public_key().to_der())


def typical_payload(**changes: object) -> LicencePayload:
    """A 建筑业企业资质证书-like licence: about what an issuer puts in a printed QR."""
    ident = build_identifier(TYPE_CODE, ISSUER_CODE, serial="7Q2M9X4K1B8Z3H6T0WJD")
    fields: dict[str, object] = {
        "identifier": ident.text,
        "type_code": TYPE_CODE,
        "licence_number": "D243012345",
        "issuer_code": ISSUER_CODE,
        "issued_on": date(2026, 3, 2),
        "valid_from": date(2026, 3, 2),
        "valid_until": date(2031, 3, 1),
        "masked_holder_name": mask_holder_name(HOLDER_NAME),
        "holder_digest": holder_digest(HOLDER_SALT, "001", "91430100MA4L0ABC2X"),
        "issuer_name": "湖南省住房和城乡建设厅",
    }
    fields.update(changes)
    return LicencePayload(**fields)
