"""One home for each default: the DAG forms, the command lines and the refresh start from the same values.

The pricing defaults live in :mod:`costing.choices`; the training and load-test defaults in rnn's config
dataclasses. These tests fail when an entry point grows its own copy that differs.
"""

from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
DAGS_DIR = REPO / "dags"
SOURCE_PACKAGES = ("dags", "pipeline", "rnn", "costing", "toolkit", "devtools", "plugins")


def dag_params(dag_id: str) -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    dagbag = DagBag(dag_folder=str(DAGS_DIR / f"{dag_id}.py"))
    assert dagbag.import_errors == {}
    return dagbag.dags[dag_id].params.dump()


class RecordingPricingClient:
    """A Price List client that answers every ``get_products`` with nothing and remembers what was asked."""

    meta = SimpleNamespace(region_name="us-east-1")

    def __init__(self) -> None:
        self.requests: list[tuple[str, tuple[tuple[str, str, str], ...]]] = []

    def get_paginator(self, operation: str) -> RecordingPricingClient:
        assert operation == "get_products"
        return self

    def paginate(self, **kwargs: Any) -> list[dict[str, list]]:
        filters = tuple(sorted((f["Type"], f["Field"], f["Value"]) for f in kwargs["Filters"]))
        self.requests.append((kwargs["ServiceCode"], filters))
        return [{"PriceList": []}]


def get_products_requests(refresh_arguments: dict[str, Any]) -> list:
    """Every ``get_products`` request a refresh with these arguments sends, through the real fetch code."""
    from costing.pricing.fetch import fetch_price_lists

    client = RecordingPricingClient()
    wanted = ("regions", "instance_types", "sagemaker_instance_types")
    fetch_price_lists(client, **{key: refresh_arguments[key] for key in wanted if key in refresh_arguments})
    return sorted(client.requests)


def cli_refresh_arguments(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """What ``python -m costing refresh --bulk`` hands to ``refresh_snapshot`` when given no list."""
    import costing.cli

    seen: dict[str, Any] = {}

    def record(**kwargs: Any) -> SimpleNamespace:
        seen.update(kwargs)
        return SimpleNamespace(status="fresh", message="recorded", diff=None, failures=())

    monkeypatch.setattr(costing.cli, "refresh_snapshot", record)
    assert costing.cli.main(["refresh", "--bulk", "--root", str(tmp_path)]) == 0
    return seen


def dag_refresh_arguments() -> dict[str, Any]:
    """What ``pricing_refresh`` hands to ``refresh_snapshot`` on a scheduled run: its Param defaults.

    ``pipeline.tasks.pricing.fetch_validate_write`` forwards these three Params unchanged (the whole-DAG
    test in tests/dags/test_pricing_and_recompute_e2e.py runs it) and passes no SageMaker list.
    """
    params = dag_params("pricing_refresh")
    return {
        "regions": list(params["regions"]),
        "instance_types": list(params["instance_types"]),
        "spot_window_days": int(params["spot_window_days"]),
    }


def test_the_dag_and_the_cli_refresh_ask_aws_for_the_same_prices(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cli, dag = cli_refresh_arguments(monkeypatch, tmp_path), dag_refresh_arguments()
    assert "sagemaker_instance_types" not in cli  # both take fetch's SageMaker default

    cli_requests, dag_requests = get_products_requests(cli), get_products_requests(dag)
    only_cli = [r for r in cli_requests if r not in dag_requests]
    only_dag = [r for r in dag_requests if r not in cli_requests]
    assert (only_cli, only_dag) == ([], []), (
        "python -m costing refresh and pricing_refresh price different products"
    )
    assert cli_requests == dag_requests
    # the spot price history: the same types, regions and window
    assert sorted(cli["instance_types"]) == sorted(dag["instance_types"])
    assert sorted(cli["regions"]) == sorted(dag["regions"])
    assert cli["spot_window_days"] == dag["spot_window_days"]
    assert "t3.small" in dag["instance_types"]  # the README's serving table picks it


def test_the_refresh_prices_every_type_the_analyses_compare() -> None:
    from costing.choices import DEFAULT_INSTANCE_TYPE, DEFAULT_REGION, REFRESH_INSTANCE_TYPES, REFRESH_REGIONS
    from costing.model.resources import HAND_ANALYSIS
    from costing.pricing import latest_snapshot_dir, load_snapshot

    shipped = load_snapshot(latest_snapshot_dir())
    shipped_types = {
        r.instance_type
        for r in shipped.price_records
        if r.service == "AmazonEC2" and r.instance_type and not r.instance_type.startswith("ml.")
    }
    assert shipped_types, "the shipped snapshot prices no EC2 instance type"
    # a type the refresh leaves out drops out of every serving option and resource ranking after it
    assert sorted(shipped_types - set(REFRESH_INSTANCE_TYPES)) == []
    assert {DEFAULT_INSTANCE_TYPE, *HAND_ANALYSIS.values()} <= set(REFRESH_INSTANCE_TYPES)
    assert len(set(REFRESH_INSTANCE_TYPES)) == len(REFRESH_INSTANCE_TYPES)
    assert set(shipped.provenance.regions) == set(REFRESH_REGIONS)
    assert DEFAULT_REGION in REFRESH_REGIONS


def test_the_retraining_form_starts_from_train_config_and_the_load_test_defaults() -> None:
    from costing.choices import DEFAULT_INSTANCE_TYPE, DEFAULT_MARKET, DEFAULT_REGION
    from pipeline.tasks.retraining import CONFIG_PARAMS
    from rnn.config import TrainConfig
    from rnn.serving.loadtest import LoadTestConfig

    params = dag_params("rnn_retraining")
    train = TrainConfig()
    assert {key: params[key] for key in CONFIG_PARAMS} == {key: getattr(train, key) for key in CONFIG_PARAMS}
    load_test = {f.name: f.default for f in fields(LoadTestConfig)}
    assert params["load_test_seconds"] == load_test["max_seconds"]
    assert params["load_test_slo_ms"] == load_test["slo_ms"]
    assert params["load_test_chars"] == load_test["chars"]
    assert (params["instance_type"], params["region"], params["market"]) == (
        DEFAULT_INSTANCE_TYPE,
        DEFAULT_REGION,
        DEFAULT_MARKET,
    )


def test_the_analysis_forms_start_in_the_default_region() -> None:
    from costing.choices import DEFAULT_REGION, REFRESH_REGIONS

    assert dag_params("cost_recompute")["region"] == DEFAULT_REGION
    assert dag_params("adhoc_cost_analysis")["region"] == DEFAULT_REGION
    from airflow.dag_processing.dagbag import DagBag

    adhoc = DagBag(dag_folder=str(DAGS_DIR / "adhoc_cost_analysis.py")).dags["adhoc_cost_analysis"]
    assert adhoc.params.get_param("region").schema["enum"] == list(REFRESH_REGIONS)


def test_the_requirement_starts_from_one_default_everywhere() -> None:
    """Exposure and availability: the forms of both analysis DAGs, the command line, the analysis request
    and the cost model offer the same choices and start from the same defaults (costing.choices)."""
    from airflow.dag_processing.dagbag import DagBag

    from costing.choices import AVAILABILITIES, DEFAULT_AVAILABILITY, DEFAULT_EXPOSURE, EXPOSURES
    from costing.cli import build_parser
    from costing.model import ServingAssumptions
    from costing.model.request import AnalysisRequest

    for dag_id in ("cost_recompute", "adhoc_cost_analysis"):
        dag = DagBag(dag_folder=str(DAGS_DIR / f"{dag_id}.py")).dags[dag_id]
        assert (dag.params["exposure"], dag.params["availability"]) == (
            DEFAULT_EXPOSURE,
            DEFAULT_AVAILABILITY,
        )
        assert dag.params.get_param("exposure").schema["enum"] == list(EXPOSURES)
        assert dag.params.get_param("availability").schema["enum"] == list(AVAILABILITIES)
    defaults = ServingAssumptions()
    assert (defaults.exposure, defaults.availability) == (DEFAULT_EXPOSURE, DEFAULT_AVAILABILITY)
    request = AnalysisRequest.from_params({})
    assert (request.exposure, request.availability) == (DEFAULT_EXPOSURE, DEFAULT_AVAILABILITY)
    args = build_parser().parse_args(["scenarios", "--exposure", "internal", "--availability", "single"])
    assert (args.exposure, args.availability) == ("internal", "single")


def test_the_analysis_forms_price_retraining_on_the_configured_type_unless_asked() -> None:
    from airflow.dag_processing.dagbag import DagBag

    from costing.choices import TRAINING_INSTANCE_CHOICES, TRAINING_ON_CONFIGURED

    for dag_id in ("cost_recompute", "adhoc_cost_analysis"):
        form = DagBag(dag_folder=str(DAGS_DIR / f"{dag_id}.py")).dags[dag_id].params
        assert form["training_instance"] == TRAINING_ON_CONFIGURED
        assert form.get_param("training_instance").schema["enum"] == list(TRAINING_INSTANCE_CHOICES)


def test_the_horizon_and_commitment_use_start_from_one_default_everywhere() -> None:
    """The horizon (months) and how commitments outlasting it rank: both analysis forms, the command line,
    the analysis request and the cost model start from costing.choices' default and refuse less than a
    month; the request carries them into the model's assumptions."""
    from airflow.dag_processing.dagbag import DagBag

    from costing.choices import (
        COMMITMENT_USES,
        DEFAULT_COMMITMENT_USE,
        DEFAULT_HORIZON_MONTHS,
        MAX_HORIZON_MONTHS,
        MIN_HORIZON_MONTHS,
    )
    from costing.cli import build_parser, serving_assumptions
    from costing.model import ServingAssumptions
    from costing.model.request import AnalysisRequest

    assert (DEFAULT_HORIZON_MONTHS, MIN_HORIZON_MONTHS, MAX_HORIZON_MONTHS) == (12, 1, 120)
    for dag_id in ("cost_recompute", "adhoc_cost_analysis"):
        dag = DagBag(dag_folder=str(DAGS_DIR / f"{dag_id}.py")).dags[dag_id]
        assert (dag.params["horizon_months"], dag.params["commitment_use"]) == (
            DEFAULT_HORIZON_MONTHS,
            DEFAULT_COMMITMENT_USE,
        )
        horizon = dag.params.get_param("horizon_months").schema
        assert (horizon["minimum"], horizon["maximum"]) == (MIN_HORIZON_MONTHS, MAX_HORIZON_MONTHS)
        assert dag.params.get_param("commitment_use").schema["enum"] == list(COMMITMENT_USES)
    defaults = ServingAssumptions()
    assert (defaults.horizon_months, defaults.commitment_use) == (
        DEFAULT_HORIZON_MONTHS,
        DEFAULT_COMMITMENT_USE,
    )
    request = AnalysisRequest.from_params({})
    assert (request.horizon_months, request.commitment_use) == (
        DEFAULT_HORIZON_MONTHS,
        DEFAULT_COMMITMENT_USE,
    )
    assert request.serving_assumptions() == defaults
    asked = AnalysisRequest.from_params({"horizon_months": 36, "commitment_use": "full-term"})
    assert (asked.serving_assumptions().horizon_months, asked.serving_assumptions().commitment_use) == (
        36,
        "full-term",
    )
    with pytest.raises(ValueError, match=r"horizon_months=0\.5 must be at least 1 month"):
        AnalysisRequest.from_params({"horizon_months": 0.5}).serving_assumptions()
    for command in ("scenarios", "tco", "sensitivity", "analyze"):
        args = build_parser().parse_args([command, "--horizon-months", "36", "--commitment-use", "full-term"])
        assert (serving_assumptions(args).horizon_months, serving_assumptions(args).commitment_use) == (
            36,
            "full-term",
        )
        assert serving_assumptions(build_parser().parse_args([command])) == defaults


def test_spot_training_launches_the_type_a_local_run_is_priced_as() -> None:
    from costing.choices import DEFAULT_INSTANCE_TYPE
    from pipeline.spot import layout

    assert layout.DEFAULT_INSTANCE_TYPE == DEFAULT_INSTANCE_TYPE


# The original hand analysis's pick: a historical fact, not the default (it stays if the default moves).
HISTORICAL_MENTIONS = {"costing/model/resources.py"}


def _string_values(path: Path) -> list[tuple[int, str]]:
    """String literals of a module (docstrings excluded: they give examples, not values)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_the_default_instance_type_is_written_in_one_module() -> None:
    from costing.choices import DEFAULT_INSTANCE_TYPE

    copies = [
        f"{path.relative_to(REPO)}:{line}: {value!r}"
        for package in SOURCE_PACKAGES
        for path in sorted((REPO / package).rglob("*.py"))
        if str(path.relative_to(REPO)) not in {"costing/choices.py", *HISTORICAL_MENTIONS}
        for line, value in _string_values(path)
        if DEFAULT_INSTANCE_TYPE in value
    ]
    assert copies == [], f"use costing.choices.DEFAULT_INSTANCE_TYPE instead of a copy: {copies}"


def test_the_cli_and_the_trigger_forms_build_one_analysis_request() -> None:
    """python -m costing and the cost_recompute / adhoc_cost_analysis tasks ask the model the same question
    in the same type (costing.model.request), with the same defaults."""
    from costing.cli import build_parser, request_from_args
    from costing.model.request import AnalysisRequest

    assert request_from_args(build_parser().parse_args(["analyze"])) == AnalysisRequest.from_params({})
    assert AnalysisRequest.from_params({}) == AnalysisRequest()
    flags = [
        "analyze",
        "--region",
        "eu-west-1",
        "--requests-per-day",
        "100",
        "5000",
        "--horizon-months",
        "36",
        "--commitment-use",
        "full-term",
        "--exposure",
        "internal",
        "--availability",
        "single",
        "--retrain-cadence",
        "daily",
        "--samples",
        "500",
        "--training-instance-type",
        "best",
    ]
    params = {
        "region": "eu-west-1",
        "requests_per_day": [100, 5000],
        "horizon_months": 36,
        "commitment_use": "full-term",
        "exposure": "internal",
        "availability": "single",
        "retrain_cadence": "daily",
        "samples": 500,
        "training_instance": "best",
    }
    asked = request_from_args(build_parser().parse_args(flags))
    assert asked == AnalysisRequest.from_params(params)
    assert asked.serving_assumptions() == AnalysisRequest.from_params(params).serving_assumptions()
