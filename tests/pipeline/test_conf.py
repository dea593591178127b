"""A DAG run's conf: unknown keys and non-finite numbers are named, with the keys that exist."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pipeline.conf import conf_problems, refuse_bad_conf

KNOWN = ("epochs", "learning_rate", "requests_per_day", "seed")


def test_a_conf_of_known_keys_and_finite_numbers_passes() -> None:
    assert conf_problems({"epochs": 3, "learning_rate": 0.002, "requests_per_day": [100, 1e6]}, KNOWN) == []
    assert conf_problems({}, KNOWN) == [] and conf_problems(None, KNOWN) == []


def test_a_typo_is_named_with_a_suggestion_and_the_known_keys() -> None:
    assert conf_problems({"epohcs": 3, "dropuot": 0.3}, KNOWN) == [
        "unknown conf key 'dropuot'",
        "unknown conf key 'epohcs' (did you mean 'epochs'?)",
        "known keys: epochs, learning_rate, requests_per_day, seed",
    ]


def test_non_finite_numbers_are_refused_wherever_they_are() -> None:
    problems = conf_problems({"learning_rate": float("nan"), "requests_per_day": [100, float("inf")]}, KNOWN)
    assert problems == [
        "conf key learning_rate is nan: numbers must be finite",
        "conf key requests_per_day[1] is inf: numbers must be finite",
    ]


def test_the_hook_fails_the_task_without_retry() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    context = {
        "dag": SimpleNamespace(dag_id="rnn_retraining", params={key: None for key in KNOWN}),
        "dag_run": SimpleNamespace(conf={"dropuot": 0.3}),
    }
    with pytest.raises(AirflowFailException) as info:
        refuse_bad_conf(context)
    assert str(info.value).startswith("rnn_retraining: refusing the run's conf, nothing was done: ")
    assert "unknown conf key 'dropuot'; known keys: epochs, learning_rate" in str(info.value)
    context["dag_run"] = SimpleNamespace(conf={"epochs": 2})
    refuse_bad_conf(context)  # does not raise
