"""Who the browser's logged-in natural person is: an extension point of the web kernel, so that
capabilities (licences …) can serve citizens without importing the identity capability.

The identity capability registers a ``PersonProvider`` on the app (``register_person_provider``,
from its router's lifespan): a resolver that reads its own session (the SSO cookie) from the
request, and the path of a page that starts a login and returns to a local path. A capability
then declares::

    @router.get("/things/mine")
    def mine(person: OptionalPersonDep) -> ...:
        if person is None:
            return RedirectResponse(person_login_url(request, "/things/mine") or "/")

Contract of a resolver: return ``None`` when the request carries no (live) session of its kind;
never raise for a missing or expired session. The ``NaturalPerson`` it returns carries only
what the provider has **verified**: ``citizen_id`` is ``None`` unless the citizen ID number was
checked against the authoritative registry, and ``legal_persons`` lists only organisations whose
credit code was checked and for which the person acts now (as legal representative, or as agent
within the authorisation's validity, with its scopes).

The resolver runs in its own short transaction (it may move a session's idle expiry), before
the route's ``SessionDep`` transaction does any work, like ``trust.web.security``: declare
``PersonDep``/``OptionalPersonDep`` before any dependency that queries through ``SessionDep``.
Without a registered provider, nobody is logged in (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, Literal, Protocol
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from sqlalchemy.orm import Session

from trust.clock import Clock
from trust.errors import Unauthenticated

__all__ = [
    "LegalPersonLink",
    "NaturalPerson",
    "OptionalPersonDep",
    "PersonDep",
    "PersonProvider",
    "PersonResolver",
    "current_person",
    "is_local_path",
    "person_login_url",
    "register_person_provider",
]

_STATE_KEY: Final = "person_providers"
_MAX_RETURN_TO: Final = 500


@dataclass(frozen=True, slots=True)
class LegalPersonLink:
    """An organisation the person may act for now."""

    credit_code: str  # GB 32100 unified social credit code, verified by the provider
    name: str
    role: Literal["legal_representative", "agent"]
    #: The agent authorisation's scopes (``<capability>:<action>``); empty for the legal
    #: representative, who may do everything.
    scopes: frozenset[str]
    expires_at: datetime | None  # the agent authorisation's end; None for the representative

    def allows(self, scope: str) -> bool:
        return self.role == "legal_representative" or scope in self.scopes


@dataclass(frozen=True, slots=True)
class NaturalPerson:
    """The logged-in natural person, as verified by the identity provider."""

    subject: str  # the provider's stable id of the person (not the citizen ID number)
    name: str
    #: GB 11643 citizen ID number, only if verified against the population registry.
    citizen_id: str | None
    legal_persons: tuple[LegalPersonLink, ...]
    #: The login session: bind CSRF tokens of forms to it.
    session_id: str
    authenticated_at: datetime
    provider: str

    def __repr__(self) -> str:  # never print the citizen ID number
        return f"<NaturalPerson {self.provider}:{self.subject}>"


class PersonResolver(Protocol):
    def __call__(
        self, *, request: Request, session: Session, clock: Clock
    ) -> NaturalPerson | None: ...


@dataclass(frozen=True, slots=True)
class PersonProvider:
    name: str
    resolve: PersonResolver
    #: ``GET <login_path>?return_to=<local path>`` starts a login and returns there.
    login_path: str


def register_person_provider(app: FastAPI, provider: PersonProvider) -> None:
    """Add ``provider`` (once per name) to ``app.state.person_providers``."""
    current: tuple[PersonProvider, ...] = getattr(app.state, _STATE_KEY, ())
    if all(p.name != provider.name for p in current):
        setattr(app.state, _STATE_KEY, (*current, provider))


def _providers(request: Request) -> tuple[PersonProvider, ...]:
    providers: tuple[PersonProvider, ...] = getattr(request.app.state, _STATE_KEY, ())
    return providers


def current_person(request: Request) -> NaturalPerson | None:
    """The first provider's person for this request, or None (no provider, no session)."""
    providers = _providers(request)
    if not providers:
        return None
    state: Any = request.app.state
    clock: Clock = state.clock
    with state.session_factory() as session, session.begin():
        for provider in providers:
            person = provider.resolve(request=request, session=session, clock=clock)
            if person is not None:
                return person
    return None


OptionalPersonDep = Annotated[NaturalPerson | None, Depends(current_person)]


def _required_person(person: OptionalPersonDep) -> NaturalPerson:
    if person is None:
        raise Unauthenticated("请先登录（统一身份认证）", code="person.login_required")
    return person


PersonDep = Annotated[NaturalPerson, Depends(_required_person)]


def is_local_path(value: str) -> bool:
    """A path on this site to return to after login: ``/…``, never ``//host`` or a scheme,
    no backslash or control character, bounded."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= _MAX_RETURN_TO
        and value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and value.isprintable()
        and " " not in value
    )


def person_login_url(request: Request, return_to: str) -> str | None:
    """Where to send the browser to log in and come back to ``return_to`` (a local path), or
    None when no provider is registered."""
    providers = _providers(request)
    if not providers or not is_local_path(return_to):
        return None
    return f"{providers[0].login_path}?{urlencode({'return_to': return_to})}"
