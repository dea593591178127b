"""The sweep's search space: which training settings it varies, their limits, and how a trigger states them.

A space maps a key of :data:`SEARCH_KEYS` to either a **list** of values (tried as categories) or a
**range** ``{"low": a, "high": b}`` (``"log": true`` samples on a log scale; integers stay integers), and
a key of :data:`CHOICE_KEYS` (the serving ``precision``) to a list of its choices.
The JSON Schema of the ``search_space`` Param (:func:`space_schema`) refuses at trigger time an unknown
key, an empty list, a value outside a key's limits and a malformed range; what a schema cannot say
(``low`` above ``high``, a log range starting at 0) :func:`check_space` refuses, naming the key, before
the sweep does anything. :func:`suggest` draws one trial's values from an Optuna trial.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rnn.serving.settings import PRECISIONS


@dataclass(frozen=True)
class Limit:
    kind: type  # int or float
    minimum: float
    maximum: float
    title: str


# What a sweep may vary: TrainConfig fields, with the limits rnn_retraining's form gives them.
SEARCH_KEYS: dict[str, Limit] = {
    "hidden_size": Limit(int, 8, 4096, "LSTM units per layer"),
    "num_layers": Limit(int, 1, 6, "stacked LSTM layers"),
    "embedding_dim": Limit(int, 4, 1024, "embedding size"),
    "seq_len": Limit(int, 4, 1024, "sequence length (chars)"),
    "batch_size": Limit(int, 1, 1024, "batch size"),
    "learning_rate": Limit(float, 1e-6, 1.0, "learning rate"),
    "epochs": Limit(int, 1, 200, "epochs"),
    "max_steps_per_epoch": Limit(int, 0, 1_000_000, "max steps per epoch (0: the whole split)"),
}

# What a sweep may choose among: the precision the model is served (and benchmarked, and scored) at.
PRECISION_KEY = "precision"
CHOICE_KEYS: dict[str, tuple[str, ...]] = {PRECISION_KEY: PRECISIONS}

# A small space that runs on a laptop in minutes: model size against quality, at a fixed training budget.
DEFAULT_SPACE: dict[str, Any] = {
    "hidden_size": {"low": 64, "high": 512, "log": True},
    "num_layers": [1, 2],
    "learning_rate": {"low": 1e-3, "high": 6e-3, "log": True},
    "epochs": [1],
    "max_steps_per_epoch": [60],
    PRECISION_KEY: ["fp32", "int8"],
}


MAX_ROUNDS = 3  # rounds of trials unrolled in rnn_sweep
MAX_TRIALS_PER_ROUND = 8
MAX_TRIALS = MAX_ROUNDS * MAX_TRIALS_PER_ROUND
MIN_REQUESTS_PER_DAY, MAX_REQUESTS_PER_DAY = 1, 1_000_000_000


class SpaceError(ValueError):
    """A search space the sweep refuses; the message names the key."""


def _value_schema(limit: Limit) -> dict[str, Any]:
    return {
        "type": "integer" if limit.kind is int else "number",
        "minimum": limit.minimum,
        "maximum": limit.maximum,
    }


def space_schema() -> dict[str, Any]:
    """The JSON Schema of the ``search_space`` Param (checked by Airflow when a run is triggered)."""
    properties = {}
    for key, limit in SEARCH_KEYS.items():
        value = _value_schema(limit)
        properties[key] = {
            "description": limit.title,
            "oneOf": [
                {"type": "array", "items": value, "minItems": 1, "uniqueItems": True},
                {
                    "type": "object",
                    "properties": {"low": value, "high": value, "log": {"type": "boolean"}},
                    "required": ["low", "high"],
                    "additionalProperties": False,
                },
            ],
        }
    for key, choices in CHOICE_KEYS.items():
        properties[key] = {
            "description": f"{key}: a list of {', '.join(choices)}",
            "type": "array",
            "items": {"enum": list(choices)},
            "minItems": 1,
            "uniqueItems": True,
        }
    return {"type": "object", "properties": properties, "additionalProperties": False, "minProperties": 1}


def check_space(space: Mapping[str, Any]) -> dict[str, Any]:
    """The space, checked beyond its schema; raises :class:`SpaceError` naming the key."""
    if not isinstance(space, Mapping) or not space:
        raise SpaceError("search_space: give at least one key, e.g. " + str(DEFAULT_SPACE))
    for key, spec in space.items():
        if key in CHOICE_KEYS:
            choices = CHOICE_KEYS[key]
            if not isinstance(spec, list) or not spec:
                raise SpaceError(
                    f"search_space.{key}: a non-empty list of {', '.join(choices)}, got {spec!r}"
                )
            unknown = [value for value in spec if value not in choices]
            if unknown:
                raise SpaceError(f"search_space.{key}: {unknown[0]!r} is not one of {', '.join(choices)}")
            continue
        if key not in SEARCH_KEYS:
            known = [*SEARCH_KEYS, *CHOICE_KEYS]
            raise SpaceError(f"search_space.{key}: unknown key; choose from {', '.join(known)}")
        limit = SEARCH_KEYS[key]
        values = (
            spec
            if isinstance(spec, list)
            else [spec.get("low"), spec.get("high")]
            if isinstance(spec, Mapping)
            else None
        )
        if values is None:
            raise SpaceError(f"search_space.{key}: a list of values or {{'low': a, 'high': b}}, got {spec!r}")
        if not values:
            raise SpaceError(f"search_space.{key}: an empty list; give at least one value")
        for value in values:
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or (limit.kind is int and float(value) != int(value))
            ):
                raise SpaceError(
                    f"search_space.{key}: {value!r} is not a{'n integer' if limit.kind is int else ' number'}"
                )
            if not limit.minimum <= value <= limit.maximum:
                raise SpaceError(
                    f"search_space.{key}: {value!r} is outside {limit.minimum:g}..{limit.maximum:g} ({limit.title})"
                )
        if isinstance(spec, Mapping):
            if set(spec) - {"low", "high", "log"}:
                raise SpaceError(f"search_space.{key}: a range has only low, high and log")
            if spec["low"] > spec["high"]:
                raise SpaceError(f"search_space.{key}: low {spec['low']!r} is above high {spec['high']!r}")
            if spec.get("log") and spec["low"] <= 0:
                raise SpaceError(
                    f"search_space.{key}: a log range must start above 0, got low {spec['low']!r}"
                )
    return dict(space)


def distributions(space: Mapping[str, Any]) -> dict[str, Any]:
    """Optuna distributions of a checked space (passed to ``study.ask``)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for key, spec in space.items():
        if key in CHOICE_KEYS:
            out[key] = CategoricalDistribution(list(spec))
            continue
        kind = SEARCH_KEYS[key].kind
        if isinstance(spec, list):
            out[key] = CategoricalDistribution([kind(v) for v in spec])
        elif kind is int:
            out[key] = IntDistribution(int(spec["low"]), int(spec["high"]), log=bool(spec.get("log")))
        else:
            out[key] = FloatDistribution(float(spec["low"]), float(spec["high"]), log=bool(spec.get("log")))
    return out


def baseline_params(space: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The values of ``defaults`` (rnn_retraining's default model) that the space can take: the baseline
    trial the sweep runs first, so the front is read against what runs today. Keys whose default lies
    outside the space are left to the sampler."""
    out = {}
    for key, spec in space.items():
        value = defaults.get(key)
        if value is None:
            continue
        inside = value in spec if isinstance(spec, list) else spec["low"] <= value <= spec["high"]
        if inside:
            out[key] = value if key in CHOICE_KEYS else SEARCH_KEYS[key].kind(value)
    return out


def split_params(params: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """A trial's values as (its training config's, the precision it is served at)."""
    training = {k: v for k, v in params.items() if k not in CHOICE_KEYS}
    return training, str(params.get(PRECISION_KEY, "fp32"))


# Keys whose larger values train longer (more tokens, or a larger model at the same tokens); the others
# (learning_rate, precision) do not change what training costs.
COST_KEYS = (
    "hidden_size",
    "num_layers",
    "embedding_dim",
    "seq_len",
    "batch_size",
    "epochs",
    "max_steps_per_epoch",
)


def costliest_params(space: Mapping[str, Any]) -> dict[str, Any]:
    """The space's costliest trial to train: the largest value of every key in :data:`COST_KEYS` (a range's
    ``high``; for ``max_steps_per_epoch``, 0 when the space has it, since 0 trains on the whole split).
    What ``rnn_sweep`` prices every trial at to bound the whole sweep before it starts."""
    out: dict[str, Any] = {}
    for key in COST_KEYS:
        spec = space.get(key)
        if spec is None:
            continue
        values = list(spec) if isinstance(spec, list) else [spec["low"], spec["high"]]
        if key == "max_steps_per_epoch" and 0 in values:
            out[key] = 0
        else:
            out[key] = SEARCH_KEYS[key].kind(max(values))
    return out
