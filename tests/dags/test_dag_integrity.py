"""Every DAG file imports cleanly, fast, without touching connections, Variables or heavy libraries."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))
HEAVY_MODULES = ("torch", "mlflow", "great_expectations", "pandas", "boto3", "matplotlib", "numpy", "sklearn")


def load_dagbag(path: Path):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(path))


def test_there_are_dag_files() -> None:
    assert {p.stem for p in DAG_FILES} >= {"rnn_retraining"}


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_without_errors_connections_or_variables(path: Path) -> None:
    from airflow.sdk import BaseHook, Variable

    with (
        mock.patch.object(BaseHook, "get_connection") as get_connection,
        mock.patch.object(Variable, "get") as get_variable,
    ):
        dagbag = load_dagbag(path)
    assert dagbag.import_errors == {}
    assert dagbag.dags, f"{path.name} defines no DAG"
    get_connection.assert_not_called()
    get_variable.assert_not_called()


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_has_id_from_file_docs_tags_and_retries(path: Path) -> None:
    dagbag = load_dagbag(path)
    for dag_id, dag in dagbag.dags.items():
        assert dag_id == path.stem
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and len(dag.doc_md) > 100, f"{dag_id} has no doc_md"
        assert dag.catchup is False
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


# The task bodies and the cost model and report they run: imported inside the tasks, not at parse.
TASK_MODULES = ("pipeline.tasks", "costing.model", "costing.report")


@functools.cache
def parsed_in_fresh_interpreters() -> dict[str, dict[str, list[str]]]:
    """What parsing each DAG file imports (what the DAG processor pays for each parse): the heavy libraries
    it loads beyond airflow.sdk, and the task modules it loads at all; by file name. One interpreter imports
    airflow.sdk, then each file is parsed in a child forked from it: a fresh process per file with nothing
    else imported, for one import of Airflow."""
    code = (
        "import json, os, runpy, sys\n"
        "import airflow.sdk\n"
        "before = set(sys.modules)\n"
        "for path in sys.argv[1:]:\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        runpy.run_path(path)\n"
        "        print(json.dumps({'file': os.path.basename(path),\n"
        f"            'heavy': sorted(m for m in set(sys.modules) - before if m.split('.')[0] in {HEAVY_MODULES!r}),\n"
        f"            'task_modules': sorted(m for m in sys.modules if m.startswith({TASK_MODULES!r})),\n"
        "        }), flush=True)\n"
        "        os._exit(0)\n"
        "    if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:\n"
        "        sys.exit(f'parsing {path} failed')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *map(str, DAG_FILES)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=DAGS_DIR.parent,
    )
    assert result.returncode == 0, result.stderr
    parsed = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert sorted(entry["file"] for entry in parsed) == sorted(path.name for path in DAG_FILES)
    return {entry["file"]: entry for entry in parsed}


def parse_in_fresh_interpreter(path: Path) -> dict[str, list[str]]:
    return parsed_in_fresh_interpreters()[path.name]


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_parsing_imports_no_heavy_library(path: Path) -> None:
    assert parse_in_fresh_interpreter(path)["heavy"] == []


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_parsing_imports_no_task_body(path: Path) -> None:
    assert parse_in_fresh_interpreter(path)["task_modules"] == []


def test_retraining_params_are_typed_and_bounded() -> None:
    dag = load_dagbag(DAGS_DIR / "rnn_retraining.py").dags["rnn_retraining"]
    params = dag.params
    for key in ("corpus_uri", "epochs", "hidden_size", "instance_type", "market"):
        assert key in params, key
    schema = {key: params.get_param(key).schema for key in params}
    assert schema["epochs"]["type"] == "integer" and schema["epochs"]["minimum"] == 1
    assert schema["market"]["enum"] == ["spot", "on-demand"]
    assert schema["hidden_size"]["minimum"] >= 1
    assert dag.schedule == "@weekly"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_every_task_refuses_a_conf_that_is_not_the_params(path: Path) -> None:
    from pipeline.conf import refuse_bad_conf

    for dag in load_dagbag(path).dags.values():
        if not dag.params:
            continue
        for task in dag.tasks:
            if task.trigger_rule == "all_done":  # cleanup runs whatever happened
                continue
            hook = (  # a mapped task (dynamic task mapping) keeps its operator arguments in partial_kwargs
                task.partial_kwargs.get("pre_execute")
                if hasattr(task, "partial_kwargs")
                else task._pre_execute_hook
            )
            assert hook is refuse_bad_conf, f"{dag.dag_id}.{task.task_id}"


DAGS_WITH_DEADLINES = ("weekly_cost_report", "cost_reconcile")  # each carries the alert named after it


@pytest.mark.parametrize("dag_id", DAGS_WITH_DEADLINES)
def test_dag_carries_its_deadline_alert_as_the_scheduler_reads_it(dag_id: str) -> None:
    """The serialized DAG (what the scheduler creates each run's deadline from) holds the alert of
    pipeline.deadlines: when the run was queued + the production interval, the pipeline's callback."""
    from airflow.sdk import AsyncCallback
    from airflow.serialization.serialized_objects import DagSerialization

    from pipeline.deadlines import ALERTS, notify_missed_deadline

    alert = dag_id
    dag = load_dagbag(DAGS_DIR / f"{dag_id}.py").dags[dag_id]
    [serialized] = DagSerialization.to_dict(dag)["dag"]["deadline"]
    assert serialized["reference"] == {"reference_type": "DagRunQueuedAtDeadline"}
    assert serialized["interval"]["__data__"] == ALERTS[alert].due_after.total_seconds()
    callback = serialized["callback"]
    assert callback["__classname__"] == f"{AsyncCallback.__module__}.{AsyncCallback.__qualname__}"
    assert (
        callback["__data__"]["path"]
        == f"{notify_missed_deadline.__module__}.{notify_missed_deadline.__qualname__}"
    )
    assert callback["__data__"]["kwargs"] == {"alert": alert}


@pytest.mark.parametrize("dag_id", DAGS_WITH_DEADLINES)
def test_a_deadline_leaves_room_for_every_retry(dag_id: str) -> None:
    """A run whose tasks all fail and retry, each waiting its whole retry delay, is not yet late: the alert
    is for a run that is stuck or failed, not for one that retries as designed."""
    dag = load_dagbag(DAGS_DIR / f"{dag_id}.py").dags[dag_id]
    [deadline] = dag.deadline
    waits = sum((task.retry_delay * task.retries for task in dag.tasks), start=timedelta())
    assert waits < deadline.interval, (
        f"{dag_id}: retries may wait {waits}, the deadline is {deadline.interval}"
    )


# JSON Schema draft-07's keywords, and the annotations Airflow's trigger form reads: a keyword outside
# these (draft 2019-09's dependentRequired, unevaluatedProperties, ...) would be ignored under draft-07.
DRAFT_07_KEYWORDS = {
    *("$schema", "$id", "$ref", "$comment", "definitions", "title", "description", "default", "examples"),
    *("readOnly", "writeOnly", "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum"),
    *(
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "format",
        "items",
        "additionalItems",
    ),
    *("maxItems", "minItems", "uniqueItems", "contains", "maxProperties", "minProperties", "required"),
    *("properties", "patternProperties", "additionalProperties", "dependencies", "propertyNames"),
    *("if", "then", "else", "allOf", "anyOf", "oneOf", "not", "contentMediaType", "contentEncoding"),
}
AIRFLOW_FORM_KEYWORDS = {"section", "values_display", "description_md"}
SUBSCHEMA_KEYWORDS = ("items", "additionalItems", "contains", "additionalProperties", "propertyNames", "not")
SUBSCHEMA_KEYWORDS = (*SUBSCHEMA_KEYWORDS, "if", "then", "else", "allOf", "anyOf", "oneOf")


def unknown_keywords(schema: object, where: str) -> list[str]:
    """Every keyword of ``schema`` and its subschemas that draft-07 and Airflow's form do not know."""
    if isinstance(schema, list):
        return [found for i, item in enumerate(schema) for found in unknown_keywords(item, f"{where}[{i}]")]
    if not isinstance(schema, dict):
        return []
    found = [f"{where}.{key}" for key in schema if key not in DRAFT_07_KEYWORDS | AIRFLOW_FORM_KEYWORDS]
    for key in SUBSCHEMA_KEYWORDS:
        found += unknown_keywords(schema.get(key), f"{where}.{key}")
    for key in ("properties", "patternProperties", "definitions"):
        for name, sub in (schema.get(key) or {}).items():
            found += unknown_keywords(sub, f"{where}.{key}.{name}")
    return found


def test_the_keyword_walk_finds_a_later_drafts_keyword() -> None:
    later = {"type": "object", "properties": {"a": {"oneOf": [{"type": "array", "prefixItems": []}]}}}
    assert unknown_keywords(later, "x") == ["x.properties.a.oneOf[0].prefixItems"]
    assert unknown_keywords({"type": "integer", "minimum": 1, "section": "Model"}, "x") == []


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_every_param_is_draft_07_and_uses_its_keywords_only(path: Path) -> None:
    """Params declare draft-07 (pipeline/ui/params.py: Airflow resolves them 3-4x faster than under the
    default 2020-12), so a keyword of a later draft would be silently ignored: none is used."""
    from pipeline.ui.params import JSON_SCHEMA_DRAFT

    for dag in load_dagbag(path).dags.values():
        for key in dag.params:
            schema = dag.params.get_param(key).schema
            assert schema.get("$schema") == JSON_SCHEMA_DRAFT, f"{dag.dag_id}.{key}: not form_params(...)"
            assert unknown_keywords(schema, f"{dag.dag_id}.{key}") == []
