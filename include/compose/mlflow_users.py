"""Create the MLflow user the pipeline logs as (``python mlflow_users.py``; standard library only).

Run once the MLflow server (basic-auth app) is up, by docker-compose.yaml's ``mlflow-init`` and by
``make prod-up``: waits for ``$MLFLOW_TRACKING_URI/health``, then, as the admin
(``MLFLOW_AUTH_ADMIN_USERNAME`` / ``MLFLOW_AUTH_ADMIN_PASSWORD``), creates the non-admin user
``MLFLOW_PIPELINE_USERNAME`` with ``MLFLOW_PIPELINE_PASSWORD``, or sets that password if the user exists.
Airflow's connection ``mlflow_default`` carries the same login. Exit 0 on success, 2 with one
``error:`` line otherwise.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request

WAIT_SECONDS = 180.0


def _request(method: str, base: str, path: str, body: dict, user: str, password: str) -> tuple[int, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def _wait_healthy(base: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            with urllib.request.urlopen(base + "/health", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"error: MLflow at {base} did not answer /health within {WAIT_SECONDS:.0f} s")
        time.sleep(1)


def main() -> int:
    try:
        base = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
        admin = os.environ.get("MLFLOW_AUTH_ADMIN_USERNAME", "admin")
        admin_password = os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"]
        user = os.environ["MLFLOW_PIPELINE_USERNAME"]
        password = os.environ["MLFLOW_PIPELINE_PASSWORD"]
    except KeyError as missing:
        print(f"error: environment variable {missing.args[0]} is not set", file=sys.stderr)
        return 2
    _wait_healthy(base)
    status, text = _request(
        "POST",
        base,
        "/api/2.0/mlflow/users/create",
        {"username": user, "password": password},
        admin,
        admin_password,
    )
    if status == 200:
        print(f"MLflow user {user!r} created")
        return 0
    if "RESOURCE_ALREADY_EXISTS" in text or "already exists" in text:
        status, text = _request(
            "PATCH",
            base,
            "/api/2.0/mlflow/users/update-password",
            {"username": user, "password": password},
            admin,
            admin_password,
        )
        if status == 200:
            print(f"MLflow user {user!r} exists; password set")
            return 0
    print(f"error: MLflow answered {status} creating user {user!r}: {text[:300]}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
