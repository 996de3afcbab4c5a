"""Request and response bodies of the OIDC client administration API (pydantic, edges only).
The OAuth endpoints themselves take form bodies and answer RFC 6749 JSON."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from identity.oidc_service_clients import ClientRecord, RegisteredClient

__all__ = ["ClientCreate", "ClientRead", "ClientRegistered"]


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=500)
    name: str = Field(max_length=100)
    kind: Literal["confidential", "public"] = "confidential"
    redirect_uris: list[str] = Field(default_factory=list, max_length=20)
    post_logout_redirect_uris: list[str] = Field(default_factory=list, max_length=20)
    backchannel_logout_uri: str | None = None
    sector_identifier: str | None = Field(default=None, max_length=200)
    scopes: list[str] | None = Field(default=None, max_length=20)
    grant_types: list[str] | None = Field(default=None, max_length=4)
    min_acr: str | None = Field(default=None, max_length=40)


class ClientRead(BaseModel):
    client_id: str
    name: str
    kind: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    backchannel_logout_uri: str | None
    sector_identifier: str
    scopes: list[str]
    grant_types: list[str]
    min_acr: str | None
    status: str

    @classmethod
    def of(cls, r: ClientRecord) -> ClientRead:
        return cls(
            client_id=r.client_id,
            name=r.name,
            kind=r.kind,
            redirect_uris=list(r.redirect_uris),
            post_logout_redirect_uris=list(r.post_logout_redirect_uris),
            backchannel_logout_uri=r.backchannel_logout_uri,
            sector_identifier=r.sector_id,
            scopes=list(r.allowed_scopes),
            grant_types=list(r.grant_types),
            min_acr=r.min_acr,
            status=r.status,
        )


class ClientRegistered(ClientRead):
    #: Shown once; ``null`` for public clients.
    client_secret: str | None

    @classmethod
    def of_registered(cls, r: RegisteredClient) -> ClientRegistered:
        return cls(**ClientRead.of(r.client).model_dump(), client_secret=r.client_secret)
