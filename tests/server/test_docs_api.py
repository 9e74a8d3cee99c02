"""OpenAPI 3.1 from the route registry, and /docs and /redoc served offline."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from openapi_spec_validator import validate

from server.api.routes import REGISTRIES

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient


async def test_openapi_document_is_valid_openapi_3_1(client: TestClient) -> None:
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    document = await resp.json()
    assert document["openapi"] == "3.1.0"
    validate(document)


async def test_openapi_lists_every_registered_route(client: TestClient) -> None:
    document = await (await client.get("/openapi.json")).json()
    declared = {
        (spec.method.lower(), spec.openapi_path) for registry in REGISTRIES for spec in registry.specs
    }
    listed = {(method, path) for path, operations in document["paths"].items() for method in operations}
    assert declared == listed


async def test_protected_operations_declare_security_and_401(client: TestClient) -> None:
    document = await (await client.get("/openapi.json")).json()
    metrics = document["paths"]["/api/v1/metrics"]["get"]
    health = document["paths"]["/api/v1/health"]["get"]
    assert "security" in metrics
    assert "401" in metrics["responses"]
    assert "security" not in health


async def test_request_models_are_documented_with_their_constraints(client: TestClient) -> None:
    document = await (await client.get("/openapi.json")).json()
    operation = document["paths"]["/api/v1/auth/users"]["post"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert schema["properties"]["password"]["minLength"] == 8
    assert "422" in operation["responses"]
    login = document["paths"]["/api/v1/auth/login"]["post"]
    assert "application/x-www-form-urlencoded" in login["requestBody"]["content"]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_reference_no_external_host(client: TestClient, page: str) -> None:
    resp = await client.get(page)
    assert resp.status == 200
    html = await resp.text()
    assert "/openapi.json" in html or "swagger-init.js" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    for asset in re.findall(r"""(?:src|href)="([^"]+)\"""", html):
        asset_resp = await client.get(asset)
        assert asset_resp.status == 200, asset


async def test_swagger_ui_is_pointed_at_our_document_without_online_validator(client: TestClient) -> None:
    script = await (await client.get("/docs/static/swagger-init.js")).text()
    assert '"/openapi.json"' in script
    assert "validatorUrl: null" in script
