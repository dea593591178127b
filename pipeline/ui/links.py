"""Operator extra links: "MLflow run" on the training/logging tasks, "Cost report" on report tasks.

Airflow 3 resolves a link on the worker when the task finishes (``get_link``) and stores the URL;
our tasks leave what the link needs in an XCom (``push_mlflow_run`` / ``push_report``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

from pipeline.settings import load_settings

MLFLOW_RUN_XCOM_KEY = "mlflow_run"
REPORT_XCOM_KEY = "cost_report"
# MLflow 3's UI shows an experiment in "GenAI" or "Model training" mode after a switch it keeps in
# the browser (GenAI until the user flips it), whatever the experiment's mlflow.experimentKind tag
# says; this query parameter opens a page in "Model training" mode, where an experiment opens on
# its runs. Every MLflow link we hand out carries it.
MLFLOW_MODEL_TRAINING_VIEW = "workflowType=machine_learning"


def mlflow_ui_url() -> str:
    return load_settings().mlflow_ui_url


def mlflow_experiment_url(experiment_id: str) -> str:
    """The experiment's runs table, in MLflow's "Model training" mode."""
    return f"{mlflow_ui_url()}/#/experiments/{experiment_id}/runs?{MLFLOW_MODEL_TRAINING_VIEW}"


def mlflow_run_url(experiment_id: str, run_id: str) -> str:
    return f"{mlflow_ui_url()}/#/experiments/{experiment_id}/runs/{run_id}?{MLFLOW_MODEL_TRAINING_VIEW}"


def airflow_ui_url() -> str:
    return load_settings().airflow_ui_url


def push_mlflow_run(context: Any, *, experiment_id: str, run_id: str) -> None:
    context["ti"].xcom_push(key=MLFLOW_RUN_XCOM_KEY, value={"experiment_id": experiment_id, "run_id": run_id})


def push_run_of(context: Any, result: dict[str, Any]) -> dict[str, Any]:
    """Push the MLflow run a task result names (``experiment_id`` + ``mlflow_run_id``); returns the result."""
    if result.get("experiment_id") and result.get("mlflow_run_id"):
        push_mlflow_run(context, experiment_id=result["experiment_id"], run_id=result["mlflow_run_id"])
    return result


def push_report(context: Any, *, report_path: str) -> None:
    """``report_path``: the report's folder relative to the reports root (``<dag_id>/<run>``)."""
    context["ti"].xcom_push(key=REPORT_XCOM_KEY, value={"path": report_path})


def attach(task_output: Any, *link_classes: type[BaseOperatorLink]) -> Any:
    """Give a TaskFlow task (the XComArg its call returned) extra links; returns it for chaining."""
    task_output.operator.operator_extra_links = tuple(cls() for cls in link_classes)
    return task_output


class MlflowRunLink(BaseOperatorLink):
    name: ClassVar[str] = "MLflow run"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        value = XCom.get_value(key=MLFLOW_RUN_XCOM_KEY, ti_key=ti_key)
        if not value:
            return ""
        return mlflow_run_url(value["experiment_id"], value["run_id"])


class CostReportLink(BaseOperatorLink):
    name: ClassVar[str] = "Cost report"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        value = XCom.get_value(key=REPORT_XCOM_KEY, ti_key=ti_key)
        if not value:
            return ""
        return f"{airflow_ui_url()}/cost-reports/view/{value['path']}/report.html"
