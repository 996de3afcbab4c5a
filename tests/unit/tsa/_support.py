"""A pure test TSA: root -> issuing -> time-stamping certificate, no database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tests.unit.ca._support import PureCert, make_cert
from trust.ca.profiles import Profile

AT = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
POLICY = "1.2.156.112233.1.1"


@dataclass
class TsaFixture:
    root: PureCert
    issuing: PureCert
    tsa: PureCert


def make_tsa(profile: Profile = Profile.TIMESTAMP, days: int = 365) -> TsaFixture:
    root = make_cert(
        subject_cn="Root", profile=Profile.ROOT_CA, issuer=None, not_before=AT, days=7300
    )
    issuing = make_cert(
        subject_cn="Issuing", profile=Profile.ISSUING_CA, issuer=root, not_before=AT, days=3650
    )
    tsa = make_cert(subject_cn="TSA", profile=profile, issuer=issuing, not_before=AT, days=days)
    tsa.signer.chain = (tsa.der, issuing.der, root.der)
    return TsaFixture(root, issuing, tsa)
