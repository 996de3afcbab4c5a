"""Certificate authority: an SM2 root and issuing CA, X.509 v3 profiles, revocation, CRLs, a trust
list, and SM2-aware certification-path validation (RFC 5280, GB/T 20518).

Kernel package: it imports no capability package and no key custody. It signs through a
``trust.signing.Signer`` and receives public keys as DER bytes.
"""
