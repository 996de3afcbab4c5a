"""SM OIDs are registered in asn1crypto's maps once, idempotently, in both directions."""

from __future__ import annotations

from asn1crypto import algos, cms, keys

from trust.asn1 import register_sm_oids


def test_registration_is_idempotent_and_maps_both_ways() -> None:
    register_sm_oids()
    register_sm_oids()
    assert algos.DigestAlgorithmId.map("1.2.156.10197.1.401") == "sm3"
    assert algos.DigestAlgorithmId.unmap("sm3") == "1.2.156.10197.1.401"
    assert algos.SignedDigestAlgorithmId.unmap("sm2_sm3") == "1.2.156.10197.1.501"
    assert algos.SignedDigestAlgorithmId.unmap("sm2") == "1.2.156.10197.1.301.1"
    assert keys.NamedCurve.unmap("sm2p256v1") == "1.2.156.10197.1.301"
    assert cms.ContentType.unmap("gbt35275_signed_data") == "1.2.156.10197.6.1.4.2.2"
    assert cms.ContentType.unmap("gbt35275_data") == "1.2.156.10197.6.1.4.2.1"


def test_names_encode_to_the_sm_oids() -> None:
    register_sm_oids()
    alg = algos.DigestAlgorithm({"algorithm": "sm3"})
    assert alg.dump().hex() == "300a06082a811ccf55018311"
    sig = algos.SignedDigestAlgorithm({"algorithm": "sm2_sm3"})
    assert sig["algorithm"].dotted == "1.2.156.10197.1.501"


def test_gbt35275_signed_data_content_info_parses_as_signed_data() -> None:
    register_sm_oids()
    info = cms.ContentInfo(
        {
            "content_type": "gbt35275_signed_data",
            "content": cms.SignedData(
                {
                    "version": "v1",
                    "digest_algorithms": [{"algorithm": "sm3"}],
                    "encap_content_info": {"content_type": "gbt35275_data"},
                    "signer_infos": [],
                }
            ),
        }
    )
    parsed = cms.ContentInfo.load(info.dump())
    assert isinstance(parsed["content"], cms.SignedData)
    assert parsed["content"]["digest_algorithms"][0]["algorithm"].native == "sm3"
