"""Signed local download links, attacked over real HTTP: raw request lines, so encoded
and dotted paths reach the server exactly as an attacker would send them.

tests/webapi/jobs covers a forged signature, another file's path, a plain ``..``
and a real expiry; here: a stretched ``expires``, encoded traversal, absolute paths,
NUL, and paths an attacker could not sign but that are refused even when signed.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from flask.testing import FlaskClient

from tests.security.conftest import SIGNING_SECRET, Cast, finish, submit

SECRET_TEXT = "the contents of a file outside the storage root"


def _get(live_url: str, raw_path: str) -> tuple[int, str, str | None]:
    """GET ``raw_path`` byte for byte (no client-side normalisation or quoting):
    the status, the body and the redirect target if any."""
    url = urlsplit(live_url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        connection.putrequest("GET", raw_path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        body = response.read().decode("utf-8", "replace")
        return response.status, body, response.getheader("Location")
    finally:
        connection.close()


def _sign(path: str, expires: int) -> str:
    message = f"{path}\n{expires}".encode()
    return hmac.new(SIGNING_SECRET.encode(), message, hashlib.sha256).hexdigest()


def _link(path: str, expires: int, signature: str | None = None) -> str:
    query = urlencode({"expires": expires, "signature": signature or _sign(path, expires)})
    return f"/api/storage/local/{path}?{query}"


@pytest.fixture
def link(client: FlaskClient, cast: Cast, tmp_path: Path) -> dict[str, str]:
    """A real link to a finished job's result.json, and a secret file beside the root."""
    (tmp_path / "secret.txt").write_text(SECRET_TEXT)
    submit(client, cast.analyst)
    job_id = finish(client, cast.worker, {"result.json": '{"ok": true}'})
    files = client.get(f"/api/jobs/{job_id}/download", headers=cast.analyst.headers).json
    url = urlsplit(files["files"]["result.json"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    return {"path": url.path.removeprefix("/api/storage/local/"), **query}


def _refused(live_url: str, raw_path: str) -> None:
    status, body, location = _get(live_url, raw_path)
    if status == 308:
        # Werkzeug merges doubled slashes with a redirect: it must stay on this route,
        # and the path it leads to is refused like any other.
        assert location is not None and "/api/storage/local/" in location, location
        status, body, _ = _get(live_url, location.removeprefix(live_url))
    assert status in (403, 404), (raw_path, status)
    assert SECRET_TEXT not in body and '"ok"' not in body, raw_path
    assert "message" in json.loads(body), raw_path


def test_the_real_link_works(live_url: str, link: dict[str, str]) -> None:
    path = (
        f"/api/storage/local/{link['path']}?expires={link['expires']}&signature={link['signature']}"
    )
    assert _get(live_url, path)[:2] == (200, '{"ok": true}')


def test_a_stretched_or_missing_expiry_is_refused(live_url: str, link: dict[str, str]) -> None:
    path, expires, signature = link["path"], int(link["expires"]), link["signature"]
    base = f"/api/storage/local/{path}"
    for query in [
        f"expires={expires + 3600}&signature={signature}",
        f"expires={expires}0&signature={signature}",
        f"expires={expires}.0&signature={signature}",
        f"signature={signature}",
        f"expires={expires}",
        f"expires={expires}&signature={signature.upper()}",
        f"expires={expires}&signature=0&signature={signature}",
    ]:
        status, _, _ = _get(live_url, f"{base}?{query}")
        assert status == 403, query
    # Correctly signed, but already past: refused at once, no waiting needed.
    past = int(time.time()) - 1
    assert _get(live_url, _link(path, past))[0] == 403


def test_traversal_with_a_borrowed_signature_is_refused(
    live_url: str, link: dict[str, str]
) -> None:
    query = f"?expires={link['expires']}&signature={link['signature']}"
    escape = "../" * 8 + "etc/passwd"
    for raw in [
        escape,
        escape.replace("..", "%2e%2e"),
        escape.replace("/", "%2f"),
        escape.replace("../", "..%5c"),
        "%2e%2e%2f" * 8 + "etc%2fpasswd",
        "%252e%252e%252f" * 8 + "etc%252fpasswd",
        "/etc/passwd",
        "%2fetc%2fpasswd",
        f"{link['path']}%00.json",
        link["path"].replace("result.json", "../result.json"),
    ]:
        _refused(live_url, f"/api/storage/local/{raw}{query}")


def test_paths_out_of_the_root_are_refused_even_when_signed(
    live_url: str, link: dict[str, str], tmp_path: Path
) -> None:
    """Defence in depth: a leaked secret still cannot read outside the root."""
    root = tmp_path / "results"
    (root / "out").symlink_to(tmp_path)
    expires = int(time.time()) + 600
    for path in [
        "../secret.txt",
        "test/../../secret.txt",
        str(tmp_path / "secret.txt"),
        "out/secret.txt",
        "./../secret.txt",
    ]:
        _refused(live_url, _link(quote(path), expires, _sign(path, expires)))
