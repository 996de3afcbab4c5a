"""Certificate profiles: key usage and extended key usage per kind (RFC 5280 §4.2.1.3/.9/.12)."""

from __future__ import annotations

import pytest

from trust.ca.errors import UnknownProfile
from trust.ca.profiles import (
    EKU_TIME_STAMPING,
    LEAF_PROFILES,
    Profile,
    leaf_policy,
    parse_profile,
    spec_for,
)


def test_ca_profiles() -> None:
    root, issuing = spec_for(Profile.ROOT_CA), spec_for(Profile.ISSUING_CA)
    assert root.is_ca
    assert root.path_len is None
    assert issuing.is_ca
    assert issuing.path_len == 0
    assert root.key_usage == issuing.key_usage == {"key_cert_sign", "crl_sign"}
    assert root.default_validity_days == 20 * 365
    assert issuing.default_validity_days == 10 * 365
    assert Profile.ROOT_CA not in LEAF_PROFILES


@pytest.mark.parametrize("profile", sorted(LEAF_PROFILES))
def test_leaf_profiles_sign_and_never_certify(profile: Profile) -> None:
    spec = spec_for(profile)
    assert not spec.is_ca
    assert "digital_signature" in spec.key_usage
    assert not spec.key_usage & {"key_cert_sign", "crl_sign", "key_encipherment"}
    assert spec.extended_key_usage


def test_timestamp_profile_follows_rfc3161_section_2_3() -> None:
    spec = spec_for(Profile.TIMESTAMP)
    assert spec.extended_key_usage == (EKU_TIME_STAMPING,)
    assert spec.eku_critical
    policy = leaf_policy(Profile.TIMESTAMP)
    assert policy.eku_must_be_critical
    assert policy.eku_exclusive
    assert policy.extended_key_usage == {EKU_TIME_STAMPING}


def test_each_leaf_purpose_is_distinct() -> None:
    purposes = [spec_for(p).extended_key_usage[-1] for p in LEAF_PROFILES]
    assert len(set(purposes)) == len(purposes)


@pytest.mark.parametrize("text", ["seal_maker", "seal-maker", " SEAL_MAKER "])
def test_parse_profile(text: str) -> None:
    assert parse_profile(text) is Profile.SEAL_MAKER


def test_unknown_profile_is_invalid_input() -> None:
    with pytest.raises(UnknownProfile) as info:
        parse_profile("god_mode")
    assert info.value.code == "ca.unknown_profile"
    assert info.value.http_status == 400
