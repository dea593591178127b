"""docker-compose.yaml as the one source of the production settings, for processes on 127.0.0.1.

``make prod-up`` (:mod:`devtools.production`) does not keep its own copy of the deployment's
settings: it reads each service's ``environment`` from ``docker-compose.yaml`` (and the image's ``ENV``
from the ``Dockerfile``), fills in ``${NAME:?message}`` from the generated secrets exactly as Compose
does, then points container addresses at the local processes: ``postgres:5432`` becomes
``127.0.0.1:<port>``, ``/opt/project`` the checkout, ``/opt/airflow`` the state folder.

The secrets (:data:`SECRET_NAMES`) are generated once into an env file (mode 0600, under the
git-ignored ``.local/``) that serves both ways of running: ``docker compose --env-file <file>`` and
``make prod-up``. Standard library and PyYAML only.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.settings import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
COMPOSE_INCLUDE = REPO_ROOT / "include" / "compose"

# Paths inside the image -> where they are on this machine (the state folder is per deployment).
PROJECT_IN_IMAGE = "/opt/project"
AIRFLOW_HOME_IN_IMAGE = "/opt/airflow"


def _fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _token() -> str:
    return secrets.token_urlsafe(32)


# Every credential and key of the deployment: (name, generator, what it protects).
SECRETS: tuple[tuple[str, Callable[[], str], str], ...] = (
    ("AIRFLOW_ADMIN_PASSWORD", _token, "Airflow UI and REST API, user admin"),
    ("AIRFLOW_FERNET_KEY", _fernet_key, "encrypts Airflow connections and variables in the DB"),
    ("AIRFLOW_API_SECRET_KEY", _token, "Airflow API server sessions and worker log requests"),
    ("AIRFLOW_JWT_SECRET", _token, "signs Airflow's REST API and task execution tokens"),
    ("POSTGRES_PASSWORD", _token, "Postgres superuser postgres (only the init script uses it)"),
    ("AIRFLOW_DB_PASSWORD", _token, "Postgres role airflow (Airflow metadata DB, Celery results)"),
    ("MLFLOW_DB_PASSWORD", _token, "Postgres role mlflow (tracking and auth DBs)"),
    ("MLFLOW_ADMIN_PASSWORD", _token, "MLflow UI and API, user admin"),
    ("MLFLOW_PIPELINE_PASSWORD", _token, "MLflow user airflow (Airflow connection mlflow_default)"),
    ("MLFLOW_FLASK_SECRET_KEY", _token, "MLflow server sessions (CSRF)"),
    ("REDIS_PASSWORD", _token, "the Celery broker"),
    ("S3_SECRET_ACCESS_KEY", _token, "the S3 store (MinIO root user rnn-pipeline)"),
    (
        "RNN_API_KEY",
        _token,
        "the inference server's POST /v1/generate and GET /metrics (Authorization: Bearer)",
    ),
)
SECRET_NAMES = tuple(name for name, _, _ in SECRETS)
# Secrets nothing stored depends on (no database, no encrypted value holds them): one missing from an
# older secrets file is generated and appended, instead of refusing the file.
ADDED_LATER = frozenset({"RNN_API_KEY"})

_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:\?|:-|\?|-)(?P<arg>[^}]*))?\}")


class MissingSettingError(ValueError):
    """A ``${NAME:?message}`` with no value: what Compose refuses to start with."""


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's interpolation: ``$$``, ``${X}``, ``${X:-default}``, ``${X-default}``, ``${X:?err}``, ``${X?err}``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg") or ""
        present = name in variables
        current = variables.get(name, "")
        if op in (":?", "?"):
            if (op == ":?" and not current) or not present:
                raise MissingSettingError(f"{name} is not set: {arg}")
            return current
        if op == ":-":
            return current or arg
        if op == "-":
            return current if present else arg
        return current

    return _VARIABLE.sub(replace, value)


def compose_document(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def service_environment(service: str, document: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The raw (not interpolated) environment of one compose service, anchors and merges resolved."""
    document = document or compose_document()
    environment = document["services"][service].get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {str(key): "" if value is None else str(value) for key, value in environment.items()}


def service_command(service: str, document: Mapping[str, Any] | None = None) -> list[str]:
    document = document or compose_document()
    command = document["services"][service].get("command") or []
    return command.split() if isinstance(command, str) else [str(part) for part in command]


RESTARTING_POLICIES = ("always", "unless-stopped", "on-failure")


def service_restarts(service: str, document: Mapping[str, Any] | None = None) -> bool:
    """Whether compose brings the service back when its process exits (its ``restart`` policy)."""
    document = document or compose_document()
    return str(document["services"][service].get("restart", "no")).split(":")[0] in RESTARTING_POLICIES


def image_environment(path: Path = DOCKERFILE) -> dict[str, str]:
    """The ``ENV k=v ...`` of the Dockerfile (the image's environment under the compose one)."""
    text = path.read_text().replace("\\\n", " ")
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for pair in line[4:].split():
                key, _, value = pair.partition("=")
                values[key] = value
    return values


def published_ports(document: Mapping[str, Any] | None = None) -> dict[int, str]:
    """host port -> service, from ``ports: ["127.0.0.1:8080:8080"]`` entries."""
    document = document or compose_document()
    published: dict[int, str] = {}
    for name, service in document["services"].items():
        for entry in service.get("ports", []):
            parts = str(entry).split(":")
            published[int(parts[-2])] = name
    return published


@dataclass(frozen=True)
class Localization:
    """How container addresses and paths map onto this machine."""

    addresses: Mapping[str, str]  # "postgres:5432" -> "127.0.0.1:54321"
    paths: Mapping[str, str]  # "/opt/airflow" -> "/home/.../.local/prod/airflow"

    def apply(self, value: str) -> str:
        for container, local in self.addresses.items():
            value = re.sub(rf"(?<![\w.-]){re.escape(container)}(?![\w])", local, value)
        for container, local in self.paths.items():
            value = re.sub(rf"(?<![\w/.-]){re.escape(container)}(?=/|$|\s)", local, value)
        return value


def localized_environment(
    service: str,
    *,
    secrets_values: Mapping[str, str],
    localization: Localization,
    document: Mapping[str, Any] | None = None,
    with_image_env: bool = True,
) -> dict[str, str]:
    """What a compose service's process sees, for a process on this machine."""
    raw = {**(image_environment() if with_image_env else {}), **service_environment(service, document)}
    return {key: localization.apply(interpolate(value, secrets_values)) for key, value in raw.items()}


# -- the secrets file -------------------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def write_secrets_file(path: Path) -> dict[str, str]:
    """Generate every secret into a new env file, created with mode 0600 (never readable by others)."""
    values = {name: make() for name, make, _ in SECRETS}
    lines = [
        "# Generated by `make prod-env` / `make prod-up` (devtools/compose_settings.py). Keep it secret.",
        "# Use: docker compose --env-file <this file> up -d --build   or   make prod-up",
    ]
    for name, _, purpose in SECRETS:
        lines += [f"# {purpose}", f"{name}={values[name]}"]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return values


def _append_secrets(path: Path, names: list[str]) -> dict[str, str]:
    """Generate ``names`` and append them to the (0600) secrets file; their values."""
    makers = {name: (make, purpose) for name, make, purpose in SECRETS}
    values = {name: makers[name][0]() for name in names}
    text = path.read_text()
    lines = [f"# {makers[name][1]} (added to this file later)\n{name}={values[name]}" for name in names]
    with path.open("a") as handle:
        handle.write(("" if text.endswith("\n") or not text else "\n") + "\n".join(lines) + "\n")
    return values


def load_or_create_secrets(path: Path) -> tuple[dict[str, str], bool]:
    """(secrets, created now). Refuses a file readable by others or missing a secret."""
    if not path.exists():
        return write_secrets_file(path), True
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise PermissionError(
            f"{path} holds the deployment's passwords but has mode {mode:04o}; run `chmod 600 {path}`"
        )
    values = read_env_file(path)
    addable = [name for name in SECRET_NAMES if name in ADDED_LATER and name not in values]
    if addable:
        added = _append_secrets(path, addable)
        values.update(added)
    missing = [name for name in SECRET_NAMES if not values.get(name)]
    if missing:
        raise MissingSettingError(
            f"{path} lacks {', '.join(missing)}; delete it to generate a complete one "
            "(a new file means new passwords: also delete the deployment's state)"
        )
    return values, False
