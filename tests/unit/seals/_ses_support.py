"""Test support for the SES/OFD tests: a throw-away SM2 PKI built in-process, a test signer,
minimal OFD documents, and the paths of the shared samples.

Certificates are built with ``seals.der`` encoders and signed with ``trust.crypto`` SM2 keys
(default user ID); the OpenSSL CLI accepts them (checked in ``test_ses_build``).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from seals.der_build import (
    enc_bits,
    enc_boolean,
    enc_explicit,
    enc_integer,
    enc_octets,
    enc_oid,
    enc_seq,
    enc_tlv,
    enc_utf8,
)
from seals.ses_build import SealSpec, make_seal_v4
from tests.conftest import shared_path, skip_or_fail
from trust.crypto.algorithms import OID_SM2_WITH_SM3
from trust.crypto.private_keys import SM2PrivateKey, generate_sm2

NOW = datetime(2026, 11, 22, 8, 0, 0, tzinfo=UTC)
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f80f00000101000518d84e0000000049454e44ae426082"
)


def need_cjk_font() -> None:
    """Tests that draw a seal picture (the service draws one when none is uploaded) skip on a
    machine without a CJK font, and fail instead under ``TRUST_REQUIRE_ALL=1``."""
    from seals.fonts import find_cjk_font
    from trust.errors import Unavailable

    try:
        find_cjk_font()
    except Unavailable as exc:
        skip_or_fail(f"no CJK font to draw seal pictures: {exc.detail}")


def sample(*parts: str) -> bytes:
    return shared_path("samples", *parts).read_bytes()


def vector(*parts: str) -> bytes:
    return shared_path("vectors", *parts).read_bytes()


def sample_path(*parts: str) -> Path:
    return shared_path("samples", *parts)


def pem_to_der(pem: bytes) -> bytes:
    import base64

    lines = pem.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(b"-----BEGIN"))
    end = next(i for i, line in enumerate(lines) if line.startswith(b"-----END"))
    return base64.b64decode(b"".join(lines[start + 1 : end]))


def der_to_pem(der: bytes, label: str = "CERTIFICATE") -> bytes:
    import base64
    import textwrap

    b64 = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN {label}-----\n{b64}\n-----END {label}-----\n".encode()


def _name(cn: str, org: str) -> bytes:
    def rdn(oid: str, value: bytes) -> bytes:
        return enc_tlv(0x31, enc_seq(enc_oid(oid), value))

    return enc_seq(
        rdn("2.5.4.6", enc_tlv(0x13, b"CN")),
        rdn("2.5.4.10", enc_utf8(org)),
        rdn("2.5.4.3", enc_utf8(cn)),
    )


def _time(value: datetime) -> bytes:
    if value.year < 2050:
        return enc_tlv(0x17, value.strftime("%y%m%d%H%M%SZ").encode())
    return enc_tlv(0x18, value.strftime("%Y%m%d%H%M%SZ").encode())


_USAGE_BITS = {"digitalSignature": 0, "nonRepudiation": 1, "keyCertSign": 5, "cRLSign": 6}


def _key_usage(names: tuple[str, ...]) -> bytes:
    value = 0
    for name in names:
        value |= 0x80 >> _USAGE_BITS[name]
    unused = (value & -value).bit_length() - 1 if value else 0
    return enc_tlv(0x03, bytes([unused, value]))


@dataclass(frozen=True)
class SesIdentity:
    key: SM2PrivateKey
    cert: bytes

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data)


def make_cert(
    *,
    cn: str,
    org: str,
    key: SM2PrivateKey,
    issuer: SesIdentity | None,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    ca: bool,
    usage: tuple[str, ...],
    subject_der: bytes | None = None,
) -> bytes:
    """An SM2 certificate; ``subject_der`` replaces the ``C/O/CN`` subject built from ``cn`` and
    ``org`` (for names with unusual string types, eseal spec §9)."""
    subject = _name(cn, org) if subject_der is None else subject_der
    issuer_name = subject if issuer is None else _issuer_subject(issuer.cert)
    extensions = enc_seq(
        enc_seq(
            enc_oid("2.5.29.19"),
            enc_boolean(True),
            enc_octets(enc_seq(enc_boolean(True)) if ca else enc_seq()),
        ),
        enc_seq(enc_oid("2.5.29.15"), enc_boolean(True), enc_octets(_key_usage(usage))),
    )
    tbs = enc_seq(
        enc_explicit(0, enc_integer(2)),
        enc_integer(serial),
        enc_seq(enc_oid(OID_SM2_WITH_SM3)),
        issuer_name,
        enc_seq(_time(not_before), _time(not_after)),
        subject,
        key.public_key().to_der(),
        enc_explicit(3, extensions),
    )
    signer = key if issuer is None else issuer.key
    return enc_seq(tbs, enc_seq(enc_oid(OID_SM2_WITH_SM3)), enc_bits(signer.sign(tbs)))


def _issuer_subject(cert: bytes) -> bytes:
    from seals.x509 import parse_certificate

    return parse_certificate(cert).subject_der


@dataclass(frozen=True)
class SesPki:
    root: SesIdentity
    maker: SesIdentity
    signer: SesIdentity


def make_pki(
    *,
    valid_from: datetime = datetime(2025, 1, 1, tzinfo=UTC),
    valid_to: datetime = datetime(2030, 1, 1, tzinfo=UTC),
) -> SesPki:
    root_key = generate_sm2()
    root = SesIdentity(
        root_key,
        make_cert(
            cn="Test SES Root",
            org="Test CA",
            key=root_key,
            issuer=None,
            serial=1,
            not_before=valid_from,
            not_after=valid_to,
            ca=True,
            usage=("keyCertSign", "cRLSign"),
        ),
    )
    leaves = []
    for serial, cn in ((2, "Test Seal Maker"), (3, "Test Seal Signer 测试")):
        key = generate_sm2()
        leaves.append(
            SesIdentity(
                key,
                make_cert(
                    cn=cn,
                    org="测试机关",
                    key=key,
                    issuer=root,
                    serial=serial,
                    not_before=valid_from,
                    not_after=valid_to,
                    ca=False,
                    usage=("digitalSignature", "nonRepudiation"),
                ),
            )
        )
    return SesPki(root, leaves[0], leaves[1])


def seal_spec(pki: SesPki, **changes: object) -> SealSpec:
    values: dict[str, object] = dict(
        vid="YWTBTEST",
        es_id="TEST-ESID-0042",
        seal_type=1,
        name="测试机关公章",
        signer_certs=(pki.signer.cert,),
        create_date=datetime(2026, 1, 1, tzinfo=UTC),
        valid_start=datetime(2026, 1, 1, tzinfo=UTC),
        valid_end=datetime(2028, 1, 1, tzinfo=UTC),
        picture=PNG_1X1,
        picture_width_mm=40,
        picture_height_mm=40,
    )
    values.update(changes)
    return SealSpec(**values)  # type: ignore[arg-type]


def make_test_seal(pki: SesPki, **changes: object) -> bytes:
    return make_seal_v4(seal_spec(pki, **changes), maker_cert=pki.maker.cert, sign=pki.maker.sign)


def minimal_ofd(pages: int = 1) -> bytes:
    """A small unsigned OFD: OFD.xml, Document.xml, PublicRes.xml and page contents."""
    ns = "http://www.ofdspec.org/2016"
    page_refs = "".join(
        f'<ofd:Page ID="{i + 1}" BaseLoc="Pages/Page_{i}/Content.xml"/>' for i in range(pages)
    )
    files = {
        "OFD.xml": f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:OFD xmlns:ofd="{ns}" '
        f'DocType="OFD" Version="1.1"><ofd:DocBody><ofd:DocInfo><ofd:DocID>test</ofd:DocID>'
        f"</ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>",
        "Doc_0/Document.xml": f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Document '
        f'xmlns:ofd="{ns}"><ofd:CommonData><ofd:MaxUnitID>10</ofd:MaxUnitID><ofd:PageArea>'
        f"<ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox></ofd:PageArea><ofd:PublicRes>"
        f"PublicRes.xml</ofd:PublicRes></ofd:CommonData><ofd:Pages>{page_refs}</ofd:Pages>"
        f"</ofd:Document>",
        "Doc_0/PublicRes.xml": f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Res '
        f'xmlns:ofd="{ns}" BaseLoc="Res"/>',
    }
    for i in range(pages):
        files[f"Doc_0/Pages/Page_{i}/Content.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<ofd:Page xmlns:ofd="{ns}"><ofd:Content>'
            f'<ofd:Layer ID="{i + 5}"><ofd:TextObject ID="{i + 6}" Boundary="10 10 100 10" '
            f'Font="1" Size="5"><ofd:TextCode X="0" Y="4">第{i + 1}页</ofd:TextCode>'
            f"</ofd:TextObject></ofd:Layer></ofd:Content></ofd:Page>"
        )
    return zip_files({k: v.encode() for k, v in files.items()})


def zip_files(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist() if not i.filename.endswith("/")}
