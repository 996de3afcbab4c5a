"""``AnchorListEvaluator``: a small SM2-aware chain builder over a fixed list of anchors.

A stand-in for ``trust.ca.path`` (which the service will wire in). Rules, RFC 5280 §6.1 reduced to
what seal certificates need: issuer found by exact subject DER match; every certificate signature
SM2-with-SM3 verified with the default user ID over the raw ``tbsCertificate``; every certificate in
the chain (anchor included) within its validity at ``at``; every issuer, anchor included, has
basicConstraints CA:TRUE and, when keyUsage is present, keyCertSign (so the ofdrw test root, which
lacks keyCertSign, is refused: eseal spec §9); the leaf's keyUsage, when present, allows signing.
Revocation is not checked here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from seals.ports import CertPurpose, TrustOutcome, TrustStatus
from seals.x509 import Certificate, parse_certificate
from trust.crypto.algorithms import OID_SM2_WITH_SM3
from trust.crypto.sm2 import SM2PublicKey, sm2_verify
from trust.errors import TrustError

__all__ = ["AnchorListEvaluator"]

_MAX_CHAIN: Final = 8
_SIGNING_USAGES: Final = frozenset({"digitalSignature", "nonRepudiation"})


def _invalid(reason: str, detail: str, chain: Sequence[Certificate] = ()) -> TrustOutcome:
    return TrustOutcome(TrustStatus.INVALID, reason, detail, tuple(c.subject_text() for c in chain))


def _signed_by(child: Certificate, issuer: Certificate) -> bool:
    if child.signature_algorithm != OID_SM2_WITH_SM3:
        return False
    try:
        sm2_verify(SM2PublicKey.from_certificate(issuer.der), child.tbs, child.signature)
    except TrustError:
        return False
    return True


class AnchorListEvaluator:
    """Trust exactly the given anchor certificates (DER); ``intermediates`` help build chains."""

    def __init__(self, anchors: Sequence[bytes], intermediates: Sequence[bytes] = ()) -> None:
        self._anchors = tuple(parse_certificate(a) for a in anchors)
        self._intermediates = tuple(parse_certificate(i) for i in intermediates)

    def evaluate(self, certificate: bytes, *, at: datetime, purpose: CertPurpose) -> TrustOutcome:
        try:
            leaf = parse_certificate(certificate)
        except TrustError as exc:
            return _invalid("trust.malformed_certificate", exc.detail)
        if leaf.key_usage is not None and not leaf.key_usage & _SIGNING_USAGES:
            return _invalid(
                "trust.leaf_key_usage",
                f"keyUsage allows neither digitalSignature nor nonRepudiation (purpose {purpose})",
                (leaf,),
            )
        chain: list[Certificate] = [leaf]
        current = leaf
        while len(chain) <= _MAX_CHAIN:
            if not current.valid_at(at):
                return _invalid(
                    "trust.certificate_not_valid_at_time",
                    f"{current.subject_text()} not valid at {at.isoformat()}",
                    chain,
                )
            if current.unknown_critical_extensions:
                return _invalid(
                    "trust.unknown_critical_extension",
                    ", ".join(current.unknown_critical_extensions),
                    chain,
                )
            anchor = next((a for a in self._anchors if a.der == current.der), None)
            if anchor is not None:
                return self._check_anchor(anchor, chain, at)
            issuer = self._find_issuer(current, chain)
            if isinstance(issuer, TrustOutcome):
                return issuer
            chain.append(issuer)
            current = issuer
        return _invalid("trust.chain_too_long", f"more than {_MAX_CHAIN} certificates", chain)

    def _find_issuer(
        self, cert: Certificate, chain: list[Certificate]
    ) -> Certificate | TrustOutcome:
        candidates = [
            c
            for c in self._anchors + self._intermediates
            if c.subject_der == cert.issuer_der and c not in chain
        ]
        if not candidates:
            if cert.subject_der == cert.issuer_der:
                return TrustOutcome(
                    TrustStatus.NO_TRUSTED_ANCHOR,
                    "trust.untrusted_root",
                    f"self-issued {cert.subject_text()} is not an anchor",
                )
            return TrustOutcome(
                TrustStatus.NO_TRUSTED_ANCHOR,
                "trust.issuer_unknown",
                f"issuer {cert.issuer_text()} not available",
                tuple(c.subject_text() for c in chain),
            )
        for issuer in candidates:
            if _signed_by(cert, issuer):
                is_anchor = any(a.der == issuer.der for a in self._anchors)
                problem = None if is_anchor else self._issuer_problem(issuer)
                if problem is not None:
                    return _invalid(problem, f"issuer {issuer.subject_text()}", [*chain, issuer])
                return issuer
        return _invalid(
            "trust.certificate_signature_invalid",
            f"{cert.subject_text()} is not signed by any candidate issuer",
            chain,
        )

    @staticmethod
    def _issuer_problem(issuer: Certificate) -> str | None:
        if issuer.is_ca is not True:
            return "trust.issuer_not_ca"
        if issuer.key_usage is not None and "keyCertSign" not in issuer.key_usage:
            return "trust.issuer_lacks_key_cert_sign"
        return None

    def _check_anchor(
        self, anchor: Certificate, chain: list[Certificate], at: datetime
    ) -> TrustOutcome:
        if len(chain) == 1:  # the certificate itself is configured as an anchor (pinning)
            return TrustOutcome(
                TrustStatus.TRUSTED,
                "trust.leaf_is_anchor",
                "the certificate is itself a configured anchor",
                (anchor.subject_text(),),
            )
        if anchor.is_ca is not True:
            return _invalid("trust.anchor_not_ca", anchor.subject_text(), chain)
        if anchor.key_usage is not None and "keyCertSign" not in anchor.key_usage:
            return _invalid("trust.anchor_lacks_key_cert_sign", anchor.subject_text(), chain)
        return TrustOutcome(
            TrustStatus.TRUSTED,
            "trust.chain_ok",
            f"chains to {anchor.subject_text()}",
            tuple(c.subject_text() for c in chain),
        )
