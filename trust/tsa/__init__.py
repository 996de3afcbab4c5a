"""RFC 3161 time-stamp authority with SM2/SM3: TimeStampReq parsing, TSTInfo in a GB/T 35275
SignedData, TimeStampResp, and a verifier for such tokens.

Kernel package: it imports no capability package and no key custody; it signs through a
``trust.signing.Signer`` whose certificate chain comes from ``trust.ca``.
"""
