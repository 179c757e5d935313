"""Live job events over real HTTP, and result downloads with signed local links."""

from __future__ import annotations

import json
import queue
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.support.metrics import sample, wait_for_sample
from webapi.app import drain_app
from webapi.events import follow

CLAIM = {"jobTypes": ["TEST"], "ecsTaskArn": "task", "ecsClusterArn": "cluster"}


def _follow(url: str, headers: dict[str, str], into: queue.Queue) -> None:
    with httpx.Client(timeout=30) as http, http.stream("GET", url, headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[len("event: ") :]
            elif line.startswith("data: "):
                into.put((kind, json.loads(line[len("data: ") :])))
    into.put(("closed", None))


def _next(events: queue.Queue, timeout: float = 10) -> tuple[str, dict | None]:
    return events.get(timeout=timeout)


def test_events_follow_a_job_to_its_end(live_url, client, analyst, worker, submit) -> None:
    job_id = submit({"id": 1})
    events: queue.Queue = queue.Queue()
    follower = threading.Thread(
        target=_follow, args=(f"{live_url}/api/jobs/{job_id}/events", analyst.headers, events)
    )
    follower.start()
    kind, job = _next(events)
    assert (kind, job["status"]) == ("status", "PENDING")
    assert sample(client.get("/metrics").get_data(as_text=True), "shoal_open_event_streams") == 1
    assignment = client.post("/api/jobs/claim", json=CLAIM, headers=worker.headers).json[
        "assignment"
    ]
    kind, job = _next(events)
    assert (kind, job["status"]) == ("status", "IN_PROGRESS")
    client.post(
        f"/api/jobs/assignments/{assignment['id']}/heartbeat",
        json={"progress": 0.5, "message": "halfway"},
        headers=worker.headers,
    )
    kind, job = _next(events)
    assert (kind, job["progress"], job["progress_message"]) == ("progress", 0.5, "halfway")
    client.post(
        f"/api/jobs/assignments/{assignment['id']}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker.headers,
    )
    kind, job = _next(events)
    assert (kind, job["status"]) == ("status", "SUCCEEDED")
    assert _next(events) == ("closed", None)  # the stream ends after the terminal state
    follower.join(timeout=10)
    wait_for_sample(
        lambda: client.get("/metrics").get_data(as_text=True), "shoal_open_event_streams", 0
    )


def test_events_of_a_finished_job_end_at_once(client, analyst, submit) -> None:
    job_id = submit({"id": 1})
    client.post(f"/api/jobs/{job_id}/cancel", headers=analyst.headers)
    body = client.get(f"/api/jobs/{job_id}/events", headers=analyst.headers).get_data(as_text=True)
    assert body.count("event: status") == 1 and '"status": "CANCELLED"' in body


def _finish_with_files(client, worker, files: dict[str, str]) -> None:
    assignment = client.post("/api/jobs/claim", json=CLAIM, headers=worker.headers).json[
        "assignment"
    ]
    directory = Path(urlsplit(assignment["storage_uri"]).path)
    for name, content in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(content)
    client.post(
        f"/api/jobs/assignments/{assignment['id']}/result",
        json={"status": "SUCCEEDED", "resultPayload": {}},
        headers=worker.headers,
    )


def _get(client, url: str, path: str | None = None) -> tuple[int, bytes]:
    """Fetch a download link; the response (a file stream) is closed before returning."""
    parts = urlsplit(url)
    response = client.get(path or parts.path, query_string=parts.query)
    try:
        return response.status_code, response.get_data()
    finally:
        response.close()


def test_downloads_are_signed_filtered_and_refused_when_tampered(
    client, analyst, worker, submit
) -> None:
    job_id = submit({"id": 1})
    not_yet = client.get(f"/api/jobs/{job_id}/download", headers=analyst.headers)
    assert not_yet.status_code == 400
    _finish_with_files(client, worker, {"result.json": '{"id": 1}', "maps/a.tif": "tif"})
    answer = client.get(f"/api/jobs/{job_id}/download", headers=analyst.headers).json
    assert answer["job"] == {"id": job_id, "type": "TEST", "status": "SUCCEEDED"}
    assert set(answer["files"]) == {"result.json", "maps/a.tif"}
    assert _get(client, answer["files"]["result.json"]) == (200, b'{"id": 1}')
    filtered = client.get(
        f"/api/jobs/{job_id}/download",
        query_string={"filterPrefix": "maps/"},
        headers=analyst.headers,
    ).json["files"]
    assert set(filtered) == {"maps/a.tif"}
    url = answer["files"]["result.json"]
    query = parse_qs(urlsplit(url).query)
    tampered = url.replace(query["signature"][0], "0" * 64)
    assert _get(client, tampered)[0] == 403
    traversal = urlsplit(url).path.replace("result.json", "../../../../etc/passwd")
    assert _get(client, url, traversal)[0] in (403, 404)
    other_file = url.replace("result.json", "maps/a.tif")  # a signature is for one path only
    assert _get(client, other_file)[0] == 403


def test_download_links_expire(client, analyst, worker, submit) -> None:
    job_id = submit({"id": 1})
    _finish_with_files(client, worker, {"result.json": "{}"})
    files = client.get(
        f"/api/jobs/{job_id}/download", query_string={"expirySeconds": 1}, headers=analyst.headers
    ).json["files"]
    assert _get(client, files["result.json"])[0] == 200
    time.sleep(2.1)
    status, body = _get(client, files["result.json"])
    assert status == 403 and b"expired" in body
    too_long = client.get(
        f"/api/jobs/{job_id}/download", query_string={"expirySeconds": 0}, headers=analyst.headers
    )
    assert too_long.status_code == 400


def test_a_stream_the_server_must_end_ends_with_an_error_and_a_retry(
    app, live_url, analyst, submit
) -> None:
    job_id = submit({"id": 1})
    url = f"{live_url}/api/jobs/{job_id}/events"
    with httpx.Client(timeout=30) as http, http.stream("GET", url, headers=analyst.headers) as r:
        lines = r.iter_lines()
        assert next(lines) == "event: status"  # the stream is open and following
        drain_app(app)  # as gunicorn does when the process must stop
        rest = list(lines)
    data = json.dumps({"status": 503, "message": follow.SERVER_STOPPING})
    retry = f"retry: {follow.RETRY_MILLISECONDS}"
    assert rest[-4:] == ["event: error", retry, f"data: {data}", ""]
