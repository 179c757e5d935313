"""Addresses nothing serves: a styled page for a browser, JSON under /api; the favicon."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_an_unknown_page_is_a_styled_404_and_the_api_keeps_its_json(client: FlaskClient) -> None:
    page = client.get("/nope/deeper")
    assert page.status_code == 404 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert "<h1>Not found</h1>" in text and "There is no page at /nope/deeper." in text
    assert "app.css" in text  # the dashboard's look
    for path in ("/api/nope", "/api"):
        api = client.get(path)
        assert api.status_code == 404 and api.json == {"message": "Not found."}, path
    assert client.post("/api/jobs/nope/deeper", json={}).json == {"message": "Not found."}


def test_the_favicon(client: FlaskClient) -> None:
    found = client.get("/favicon.ico")
    assert found.status_code == 301 and found.headers["Location"] == "/ui/static/favicon.svg"
    with client.get("/ui/static/favicon.svg") as icon:
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert 'rel="icon" href="/ui/static/favicon.svg"' in client.get("/login").get_data(as_text=True)
