"""Polygons and notes: owner-scoped (admins see all), GeoJSON validated."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

from tests.webapi.conftest import IssuedKey, MakeUser

Headers = Callable[[str], dict[str, str]]

SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
FEATURE = {
    "type": "Feature",
    "properties": {"name": "reef"},
    "geometry": {
        "type": "MultiPolygon",
        "coordinates": [[[[10, 10], [11, 10], [11, 11], [10, 10]]]],
    },
}


def create_polygon(
    client: FlaskClient, headers: dict[str, str], polygon: Any = SQUARE
) -> dict[str, Any]:
    response = client.post("/api/polygons", json={"polygon": polygon}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json["polygon"]  # type: ignore[no-any-return]


def test_polygon_lifecycle(client: FlaskClient, make_user: MakeUser, auth_headers: Headers) -> None:
    user_id, token = make_user(roles=("DEFAULT",))
    headers = auth_headers(token)
    polygon = create_polygon(client, headers)
    assert set(polygon) == {"id", "user_id", "polygon", "created_at", "updated_at"}
    assert polygon["user_id"] == user_id and polygon["polygon"] == SQUARE
    assert polygon["created_at"].endswith("Z")

    assert client.get(f"/api/polygons/{polygon['id']}", headers=headers).json == {
        "polygon": polygon
    }
    updated = client.put(
        f"/api/polygons/{polygon['id']}", json={"polygon": FEATURE}, headers=headers
    )
    assert updated.status_code == 200
    assert updated.json["polygon"]["polygon"] == FEATURE
    assert updated.json["polygon"]["updated_at"] >= polygon["updated_at"]
    assert [p["id"] for p in client.get("/api/polygons", headers=headers).json["polygons"]] == [
        polygon["id"]
    ]

    assert client.delete(f"/api/polygons/{polygon['id']}", headers=headers).status_code == 204
    assert client.get(f"/api/polygons/{polygon['id']}", headers=headers).status_code == 404
    assert client.get("/api/polygons", headers=headers).json == {"polygons": []}


def test_polygons_are_owner_scoped(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers, admin: tuple[int, str]
) -> None:
    _, alice = make_user(roles=("ANALYST",))
    _, bob = make_user(roles=("ANALYST",))
    mine = create_polygon(client, auth_headers(alice))
    create_polygon(client, auth_headers(bob))
    url = f"/api/polygons/{mine['id']}"
    bob_headers = auth_headers(bob)
    assert client.get(url, headers=bob_headers).status_code == 403
    assert client.put(url, json={"polygon": SQUARE}, headers=bob_headers).status_code == 403
    assert client.delete(url, headers=bob_headers).status_code == 403
    assert len(client.get("/api/polygons", headers=bob_headers).json["polygons"]) == 1
    assert client.get("/api/polygons/424242", headers=bob_headers).status_code == 404
    admin_headers = auth_headers(admin[1])
    assert len(client.get("/api/polygons", headers=admin_headers).json["polygons"]) == 2
    assert client.get(url, headers=admin_headers).status_code == 200
    assert client.delete(url, headers=admin_headers).status_code == 204


BAD_POLYGONS = {
    "unclosed ring": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]},
    "wrong type": {"type": "Point", "coordinates": [0, 0]},
    "non-numeric": {"type": "Polygon", "coordinates": [[[0, 0], ["a", 0], [1, 1], [0, 0]]]},
    "longitude out of range": {
        "type": "Polygon",
        "coordinates": [[[0, 0], [181, 0], [1, 1], [0, 0]]],
    },
    "latitude out of range": {
        "type": "Polygon",
        "coordinates": [[[0, 0], [1, -91], [1, 1], [0, 0]]],
    },
    "not an object": "POLYGON((0 0, 1 0, 1 1, 0 0))",
    "feature without geometry": {"type": "Feature", "properties": {}},
}


def test_invalid_geojson_is_400_and_changes_nothing(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    _, token = make_user()
    headers = auth_headers(token)
    existing = create_polygon(client, headers)
    for name, polygon in BAD_POLYGONS.items():
        response = client.post("/api/polygons", json={"polygon": polygon}, headers=headers)
        assert response.status_code == 400, name
        [reason] = response.json["errors"]["polygon"]
        assert reason.startswith("Invalid GeoJSON"), name
        assert "Invalid GeoJSON" in response.json["message"]
        url = f"/api/polygons/{existing['id']}"
        assert client.put(url, json={"polygon": polygon}, headers=headers).status_code == 400, name
    assert client.get(f"/api/polygons/{existing['id']}", headers=headers).json == {
        "polygon": existing
    }
    assert len(client.get("/api/polygons", headers=headers).json["polygons"]) == 1


def test_geojson_problems_are_named(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    _, token = make_user()
    response = client.post(
        "/api/polygons",
        json={"polygon": BAD_POLYGONS["unclosed ring"]},
        headers=auth_headers(token),
    )
    assert "not closed" in response.json["errors"]["polygon"][0]
    response = client.post(
        "/api/polygons",
        json={"polygon": BAD_POLYGONS["latitude out of range"]},
        headers=auth_headers(token),
    )
    assert "latitude" in response.json["errors"]["polygon"][0]


def test_workers_cannot_use_polygons_or_notes(
    client: FlaskClient,
    make_user: MakeUser,
    auth_headers: Headers,
    api_key: Callable[..., IssuedKey],
) -> None:
    _, token = make_user(roles=("WORKER",))
    for headers in (auth_headers(token), api_key(("WORKER",)).headers):
        assert client.get("/api/polygons", headers=headers).status_code == 403
        assert (
            client.post("/api/polygons", json={"polygon": SQUARE}, headers=headers).status_code
            == 403
        )
        assert client.get("/api/notes", headers=headers).status_code == 403
    assert client.get("/api/polygons").status_code == 401
    assert client.get("/api/notes").status_code == 401


def test_note_lifecycle(client: FlaskClient, make_user: MakeUser, auth_headers: Headers) -> None:
    user_id, token = make_user()
    headers = auth_headers(token)
    polygon = create_polygon(client, headers)
    created = client.post(
        "/api/notes", json={"content": "bleached", "polygonId": polygon["id"]}, headers=headers
    )
    assert created.status_code == 200
    note = created.json["note"]
    assert set(note) == {"id", "polygon_id", "user_id", "content", "created_at", "updated_at"}
    assert (note["polygon_id"], note["user_id"], note["content"]) == (
        polygon["id"],
        user_id,
        "bleached",
    )

    assert client.get("/api/notes", headers=headers).json == {"notes": [note]}
    assert client.get(f"/api/notes/{polygon['id']}", headers=headers).json == {"notes": [note]}
    updated = client.put(
        f"/api/notes/{note['id']}", json={"content": "recovering"}, headers=headers
    )
    assert updated.status_code == 200 and updated.json["note"]["content"] == "recovering"
    assert client.delete(f"/api/notes/{note['id']}", headers=headers).status_code == 204
    assert (
        client.put(f"/api/notes/{note['id']}", json={"content": "x"}, headers=headers).status_code
        == 404
    )
    assert client.get("/api/notes", headers=headers).json == {"notes": []}


def test_notes_are_owner_scoped(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers, admin: tuple[int, str]
) -> None:
    _, alice = make_user()
    _, bob = make_user()
    alice_headers, bob_headers = auth_headers(alice), auth_headers(bob)
    polygon = create_polygon(client, alice_headers)
    note = client.post(
        "/api/notes", json={"content": "mine", "polygonId": polygon["id"]}, headers=alice_headers
    ).json["note"]
    on_theirs = client.post(
        "/api/notes", json={"content": "hi", "polygonId": polygon["id"]}, headers=bob_headers
    )
    assert on_theirs.status_code == 403
    assert client.get(f"/api/notes/{polygon['id']}", headers=bob_headers).status_code == 403
    assert (
        client.put(
            f"/api/notes/{note['id']}", json={"content": "x"}, headers=bob_headers
        ).status_code
        == 403
    )
    assert client.delete(f"/api/notes/{note['id']}", headers=bob_headers).status_code == 403
    assert client.get("/api/notes", headers=bob_headers).json == {"notes": []}
    missing = client.post(
        "/api/notes", json={"content": "x", "polygonId": 999999}, headers=alice_headers
    )
    assert missing.status_code == 404
    assert client.get("/api/notes/999999", headers=alice_headers).status_code == 404
    admin_headers = auth_headers(admin[1])
    assert client.get("/api/notes", headers=admin_headers).json == {"notes": [note]}
    assert client.get(f"/api/notes/{polygon['id']}", headers=admin_headers).status_code == 200


def test_note_bodies_are_validated(
    client: FlaskClient, make_user: MakeUser, auth_headers: Headers
) -> None:
    _, token = make_user()
    headers = auth_headers(token)
    polygon = create_polygon(client, headers)
    for body in (
        {"content": "", "polygonId": polygon["id"]},
        {"content": "x"},
        {"content": "x", "polygonId": "1"},
        {"content": 5, "polygonId": polygon["id"]},
    ):
        assert client.post("/api/notes", json=body, headers=headers).status_code == 400, body
