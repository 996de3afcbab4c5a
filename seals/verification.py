"""Public surface of seal verification (eseal spec §5, §7.3, §8; GB/T 38540-2020 §7.3).

``verify_seal`` checks one SESeal, ``verify_ses_signature`` one SES_Signature against its
original, ``verify_ofd`` every signature of an OFD package. Each returns a frozen result with one
``Check`` per question and a fail-closed verdict (VALID / INVALID / INDETERMINATE with a reason
code); ``to_dict()`` gives JSON-ready output. Trust in certificates and timestamps is asked of
pluggable objects:
``TrustEvaluator`` (``NoTrustAnchors`` by default in tests; ``AnchorListEvaluator`` as a simple
stand-in for ``trust.ca.path``) and ``TimestampVerifier``.
"""

from __future__ import annotations

from seals.anchors import AnchorListEvaluator
from seals.ports import (
    CertPurpose,
    NoTrustAnchors,
    TimestampOutcome,
    TimestampStatus,
    TimestampVerifier,
    TrustEvaluator,
    TrustOutcome,
    TrustStatus,
)
from seals.results import (
    REASON_DOCUMENT_MODIFIED,
    Check,
    CheckStatus,
    OfdVerification,
    ReferenceResult,
    ReferenceStatus,
    SealVerification,
    SignatureVerification,
    Verdict,
)
from seals.verify_ofd import verify_ofd, verify_signed_data
from seals.verify_ses import verify_seal, verify_ses_signature

__all__ = [
    "REASON_DOCUMENT_MODIFIED",
    "AnchorListEvaluator",
    "CertPurpose",
    "Check",
    "CheckStatus",
    "NoTrustAnchors",
    "OfdVerification",
    "ReferenceResult",
    "ReferenceStatus",
    "SealVerification",
    "SignatureVerification",
    "TimestampOutcome",
    "TimestampStatus",
    "TimestampVerifier",
    "TrustEvaluator",
    "TrustOutcome",
    "TrustStatus",
    "Verdict",
    "verify_ofd",
    "verify_seal",
    "verify_ses_signature",
    "verify_signed_data",
]
