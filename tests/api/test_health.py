"""Liveness needs nothing; readiness checks the database, schema, keystore and crypto backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.api._support import TestClient, assert_problem
from trust.db import make_engine, session_factory
from trust.web import status


def test_healthz_needs_no_database(make_app: Callable[..., FastAPI], tmp_path: Path) -> None:
    broken = session_factory(make_engine(f"sqlite:///{tmp_path}/missing/dir/x.db"))
    with TestClient(make_app(factory=broken)) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_every_check(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "schema", "keystore", "crypto_backend"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["crypto_backend"]["detail"] in {"openssl", "tongsuopy"}
    assert body["checks"]["schema"]["detail"].startswith("unmanaged")  # tests use create_all


def test_readyz_is_503_without_a_database(make_app: Callable[..., FastAPI], tmp_path: Path) -> None:
    broken = session_factory(make_engine(f"sqlite:///{tmp_path}/missing/dir/x.db"))
    with TestClient(make_app(factory=broken), raise_server_exceptions=False) as client:
        response = client.get("/readyz")
    problem = assert_problem(response, 503, "service.not_ready")
    assert problem["checks"]["database"] == {"ok": False, "detail": "unavailable"}
    assert problem["checks"]["crypto_backend"]["ok"] is True
    assert str(tmp_path) not in response.text  # no paths or exception text


def test_readyz_is_503_when_the_schema_is_behind(
    make_app: Callable[..., FastAPI], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('0001_old')"))
    monkeypatch.setattr(status, "_head_revision", lambda: "0002_new")
    with TestClient(make_app(factory=session_factory(engine))) as client:
        response = client.get("/readyz")
    problem = assert_problem(response, 503, "service.not_ready")
    assert problem["checks"]["schema"]["ok"] is False
    assert "0002_new" in problem["checks"]["schema"]["detail"]
    engine.dispose()
