"""rnn_sweep's trigger form refuses bad settings when the run is triggered, naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import load_dag


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({"search_space": {"dropuot": [0.1]}}, "search_space"),
        ({"search_space": {"hidden_size": []}}, "search_space"),
        ({"search_space": {"hidden_size": {"low": 64}}}, "search_space"),
        ({"search_space": {"hidden_size": [5000]}}, "search_space"),
        ({"budget_usd": 0}, "budget_usd"),
        ({"budget_usd": -1}, "budget_usd"),
        ({"max_trials": 25}, "max_trials"),
        ({"trials_per_round": 9}, "trials_per_round"),
        ({"requests_per_day": 0}, "requests_per_day"),
        ({"requests_per_day": 2e9}, "requests_per_day"),
    ],
)
@pytest.mark.e2e
def test_the_form_refuses_bad_settings_at_trigger_time_naming_the_field(
    airflow_db: Path, pipeline_home: Path, conf: dict[str, Any], field: str
) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match=field):  # as a trigger is: before the run exists
        load_dag("rnn_sweep").test(run_conf=conf)
    assert not (pipeline_home / "sweeps").exists()


def test_the_forms_defaults_are_valid_and_the_default_space_passes_the_sweeps_own_checks() -> None:
    from pipeline.sweep_space import DEFAULT_SPACE, check_space

    params = load_dag("rnn_sweep").params
    values = params.validate()
    assert values["search_space"] == DEFAULT_SPACE
    assert check_space(values["search_space"]) == DEFAULT_SPACE
