"""The adapters against the simulated registry served by a real uvicorn server on loopback
(the standalone form ``trustctl identity sim-registry`` runs), and the CLI wiring."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from sqlalchemy.orm import Session

from identity import service
from identity.config import IdentityConfig
from identity.keying import IdentityKeys
from identity.model import FaceChallenge
from identity.registry_sim import SimState, create_registry_app
from identity.sim_data import SimRegistryData
from identity.verifiers import build_verifiers
from tests.integration.identity._factories import make_person
from trust.clock import FixedClock


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sim_url(sim_state: SimState) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_registry_app(sim_state),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("simulated registry did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.slow
def test_population_and_face_over_real_http(
    sim_url: str,
    session: Session,
    clock: FixedClock,
    keys: IdentityKeys,
    config: IdentityConfig,
    sim_data: SimRegistryData,
) -> None:
    live = config.model_copy(
        update={
            "population_url": f"{sim_url}/population/verify",
            "face_url": f"{sim_url}/face/sessions",
        }
    )
    citizen = sim_data.citizens[3]
    person = make_person(session, clock, keys, citizen)
    with httpx.Client(timeout=5.0) as client:
        verifiers = build_verifiers(live, client)
        outcome = service.verify_population(
            session=session, clock=clock, keys=keys, verifiers=verifiers, person_id=person.id
        )
        assert outcome.passed
        assert outcome.evidence.source == f"{sim_url}/population/verify"
        started = service.start_face_verification(
            session=session, clock=clock, keys=keys, verifiers=verifiers, person_id=person.id
        )
        assert started.next_url is not None
        assert started.next_url.startswith(sim_url)
        captured: dict[str, Any] = client.post(
            started.next_url, json={"presented_face": citizen.face_template}
        ).json()
        page = client.get(f"{sim_url}/")
    assert captured["simulated"] is True
    assert "模拟数据 / SIMULATED" in page.text
    session.flush()
    assert session.get(FaceChallenge, started.challenge_id) is not None
    face = service.accept_face_assertion(
        session=session, clock=clock, config=live, assertion=captured["assertion"]
    )
    assert face.passed
    assert int(face.proofing_level) == 3


def test_cli_registers_the_sim_registry_command() -> None:
    from trust.cli.root import _register_all, cli

    _register_all()
    result = CliRunner().invoke(cli, ["identity", "sim-registry", "--help"])
    assert result.exit_code == 0, result.output
    assert "SIMULATED" in result.output
    assert "--port" in result.output
