"""The OpenAPI document and the browsable docs page, served without auth or network."""

from __future__ import annotations

import json

from flask.testing import FlaskClient

MY_ROUTES = {
    "/api/health": {"get"},
    "/api/auth/register": {"post"},
    "/api/auth/login": {"post"},
    "/api/auth/token": {"post"},
    "/api/auth/logout": {"post"},
    "/api/auth/profile": {"get"},
    "/api/auth/change-password": {"put"},
    "/api/auth/api-keys": {"get", "post"},
    "/api/auth/api-keys/{key_id}": {"delete"},
    "/api/users": {"get", "post"},
    "/api/users/{user_id}": {"get", "delete"},
    "/api/users/{user_id}/roles": {"put"},
    "/api/users/pre-approved": {"get", "post"},
    "/api/users/pre-approved/{approval_id}": {"delete"},
    "/api/polygons": {"get", "post"},
    "/api/polygons/{polygon_id}": {"get", "put", "delete"},
    "/api/notes": {"get", "post"},
    "/api/notes/{item_id}": {"get", "put", "delete"},
}


def _document(client: FlaskClient) -> dict:  # type: ignore[type-arg]
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return json.loads(response.data)  # type: ignore[no-any-return]


def test_document_lists_every_route(client: FlaskClient) -> None:
    document = _document(client)
    assert document["openapi"].startswith("3.")
    for path, methods in MY_ROUTES.items():
        assert path in document["paths"], path
        assert methods <= set(document["paths"][path]), path


def test_errors_are_documented_with_the_error_schema(client: FlaskClient) -> None:
    document = _document(client)
    error = document["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"message", "errors"}
    register = document["paths"]["/api/auth/register"]["post"]["responses"]
    assert "400" in register and "422" not in register
    login = document["paths"]["/api/auth/login"]["post"]["responses"]
    assert {"200", "400", "401", "429"} <= set(login)
    polygon = document["paths"]["/api/polygons/{polygon_id}"]["get"]["responses"]
    assert {"200", "401", "403", "404"} <= set(polygon)
    assert document["components"]["responses"]["NOT_FOUND"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/Error"}


def test_security_is_documented(client: FlaskClient) -> None:
    document = _document(client)
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["apiKeyAuth"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    guarded = document["paths"]["/api/users"]["get"]
    assert guarded["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}]
    assert "security" not in document["paths"]["/api/auth/login"]["post"]
    assert "security" not in document["paths"]["/api/health"]["get"]


def test_docs_page_and_its_assets_are_local(client: FlaskClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html
    for asset in (
        "/api/docs/static/swagger-ui.css",
        "/api/docs/static/swagger-ui-bundle.js",
        "/api/docs/static/swagger-ui-standalone-preset.js",
        "/api/docs/init.js",
    ):
        assert asset in html
        response = client.get(asset)
        assert response.status_code == 200 and len(response.data) > 100, asset
        response.close()
    assert "/api/openapi.json" in client.get("/api/docs/init.js").get_data(as_text=True)


def test_health_needs_no_credentials(client: FlaskClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}
