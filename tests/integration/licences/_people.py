"""Citizens and a company for the holder tests, made through the identity capability's own
services (registration, verification against the simulated population and enterprise registries
over HTTP, agent authorisations), and the login of a browser through the real pages: the
holder page's link → ``/account/login`` → ``/oidc/authorize`` → the login form → the callback →
back on the holder page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from identity import service as identity_service
from identity.config import load_identity_config
from identity.keying import IdentityKeys
from identity.records import OrganisationRecord, PersonRecord
from identity.sim_data import SimCitizen, SimEnterprise, load_sim_registry
from identity.verifiers import build_verifiers
from tests.api._support import TestClient
from trust.clock import FixedClock
from trust.config import Settings

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class People:
    """张晓明 represents 模拟数据科技有限公司 (verified); 李文静 is its agent with
    ``licence:view``; 赵丽华 its agent with another scope only; 王建国 never had his ID number
    verified (P1)."""

    rep: SimCitizen
    agent: SimCitizen
    other_agent: SimCitizen
    unverified: SimCitizen
    company: SimEnterprise
    records: dict[str, PersonRecord]
    organisation: OrganisationRecord


def base_url(app: FastAPI) -> str:
    settings: Settings = app.state.settings
    return settings.public_base_url.rstrip("/")


def make_people(app: FastAPI, db: sessionmaker[Session], clock: FixedClock) -> People:
    settings: Settings = app.state.settings
    keys = IdentityKeys.from_settings(settings)
    sim = load_sim_registry()
    rep, agent, unverified, other_agent = (
        sim.citizens[0],
        sim.citizens[1],
        sim.citizens[2],
        sim.citizens[3],
    )
    company = next(e for e in sim.enterprises if e.legal_rep_id_number == rep.id_number)
    # The simulated registries are mounted by the app itself under /sim (outside production).
    http = TestClient(app, base_url=base_url(app))
    verifiers = build_verifiers(load_identity_config(settings, environ={}), http)
    records: dict[str, PersonRecord] = {}
    with db() as s, s.begin():
        for citizen in (rep, agent, unverified, other_agent):
            records[citizen.id_number] = identity_service.register_person(
                session=s,
                clock=clock,
                keys=keys,
                name=citizen.name,
                id_number=citizen.id_number,
                phone=citizen.phone,
                password=PASSWORD,
            )
        for citizen in (rep, agent, other_agent):
            outcome = identity_service.verify_population(
                session=s,
                clock=clock,
                keys=keys,
                verifiers=verifiers,
                person_id=records[citizen.id_number].id,
            )
            assert outcome.proofing_level >= 2, outcome
        org = identity_service.register_organisation(
            session=s,
            clock=clock,
            name=company.name,
            uscc=company.uscc,
            legal_rep_id=records[rep.id_number].id,
            actor="test",
        )
        identity_service.verify_enterprise(
            session=s, clock=clock, keys=keys, verifiers=verifiers, legal_person_id=org.id
        )
        for who, scopes in ((agent, ["licence:view"]), (other_agent, ["matter:apply"])):
            identity_service.grant_agent(
                session=s,
                clock=clock,
                legal_person_id=org.id,
                granted_by=records[rep.id_number].id,
                agent_id=records[who.id_number].id,
                scopes=scopes,
                not_after=clock.now() + timedelta(days=30),
            )
        organisation = identity_service.get_organisation(session=s, legal_person_id=org.id)
    assert organisation.proofing_level >= 2
    return People(rep, agent, other_agent, unverified, company, records, organisation)


def _form(html: str, action_suffix: str) -> tuple[str, str]:
    action = re.search(rf'action="(/oidc/interaction/[^"]+/{action_suffix})"', html)
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)
    assert action is not None, html[:2000]
    assert csrf is not None
    return action.group(1), csrf.group(1)


def log_in(app: FastAPI, citizen: SimCitizen, return_to: str = "/licences/mine") -> TestClient:
    """A browser (its own cookie jar) logged in as ``citizen`` through the real pages; it ends
    on ``return_to``."""
    browser = TestClient(app, base_url=base_url(app), raise_server_exceptions=False)
    page = browser.get(return_to)
    link = re.search(r'href="(/account/login\?return_to=[^"]+)"', page.text)
    assert page.status_code == 401, page.text[:2000]
    assert link is not None, page.text[:2000]
    login_page = browser.get(link.group(1).replace("&amp;", "&"))
    assert login_page.status_code == 200, login_page.text[:2000]
    action, csrf = _form(login_page.text, "login")
    done = browser.post(action, data={"csrf": csrf, "login": citizen.phone, "password": PASSWORD})
    assert done.status_code == 200, done.text[:2000]
    assert done.url.path == return_to, done.url
    return browser


def csrf_of(page: Any) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)
