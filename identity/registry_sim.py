"""The simulated registry (模拟数据 / SIMULATED): a small FastAPI app standing in for the
authoritative sources during development, demos and tests - population registry, enterprise
registry, bank-card four elements, SMS gateway, face-verification provider and the national
network identity service (网号/网证).

Every JSON answer carries ``"simulated": true`` and ``"notice": "模拟数据 / SIMULATED"``; every page
says so. In production the identity adapters refuse answers labelled simulated
(``identity.verifiers.http``) and the mounted copy answers 404.

Two ways to run it:

- mounted in the service app under ``/sim`` (``identity.api`` includes ``sim_router``); the face
  and 网证 parts sign only if a composition root put signers on ``app.state.identity_sim``
  (``SimState``), otherwise they answer 503 ``sim.signer_unavailable``;
- standalone: ``trustctl identity sim-registry --port 8100`` (``create_registry_app``), with the
  published test keys of ``identity/data/sim_registry.json`` loaded by the CLI.

Signing goes through ``trust.signing.Signer``: this module never holds a private key.
"""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from identity.assertions import ASSERTION_ALG, b64url, signing_input
from identity.sim_data import SIMULATED_LABEL, SimRegistryData, load_sim_registry
from trust.clock import Clock, SystemClock
from trust.crypto import decode_signature
from trust.ids import new_id
from trust.signing import Signer

__all__ = ["FACE_ISSUER", "NETID_ISSUER", "SimState", "create_registry_app", "sim_router"]

FACE_ISSUER: Final = "sim-face-provider"
NETID_ISSUER: Final = "sim-network-identity"
_FACE_TYP: Final = "face-assertion+sm2"
_NETID_TYP: Final = "netid-assertion+sm2"
_MAX_SESSIONS: Final = 10_000


@dataclass
class SimState:
    """The simulator's data, its signers (``None``: that part answers 503) and its sessions
    (in memory: development only)."""

    data: SimRegistryData = field(default_factory=load_sim_registry)
    face_signer: Signer | None = None
    netid_signer: Signer | None = None
    clock: Clock = field(default_factory=SystemClock)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def remember(self, kind: str, body: dict[str, Any]) -> str:
        session_id = new_id(f"sim{kind}")
        with self.lock:
            if len(self.sessions) >= _MAX_SESSIONS:
                self.sessions.pop(next(iter(self.sessions)))
            self.sessions[session_id] = {"kind": kind, **body}
        return session_id

    def recall(self, kind: str, session_id: str) -> dict[str, Any]:
        with self.lock:
            found = self.sessions.get(session_id)
        if found is None or found["kind"] != kind:
            raise HTTPException(status_code=404, detail="unknown simulated session")
        return found


_DEFAULT_STATE: SimState | None = None
_DEFAULT_LOCK = threading.Lock()


def _state(request: Request) -> SimState:
    """The app's ``SimState``; refused (404) when mounted in a production service."""
    app_state = request.app.state
    settings = getattr(app_state, "settings", None)
    if settings is not None and getattr(settings, "environment", None) == "production":
        raise HTTPException(status_code=404, detail="Not Found")
    state = getattr(app_state, "identity_sim", None)
    if isinstance(state, SimState):
        return state
    global _DEFAULT_STATE
    with _DEFAULT_LOCK:
        if _DEFAULT_STATE is None:
            _DEFAULT_STATE = SimState()
        return _DEFAULT_STATE


StateDep = Annotated[SimState, Depends(_state)]


def _labelled(body: dict[str, Any]) -> dict[str, Any]:
    return {"simulated": True, "notice": SIMULATED_LABEL, **body}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", str_max_length=200)


class PopulationQuery(_Strict):
    name: str
    id_number: str


class EnterpriseQuery(_Strict):
    uscc: str
    name: str
    legal_rep_name: str
    legal_rep_id_number: str


class BankCardQuery(_Strict):
    name: str
    id_number: str
    card_number: str
    phone: str


class SmsMessage(_Strict):
    phone: str
    text: str = Field(max_length=500)


class UpstreamStart(_Strict):
    subject_ref: str
    nonce: str
    name: str
    id_number: str
    audience: str


class FaceCapture(_Strict):
    #: The face template the "camera" saw (a synthetic citizen's ``face_template``).
    presented_face: str
    liveness: bool = True


class NetIdConfirm(_Strict):
    #: Whose 网证 is presented (default: the person the request was made for).
    holder_id_number: str | None = None
    level: int = Field(default=3, ge=1, le=3)


sim_router = APIRouter(tags=["模拟数据源 (SIMULATED)"], include_in_schema=False)


@sim_router.get("/", response_class=HTMLResponse)
def index(state: StateDep) -> HTMLResponse:
    def rows(items: list[tuple[str, ...]]) -> str:
        return "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in item) + "</tr>" for item in items
        )

    data = state.data
    people = rows([(c.name, c.id_number, c.phone, c.face_template) for c in data.citizens])
    firms = rows([(e.name, e.uscc, e.legal_rep_name) for e in data.enterprises])
    cards = rows([(b.card_number, b.name, b.phone) for b in data.bank_cards])
    page = f"""<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<title>模拟权威数据源 - {SIMULATED_LABEL}</title>
<body><p><strong>{SIMULATED_LABEL}</strong>：以下均为合成数据，仅供开发与演示。</p>
<h1>模拟权威数据源 {SIMULATED_LABEL}</h1>
<h2>人口库（模拟）</h2><table><tr><th>姓名</th><th>公民身份号码</th><th>手机</th><th>人脸模板</th></tr>
{people}</table>
<h2>企业库（模拟）</h2><table><tr><th>名称</th><th>统一社会信用代码</th><th>法定代表人</th></tr>
{firms}</table>
<h2>银行卡（模拟）</h2><table><tr><th>卡号</th><th>姓名</th><th>预留手机</th></tr>{cards}</table>
</body></html>"""
    return HTMLResponse(page)


@sim_router.get("/health")
def health(state: StateDep) -> dict[str, Any]:
    return _labelled(
        {
            "status": "ok",
            "face_signing": state.face_signer is not None,
            "netid_signing": state.netid_signer is not None,
        }
    )


@sim_router.post("/population/verify")
def population_verify(query: PopulationQuery, state: StateDep) -> dict[str, Any]:
    citizen = state.data.citizen(query.id_number.strip().upper())
    if citizen is None:
        result = "not_found"
    else:
        result = "match" if citizen.name == query.name.strip() else "mismatch"
    return _labelled({"result": result, "registry_ref": new_id("simpop")})


@sim_router.post("/enterprise/verify")
def enterprise_verify(query: EnterpriseQuery, state: StateDep) -> dict[str, Any]:
    firm = state.data.enterprise(query.uscc.strip().upper())
    if firm is None:
        result = "not_found"
    else:
        same = (
            firm.name == query.name.strip()
            and firm.legal_rep_name == query.legal_rep_name.strip()
            and firm.legal_rep_id_number == query.legal_rep_id_number.strip().upper()
        )
        result = "match" if same else "mismatch"
    return _labelled({"result": result, "registry_ref": new_id("siment")})


@sim_router.post("/bankcard/verify")
def bankcard_verify(query: BankCardQuery, state: StateDep) -> dict[str, Any]:
    card = state.data.bank_card(query.card_number.strip())
    if card is None:
        result = "not_found"
    else:
        same = (
            card.name == query.name.strip()
            and card.id_number == query.id_number.strip().upper()
            and card.phone == query.phone.strip()
        )
        result = "match" if same else "mismatch"
    return _labelled({"result": result, "registry_ref": new_id("simbank")})


@sim_router.post("/sms/send")
def sms_send(message: SmsMessage, state: StateDep) -> dict[str, Any]:
    del message, state  # a simulated gateway: accepted and dropped
    return _labelled({"message_id": new_id("simsms")})


def _sign(signer: Signer | None, typ: str, claims: dict[str, Any]) -> str:
    if signer is None:
        raise HTTPException(
            status_code=503,
            detail="sim.signer_unavailable: run `trustctl identity sim-registry` for signing",
        )
    header = {"alg": ASSERTION_ALG, "typ": typ, "kid": signer.key_id}
    data = signing_input(header, claims)
    r, s, _encoding = decode_signature(signer.sign(data))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{data.decode('ascii')}.{b64url(raw)}"


@sim_router.post("/face/sessions")
def face_start(start: UpstreamStart, request: Request, state: StateDep) -> dict[str, Any]:
    session_id = state.remember("face", start.model_dump())
    next_url = str(request.url_for("face_capture", session_id=session_id))
    return _labelled({"session_id": session_id, "next_url": next_url})


@sim_router.post("/face/sessions/{session_id}/capture", name="face_capture")
def face_capture(session_id: str, capture: FaceCapture, state: StateDep) -> dict[str, Any]:
    started = state.recall("face", session_id)
    citizen = state.data.citizen(str(started["id_number"]).strip().upper())
    same = citizen is not None and citizen.face_template == capture.presented_face
    claims = {
        "iss": FACE_ISSUER,
        "aud": started["audience"],
        "subject_ref": started["subject_ref"],
        "nonce": started["nonce"],
        "result": "pass" if same else "fail",
        "score": 96.5 if same else 12.0,
        "liveness": capture.liveness,
        "time": int(state.clock.now().timestamp()),
        "simulated": True,
    }
    return _labelled({"assertion": _sign(state.face_signer, _FACE_TYP, claims)})


@sim_router.post("/netid/requests")
def netid_start(start: UpstreamStart, request: Request, state: StateDep) -> dict[str, Any]:
    session_id = state.remember("netid", start.model_dump())
    next_url = str(request.url_for("netid_confirm", session_id=session_id))
    return _labelled({"session_id": session_id, "next_url": next_url})


@sim_router.post("/netid/requests/{session_id}/confirm", name="netid_confirm")
def netid_confirm(session_id: str, confirm: NetIdConfirm, state: StateDep) -> dict[str, Any]:
    started = state.recall("netid", session_id)
    wanted = str(started["id_number"]).strip().upper()
    holder = state.data.citizen((confirm.holder_id_number or wanted).strip().upper())
    if holder is None:
        raise HTTPException(status_code=404, detail="no simulated 网证 for this holder")
    claims = {
        "iss": NETID_ISSUER,
        "aud": started["audience"],
        "subject_ref": started["subject_ref"],
        "nonce": started["nonce"],
        "network_id": holder.network_id,
        "level": confirm.level,
        "match": holder.id_number == wanted and holder.name == str(started["name"]).strip(),
        "time": int(state.clock.now().timestamp()),
        "simulated": True,
    }
    return _labelled({"assertion": _sign(state.netid_signer, _NETID_TYP, claims)})


def create_registry_app(state: SimState | None = None) -> FastAPI:
    """The simulator as its own app (standalone, or in tests on an ASGI transport)."""
    app = FastAPI(
        title=f"模拟权威数据源 {SIMULATED_LABEL}",
        description="合成数据，仅供开发、演示与测试。Synthetic data, for development only.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.identity_sim = state or SimState()
    app.include_router(sim_router)
    return app
