"""The dashboard's usage page at 1,000,000 attempts: p50 and p95 of the whole page (three
reports, the chart, the template) as an admin (everyone's) and as one user, for this
month, last month and a year of days.

    .venv/bin/python bench/usage_page.py [--attempts 1000000] [--runs 20]

Fills the database as ``bench/usage.py`` does, then asks ``GET /usage`` of the app
through Flask's test client (no HTTP server), logged in as a browser is.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The repository root, so that ``bench.*`` and the packages import when run as a script.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import re
import statistics
import time
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient

from bench.measure import load_average
from bench.support import benchmark_database, machine, print_table
from bench.usage import fill
from webapi import accounts
from webapi.app import close_app, create_app
from webapi.auth.keys import generate_jwt_key_pair
from webapi.services import EXTENSION
from webapi.settings import WebSettings
from webapi.store.engine import make_engine

PASSWORD = "bench password 1"
ADMIN = "root@bench.org"


def logged_in(client: FlaskClient, email: str) -> FlaskClient:
    form = client.get("/login").text
    found = re.search(r'name="login_token" value="([^"]+)"', form)
    assert found, "no login token on the login page"
    data = {"email": email, "password": PASSWORD, "login_token": found.group(1)}
    answer = client.post("/login", data=data)
    assert answer.status_code == 303, answer.text
    return client


def measure(clients: dict[str, FlaskClient], runs: int) -> list[tuple[str, float, float]]:
    today = datetime.now(UTC).date()
    periods = {
        "this month": "",
        "last month": "?period=last-month",
        "366 days": f"?from={today - timedelta(days=365)}&to={today}",
    }
    rows = []
    for who, client in clients.items():
        for name, query in periods.items():
            assert client.get(f"/usage{query}").status_code == 200  # warm
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                answer = client.get(f"/usage{query}")
                times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200
            times.sort()
            p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
            rows.append((f"{who}, {name}", statistics.median(times), p95))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    private, public = generate_jwt_key_pair()
    with benchmark_database() as (url, _):
        env = {
            "DATABASE_URL": url,
            "SHOAL_JWT_PRIVATE_KEY": private,
            "SHOAL_JWT_PUBLIC_KEY": public,
            "SHOAL_PASSWORD_HASH_FAST": "1",
        }
        app = create_app(WebSettings.from_env(env))
        try:
            services = app.extensions[EXTENSION]
            print(f"filling {args.attempts:,} attempts")
            filler = make_engine(url, pool_size=1, max_overflow=0)  # no request time limit
            try:
                fill(filler, args.attempts)
            finally:
                filler.dispose()
            with services.transaction() as conn:
                accounts.create_user(
                    conn, services.passwords, email=ADMIN, password=PASSWORD, roles=["ADMIN"]
                )
                # One of the filled users (each with about a hundredth of the attempts).
                conn.exec_driver_sql(
                    "UPDATE users SET password_hash = %s WHERE email = 'u1@example.org'",
                    (services.passwords.hash(PASSWORD),),
                )
            clients = {
                "admin": logged_in(app.test_client(), ADMIN),
                "one user": logged_in(app.test_client(), "u1@example.org"),
            }
            rows = measure(clients, args.runs)
        finally:
            close_app(app)
    print(
        f"\nthe usage page at {args.attempts:,} attempts, {args.runs} runs each;"
        f" {machine()}, {load_average()}"
    )
    print_table(["page", "p50 ms", "p95 ms"], rows)


if __name__ == "__main__":
    main()
