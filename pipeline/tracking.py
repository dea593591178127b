"""MLflow: one run per (DAG, DAG run), resumed by every task of that run, never left RUNNING.

Every task of ``rnn_retraining`` that writes to MLflow goes through :func:`task_run`: it finds the
run tagged with this DAG run (or creates it, once), reopens it, and closes it FINISHED when the
task body returns or FAILED when it raises. A retried task therefore reuses the same MLflow run.

A tracking server that requires a login (production: MLflow's basic-auth app) gets it from the
Airflow connection ``RNN_PIPELINE_MLFLOW_CONN_ID`` (default ``mlflow_default``; its login and
password), looked up like any connection: environment, secrets backend (e.g. AWS Secrets Manager),
metadata DB. Without that connection the client goes without a login (the embedded default), or
uses MLflow's own ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Generator
from typing import Any

from pipeline import names
from pipeline.settings import Settings, load_settings

log = logging.getLogger(__name__)

SYSTEM_METRICS_INTERVAL_SECONDS = 5  # CPU, memory, disk, network of the worker while training runs


# (tracking URI, user) pairs whose login this process has checked against the server
_LOGIN_CHECKED: set[tuple[str, str]] = set()


class TrackingUnavailableError(RuntimeError):
    """The MLflow tracking server cannot be reached, or refuses our login; the message names the URI."""


def configure(settings: Settings | None = None) -> Settings:
    """Point the mlflow client at the configured store and check it answers."""
    import mlflow

    settings = settings or load_settings()
    if settings.tracking_uri.startswith("sqlite:///"):
        from pathlib import Path

        Path(settings.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    elif settings.tracking_uri.startswith(("http://", "https://")):
        use_login(settings.mlflow_conn_id)
        check_reachable(settings.tracking_uri)
        check_login(settings.tracking_uri, settings.mlflow_conn_id)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return settings


def connection_login(conn_id: str) -> tuple[str, str] | None:
    """(login, password) of the Airflow connection ``conn_id``; None when it is not defined or has no login."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        connection = Connection.get(conn_id)
    except AirflowNotFoundException:
        return None
    if not connection.login:
        return None
    return connection.login, connection.password or ""


def use_login(conn_id: str) -> bool:
    """Hand the connection's login to the MLflow client (it reads MLFLOW_TRACKING_USERNAME/PASSWORD)."""
    login = connection_login(conn_id)
    if login is None:
        return False
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = login
    return True


def check_reachable(tracking_uri: str, timeout_seconds: float = 5.0) -> None:
    url = tracking_uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout_seconds) as response:
            if response.status != 200:
                raise TrackingUnavailableError(
                    f"MLflow at {tracking_uri} answered {response.status} on /health"
                )
    except (urllib.error.URLError, OSError) as exc:
        raise TrackingUnavailableError(
            f"MLflow tracking server {tracking_uri} is unreachable ({exc}); start it (`make up`) or fix "
            "MLFLOW_TRACKING_URI"
        ) from exc


def check_login(tracking_uri: str, conn_id: str, timeout_seconds: float = 10.0) -> None:
    """Once per process: a server that requires a login accepts ours, else say how to give one."""
    user = os.environ.get("MLFLOW_TRACKING_USERNAME", "")
    if (tracking_uri, user) in _LOGIN_CHECKED:
        return
    request = urllib.request.Request(
        tracking_uri.rstrip("/") + "/api/2.0/mlflow/experiments/search?max_results=1"
    )
    if user:
        token = base64.b64encode(f"{user}:{os.environ.get('MLFLOW_TRACKING_PASSWORD', '')}".encode())
        request.add_header("Authorization", f"Basic {token.decode()}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_seconds):
            pass
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            who = f"user {user!r} was refused" if user else "no login was given"
            raise TrackingUnavailableError(
                f"MLflow at {tracking_uri} requires a login and {who} ({exc.code}); set the login and "
                f"password of the Airflow connection {conn_id!r} (RNN_PIPELINE_MLFLOW_CONN_ID) to an "
                "MLflow user"
            ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise TrackingUnavailableError(
            f"MLflow tracking server {tracking_uri} is unreachable ({exc})"
        ) from exc
    _LOGIN_CHECKED.add((tracking_uri, user))


def experiment_id(name: str, settings: Settings) -> str:
    """Id of experiment ``name``, created with a local artifact root for local stores.

    Both experiments are tagged ``mlflow.experimentKind=custom_model_development``: without it the
    MLflow 3 UI may take them for GenAI experiments and open on an (empty) traces overview.
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    return _experiment_id(client, name, client.get_experiment_by_name(name), settings)


def _experiment_id(client: Any, name: str, experiment: Any, settings: Settings) -> str:
    """:func:`experiment_id`, given what ``get_experiment_by_name(name)`` returned (None: not there yet)."""
    if experiment is not None:
        if names.TAG_EXPERIMENT_KIND not in experiment.tags:  # created before the UI needed telling
            client.set_experiment_tag(
                experiment.experiment_id, names.TAG_EXPERIMENT_KIND, names.EXPERIMENT_KIND_MODEL_TRAINING
            )
        return experiment.experiment_id
    artifact_location = None
    if settings.tracking_is_local:
        from pathlib import Path

        artifact_location = Path(settings.artifact_root, name).resolve().as_uri()
    kind = {names.TAG_EXPERIMENT_KIND: names.EXPERIMENT_KIND_MODEL_TRAINING}
    try:
        return client.create_experiment(name, artifact_location=artifact_location, tags=kind)
    except Exception:  # created concurrently by another task
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def find_run_id(experiment: str, dag_id: str, run_id: str, settings: Settings) -> str | None:
    """The MLflow run of this DAG run, if there is one (creates nothing)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    return None if found is None else _run_of(client, found.experiment_id, dag_id, run_id)


def _run_of(client: Any, experiment_id: str, dag_id: str, run_id: str) -> str | None:
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{names.TAG_DAG_ID}` = '{dag_id}' and tags.`{names.TAG_RUN_ID}` = '{run_id}'",
        max_results=2,
        order_by=["attributes.start_time ASC"],
    )
    return runs[0].info.run_id if runs else None


def get_or_create_run(
    experiment: str,
    dag_id: str,
    run_id: str,
    *,
    run_name: str | None = None,
    settings: Settings | None = None,
) -> str:
    """The MLflow run of this DAG run: found by its tags, created (FINISHED, empty) if absent."""
    from mlflow import MlflowClient

    settings = configure(settings)
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)  # looked up once, for the search and the creation
    existing = None if found is None else _run_of(client, found.experiment_id, dag_id, run_id)
    if existing:
        return existing
    run = client.create_run(
        _experiment_id(client, experiment, found, settings),
        run_name=run_name,
        tags={names.TAG_DAG_ID: dag_id, names.TAG_RUN_ID: run_id},
    )
    client.set_terminated(run.info.run_id, status="FINISHED")
    return run.info.run_id


@contextlib.contextmanager
def task_run(mlflow_run_id: str, *, system_metrics: bool = False) -> Generator[Any, None, None]:
    """Reopen the run for one task; FINISHED on success, FAILED on any exception (then re-raised)."""
    import mlflow

    configure()
    if system_metrics and "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL" not in os.environ:
        mlflow.set_system_metrics_sampling_interval(SYSTEM_METRICS_INTERVAL_SECONDS)
    with mlflow.start_run(run_id=mlflow_run_id, log_system_metrics=system_metrics) as run:
        yield run


def mark_failed(mlflow_run_id: str) -> None:
    """Used from failure callbacks: a run whose task died must not stay RUNNING."""
    from mlflow import MlflowClient

    configure()
    client = MlflowClient()
    if client.get_run(mlflow_run_id).info.status in ("RUNNING", "SCHEDULED"):
        client.set_terminated(mlflow_run_id, status="FAILED")


def log_corpus_input(
    mlflow_run_id: str, *, uri: str, sha256: str, profile: dict[str, Any], context: str
) -> None:
    """The corpus as an MLflow dataset input of the run: name, source URI, sha256 digest, profile.

    MLflow keeps at most 36 characters of a digest: the digest is the sha256's first 36 hex digits,
    and the whole sha256 is the input's ``sha256`` tag (and the run's ``dataset.sha256`` param).
    """
    import json

    from mlflow import MlflowClient
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.exceptions import MlflowException
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    source_type = uri.split("://", 1)[0] if "://" in uri else "local"
    dataset = Dataset(
        name=corpus_name(uri),
        digest=sha256[:36],
        source_type=source_type,
        source=json.dumps({"uri": uri}),
        profile=json.dumps(profile),
    )
    tags = [InputTag(MLFLOW_DATASET_CONTEXT, context), InputTag("sha256", sha256)]
    inputs = [DatasetInput(dataset, tags)]
    try:
        MlflowClient().log_inputs(mlflow_run_id, datasets=inputs)
    except MlflowException:
        # Two runs logging the same corpus at once race to create its dataset row (MLflow checks,
        # then inserts); the loser finds it there the second time.
        MlflowClient().log_inputs(mlflow_run_id, datasets=inputs)


def corpus_name(uri: str) -> str:
    """A short name for a corpus: its file name, or the built-in corpus's name."""
    if uri.startswith("builtin://"):
        return uri.removeprefix("builtin://")
    return uri.rstrip("/").rsplit("/", 1)[-1] or uri


def log_batch(
    mlflow_run_id: str,
    *,
    metrics: dict[str, float] | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
) -> None:
    """Metrics (step 0), params and tags in one request (``mlflow.log_metrics``, ``log_params`` and
    ``set_tags`` are one request each); values are stored as those would store them."""
    import time

    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    now_ms = int(time.time() * 1000)
    MlflowClient().log_batch(
        mlflow_run_id,
        metrics=[Metric(key, float(value), now_ms, 0) for key, value in (metrics or {}).items()],
        params=[Param(key, str(value)) for key, value in (params or {}).items()],
        tags=[RunTag(key, str(value)) for key, value in (tags or {}).items()],
    )


def load_json_artifact(run: Any, path: str) -> Any:
    """A JSON artifact of ``run`` (a Run from ``get_run`` or a search), fetched alone.

    ``MlflowClient.download_artifacts`` looks the run up again, searches its logged models and lists
    the path before it downloads: three more requests through a tracking server.
    """
    import json
    import posixpath
    import tempfile
    from pathlib import Path

    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    repository = get_artifact_repository(run.info.artifact_uri)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp, posixpath.basename(path))
        repository._download_file(path, str(local))
        return json.loads(local.read_text())


def rename_run(mlflow_run_id: str, name: str) -> None:
    from mlflow import MlflowClient

    MlflowClient().update_run(mlflow_run_id, name=name)


def flatten(prefix: str, values: dict[str, Any]) -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"prefix.a.b": 1} for MLflow params."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            flat.update(flatten(full, value))
        else:
            flat[full] = value
    return flat
