"""The evidence folder of a stored package: for a PDF decision signed with a signature timestamp
and an OFD licence whose SES signature carries one, the package holds each signer's and the
seal maker's certificate chain (PEM, leaf to trust anchor), each timestamp token byte for byte,
and the current CRLs of our CA - enough to re-check every seal later without the systems that
made them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from archive.retrieval import export_package
from archive.service_tools import archive_store
from keys.interfaces import KeyUsage
from seals.ofd_writer import SealPlacement, seal_ofd, ses_signature_callback
from seals.stamping import Placement, TsaTimeStamper, stamp_pdf
from tests.integration.archive.conftest import ArchiveWorld
from tests.unit.archive.case_factory import DECIDED_AT, LICENSED_AT, seal_png
from tests.unit.seals._ses_support import make_pki, make_test_seal, minimal_ofd
from tests.unit.seals.pdf_fixtures import make_pdf, make_test_signer
from trust.ca import service as ca_service
from trust.ca.anchors import add_trust_anchor
from trust.ca.crl import parse_crl
from trust.ca.x509 import parse_certificate, pem_to_der_list
from trust.crypto import sm3
from trust.crypto.algorithms import OID_SM3
from trust.tsa.service import timestamp as tsa_timestamp

DECISION = "0006-准予许可决定书.pdf"
LICENCE = "0007-电子证照.ofd"


def _timestamped_documents(
    world: ArchiveWorld, s: Session
) -> tuple[dict[str, bytes], list[bytes], dict[str, bytes]]:
    """A decision PDF and a licence OFD, each timestamped by the service's TSA; their roots on
    the trust list. Returns the files, every token the TSA issued and the leaf certificates."""
    tsa = world.keystore.active_signer(session=s, usage=KeyUsage.TIMESTAMP)
    issued: list[bytes] = []

    def token(oid: str, digest: bytes) -> bytes:
        der = tsa_timestamp(
            clock=world.clock,
            signer=tsa,
            digest_algorithm_oid=oid,
            digest=digest,
            policy_oid=world.settings.tsa_policy_oid,
        )
        issued.append(der)
        return der

    pdf_signer = make_test_signer("某某市行政审批服务局")
    decision = stamp_pdf(
        make_pdf(pages=2, keyword=None),
        signer=pdf_signer,
        seal_image_png=seal_png(),
        seal_size_mm=(40.0, 40.0),
        placement=Placement(page=1, x_mm=120, y_mm=200),
        signing_time=DECIDED_AT,
        reason="准予行政许可",
        timestamper=TsaTimeStamper(token),
    )
    pki = make_pki()
    seal = make_test_seal(pki)
    licence = seal_ofd(
        minimal_ofd(pages=1),
        seal_der=seal,
        placement=SealPlacement(page_index=0, x_mm=120, y_mm=200, width_mm=40, height_mm=40),
        signing_time=LICENSED_AT,
        sign_ses=ses_signature_callback(
            seal_der=seal,
            signer_cert=pki.signer.cert,
            sign=pki.signer.sign,
            signing_time=LICENSED_AT,
            timestamp=lambda signature: token(OID_SM3, sm3(signature)),
        ),
    )
    for n, root in enumerate((pdf_signer.chain[-1], pki.root.cert)):
        add_trust_anchor(session=s, clock=world.clock, pem=root, actor="t", label=f"ts-{n}")
    leaves = {
        "pdf_signer": pdf_signer.chain[0],
        "ofd_signer": pki.signer.cert,
        "maker": pki.maker.cert,
    }
    return {DECISION: decision, LICENCE: licence}, issued, leaves


def _chain(path: Path) -> list[bytes]:
    return pem_to_der_list(path.read_bytes())


def test_chains_timestamps_and_crls_are_kept_as_evidence(
    world: ArchiveWorld, tmp_path: Path
) -> None:
    with world.db() as s, s.begin():
        files, issued, leaves = _timestamped_documents(world, s)
    assert len(issued) >= 2  # at least one token per document (pyHanko may size with a dummy)

    def closed_after_the_timestamps(case: dict[str, Any]) -> None:
        # the OFD seal's signing time is its timestamp's (today): the case closes after it
        case["nodes"][-1]["time"] = "2026-11-22T16:00:00+08:00"  # = the clock

    folder = world.case(extra_files=files, mutate=closed_after_the_timestamps).path
    done = world.ingest(folder)
    assert done.report is not None
    assert done.report["verdict"] == "passed", done.report
    out = tmp_path / "bag"
    with world.db() as s, s.begin():
        export_package(
            session=s,
            clock=world.clock,
            store=archive_store(world.settings),
            ref=done.package.id,
            dest=out,
            actor="t",
            purpose="核对证据",
        )
        anchors = ca_service.trust_anchors_der(session=s)
        issuing = ca_service.authority_certificate(session=s)
    evidence = out / "data/evidence"
    pdf_dir, ofd_dir = evidence / "seals" / DECISION, evidence / "seals" / LICENCE

    # PDF: the signer's chain ends at a trust anchor; the signature timestamp token is kept
    pdf_chain = _chain(pdf_dir / "signer-chain-0.pem")
    assert pdf_chain[0] == leaves["pdf_signer"]
    assert len(pdf_chain) == 2
    assert pdf_chain[-1] in anchors
    pdf_token = (pdf_dir / "timestamp-0-signature.tsr").read_bytes()
    assert pdf_token in issued

    # OFD: the seal signer's and the seal maker's chains; the SES signature's timestamp
    signer_chain = _chain(ofd_dir / "signer-chain-0.pem")
    maker_chain = _chain(ofd_dir / "maker-chain-0.pem")
    assert (signer_chain[0], maker_chain[0]) == (leaves["ofd_signer"], leaves["maker"])
    assert signer_chain[-1] in anchors
    assert maker_chain[-1] in anchors
    ofd_token = (ofd_dir / "timestamp-0-signature.tsr").read_bytes()
    assert ofd_token in issued

    # our CA's current CRL, issued by our issuing CA
    crl = parse_crl((evidence / "crl" / "issuing-ca.crl").read_bytes())
    assert crl.issuer_name.dump() == parse_certificate(issuing.der).subject_name.dump()
    # every evidence file is in the payload manifests (fixed by the package root)
    manifest = (out / "manifest-sm3.txt").read_text(encoding="utf-8")
    for p in evidence.rglob("*"):
        if p.is_file():
            assert re.search(rf"  {re.escape(p.relative_to(out).as_posix())}$", manifest, re.M)
