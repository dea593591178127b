"""rnn_sweep's trigger form refuses bad settings when the run is triggered, naming the field.

Each value is checked as a trigger's conf is (``ParamsDict``: the Param's JSON Schema, the message naming
the Param), without a DAG run.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import load_dag


@pytest.fixture
def params():
    return load_dag("rnn_sweep").params


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("search_space", {"dropuot": [0.1]}),
        ("search_space", {"hidden_size": []}),
        ("search_space", {"hidden_size": {"low": 64}}),
        ("search_space", {"hidden_size": [5000]}),
        ("search_space", {}),
        ("budget_usd", 0),
        ("budget_usd", -1),
        ("max_trials", 25),
        ("trials_per_round", 9),
        ("requests_per_day", 0),
        ("requests_per_day", 2e9),
        ("retrain_cadence", "fortnightly"),
        ("slo_ms", 0),
    ],
)
def test_the_form_refuses_bad_settings_at_trigger_time_naming_the_field(
    params, field: str, value: Any
) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=f"^Invalid input for param {field}: "):
        params[field] = value


def test_the_forms_defaults_are_valid_and_the_default_space_passes_the_sweeps_own_checks(params) -> None:
    from pipeline.sweep_space import DEFAULT_SPACE, check_space

    values = params.validate()
    assert values["search_space"] == DEFAULT_SPACE
    assert check_space(values["search_space"]) == DEFAULT_SPACE
