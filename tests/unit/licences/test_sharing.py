"""Share-grant rules and the holder value (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from licences.service_errors import LicenceRequestInvalid
from licences.sharing import (
    Holder,
    HolderScope,
    check_share_terms,
    new_share_token,
    share_digest,
)

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
KEY = bytes(range(32))
LOOKUP = bytes(range(32, 64))


def _terms(**changes: object) -> object:
    args: dict[str, object] = {
        "fields": ["holder_name", "address", "address"],
        "allowed": ["holder_name", "address", "scope"],
        "purpose": " 办理  银行开户 ",
        "recipient": "client:cli_bank01",
        "expires_in": timedelta(days=7),
        "max_uses": 3,
        "now": NOW,
    }
    args.update(changes)
    return check_share_terms(**args)  # type: ignore[arg-type]


def test_terms_are_normalised() -> None:
    terms = _terms()
    assert terms.fields == ("holder_name", "address")  # type: ignore[attr-defined]
    assert terms.purpose == "办理 银行开户"  # type: ignore[attr-defined]
    assert terms.expires_at == NOW + timedelta(days=7)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"fields": []}, "licence.share.fields"),
        ({"fields": ["salary"]}, "licence.share.fields"),
        ({"purpose": "x" * 201}, "licence.share.purpose"),
        ({"purpose": "   "}, "licence.share.purpose"),
        ({"recipient": "anyone"}, "licence.share.recipient"),
        ({"expires_in": timedelta(days=7, seconds=1)}, "licence.share.expiry"),
        ({"max_uses": 0}, "licence.share.max_uses"),
    ],
)
def test_terms_limits(change: dict[str, object], code: str) -> None:
    with pytest.raises(LicenceRequestInvalid) as info:
        _terms(**change)
    assert info.value.code == code


def test_share_tokens_are_random_and_stored_as_mac() -> None:
    a, b = new_share_token(), new_share_token()
    assert a != b
    assert a.startswith("shr_")
    assert len(a) == 4 + 52  # 256 bits in base32
    assert share_digest(KEY, a) != share_digest(KEY, b)
    assert len(share_digest(KEY, a)) == 32


def test_holder_finds_its_scope_by_lookup() -> None:
    own, company = HolderScope(LOOKUP, "本人"), HolderScope(bytes(32), "某公司")
    holder = Holder("person:psn_x", (own, company))
    assert holder.lookups == [LOOKUP, bytes(32)]
    assert holder.scope_of(LOOKUP) is own
    assert holder.scope_of(bytes(32)) is company
    assert holder.scope_of(bytes(range(1, 33))) is None
    assert Holder("person:psn_y", ()).scope_of(LOOKUP) is None
