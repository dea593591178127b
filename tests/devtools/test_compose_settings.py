"""docker-compose.yaml is the one source of the production settings; its secrets are never defaults.

Compose's interpolation on literal examples; the compose file refuses to start without each
generated secret and names none it does not generate; the env file is created 0600 and refused
when others may read it.
"""

from __future__ import annotations

import base64
import re
import stat
from pathlib import Path

import pytest

from devtools import compose_settings as compose


@pytest.mark.parametrize(
    ("template", "variables", "expected"),
    [
        ("${A}", {"A": "1"}, "1"),
        ("x${A}y", {}, "xy"),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A-d}", {"A": ""}, ""),
        ("${A-d}", {}, "d"),
        ("${A:?msg}", {"A": "v"}, "v"),
        ("$${A}", {"A": "v"}, "${A}"),
        ("a$$b", {}, "a$b"),
        ("redis://:${P:?m}@redis:6379/0", {"P": "s3cr3t"}, "redis://:s3cr3t@redis:6379/0"),
    ],
)
def test_interpolation_is_composes(template: str, variables: dict, expected: str) -> None:
    assert compose.interpolate(template, variables) == expected


@pytest.mark.parametrize(("template", "variables"), [("${A:?run make prod-env}", {}), ("${A:?m}", {"A": ""})])
def test_a_required_variable_missing_or_empty_is_refused_with_its_message(
    template: str, variables: dict
) -> None:
    with pytest.raises(compose.MissingSettingError, match=r"A is not set: (run make prod-env|m)"):
        compose.interpolate(template, variables)


def _every_string(node: object) -> list[str]:
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (*_every_string(key), *_every_string(value))]
    if isinstance(node, list):
        return [s for item in node for s in _every_string(item)]
    return [node] if isinstance(node, str) else []


def test_compose_requires_every_generated_secret_and_only_those() -> None:
    strings = _every_string(compose.compose_document())
    referenced = {m.group(1) for s in strings for m in re.finditer(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", s)}
    assert referenced == set(compose.SECRET_NAMES)
    for s in strings:  # every reference is the refusing kind: ${NAME:?message}
        for reference in re.findall(r"\$\{[^}]*\}", s):
            assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]+\}", reference), reference
    for name in compose.SECRET_NAMES:
        without = {other: "x" for other in compose.SECRET_NAMES if other != name}
        with pytest.raises(compose.MissingSettingError, match=name):
            for s in strings:
                compose.interpolate(s, without)


def test_no_service_of_compose_has_a_literal_credential() -> None:
    for name in ("airflow-scheduler", "airflow-apiserver", "airflow-worker", "mlflow", "postgres", "redis"):
        for key, value in compose.service_environment(name).items():
            if re.search(r"PASSWORD$|SECRET|FERNET|CONN_|_URI$|_URL$", key) and "@" in value + key:
                assert "${" in value or key == "AIRFLOW_CONN_SMTP_DEFAULT", (name, key, value)
            elif re.search(r"PASSWORD$|SECRET_KEY$|FERNET_KEY$|JWT_SECRET$", key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]+\}", value), (name, key, value)


def test_secrets_file_is_created_private_with_distinct_values(tmp_path: Path) -> None:
    path = tmp_path / "prod" / "secrets.env"
    values, created = compose.load_or_create_secrets(path)
    assert created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(values) == set(compose.SECRET_NAMES)
    assert len(set(values.values())) == len(values)
    assert all(len(value) >= 32 for value in values.values())
    assert len(base64.urlsafe_b64decode(values["AIRFLOW_FERNET_KEY"])) == 32  # a valid Fernet key
    again, created = compose.load_or_create_secrets(path)
    assert (again, created) == (values, False)  # generated once, kept after


def test_a_secrets_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    compose.write_secrets_file(path)
    path.chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        compose.load_or_create_secrets(path)


def test_an_incomplete_secrets_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    path.write_text("AIRFLOW_ADMIN_PASSWORD=abc\n")
    path.chmod(0o600)
    with pytest.raises(compose.MissingSettingError, match="lacks AIRFLOW_FERNET_KEY"):
        compose.load_or_create_secrets(path)


def test_localization_points_container_addresses_and_paths_at_this_machine() -> None:
    local = compose.Localization(
        addresses={"postgres:5432": "127.0.0.1:6001", "mlflow:5000": "127.0.0.1:6002"},
        paths={"/opt/airflow": "/srv/state/airflow"},
    )
    assert (
        local.apply("postgresql+psycopg2://airflow:pw@postgres:5432/airflow")  # pragma: allowlist secret
        == "postgresql+psycopg2://airflow:pw@127.0.0.1:6001/airflow"  # pragma: allowlist secret
    )
    assert local.apply("http://mlflow:5000") == "http://127.0.0.1:6002"
    assert local.apply("/opt/airflow/passwords.json") == "/srv/state/airflow/passwords.json"
    assert local.apply("s3://rnn-pipeline/mlflow") == "s3://rnn-pipeline/mlflow"  # not an address
    assert local.apply("/opt/airflowish") == "/opt/airflowish"


def test_a_secret_nothing_stored_depends_on_is_added_to_an_older_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets.env"
    values = compose.write_secrets_file(path)
    older = "".join(
        line + "\n" for line in path.read_text().splitlines() if not line.startswith("RNN_API_KEY=")
    )
    path.write_text(older)
    assert "RNN_API_KEY" in compose.ADDED_LATER
    loaded, created = compose.load_or_create_secrets(path)
    assert not created and len(loaded["RNN_API_KEY"]) >= 32
    assert {k: v for k, v in loaded.items() if k != "RNN_API_KEY"} == {
        k: v for k, v in values.items() if k != "RNN_API_KEY"
    }  # the others are kept as they were
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert compose.load_or_create_secrets(path) == (loaded, False)  # written to the file, kept after
