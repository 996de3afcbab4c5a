"""``openapi.yaml`` at the repository root is the contract: it must equal what the app serves."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.api._support import TestClient
from tests.conftest import REPO_ROOT
from trust.web.openapi_export import export_openapi, schema_app

FIX = "openapi.yaml differs from the app's schema: run `make openapi` and commit the result"


def test_openapi_yaml_matches_the_app(tmp_path: Path) -> None:
    app = schema_app(tmp_path)
    committed = yaml.safe_load((REPO_ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    assert committed == app.openapi(), FIX


def test_export_is_stable_and_round_trips(tmp_path: Path) -> None:
    app = schema_app(tmp_path)
    text = export_openapi(app)
    assert text == export_openapi(schema_app(tmp_path / "again"))
    assert yaml.safe_load(text) == app.openapi()
    assert text.startswith("openapi: ")


def test_the_app_serves_the_same_document(client: TestClient) -> None:
    served = client.get("/openapi.yaml")
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(served.text) == client.get("/openapi.json").json()


def test_fixed_title_version_and_servers(tmp_path: Path) -> None:
    info = schema_app(tmp_path).openapi()
    assert info["info"]["title"] == "一网通办信任服务 API"
    assert info["servers"] == [{"url": "/", "description": "本服务"}]


def test_the_document_describes_problems_and_authentication(tmp_path: Path) -> None:
    schema = schema_app(tmp_path).openapi()
    assert "Problem" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert set(schema["components"]["securitySchemes"]) == {"clientCredentials", "bearerToken"}
    create = schema["paths"]["/admin/organisations"]["post"]
    assert create["security"] == [{"clientCredentials": []}, {"bearerToken": []}]
    for status in ("401", "403", "409", "422"):
        content = create["responses"][status]["content"]
        assert content == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
    assert "401" not in schema["paths"]["/healthz"]["get"]["responses"]
