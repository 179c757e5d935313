"""/api/budgets: admins set, read and clear a user's budget and the default, each change
audited; bad input is a 4xx naming the field and changes nothing; /me shows a user's
month."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import text

from tests.webapi.budgets.conftest import Caller, count
from webapi.services import Services


def _audit(services: Services) -> list[tuple[str, int | None, int | None, dict]]:
    with services.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT action, user_id, actor_id, metadata FROM user_logs"
                " WHERE action::text LIKE 'BUDGET%' ORDER BY id"
            )
        )
        return [(r.action.value if hasattr(r.action, "value") else r.action, *r[1:]) for r in rows]


def test_admin_sets_reads_and_clears_budgets_and_each_change_is_audited(
    client: FlaskClient,
    admin: tuple[int, str],
    admin_headers: dict[str, str],
    analyst: Caller,
    services: Services,
) -> None:
    url = f"/api/budgets/users/{analyst.user_id}"
    assert client.get(url, headers=admin_headers).json == {"budget": None}
    assert client.get("/api/budgets/me", headers=analyst.headers).json["source"] is None

    made = client.put(url, json={"cost": 12.5, "vcpuHours": None}, headers=admin_headers)
    assert made.status_code == 200, made.json
    budget = made.json["budget"]
    assert (budget["userId"], budget["limit"], budget["warnAt"]) == (
        analyst.user_id,
        {"cost": 12.5, "vcpuHours": None},
        0.8,
    )
    changed = client.put(
        url, json={"cost": None, "vcpuHours": 40, "warnAt": 0.5}, headers=admin_headers
    )
    assert changed.json["budget"]["limit"] == {"cost": None, "vcpuHours": 40.0}
    assert client.get(url, headers=admin_headers).json["budget"] == changed.json["budget"]

    default = client.put(
        "/api/budgets/default", json={"cost": 100, "vcpuHours": None}, headers=admin_headers
    )
    assert default.json["budget"]["userId"] is None
    listed = client.get("/api/budgets", headers=admin_headers).json["budgets"]
    assert [b["userId"] for b in listed] == [None, analyst.user_id]

    mine = client.get("/api/budgets/me", headers=analyst.headers).json
    assert mine["source"] == "user" and mine["limit"] == {"cost": None, "vcpuHours": 40.0}
    assert mine["warnAt"] == 0.5 and mine["state"] == "ok"
    assert mine["spent"] == {"cost": 0.0, "vcpuHours": 0.0}
    assert len(mine["period"]) == 7 and mine["period"][4] == "-"

    cleared = client.delete(url, headers=admin_headers)
    assert cleared.status_code == 200 and cleared.json["budget"]["limit"]["vcpuHours"] == 40.0
    assert client.get("/api/budgets/me", headers=analyst.headers).json["source"] == "default"
    assert client.delete(url, headers=admin_headers).status_code == 404

    admin_id = admin[0]
    assert _audit(services) == [
        (
            "BUDGET_CHANGED",
            analyst.user_id,
            admin_id,
            {
                "scope": f"user {analyst.user_id}",
                "before": None,
                "after": {"cost": 12.5, "vcpuHours": None, "warnAt": 0.8},
            },
        ),
        (
            "BUDGET_CHANGED",
            analyst.user_id,
            admin_id,
            {
                "scope": f"user {analyst.user_id}",
                "before": {"cost": 12.5, "vcpuHours": None, "warnAt": 0.8},
                "after": {"cost": None, "vcpuHours": 40.0, "warnAt": 0.5},
            },
        ),
        (
            "BUDGET_CHANGED",
            None,
            admin_id,
            {
                "scope": "the default",
                "before": None,
                "after": {"cost": 100.0, "vcpuHours": None, "warnAt": 0.8},
            },
        ),
        (
            "BUDGET_CLEARED",
            analyst.user_id,
            admin_id,
            {
                "scope": f"user {analyst.user_id}",
                "before": {"cost": None, "vcpuHours": 40.0, "warnAt": 0.5},
            },
        ),
    ]


def test_only_admins_change_budgets(
    client: FlaskClient, analyst: Caller, services: Services
) -> None:
    body = {"cost": 1000, "vcpuHours": None}
    for method, url in (
        ("put", f"/api/budgets/users/{analyst.user_id}"),
        ("put", "/api/budgets/default"),
        ("delete", "/api/budgets/default"),
        ("get", "/api/budgets"),
        ("get", f"/api/budgets/users/{analyst.user_id}/standing"),
    ):
        answer = getattr(client, method)(url, json=body, headers=analyst.headers)
        assert answer.status_code == 403, (method, url)
    assert count(services, "SELECT count(*) FROM budgets") == 0


def test_bad_budgets_are_refused_naming_the_field_and_change_nothing(
    client: FlaskClient, admin_headers: dict[str, str], analyst: Caller, services: Services
) -> None:
    url = f"/api/budgets/users/{analyst.user_id}"
    assert (
        client.put(url, json={"cost": 5, "vcpuHours": None}, headers=admin_headers).status_code
        == 200
    )
    for body, field in (
        ({"cost": -1, "vcpuHours": None}, "cost"),
        ({"cost": None, "vcpuHours": -0.5}, "vcpuHours"),
        ({"cost": 1, "vcpuHours": None, "warnAt": 0}, "warnAt"),
        ({"cost": 1, "vcpuHours": None, "warnAt": 1.5}, "warnAt"),
        ({"cost": 1, "vcpuHours": None, "warnAt": -0.2}, "warnAt"),
        ({"cost": None, "vcpuHours": None}, "cost"),
        ({"cost": "NaN", "vcpuHours": None}, "cost"),
        ({"cost": 10**9, "vcpuHours": None}, "cost"),
        ({"vcpuHours": 3}, "cost"),
        ({"cost": 1, "vcpuHours": None, "hard": True}, "hard"),
    ):
        refused = client.put(url, json=body, headers=admin_headers)
        assert refused.status_code == 400, body
        assert field in refused.json["errors"], (body, refused.json)
    missing = client.put(
        "/api/budgets/users/999999", json={"cost": 1, "vcpuHours": None}, headers=admin_headers
    )
    assert missing.status_code == 404 and "999999" in missing.json["message"]
    assert client.get("/api/budgets/users/999999", headers=admin_headers).status_code == 404
    assert client.delete("/api/budgets/users/999999", headers=admin_headers).status_code == 404
    shown = client.get(url, headers=admin_headers).json["budget"]
    assert shown["limit"] == {"cost": 5.0, "vcpuHours": None} and shown["warnAt"] == 0.8
    assert count(services, "SELECT count(*) FROM budgets") == 1
    assert count(services, "SELECT count(*) FROM user_logs WHERE action = 'BUDGET_CHANGED'") == 1


def test_warn_at_is_kept_when_a_change_leaves_it_out(
    client: FlaskClient, admin_headers: dict[str, str], analyst: Caller
) -> None:
    url = f"/api/budgets/users/{analyst.user_id}"
    client.put(url, json={"cost": 5, "vcpuHours": None, "warnAt": 0.6}, headers=admin_headers)
    kept = client.put(url, json={"cost": 7, "vcpuHours": None}, headers=admin_headers)
    assert kept.json["budget"]["warnAt"] == 0.6
