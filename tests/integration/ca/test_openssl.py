"""The OpenSSL 3 CLI as an independent verifier of what the CA produces.

``openssl verify -vfyopt distid:...`` applies the SM2 ID only at depth 0 (openssl/openssl#23471,
eseal spec §10), so the chain is verified link by link: root -> issuing with ``-CAfile root``,
issuing -> leaf with ``-partial_chain -CAfile issuing``. ``openssl crl -verify`` has no distid
option at all (it verifies with an empty ID), so the CRL signature is checked with
``openssl dgst -sm3 -sigopt distid:...`` over the ``tbsCertList`` cut out by ``asn1parse``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.integration.ca.conftest import CaFixture
from tests.unit.ca._support import ID_OPT, SM2TestSigner, pem, run_openssl
from trust.ca import service
from trust.ca.profiles import EKU_TIME_STAMPING, LEAF_PROFILES, Profile, spec_for
from trust.clock import FixedClock

#: How OpenSSL 3.0 prints the purposes it knows; the project's own OIDs appear numerically.
_EKU_NAMES = {
    EKU_TIME_STAMPING: "Time Stamping",
    "1.3.6.1.5.5.7.3.2": "TLS Web Client Authentication",
}
_KU_NAMES = {
    "digital_signature": "Digital Signature",
    "non_repudiation": "Non Repudiation",
    "key_cert_sign": "Certificate Sign",
    "crl_sign": "CRL Sign",
}
_KU_ORDER = ["digital_signature", "non_repudiation", "key_cert_sign", "crl_sign"]


def _attime(clock: FixedClock) -> str:
    return str(int((clock.now() + timedelta(minutes=1)).timestamp()))


def _ext_block(text: str, name: str) -> tuple[str, str]:
    """(header line, first value line) of extension ``name`` in ``openssl x509 -text`` output."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith(f"X509v3 {name}:"):
            return line.strip(), lines[i + 1].strip()
    raise AssertionError(f"no {name} in:\n{text}")


@pytest.fixture
def issued(
    ca: CaFixture, db: sessionmaker[Session], clock: FixedClock, tmp_path: Path
) -> dict[str, Path]:
    """root.pem, issuing.pem and one <profile>.pem per leaf profile, written to tmp_path."""
    files = {"root": tmp_path / "root.pem", "issuing": tmp_path / "issuing.pem"}
    files["root"].write_text(ca.init.root.pem)
    files["issuing"].write_text(ca.init.issuing.pem)
    with db() as s, s.begin():
        for profile in sorted(LEAF_PROFILES):
            cert = service.issue_certificate(
                session=s,
                clock=clock,
                issuer_signer=ca.issuing,
                subject_public_key_der=SM2TestSigner().public_key_der(),
                subject={"CN": f"{profile.value} leaf", "O": "Test Agency"},
                profile=profile,
                actor="test",
            )
            files[profile.value] = tmp_path / f"{profile.value}.pem"
            files[profile.value].write_text(cert.pem)
    return files


def test_every_link_verifies_with_openssl(issued: dict[str, Path], clock: FixedClock) -> None:
    t = _attime(clock)
    out = run_openssl(
        "verify",
        "-attime",
        t,
        "-vfyopt",
        ID_OPT,
        "-CAfile",
        "root.pem",
        "root.pem",
        cwd=issued["root"].parent,
    )
    assert out.stdout.strip() == "root.pem: OK"
    out = run_openssl(
        "verify",
        "-attime",
        t,
        "-vfyopt",
        ID_OPT,
        "-CAfile",
        "root.pem",
        "issuing.pem",
        cwd=issued["root"].parent,
    )
    assert out.stdout.strip() == "issuing.pem: OK"
    for profile in sorted(LEAF_PROFILES):
        name = f"{profile.value}.pem"
        out = run_openssl(
            "verify",
            "-attime",
            t,
            "-vfyopt",
            ID_OPT,
            "-partial_chain",
            "-CAfile",
            "issuing.pem",
            name,
            cwd=issued["root"].parent,
        )
        assert out.stdout.strip() == f"{name}: OK", out.stderr


def test_openssl_refuses_a_leaf_against_the_wrong_ca(
    issued: dict[str, Path], clock: FixedClock
) -> None:
    # The root did not sign the leaf: with only the root as CA file there is no path.
    out = run_openssl(
        "verify",
        "-attime",
        _attime(clock),
        "-vfyopt",
        ID_OPT,
        "-partial_chain",
        "-CAfile",
        "root.pem",
        "seal_maker.pem",
        cwd=issued["root"].parent,
        check=False,
    )
    assert out.returncode != 0


def test_openssl_without_the_distid_fails(issued: dict[str, Path], clock: FixedClock) -> None:
    """Negative control: the certificates really are signed with the default SM2 ID."""
    out = run_openssl(
        "verify",
        "-attime",
        _attime(clock),
        "-CAfile",
        "root.pem",
        "issuing.pem",
        cwd=issued["root"].parent,
        check=False,
    )
    assert out.returncode != 0


def test_openssl_shows_the_profile_extensions(issued: dict[str, Path]) -> None:
    for profile in [Profile.ROOT_CA, Profile.ISSUING_CA, *sorted(LEAF_PROFILES)]:
        key = {"root_ca": "root", "issuing_ca": "issuing"}.get(profile.value, profile.value)
        text = run_openssl("x509", "-in", str(issued[key]), "-noout", "-text").stdout
        spec = spec_for(profile)
        assert "Signature Algorithm: SM2-with-SM3" in text
        assert "ASN1 OID: SM2" in text
        header, value = _ext_block(text, "Basic Constraints")
        assert header.endswith("critical")
        expected_bc = "CA:TRUE" if spec.is_ca else "CA:FALSE"
        if spec.path_len is not None:
            expected_bc += f", pathlen:{spec.path_len}"
        assert value == expected_bc
        header, value = _ext_block(text, "Key Usage")
        assert header.endswith("critical")
        assert value == ", ".join(_KU_NAMES[k] for k in _KU_ORDER if k in spec.key_usage)
        if spec.extended_key_usage:
            header, value = _ext_block(text, "Extended Key Usage")
            assert header.endswith("critical") is spec.eku_critical
            assert value == ", ".join(_EKU_NAMES.get(p, p) for p in spec.extended_key_usage)
        else:
            assert "Extended Key Usage" not in text
        if not spec.is_ca:
            assert "URI:http://127.0.0.1:8000/ca/crl" in text


def _asn1_items(path: Path) -> list[tuple[int, int, str]]:
    """(offset, depth, type) of every item ``openssl asn1parse`` lists."""
    out = run_openssl("asn1parse", "-inform", "DER", "-in", str(path)).stdout
    items = []
    for line in out.splitlines():
        m = re.match(
            r"\s*(\d+):d=(\d+)\s+hl=\s*\d+\s+l=\s*\d+\s+(?:prim|cons):\s+(.+?)\s*(?::|$)", line
        )
        if m:
            items.append((int(m.group(1)), int(m.group(2)), m.group(3).strip()))
    return items


def test_crl_parses_and_its_signature_verifies_with_openssl(
    ca: CaFixture, db: sessionmaker[Session], clock: FixedClock, tmp_path: Path
) -> None:
    with db() as s, s.begin():
        victim = service.issue_certificate(
            session=s,
            clock=clock,
            issuer_signer=ca.issuing,
            subject_public_key_der=SM2TestSigner().public_key_der(),
            subject={"CN": "victim"},
            profile="seal_holder",
            actor="test",
        )
        service.revoke(
            session=s, clock=clock, serial=victim.serial, reason="keyCompromise", actor="t"
        )
        der = service.build_crl(session=s, clock=clock, issuer_signer=ca.issuing)
    crl = tmp_path / "crl.der"
    crl.write_bytes(der)
    text = run_openssl("crl", "-inform", "DER", "-in", str(crl), "-text", "-noout").stdout
    assert "Version 2 (0x1)" in text
    assert "Signature Algorithm: SM2-with-SM3" in text
    assert re.search(r"X509v3 CRL Number:\s*\n\s*1\n", text)
    serial = victim.serial.upper()
    assert f"Serial Number: {'0' * (len(serial) % 2)}{serial}" in text
    assert "Key Compromise" in text
    assert "Issuer: C = CN, O = " in text
    # Independent signature check: cut tbsCertList and the signature out with asn1parse and
    # verify with the issuing CA's public key and the default SM2 ID.
    items = _asn1_items(crl)
    assert items[1][:2] == (4, 1)  # tbsCertList
    sig_offset = next(o for o, d, t in items if d == 1 and t == "BIT STRING")
    run_openssl(
        "asn1parse",
        "-inform",
        "DER",
        "-in",
        "crl.der",
        "-strparse",
        "4",
        "-out",
        "tbs.der",
        "-noout",
        cwd=tmp_path,
    )
    run_openssl(
        "asn1parse",
        "-inform",
        "DER",
        "-in",
        "crl.der",
        "-strparse",
        str(sig_offset),
        "-out",
        "sig.der",
        "-noout",
        cwd=tmp_path,
    )
    (tmp_path / "issuing.pem").write_text(ca.init.issuing.pem)
    pub = run_openssl("x509", "-in", "issuing.pem", "-pubkey", "-noout", cwd=tmp_path).stdout
    (tmp_path / "pub.pem").write_text(pub)
    out = run_openssl(
        "dgst",
        "-sm3",
        "-verify",
        "pub.pem",
        "-sigopt",
        ID_OPT,
        "-signature",
        "sig.der",
        "tbs.der",
        cwd=tmp_path,
    )
    assert out.stdout.strip() == "Verified OK"
    # ... and with the root's key it must not verify.
    (tmp_path / "root.pem").write_text(ca.init.root.pem)
    (tmp_path / "rootpub.pem").write_text(
        run_openssl("x509", "-in", "root.pem", "-pubkey", "-noout", cwd=tmp_path).stdout
    )
    bad = run_openssl(
        "dgst",
        "-sm3",
        "-verify",
        "rootpub.pem",
        "-sigopt",
        ID_OPT,
        "-signature",
        "sig.der",
        "tbs.der",
        cwd=tmp_path,
        check=False,
    )
    assert bad.returncode != 0
    # `openssl crl -verify` cannot pass the SM2 ID (OpenSSL 3.0): it verifies with an empty ID.
    plain = run_openssl(
        "crl",
        "-inform",
        "DER",
        "-in",
        "crl.der",
        "-CAfile",
        "issuing.pem",
        "-noout",
        "-verify",
        cwd=tmp_path,
        check=False,
    )
    assert (
        "verify OK" in plain.stderr + plain.stdout
        or "verify failure" in plain.stderr + plain.stdout
    )


def test_pem_helper_matches_service_pem(ca: CaFixture) -> None:
    assert pem(ca.init.root.der) == ca.init.root.pem
