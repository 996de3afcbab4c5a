"""The holder's side over HTTP: the JSON API (``/licences/holder/…``) and the Chinese page
(``/licences/mine``), both for the natural person logged in through the identity capability.

Who the holder is comes from the web kernel's extension point ``trust.web.person`` (the
identity capability registers the resolver; licences never imports identity): the person's
licences are those whose holder code is their verified citizen ID number, or the credit code of
an organisation they represent, or act for as agent with the scope ``licence:view``
(``licences.sharing``). Without a login, the API answers 401 ``licence.holder_required`` and
the page links to the identity login (``/account/login?return_to=/licences/mine``: the OpenID
Connect login of this same service, returning here).

Page forms (create a share grant, revoke one) carry a CSRF token bound to the login session
(HMAC-SM3 under the licence code key, compared in constant time); the SSO cookie is
``SameSite=Lax``, so a cross-site POST does not carry it either. A new share grant's code is
shown once, on the page that answers the form (``Cache-Control: no-store``); only its MAC is
stored.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse

from licences import service, service_share
from licences.api_pages import SHARE_REDEEM_PAGE, LicenceConfigDep, licence_config, render_page
from licences.schemas import LicenceRead, ShareCreate, ShareRead
from licences.service_errors import LicenceRequestInvalid
from licences.service_keys import LicenceConfig
from licences.sharing import (
    AGENT_VIEW_SCOPE,
    MAX_PURPOSE,
    MAX_SHARE_DAYS,
    MAX_USES,
    Holder,
    share_labels,
)
from trust.crypto import constant_time_equal, hmac_sm3
from trust.errors import PermissionDenied, TrustError, Unauthenticated
from trust.web.deps import ClockDep, SessionDep
from trust.web.person import NaturalPerson, OptionalPersonDep, person_login_url
from trust.web.problems import problem_responses

__all__ = ["holder_of", "router"]

HOLDER_PAGE: Final = "/licences/mine"
_ERRORS = problem_responses(400, 401, 403, 404, 409)
router = APIRouter()


def holder_of(person: NaturalPerson, config: LicenceConfig) -> Holder:
    """The licence holder a logged-in person is (their own verified ID number; organisations
    they represent, or act for as agent with ``licence:view``)."""
    organisations = [
        (link.credit_code, link.name)
        for link in person.legal_persons
        if link.allows(AGENT_VIEW_SCOPE)
    ]
    return service_share.holder_for(
        config=config,
        actor=f"person:{person.subject}",
        citizen_id=person.citizen_id,
        organisations=organisations,
    )


# --------------------------------------------------------------------------- JSON API


def _holder(person: OptionalPersonDep, config: LicenceConfigDep) -> Holder:
    if person is None:
        raise Unauthenticated("需要持证人登录（统一身份认证）", code="licence.holder_required")
    return holder_of(person, config)


HolderDep = Annotated[Holder, Depends(_holder)]


@router.get("/licences/holder/licences", summary="持证人：我的电子证照", responses=_ERRORS)
def holder_licences(holder: HolderDep, session: SessionDep) -> list[LicenceRead]:
    return [
        LicenceRead.model_validate(r.to_dict())
        for r in service_share.holder_licences(session=session, holder=holder)
    ]


@router.get(
    "/licences/holder/licences/{ref}/document.pdf",
    summary="持证人：下载电子证照",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **_ERRORS},
)
def holder_document(ref: str, holder: HolderDep, session: SessionDep) -> Response:
    data = service_share.holder_document(session=session, holder=holder, ref=ref)
    return Response(data, media_type="application/pdf")


@router.get(
    "/licences/holder/licences/{ref}/activity",
    summary="持证人：核验记录、依职能查验记录与共享授权",
    responses=_ERRORS,
)
def holder_activity(ref: str, holder: HolderDep, session: SessionDep) -> dict[str, object]:
    return service_share.holder_activity(session=session, holder=holder, ref=ref)


@router.post(
    "/licences/holder/licences/{ref}/shares",
    status_code=status.HTTP_201_CREATED,
    summary="持证人：创建共享授权（字段、事由、有效期 ≤ 7 天、次数、被授权方）",
    responses=_ERRORS,
)
def create_share(
    ref: str,
    body: ShareCreate,
    holder: HolderDep,
    session: SessionDep,
    clock: ClockDep,
    config: LicenceConfigDep,
) -> ShareRead:
    record, token = service_share.create_share(
        session=session,
        clock=clock,
        config=config,
        holder=holder,
        ref=ref,
        fields=body.fields,
        purpose=body.purpose,
        recipient=body.recipient,
        expires_in=timedelta(hours=body.expires_in_hours),
        max_uses=body.max_uses,
    )
    return ShareRead.model_validate({**record.to_dict(), "token": token})


@router.post(
    "/licences/holder/shares/{share_id}/revoke", summary="持证人：撤销共享授权", responses=_ERRORS
)
def revoke_share(
    share_id: str, holder: HolderDep, session: SessionDep, clock: ClockDep
) -> ShareRead:
    record = service_share.revoke_share(
        session=session, clock=clock, holder=holder, share_id=share_id
    )
    return ShareRead.model_validate(record.to_dict())


# --------------------------------------------------------------------------- page


def _csrf(config: LicenceConfig, person: NaturalPerson) -> str:
    return hmac_sm3(config.code_key, f"holder-page|{person.session_id}".encode()).hex()[:40]


def _check_csrf(config: LicenceConfig, person: NaturalPerson, sent: object) -> None:
    if not isinstance(sent, str) or not constant_time_equal(
        sent.encode(), _csrf(config, person).encode()
    ):
        raise PermissionDenied("表单已过期，请刷新页面后重试", code="licence.csrf")


def _login_page(request: Request) -> Response:
    return render_page(
        request,
        "licences/holder_login.html",
        401,
        login_url=person_login_url(request, HOLDER_PAGE),
    )


def _public(request: Request, path: str) -> str:
    return str(request.app.state.settings.public_base_url).rstrip("/") + path


def _share_fields(session: SessionDep, type_code: str) -> list[tuple[str, str]]:
    return list(share_labels(service.load_spec(session, type_code)).items())


def _holder_page(
    request: Request,
    session: SessionDep,
    person: NaturalPerson,
    config: LicenceConfig,
    *,
    status_code: int = 200,
    created: dict[str, Any] | None = None,
    error: tuple[str, str] | None = None,
) -> Response:
    holder = holder_of(person, config)
    items = []
    for label, record in service_share.held_licences(session=session, holder=holder):
        activity = service_share.holder_activity(session=session, holder=holder, ref=record.id)
        items.append(
            {
                "held_as": label,
                "licence": record.to_dict(),
                "share_fields": _share_fields(session, record.type_code),
                **activity,
            }
        )
    response = render_page(
        request,
        "licences/holder.html",
        status_code,
        person={"name": person.name, "verified": person.citizen_id is not None},
        organisations=[s.label for s in holder.scopes if s.label != "本人"],
        items=items,
        csrf=_csrf(config, person),
        created=created,
        error=None if error is None else {"licence_id": error[0], "detail": error[1]},
        limits={"purpose": MAX_PURPOSE, "days": MAX_SHARE_DAYS, "uses": MAX_USES},
        redeem_url=_public(request, "/licences/shares/redeem"),
        redeem_page=_public(request, SHARE_REDEEM_PAGE),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get(HOLDER_PAGE, response_class=HTMLResponse, include_in_schema=False)
def holder_page(request: Request, person: OptionalPersonDep, session: SessionDep) -> Response:
    if person is None:
        return _login_page(request)
    return _holder_page(request, session, person, licence_config(request))


@router.get(HOLDER_PAGE + "/{ref}/document.pdf", response_class=Response, include_in_schema=False)
def holder_page_document(
    request: Request, ref: str, person: OptionalPersonDep, session: SessionDep
) -> Response:
    if person is None:
        return _login_page(request)
    holder = holder_of(person, licence_config(request))
    data = service_share.holder_document(session=session, holder=holder, ref=ref)
    return Response(data, media_type="application/pdf")


def _form_int(form: Any, name: str, low: int, high: int, what: str) -> int:
    raw = form.get(name)
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise LicenceRequestInvalid(f"{what}应为 {low} 至 {high}", code="licence.share.form")
    return value


@router.post(HOLDER_PAGE + "/{ref}/shares", response_class=HTMLResponse, include_in_schema=False)
async def holder_page_share(
    request: Request,
    ref: str,
    person: OptionalPersonDep,
    session: SessionDep,
    clock: ClockDep,
) -> Response:
    """The share-grant form: fields, 事由 ≤ 200, expiry ≤ 7 days, maximum uses, recipient; the
    answer shows the share code and where the recipient redeems it, once."""
    if person is None:
        return _login_page(request)
    config = licence_config(request)
    form = await request.form(max_files=0, max_fields=60)
    _check_csrf(config, person, form.get("csrf"))
    try:
        record, token = service_share.create_share(
            session=session,
            clock=clock,
            config=config,
            holder=holder_of(person, config),
            ref=ref,
            fields=[str(v) for v in form.getlist("fields")],
            purpose=str(form.get("purpose") or ""),
            recipient=str(form.get("recipient") or "").strip(),
            expires_in=timedelta(
                days=_form_int(form, "expires_days", 1, MAX_SHARE_DAYS, "有效期（天）")
            ),
            max_uses=_form_int(form, "max_uses", 1, MAX_USES, "使用次数"),
        )
    except TrustError as exc:
        if exc.http_status >= 500 or exc.http_status == 404:
            raise
        return _holder_page(
            request, session, person, config, status_code=exc.http_status, error=(ref, exc.detail)
        )
    created = {**record.to_dict(), "token": token}
    return _holder_page(request, session, person, config, created=created)


@router.post(
    HOLDER_PAGE + "/shares/{share_id}/revoke",
    response_class=HTMLResponse,
    include_in_schema=False,
)
async def holder_page_revoke(
    request: Request,
    share_id: str,
    person: OptionalPersonDep,
    session: SessionDep,
    clock: ClockDep,
) -> Response:
    if person is None:
        return _login_page(request)
    config = licence_config(request)
    form = await request.form(max_files=0, max_fields=3)
    _check_csrf(config, person, form.get("csrf"))
    service_share.revoke_share(
        session=session, clock=clock, holder=holder_of(person, config), share_id=share_id
    )
    return RedirectResponse(HOLDER_PAGE, status_code=303)
