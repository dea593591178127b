"""The sweep's search space: check_space names the key it refuses, the Param schema refuses the same
malformed spaces at trigger time, and a checked space becomes the Optuna distributions expected."""

from __future__ import annotations

import jsonschema
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from pipeline.sweep_space import (
    CHOICE_KEYS,
    DEFAULT_SPACE,
    SEARCH_KEYS,
    SpaceError,
    check_space,
    distributions,
    space_schema,
)

# -- check_space -----------------------------------------------------------------------------------------


def test_the_default_space_passes_unchanged() -> None:
    assert check_space(DEFAULT_SPACE) == DEFAULT_SPACE
    assert set(DEFAULT_SPACE) <= set(SEARCH_KEYS) | set(CHOICE_KEYS)


def test_lists_and_ranges_within_the_limits_pass() -> None:
    space = {
        "hidden_size": [8, 4096],  # both ends of the limit
        "max_steps_per_epoch": {"low": 0, "high": 100},  # 0 is allowed when the range is not log
        "learning_rate": {"low": 1e-6, "high": 1.0, "log": True},
        "seq_len": {"low": 64, "high": 64},  # low == high is a range of one
    }
    assert check_space(space) == space


@pytest.mark.parametrize(
    ("space", "key", "message"),
    [
        ({"dropout": [0.1]}, "dropout", "unknown key; choose from hidden_size, num_layers"),
        ({"num_layers": []}, "num_layers", "an empty list"),
        ({"hidden_size": {"low": 512, "high": 64}}, "hidden_size", "low 512 is above high 64"),
        (
            {"max_steps_per_epoch": {"low": 0, "high": 100, "log": True}},
            "max_steps_per_epoch",
            "a log range must start above 0, got low 0",
        ),
        ({"num_layers": [1, 7]}, "num_layers", "7 is outside 1..6 (stacked LSTM layers)"),
        ({"learning_rate": {"low": 1e-3, "high": 2.0}}, "learning_rate", "2.0 is outside 1e-06..1"),
        ({"hidden_size": [0]}, "hidden_size", "0 is outside 8..4096"),
        ({"hidden_size": [64.5]}, "hidden_size", "64.5 is not an integer"),
        ({"epochs": {"low": 1, "high": 2.5}}, "epochs", "2.5 is not an integer"),
        ({"num_layers": [True]}, "num_layers", "True is not an integer"),
        ({"learning_rate": [False]}, "learning_rate", "False is not a number"),
        ({"learning_rate": ["0.01"]}, "learning_rate", "'0.01' is not a number"),
        ({"seq_len": {"low": 8}}, "seq_len", "None is not an integer"),
        ({"seq_len": {"low": 8, "high": 16, "step": 2}}, "seq_len", "a range has only low, high and log"),
        ({"seq_len": 64}, "seq_len", "a list of values or {'low': a, 'high': b}, got 64"),
    ],
)
def test_a_bad_space_is_refused_naming_the_key(space, key, message) -> None:
    with pytest.raises(SpaceError) as info:
        check_space(space)
    assert str(info.value).startswith(f"search_space.{key}: ")
    assert message in str(info.value)


def test_the_first_bad_key_is_named_even_after_good_ones() -> None:
    with pytest.raises(SpaceError, match=r"^search_space\.epochs: 0 is outside 1\.\.200"):
        check_space({"num_layers": [1, 2], "epochs": [0]})


@pytest.mark.parametrize("space", [{}, None, [("num_layers", [1])]])
def test_no_keys_at_all_is_refused(space) -> None:
    with pytest.raises(SpaceError, match="search_space: give at least one key"):
        check_space(space)


def test_a_space_error_is_a_value_error() -> None:
    assert issubclass(SpaceError, ValueError)


# -- the Param's JSON Schema -----------------------------------------------------------------------------


def test_the_schema_accepts_the_default_space() -> None:
    jsonschema.validate(DEFAULT_SPACE, space_schema())  # raises if refused
    jsonschema.validate({"learning_rate": [1e-3, 2e-3], "seq_len": {"low": 16, "high": 32}}, space_schema())


@pytest.mark.parametrize(
    "space",
    [
        {"dropout": [0.1]},  # unknown key
        {"num_layers": []},  # empty list
        {"num_layers": [1, 7]},  # above the limit
        {"learning_rate": {"low": 0.0, "high": 0.01}},  # below the limit
        {"hidden_size": {"low": 64}},  # a range missing high
        {"hidden_size": {"low": 64, "high": 512, "step": 8}},  # a range with an unknown field
        {"hidden_size": [64.5]},  # not an integer
        {"num_layers": [1, 1]},  # repeated values
        {"hidden_size": {"low": 64, "high": 512, "log": "yes"}},  # log is not a boolean
        {},  # no key at all
    ],
)
def test_the_schema_refuses_a_malformed_space(space) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(space, space_schema())


def test_the_schema_covers_every_search_key_with_its_limits() -> None:
    schema = space_schema()
    assert set(schema["properties"]) == set(SEARCH_KEYS) | set(CHOICE_KEYS)
    assert schema["properties"]["precision"]["items"] == {"enum": ["fp32", "bf16", "int8"]}
    as_list, as_range = schema["properties"]["num_layers"]["oneOf"]
    assert as_list["items"] == {"type": "integer", "minimum": 1, "maximum": 6}
    assert as_range["properties"]["high"] == {"type": "integer", "minimum": 1, "maximum": 6}
    assert schema["properties"]["learning_rate"]["oneOf"][0]["items"]["type"] == "number"


# -- Optuna distributions --------------------------------------------------------------------------------


def test_the_default_space_becomes_the_expected_distributions() -> None:
    found = distributions(check_space(DEFAULT_SPACE))
    assert set(found) == set(DEFAULT_SPACE)
    assert found["hidden_size"] == IntDistribution(64, 512, log=True)
    assert found["learning_rate"] == FloatDistribution(1e-3, 6e-3, log=True)
    assert found["num_layers"] == CategoricalDistribution([1, 2])
    assert found["epochs"] == CategoricalDistribution([1])
    assert found["max_steps_per_epoch"] == CategoricalDistribution([60])


def test_ranges_keep_their_kind_and_scale() -> None:
    found = distributions(
        {
            "seq_len": {"low": 16, "high": 128},  # integer, linear
            "learning_rate": {"low": 0.001, "high": 0.01},  # float, linear
            "batch_size": {"low": 8.0, "high": 64.0, "log": True},  # whole floats of an integer key -> ints
        }
    )
    assert found["seq_len"] == IntDistribution(16, 128, log=False)
    assert found["learning_rate"] == FloatDistribution(0.001, 0.01, log=False)
    assert isinstance(found["batch_size"], IntDistribution)
    assert (found["batch_size"].low, found["batch_size"].high, found["batch_size"].log) == (8, 64, True)


def test_a_list_becomes_categories_of_the_keys_kind() -> None:
    found = distributions({"hidden_size": [64.0, 128.0], "learning_rate": [1, 0.5]})
    assert found["hidden_size"].choices == (64, 128)
    assert all(type(c) is int for c in found["hidden_size"].choices)
    assert found["learning_rate"].choices == (1.0, 0.5)
    assert all(type(c) is float for c in found["learning_rate"].choices)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_a_non_finite_number_is_refused_naming_the_key(value: float) -> None:
    with pytest.raises(SpaceError, match=r"^search_space\.hidden_size: "):
        check_space({"hidden_size": [value]})
    with pytest.raises(SpaceError, match=r"^search_space\.learning_rate: "):
        check_space({"learning_rate": {"low": 0.001, "high": value}})


# -- the serving precision: a choice -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (["fp16"], "search_space.precision: 'fp16' is not one of fp32, bf16, int8"),
        ([], "search_space.precision: a non-empty list of fp32, bf16, int8, got []"),
        ({"low": "fp32", "high": "int8"}, "search_space.precision: a non-empty list of fp32, bf16, int8"),
    ],
)
def test_a_bad_precision_is_refused_naming_it(spec: object, message: str) -> None:
    with pytest.raises(SpaceError) as raised:
        check_space({"precision": spec})
    assert str(raised.value).startswith(message)


def test_the_precision_is_a_category_and_stays_out_of_the_training_config() -> None:
    from optuna.distributions import CategoricalDistribution

    from pipeline.sweep_space import baseline_params, split_params

    space = check_space({"precision": ["fp32", "int8"], "hidden_size": [16, 460]})
    assert distributions(space)["precision"] == CategoricalDistribution(["fp32", "int8"])
    assert split_params({"hidden_size": 16, "precision": "int8"}) == ({"hidden_size": 16}, "int8")
    assert split_params({"hidden_size": 16}) == ({"hidden_size": 16}, "fp32")  # fp32 unless the space says
    # the baseline trial: the default model, served at fp32
    assert baseline_params(space, {"hidden_size": 460, "precision": "fp32"}) == {
        "hidden_size": 460,
        "precision": "fp32",
    }
    schema_ok = space_schema()
    import jsonschema

    jsonschema.validate({"precision": ["int8"]}, schema_ok)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"precision": ["fp16"]}, schema_ok)
