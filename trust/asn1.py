"""Teach asn1crypto the Chinese commercial-cryptography object identifiers (eseal spec §4, §11).

asn1crypto knows SM2/SM3 by number only. ``register_sm_oids()`` adds names for them to the
class-level OID maps, once, idempotently, before anything parses or builds a CMS object or an
X.509 certificate that carries them:

=========================  ==========================  ====================================
map                        OID                         name
=========================  ==========================  ====================================
DigestAlgorithmId          1.2.156.10197.1.401         ``sm3``        (GB/T 32905)
SignedDigestAlgorithmId    1.2.156.10197.1.501         ``sm2_sm3``    (GB/T 35276)
SignedDigestAlgorithmId    1.2.156.10197.1.301.1       ``sm2``        (SM2-1, GB/T 35275)
NamedCurve                 1.2.156.10197.1.301         ``sm2p256v1``  (GB/T 32918.5)
ContentType                1.2.156.10197.6.1.4.2.1     ``gbt35275_data``
ContentType                1.2.156.10197.6.1.4.2.2     ``gbt35275_signed_data`` (GB/T 35275)
=========================  ==========================  ====================================

asn1crypto builds each class's reverse map (name -> OID) lazily, on first use; when it has
already been built we extend it as well, so the order of imports does not matter.
"""

from __future__ import annotations

import threading
from typing import Any, Final

from asn1crypto import algos, cms, core, keys
from asn1crypto import tsp as _tsp  # noqa: F401  (registers id-ct-TSTInfo and ESS attributes)

from trust.crypto.algorithms import (
    OID_GBT35275_DATA,
    OID_GBT35275_SIGNED_DATA,
    OID_SM2_CURVE,
    OID_SM2_SIGN,
    OID_SM2_WITH_SM3,
    OID_SM3,
)

__all__ = [
    "NAME_GBT35275_DATA",
    "NAME_GBT35275_SIGNED_DATA",
    "NAME_SM2",
    "NAME_SM2P256V1",
    "NAME_SM2_SM3",
    "NAME_SM3",
    "register_sm_oids",
]

NAME_SM3: Final = "sm3"
NAME_SM2_SM3: Final = "sm2_sm3"
NAME_SM2: Final = "sm2"
NAME_SM2P256V1: Final = "sm2p256v1"
NAME_GBT35275_DATA: Final = "gbt35275_data"
NAME_GBT35275_SIGNED_DATA: Final = "gbt35275_signed_data"

_lock = threading.Lock()
_done = False


def _add(cls: Any, oid: str, name: str) -> None:
    existing = cls._map.get(oid)
    if existing is not None and existing != name:
        # Someone registered a different name first; keep theirs (the OID is what is encoded).
        return
    cls._map[oid] = name
    reverse = cls.__dict__.get("_reverse_map")
    if reverse is not None:
        reverse[name] = oid


def register_sm_oids() -> None:
    """Register the SM OIDs in asn1crypto's maps. Safe to call any number of times."""
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        _add(algos.DigestAlgorithmId, OID_SM3, NAME_SM3)
        _add(algos.SignedDigestAlgorithmId, OID_SM2_WITH_SM3, NAME_SM2_SM3)
        _add(algos.SignedDigestAlgorithmId, OID_SM2_SIGN, NAME_SM2)
        if OID_SM2_CURVE not in keys.NamedCurve._map:
            keys.NamedCurve.register(NAME_SM2P256V1, OID_SM2_CURVE, 32)
        _add(cms.ContentType, OID_GBT35275_DATA, NAME_GBT35275_DATA)
        _add(cms.ContentType, OID_GBT35275_SIGNED_DATA, NAME_GBT35275_SIGNED_DATA)
        # A GB/T 35275 signedData ContentInfo carries an ordinary CMS SignedData; GB/T 35275
        # "data" carries an OCTET STRING, exactly like id-data.
        cms.ContentInfo._oid_specs.setdefault(NAME_GBT35275_SIGNED_DATA, cms.SignedData)
        cms.ContentInfo._oid_specs.setdefault(NAME_GBT35275_DATA, core.OctetString)
        cms.EncapsulatedContentInfo._oid_specs.setdefault(NAME_GBT35275_SIGNED_DATA, cms.SignedData)
        _done = True
