"""The signed trust list of issuer keys (issue 5 fix 2; spec §9.8): published when issuer keys
change (or daily), stored in the database and served as stored, never signed per verification,
never a key generated on a read; retired keys stay while a live licence they signed exists,
destroyed keys (how a compromised key is removed) never; the verify page shows its issue time;
offline verifiers refuse it outside its validity."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from keys.interfaces import KeyStatus, KeyUsage
from licences.model import LicenceTrustList
from licences.service_keys import kid_of
from licences.verification import TRUST_LIST_VALIDITY, verify_trust_list
from tests.api._support import assert_problem
from tests.integration.licences.conftest import Lic
from trust.crypto import SM2PublicKey
from trust.errors import VerificationFailed
from trust.signing import SignatureAlgorithm


def _keys(lic: Lic) -> list[Any]:
    with lic.app.state.session_factory() as s:
        return list(lic.app.state.keystore.list(session=s, usage=KeyUsage.LICENCE_ISSUER))


def _published(lic: Lic) -> int:
    with lic.app.state.session_factory() as s:
        return int(s.scalar(select(func.count()).select_from(LicenceTrustList)) or 0)


def _trust_list(lic: Lic) -> Any:
    anchor = lic.client.get("/licences/trust-list/anchor")
    assert anchor.status_code == 200, anchor.text
    r = lic.client.get("/licences/trust-list")
    assert r.status_code == 200, r.text
    key = SM2PublicKey.from_point(bytes.fromhex(anchor.json()["public_key"]))
    return verify_trust_list(r.content, key, now=lic.app.state.clock.now())


def _kids(lic: Lic) -> set[str]:
    return {e.kid.hex() for e in _trust_list(lic).entries}


def test_reads_before_anything_was_issued_create_no_key(lic: Lic) -> None:
    assert_problem(lic.client.get("/licences/trust-list"), 404, "licence.trust_list.not_published")
    assert_problem(
        lic.client.get("/licences/trust-list/anchor"), 404, "licence.trust_list.not_published"
    )
    page = lic.client.get("/licences/verify")
    assert page.status_code == 200
    assert "信任列表尚未发布" in page.text
    assert lic.client.get("/E").status_code == 200
    assert _keys(lic) == []
    assert _published(lic) == 0


def test_signed_once_and_served_until_the_keys_change(lic: Lic) -> None:
    data = lic.issue()
    assert _published(lic) == 1  # published by the issue that made the issuer's first key
    first = lic.client.get("/licences/trust-list")
    assert first.headers["content-type"] == "application/cose"
    assert "last-modified" in first.headers
    for _ in range(3):
        assert lic.verify_qr(data["qr_payload"])["result"] == "VALID"
    assert lic.client.get("/licences/trust-list").content == first.content
    lic.issue()  # same issuer, same key: nothing to publish
    assert _published(lic) == 1
    token = _trust_list(lic)
    assert token.sequence == 1
    assert token.expires_at == token.issued_at + TRUST_LIST_VALIDITY
    issuer_keys = [k for k in _keys(lic) if k.owner is not None]
    assert {e.kid for e in token.entries} == {kid_of(k) for k in issuer_keys}
    assert all(e.issuer_codes == (lic.org_uscc,) for e in token.entries)


def test_rotation_publishes_and_a_retired_key_stays_while_its_licences_live(lic: Lic) -> None:
    data = lic.issue()
    (old,) = [k for k in _keys(lic) if k.owner == lic.org_id]
    app = lic.app
    with app.state.session_factory() as s, s.begin():
        app.state.keystore.rotate(
            session=s,
            clock=app.state.clock,
            usage=KeyUsage.LICENCE_ISSUER,
            owner=lic.org_id,
            algorithm=SignatureAlgorithm.SM2_SM3,
        )
    states = {k.key_id: k.status for k in _keys(lic) if k.owner == lic.org_id}
    assert states[old.key_id] is KeyStatus.RETIRED
    assert sorted(states.values()) == sorted(
        [KeyStatus.RETIRED, KeyStatus.ACTIVE, KeyStatus.PENDING]
    )
    # The next read publishes the new keys and keeps the retired one: its licence lives.
    assert _trust_list(lic).sequence == 2
    assert _kids(lic) == {kid_of(k).hex() for k in _keys(lic) if k.owner == lic.org_id}
    assert lic.verify_qr(data["qr_payload"])["result"] == "VALID"
    # Once no live licence was signed by the retired key, it is dropped.
    r = lic.client.post(
        f"/licences/{data['id']}/annul", json={"reason": "企业申请注销"}, headers=lic.issuer.headers
    )
    assert r.status_code == 200, r.text
    assert _trust_list(lic).sequence == 3
    assert kid_of(old).hex() not in _kids(lic)
    assert lic.verify_qr(data["qr_payload"])["result"] == "UNKNOWN_ISSUER"


def test_a_destroyed_key_is_removed_at_once(lic: Lic) -> None:
    """A compromised issuer key is removed by destroying it: the next trust list leaves it out
    even though a live licence it signed exists; that licence's typed code still works."""
    data = lic.issue()
    (old,) = [k for k in _keys(lic) if k.owner == lic.org_id]
    app = lic.app
    with app.state.session_factory() as s, s.begin():
        keystore, clock = app.state.keystore, app.state.clock
        keystore.rotate(
            session=s,
            clock=clock,
            usage=KeyUsage.LICENCE_ISSUER,
            owner=lic.org_id,
            algorithm=SignatureAlgorithm.SM2_SM3,
        )
        keystore.destroy(session=s, clock=clock, key_id=old.key_id, reason="私钥泄露")
    assert kid_of(old).hex() not in _kids(lic)
    assert lic.verify_qr(data["qr_payload"])["result"] == "UNKNOWN_ISSUER"
    assert lic.verify_code(data["verification_code"])["result"] == "VALID"
    # Licences issued from now on verify under the new key.
    fresh = lic.issue()
    assert lic.verify_qr(fresh["qr_payload"])["result"] == "VALID"


def test_signed_again_after_a_day_and_refused_offline_when_expired(lic: Lic) -> None:
    lic.issue()
    first = lic.client.get("/licences/trust-list").content
    clock = lic.app.state.clock
    clock.advance(timedelta(hours=23))
    assert lic.client.get("/licences/trust-list").content == first
    clock.advance(timedelta(hours=2))
    assert _trust_list(lic).sequence == 2
    anchor = lic.client.get("/licences/trust-list/anchor").json()
    key = SM2PublicKey.from_point(bytes.fromhex(anchor["public_key"]))
    later = clock.now() + TRUST_LIST_VALIDITY
    with pytest.raises(VerificationFailed) as refused:
        verify_trust_list(first, key, now=later)
    assert refused.value.code == "licence.trust_list.expired"


def test_verify_page_shows_the_trust_lists_issue_time(lic: Lic) -> None:
    lic.issue()
    page = lic.client.get("/licences/verify")
    # 2026-11-22 08:00 UTC is 16:00 in Beijing.
    assert "第 1 版，签发于 2026-11-22 16:00（北京时间）" in page.text
    assert "有效至 2026-11-29 16:00" in page.text
    anchor = lic.client.get("/licences/trust-list/anchor").json()
    assert f'data-anchor="{anchor["public_key"]}"' in page.text
