"""A small client of Airflow 3's REST API (``/api/v2``), logged in with a JWT from ``/auth/token``.

What the production tests and ``make bench`` drive the deployment with, as a user would: trigger a DAG
run with a conf, wait for it, read its task instances and their tries. Nothing here touches the
metadata DB or imports Airflow.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

FINISHED_RUN_STATES = ("success", "failed")


class AirflowApiError(RuntimeError):
    """The API refused a request; the message has the method, path, status and body."""


@dataclass
class AirflowApi:
    base_url: str
    username: str
    password: str
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        self._client = httpx.Client(base_url=self.base_url.rstrip("/"), timeout=self.timeout_seconds)
        self._token: str | None = None

    # -- plumbing ------------------------------------------------------------------------------------------

    def token(self) -> str:
        response = self._client.post(
            "/auth/token", json={"username": self.username, "password": self.password}
        )
        if response.status_code not in (200, 201):
            raise AirflowApiError(f"POST /auth/token -> {response.status_code}: {response.text[:300]}")
        return response.json()["access_token"]

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in range(2):
            if self._token is None:
                self._token = self.token()
            response = self._client.request(
                method, f"/api/v2{path}", headers={"Authorization": f"Bearer {self._token}"}, **kwargs
            )
            if response.status_code == 401 and attempt == 0:  # expired token: log in again, once
                self._token = None
                continue
            if response.status_code >= 400:
                raise AirflowApiError(
                    f"{method} /api/v2{path} -> {response.status_code}: {response.text[:500]}"
                )
            return response.json() if response.content else None
        raise AssertionError("unreachable")

    def get_json(self, path: str) -> Any:
        """GET a path outside /api/v2 (a plugin's page, say) with the same login."""
        if self._token is None:
            self._token = self.token()
        response = self._client.get(path, headers={"Authorization": f"Bearer {self._token}"})
        if response.status_code >= 400:
            raise AirflowApiError(f"GET {path} -> {response.status_code}: {response.text[:500]}")
        return response.json()

    def close(self) -> None:
        self._client.close()

    # -- DAGs and runs ----------------------------------------------------------------------------------------

    def wait_for_dags(self, dag_ids: Iterable[str], timeout_seconds: float = 180.0) -> None:
        """Until the DAG processor has parsed every one of ``dag_ids``."""
        wanted = set(dag_ids)
        deadline = time.monotonic() + timeout_seconds
        while True:
            found = {dag["dag_id"] for dag in self.request("GET", "/dags", params={"limit": 100})["dags"]}
            if wanted <= found:
                return
            if time.monotonic() > deadline:
                errors = self.request("GET", "/importErrors").get("import_errors", [])
                raise AirflowApiError(
                    f"DAGs {sorted(wanted - found)} not parsed within {timeout_seconds:.0f} s; import errors: {errors}"
                )
            time.sleep(2)

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict | None = None, *, run_id: str | None = None) -> str:
        run_id = run_id or f"api__{time.strftime('%Y%m%dT%H%M%S')}_{uuid.uuid4().hex[:8]}"
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}}
        return self.request("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def wait(
        self, dag_id: str, run_id: str, timeout_seconds: float = 600.0, poll_seconds: float = 2.0
    ) -> str:
        """The run's final state (success | failed); AirflowApiError when it takes longer than the timeout."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            state = self.run(dag_id, run_id)["state"]
            if state in FINISHED_RUN_STATES:
                return state
            if time.monotonic() > deadline:
                raise AirflowApiError(
                    f"{dag_id} {run_id} still {state} after {timeout_seconds:.0f} s; tasks: "
                    + ", ".join(f"{t['task_id']}={t['state']}" for t in self.task_instances(dag_id, run_id))
                )
            time.sleep(poll_seconds)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})[
            "task_instances"
        ]

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict:
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict]:
        """Every try of one task instance, oldest first (state, hostname, start and end of each)."""
        answer = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries")
        return sorted(answer["task_instances"], key=lambda t: t["try_number"])

    def wait_task_state(
        self, dag_id: str, run_id: str, task_id: str, states: Iterable[str], timeout_seconds: float = 300.0
    ) -> dict:
        wanted = set(states)
        deadline = time.monotonic() + timeout_seconds
        while True:
            ti = self.task_instance(dag_id, run_id, task_id)
            if ti["state"] in wanted:
                return ti
            if time.monotonic() > deadline:
                raise AirflowApiError(f"{dag_id} {run_id} {task_id} is {ti['state']}, not {sorted(wanted)}")
            time.sleep(1)

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        answer = self.request(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"deserialize": True},
        )
        return answer["value"]


@dataclass(frozen=True)
class LoadResult:
    run_ids: tuple[str, ...]
    states: dict[str, str]  # run id -> final state
    seconds: float  # first trigger to the last run finished

    @property
    def runs_per_minute(self) -> float:
        return 60.0 * len(self.run_ids) / self.seconds if self.seconds else 0.0

    def count(self, state: str) -> int:
        return sum(1 for value in self.states.values() if value == state)


def run_concurrently(
    api: AirflowApi, dag_id: str, conf: dict, runs: int, *, timeout_seconds: float = 1800.0
) -> LoadResult:
    """Trigger ``runs`` DAG runs at once (one thread each, so the API sees them together); wait for all."""
    from concurrent.futures import ThreadPoolExecutor

    api.request("GET", "/version")  # log in once, before the threads share the token
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=runs) as pool:
        run_ids = tuple(pool.map(lambda _: api.trigger(dag_id, conf), range(runs)))
    states: dict[str, str] = {}
    deadline = started + timeout_seconds
    while len(states) < len(run_ids):
        for run_id in run_ids:
            if run_id not in states:
                state = api.run(dag_id, run_id)["state"]
                if state in FINISHED_RUN_STATES:
                    states[run_id] = state
        if len(states) < len(run_ids):
            if time.monotonic() > deadline:
                raise AirflowApiError(
                    f"{len(run_ids) - len(states)} of {len(run_ids)} {dag_id} runs unfinished after "
                    f"{timeout_seconds:.0f} s"
                )
            time.sleep(2)
    return LoadResult(run_ids=run_ids, states=states, seconds=time.monotonic() - started)
