"""Resource mapping: parameters, memory, FLOPs by hand; instance types ranked with the reason each lost."""

from __future__ import annotations

import json

import pytest
from model_literals import PROFILE, SHEET, metrics_dict

from costing.cli import main
from costing.model.resources import (
    ModelArchitecture,
    activation_floats_per_token,
    forward_flops_per_token,
    map_resources,
    parameter_count,
    serving_memory,
    training_flops_per_token,
    training_memory,
)

DEFAULT = ModelArchitecture()  # the rnn.config.TrainConfig defaults at a vocabulary of 103
MIB = 2**20


def test_parameters_of_the_default_model_at_vocabulary_103():
    # embedding 103 x 128 = 13,184; layer 0: 4 x 460 x (128 + 460) + 8 x 460 = 1,085,600;
    # layer 1: 4 x 460 x 920 + 3,680 = 1,696,480; decoder 460 x 103 + 103 = 47,483
    assert parameter_count(DEFAULT) == 13_184 + 1_085_600 + 1_696_480 + 47_483 == 2_842_747
    assert (
        parameter_count(ModelArchitecture(vocab_size=65, num_layers=1))
        == 65 * 128 + 1_085_600 + 460 * 65 + 65
    )


def test_flops_per_token_and_per_character():
    # multiply-adds: 4 x 460 x 588 + 4 x 460 x 920 + 460 x 103 = 2,822,100
    assert forward_flops_per_token(DEFAULT) == 2 * 2_822_100 == 5_644_200
    assert training_flops_per_token(DEFAULT) == 3 * 5_644_200


def test_memory_for_training_and_serving():
    memory = training_memory(DEFAULT)
    assert memory.weights_bytes == 2_842_747 * 4
    assert memory.optimizer_and_gradients_bytes == 2_842_747 * 12  # gradients + AdamW's two moments
    assert activation_floats_per_token(DEFAULT) == 128 + 6 * 2 * 460 + 2 * 103 == 5_854
    assert memory.activations_bytes == 32 * 128 * 5_854 * 4  # 91.5 MiB
    assert memory.total_bytes == 2_842_747 * 16 + 32 * 128 * 5_854 * 4
    serving = serving_memory(DEFAULT, batch_size=64)
    assert serving.activations_bytes == 64 * (2 * 2 * 460 + 103) * 4
    assert serving.total_bytes == 2_842_747 * 4 + 64 * 1_943 * 4


def test_configuration_comes_from_metrics_and_can_be_changed():
    metrics = metrics_dict(
        config={"embedding_dim": 64, "hidden_size": 256, "num_layers": 1, "seq_len": 64, "batch_size": 16},
        dataset={"size_bytes": MIB, "vocab_size": 80},
    )
    arch = ModelArchitecture.from_metrics(metrics)
    assert (arch.vocab_size, arch.embedding_dim, arch.hidden_size, arch.num_layers) == (80, 64, 256, 1)
    assert ModelArchitecture.from_metrics(metrics, {"hidden_size": 512}).hidden_size == 512
    with pytest.raises(ValueError, match=r"unknown configuration field\(s\) \['hiden_size'\]"):
        ModelArchitecture.from_metrics(metrics, {"hiden_size": 512})
    with pytest.raises(ValueError, match="hidden_size=0 must be a whole number"):
        ModelArchitecture(hidden_size=0)


def test_prediction_against_measurement_and_the_rankings():
    metrics = metrics_dict(
        training={**metrics_dict()["training"], "tokens_per_s": 10_000.0, "peak_rss_bytes": 3 * 2**30},
        dataset={"size_bytes": MIB, "vocab_size": 103},
        config={"max_steps_per_epoch": 0},
    )
    mapping = map_resources(metrics, PROFILE, SHEET, peak_gflops=200.0, peak_source="given")
    # 10,000 tokens/s x 16.93 MFLOP = 169.3 GFLOP/s: 84.7 % of a 200 GFLOP/s peak, which allows 11,811 tokens/s
    assert mapping.achieved_gflops == pytest.approx(169.326)
    assert mapping.fraction_of_peak == pytest.approx(0.84663)
    assert mapping.predicted_tokens_per_s_at_peak == pytest.approx(200e9 / 16_932_600)

    training = {c.instance_type: c for c in mapping.training}
    # 3,600 s measured on 2 CPUs, + the default 300 s of boot, setup and upload: c6i.large (2 vCPU)
    # 3,900 s at spot $0.04/h = $0.043333; c6i.xlarge (4 vCPU) 1,800 + 300 s at $0.08/h = $0.046667 (without
    # the overhead the two tied at $0.04); m7g.large has no spot price: 3,900 s on demand at $0.08/h
    assert training["c6i.large"].seconds == 3_600 and training["c6i.large"].usd == pytest.approx(
        0.043333, abs=1e-6
    )
    assert training["c6i.xlarge"].seconds == 1_800 and training["c6i.xlarge"].usd == pytest.approx(
        0.046667, abs=1e-6
    )
    assert mapping.training_overhead_seconds == 300
    assert training["m7g.large"].usd == pytest.approx(0.086667, abs=1e-6) and "no spot price" in " ".join(
        training["m7g.large"].notes
    )
    assert training["t3.small"].rank is None and training["t3.small"].lost_because.startswith(
        "rejected: needs"
    )
    assert [c.instance_type for c in mapping.training if c.rank] == ["c6i.large", "c6i.xlarge", "m7g.large"]

    serving = {c.instance_type: c for c in mapping.serving}
    assert serving["t3.small"].rank == 1  # 2 x $0.02/h and its supporting lines is the cheapest fleet
    assert (
        serving["c6i.large"].lost_because.startswith("costs ")
        and "more than t3.small" in serving["c6i.large"].lost_because
    )
    verdicts = mapping.verdicts()
    assert verdicts["serving"].startswith("disagrees: the measurements favour t3.small")
    assert verdicts["training"] == "cannot check: r6i.xlarge is not priced in us-east-1 in snapshot literal"


def test_the_command_prints_and_exports_the_mapping(capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the shipped reference, never a store in reach
    assert main(["resources", "--peak-gflops", "195", "--config", '{"hidden_size": 512}']) == 0
    out = capsys.readouterr().out
    assert "parameters            " in out and "Instance types for training" in out
    assert "against the original hand analysis (r6i.xlarge to train, c6i.xlarge to serve):" in out
    assert 'configuration changed by {"hidden_size": 512}' in out
    assert (
        main(["resources", "--peak-gflops", "195", "--json", "--instance-types", "r6i.xlarge,c6i.xlarge"])
        == 0
    )
    document = json.loads(capsys.readouterr().out)
    assert (document["schema"], document["parameters"]) == ("rnn-cost-resources", 2_842_747)
    assert {c["instance_type"] for c in document["training"]} == {"r6i.xlarge", "c6i.xlarge"}
    assert set(document["verdicts"]) == {"training", "serving"}
    assert main(["resources", "--config", "[1]"]) == 2
    assert "--config must be a JSON object" in capsys.readouterr().err
