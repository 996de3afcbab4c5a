"""Storage form and checking of client secrets and API tokens."""

from __future__ import annotations

from trust.crypto import hmac_sm3
from trust.ids import new_id, new_secret
from trust.principals.credentials import (
    looks_like_client_id,
    secret_matches,
    split_token,
    store_secret,
)


def test_stored_form_is_hmac_sm3_under_a_fresh_salt() -> None:
    secret = new_secret(32)
    one, two = store_secret(secret), store_secret(secret)
    assert len(one.salt) == 16
    assert len(one.digest) == 32
    assert one.salt != two.salt
    assert one.digest != two.digest
    assert one.digest == hmac_sm3(one.salt, secret.encode())
    assert secret.encode() not in one.digest + one.salt


def test_secret_matches_only_the_right_secret() -> None:
    secret = new_secret(32)
    stored = store_secret(secret)
    assert secret_matches(secret, stored)
    assert not secret_matches(secret + "x", stored)
    assert not secret_matches(secret[:-1], stored)
    assert not secret_matches("", stored)


def test_missing_row_never_matches() -> None:
    assert not secret_matches("", None)
    assert not secret_matches(new_secret(32), None)


def test_token_format() -> None:
    token_id, secret = new_id("tok"), new_secret(32)
    assert split_token(f"{token_id}.{secret}") == (token_id, secret)
    assert split_token(secret) is None
    assert split_token(f"{token_id}.") is None
    assert split_token(f"{token_id}.short") is None
    assert split_token(f"TOK_X.{secret}") is None
    assert split_token(f"{token_id}.{secret}.extra") is None


def test_client_id_shape() -> None:
    assert looks_like_client_id(new_id("cli"))
    assert not looks_like_client_id("")
    assert not looks_like_client_id("cli_" + "a" * 200)
    assert not looks_like_client_id("cli_abc'; drop table")
