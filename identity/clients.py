"""Relying-party client metadata rules (pure): OIDC Dynamic Client Registration 1.0 §2 field
names, RFC 6749 §3.1.2 redirect URIs, RFC 8252 native apps, RFC 9700 §2.1.

* Redirect URIs are absolute, without fragment; ``https``, or ``http`` only on a loopback host
  (RFC 8252 §7.3), or a private-use scheme with a dot (RFC 8252 §7.1) for public clients
  (apps, mini-programs). Matching is exact string comparison (``identity.authorize``).
* ``confidential`` clients authenticate with ``client_secret_basic`` or ``client_secret_post``;
  ``public`` clients have no secret, use ``none`` and may not use client credentials. PKCE is
  mandatory for everyone anyway.
* The pairwise sector is the ``sector_identifier`` given, else the host of the redirect URIs
  (all must share one host, OIDC Core §8.1, unless a sector is given).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlsplit

from identity.assurance import AcrValue
from identity.authorize import SUPPORTED_SCOPES
from identity.oidc_errors import InvalidClientRegistration

__all__ = [
    "DEFAULT_GRANT_TYPES",
    "DEFAULT_SCOPES",
    "GRANT_TYPES",
    "ClientKind",
    "ClientMetadata",
    "check_client_metadata",
]

ClientKind = Literal["confidential", "public"]
GRANT_TYPES: Final = (
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:device_code",
)
DEFAULT_GRANT_TYPES: Final = ("authorization_code", "refresh_token")
DEFAULT_SCOPES: Final = tuple(s for s in SUPPORTED_SCOPES if s != "realname_id")
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
_MAX_URIS: Final = 20


@dataclass(frozen=True, slots=True)
class ClientMetadata:
    name: str
    kind: ClientKind
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    backchannel_logout_uri: str | None
    sector_id: str
    allowed_scopes: tuple[str, ...]
    grant_types: tuple[str, ...]
    min_acr: str | None


def _bad(message: str) -> InvalidClientRegistration:
    return InvalidClientRegistration(message)


def _check_uri(uri: str, *, kind: ClientKind, what: str) -> str:
    if not isinstance(uri, str) or not 1 <= len(uri) <= 500 or not uri.isprintable():
        raise _bad(f"{what} 无效")
    parts = urlsplit(uri)
    if parts.fragment or "#" in uri:
        raise _bad(f"{what} 不得含片段（#）")
    if parts.scheme == "https" and parts.hostname:
        return uri
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return uri
    if kind == "public" and "." in parts.scheme and what == "redirect_uri":
        return uri  # RFC 8252 §7.1 private-use scheme, reverse domain name
    raise _bad(f"{what} 须为 https，或环回地址上的 http：{uri[:80]}")


def _sector(redirect_uris: Sequence[str], sector: str | None) -> str:
    if sector:
        if len(sector) > 200 or not sector.isprintable():
            raise _bad("sector_identifier 无效")
        return sector
    hosts = {urlsplit(u).hostname or urlsplit(u).scheme for u in redirect_uris}
    if len(hosts) != 1:
        raise _bad("redirect_uri 主机不一致时须指定 sector_identifier")
    return next(iter(hosts))


def check_client_metadata(
    *,
    name: str,
    kind: str,
    redirect_uris: Iterable[str],
    post_logout_redirect_uris: Iterable[str] = (),
    backchannel_logout_uri: str | None = None,
    sector_identifier: str | None = None,
    scopes: Iterable[str] | None = None,
    grant_types: Iterable[str] | None = None,
    min_acr: str | None = None,
) -> ClientMetadata:
    """Checked metadata, or ``InvalidClientRegistration`` naming the first problem."""
    clean_name = " ".join(str(name).split())
    if not 1 <= len(clean_name) <= 100:
        raise _bad("名称须为 1-100 个字符")
    if kind not in ("confidential", "public"):
        raise _bad("客户端类型须为 confidential 或 public")
    typed_kind: ClientKind = "confidential" if kind == "confidential" else "public"
    grants = tuple(dict.fromkeys(grant_types or DEFAULT_GRANT_TYPES))
    unknown = [g for g in grants if g not in GRANT_TYPES]
    if unknown:
        raise _bad(f"不支持的授权类型：{unknown[0][:60]}")
    if typed_kind == "public" and "client_credentials" in grants:
        raise _bad("公开客户端不能使用 client_credentials")
    uris = tuple(
        dict.fromkeys(_check_uri(u, kind=typed_kind, what="redirect_uri") for u in redirect_uris)
    )
    if "authorization_code" in grants and not uris:
        raise _bad("授权码模式至少需要一个 redirect_uri")
    post_logout = tuple(
        dict.fromkeys(
            _check_uri(u, kind=typed_kind, what="post_logout_redirect_uri")
            for u in post_logout_redirect_uris
        )
    )
    if len(uris) > _MAX_URIS or len(post_logout) > _MAX_URIS:
        raise _bad("登记的地址过多")
    backchannel = (
        _check_uri(backchannel_logout_uri, kind="confidential", what="backchannel_logout_uri")
        if backchannel_logout_uri
        else None
    )
    chosen = tuple(dict.fromkeys(scopes or DEFAULT_SCOPES))
    bad_scope = [s for s in chosen if s not in SUPPORTED_SCOPES]
    if bad_scope:
        raise _bad(f"不支持的 scope：{bad_scope[0][:40]}")
    if "authorization_code" in grants and "openid" not in chosen:
        raise _bad("授权码模式的客户端须允许 openid")
    if min_acr is not None and min_acr not in {a.value for a in AcrValue}:
        raise _bad("min_acr 须为 urn:ywtb:loa:1-4")
    return ClientMetadata(
        name=clean_name,
        kind=typed_kind,
        redirect_uris=uris,
        post_logout_redirect_uris=post_logout,
        backchannel_logout_uri=backchannel,
        sector_id=_sector(uris, sector_identifier) if uris else (sector_identifier or clean_name),
        allowed_scopes=chosen,
        grant_types=grants,
        min_acr=min_acr,
    )
