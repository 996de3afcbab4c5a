"""The evidence folder of a case package (earchive spec §1, §7.2; DA/T 97-2023 keeping
evidential value): everything needed to re-check each seal and signature later without the
systems that made them.

Under ``data/evidence/``:

- ``seals/<file>/report-<n>.json``: the verifier's report at ingest (PDF or OFD signature,
  detached SES signature, seal file);
- ``seals/<file>/signer-chain-<n>.pem`` and ``maker-chain-<n>.pem``: the signer's (签章人) and,
  for SES seals, the seal maker's (制章人) certificate followed by its issuers up to the trust
  anchor, as far as they can be found in the signature itself, the service trust list and our
  CA's intermediates (PEM, leaf first);
- ``seals/<file>/timestamp-<n>-signature.tsr`` / ``timestamp-<n>-seal.tsr``: the RFC 3161 /
  GB/T 20520 tokens carried by the signature and by a v5 seal, byte for byte;
- ``crl/<issuer>-<number>.crl``: the current CRL of each authority of our CA (DER), so that
  revocation of certificates we issued is fixed as it stood at ingest.

Chains are built with ``trust.ca.path.validate_chain`` (path building only: the judgement is
the report's); pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from archive.bag import BagEntry
from archive.checks_report import CheckReport, SealEvidence
from trust.ca.path import validate_chain
from trust.ca.policy import LeafPolicy
from trust.ca.x509 import certificate_to_pem

__all__ = ["CertificatePool", "CrlFile", "build_chain", "evidence_entries"]

#: path building only: no leaf requirement (the verifiers judged the leaf)
_ANY_LEAF: Final = LeafPolicy(
    key_usage=frozenset(),
    extended_key_usage=frozenset(),
    eku_must_be_critical=False,
    eku_exclusive=False,
    end_entity=False,
)


@dataclass(frozen=True, slots=True)
class CertificatePool:
    """Certificates a chain may be built from: the trust list and our CA's intermediates."""

    anchors: tuple[bytes, ...] = ()
    intermediates: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class CrlFile:
    name: str  # file name under evidence/crl/, e.g. "issuing-3.crl"
    der: bytes


def build_chain(
    leaf: bytes, *, carried: Sequence[bytes], pool: CertificatePool, at: datetime
) -> tuple[bytes, ...]:
    """``leaf`` and its issuers (leaf first), up to an anchor when one is reachable."""
    result = validate_chain(
        leaf=leaf,
        intermediates=[*carried, *pool.intermediates],
        trust_anchors=pool.anchors,
        at=at,
        policy=_ANY_LEAF,
        revocation=None,
    )
    return result.chain or (leaf,)


def _pem(chain: Iterable[bytes]) -> bytes:
    return "".join(certificate_to_pem(der) for der in chain).encode("ascii")


def _seal_entries(ev: SealEvidence, pool: CertificatePool, now: datetime) -> list[BagEntry]:
    base = f"evidence/seals/{ev.subject}"
    out = [BagEntry(f"{base}/report-{ev.index}.json", ev.report_json.encode())]
    at = ev.signing_time or now
    for role, cert in (("signer", ev.signer_certificate), ("maker", ev.maker_certificate)):
        if cert is not None:
            chain = build_chain(cert, carried=ev.certificates, pool=pool, at=at)
            out.append(BagEntry(f"{base}/{role}-chain-{ev.index}.pem", _pem(chain)))
    for label, token in ev.timestamps:
        out.append(BagEntry(f"{base}/timestamp-{ev.index}-{label}.tsr", token))
    return out


def evidence_entries(
    report: CheckReport, *, pool: CertificatePool, crls: Sequence[CrlFile], now: datetime
) -> list[BagEntry]:
    """The ``evidence/`` payload entries of a checked case (module docstring)."""
    out = [e for ev in report.seals for e in _seal_entries(ev, pool, now)]
    out += [BagEntry(f"evidence/crl/{c.name}", c.der) for c in crls]
    return out
