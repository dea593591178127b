"""Data, model, training, checkpoint/resume and instrumentation of the rnn package."""

from __future__ import annotations

import json
import math
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from rnn.checkpoint import CheckpointError, load_checkpoint
from rnn.config import ConfigError, TrainConfig, parameter_count
from rnn.corpus import DEFAULT_CORPUS_URI, CorpusError, default_corpus_text, read_corpus_bytes
from rnn.data import Vocab, batchify, get_batch, split_tokens, steps_per_epoch
from rnn.metrics import SCHEMA, SCHEMA_VERSION, EpochStats, read_metrics
from rnn.model import CharLSTM, count_parameters
from rnn.serving.generate import ModelFileError, load_model, sample
from rnn.train import LogInterval, Stopwatch, epoch_line, train


def tiny_config(corpus: Path, **overrides: object) -> TrainConfig:
    values = dict(
        corpus_uri=str(corpus),
        seq_len=16,
        batch_size=4,
        embedding_dim=8,
        hidden_size=16,
        num_layers=2,
        epochs=2,
        max_steps_per_epoch=6,
        checkpoint_every_steps=2,
        log_every_steps=3,
    )
    values.update(overrides)
    return TrainConfig(**values)


def test_default_config_is_about_2_84_million_parameters() -> None:
    config = TrainConfig()
    vocab = len(set(default_corpus_text()))
    params = count_parameters(CharLSTM.from_config(config, vocab))
    assert abs(params - 2_840_000) / 2_840_000 < 0.01, params


def test_default_corpus_is_built_offline_from_the_stdlib() -> None:
    data = read_corpus_bytes(DEFAULT_CORPUS_URI)
    text = data.decode("utf-8")
    assert len(text) > 300_000
    assert "assert" in text and "The" in text


@pytest.mark.parametrize("uri", ["/nonexistent/corpus.txt", "builtin://nope"])
def test_unreadable_corpus_names_the_uri(uri: str) -> None:
    with pytest.raises(CorpusError, match=r"nonexistent|nope"):
        read_corpus_bytes(uri)


def test_corpus_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="directory"):
        read_corpus_bytes(str(tmp_path))


def test_vocab_round_trip_and_unknown_characters() -> None:
    vocab = Vocab.from_text("hello world")
    assert vocab.decode(vocab.encode("low")) == "low"
    assert vocab.chars == sorted(set("hello world"))
    with pytest.raises(ValueError, match="'z'"):
        vocab.encode("zz")


def test_batches_are_next_character_targets() -> None:
    ids = torch.arange(100)
    streams = batchify(ids, 4)
    assert streams.shape == (4, 25)
    x, y = get_batch(streams, 1, 5)
    assert torch.equal(y, x + 1)
    assert x[0, 0].item() == 5
    assert steps_per_epoch(streams, 5) == 4


def test_split_refuses_a_corpus_too_small_to_train() -> None:
    with pytest.raises(CorpusError, match="too small"):
        split_tokens(torch.arange(50), 0.1, seq_len=16, batch_size=4)


@pytest.mark.parametrize(
    "field,value",
    [
        ("epochs", 0),
        ("epochs", -1),
        ("hidden_size", 0),
        ("batch_size", -3),
        ("val_fraction", 0.0),
        ("learning_rate", 0.0),
        ("dropout", 1.0),
    ],
)
def test_invalid_config_names_field_and_value(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"{field}.*{value!r}"):
        TrainConfig(**{field: value})


def test_unknown_config_field_is_refused() -> None:
    with pytest.raises(ConfigError, match="hiden_size"):
        TrainConfig.from_dict({"hiden_size": 3})


def test_training_writes_model_checkpoint_and_metrics(tmp_path: Path, tiny_corpus: Path) -> None:
    result = train(
        tiny_config(tiny_corpus), str(tmp_path / "out"), run_id="run-1", progress=False, log=lambda _: None
    )
    metrics = read_metrics(result.metrics_uri)
    assert metrics["schema"] == SCHEMA and metrics["schema_version"] == SCHEMA_VERSION
    assert metrics["run_id"] == "run-1" and metrics["status"] == "completed"
    training = metrics["training"]
    assert [e["epoch"] for e in training["epochs"]] == [1, 2]
    for epoch in training["epochs"]:
        assert epoch["steps"] == 6 and epoch["tokens"] == 6 * 4 * 16
        assert epoch["wall_seconds"] > 0
        assert math.isclose(epoch["val_perplexity"], math.exp(epoch["val_loss"]))
    assert training["global_steps"] == 12
    assert training["tokens_processed"] == 12 * 64
    assert training["tokens_per_s"] > 0
    assert training["total_wall_seconds"] >= training["train_seconds"] > 0
    assert training["peak_rss_bytes"] > 50 * 2**20  # torch alone is bigger than this
    assert training["final_val_loss"] == training["epochs"][-1]["val_loss"]
    dataset = metrics["dataset"]
    assert dataset["size_bytes"] == tiny_corpus.stat().st_size
    assert dataset["vocab_size"] == len(set(tiny_corpus.read_text()))
    assert len(dataset["sha256"]) == 64
    assert metrics["model"]["file_size_bytes"] == (tmp_path / "out" / "model.pt").stat().st_size
    assert metrics["model"]["parameters"] == count_parameters(load_model(result.model_uri).model)
    assert metrics["host"]["cpu_count"] >= 1 and metrics["host"]["cpu_model"]
    assert metrics["inference"] is None


def test_resume_reaches_the_same_weights_as_an_uninterrupted_run(tmp_path: Path, tiny_corpus: Path) -> None:
    config = tiny_config(tiny_corpus)
    straight = train(config, str(tmp_path / "straight"), progress=False, log=lambda _: None)

    first = train(
        config, str(tmp_path / "resumed"), progress=False, stop_after_global_step=5, log=lambda _: None
    )
    assert first.interrupted and first.model_uri is None
    assert load_checkpoint(first.checkpoint_uri)["state"]["global_step"] == 5
    second = train(config, str(tmp_path / "resumed"), resume=True, progress=False, log=lambda _: None)

    assert not second.interrupted
    assert second.metrics["training"]["global_steps"] == straight.metrics["training"]["global_steps"] == 12
    assert second.metrics["training"]["resumed_from_step"] == 5
    assert second.metrics["training"]["attempts"] == 2
    a = load_model(straight.model_uri).model.state_dict()
    b = load_model(second.model_uri).model.state_dict()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    ckpt_a = load_checkpoint(straight.checkpoint_uri)["optimizer"]["state"]
    ckpt_b = load_checkpoint(second.checkpoint_uri)["optimizer"]["state"]
    for key in ckpt_a:
        assert torch.equal(ckpt_a[key]["exp_avg"], ckpt_b[key]["exp_avg"])
    assert second.metrics["training"]["final_val_loss"] == straight.metrics["training"]["final_val_loss"]


def test_resume_refuses_a_checkpoint_of_another_model(tmp_path: Path, tiny_corpus: Path) -> None:
    out = str(tmp_path / "run")
    train(tiny_config(tiny_corpus), out, progress=False, stop_after_global_step=2, log=lambda _: None)
    with pytest.raises(CheckpointError, match="hidden_size=16 in the checkpoint, 32 now"):
        train(tiny_config(tiny_corpus, hidden_size=32), out, resume=True, progress=False, log=lambda _: None)


def test_resume_refuses_a_corrupt_checkpoint_and_leaves_it(tmp_path: Path, tiny_corpus: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        train(tiny_config(tiny_corpus), str(out), resume=True, progress=False, log=lambda _: None)
    assert (out / "checkpoint.pt").read_bytes() == b"not a checkpoint"
    assert not (out / "metrics.json").exists()


def test_generation_uses_the_saved_vocabulary(tmp_path: Path, tiny_corpus: Path) -> None:
    result = train(
        tiny_config(tiny_corpus, epochs=1), str(tmp_path / "g"), progress=False, log=lambda _: None
    )
    loaded = load_model(result.model_uri)
    texts = sample(
        loaded.model,
        loaded.vocab,
        prompt="The ",
        length=50,
        batch_size=3,
        generator=torch.Generator().manual_seed(1),
    )
    assert len(texts) == 3 and all(len(t) == 50 for t in texts)
    assert set("".join(texts)) <= set(loaded.vocab.chars)


def test_loading_a_missing_or_foreign_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        load_model(str(tmp_path / "missing.pt"))
    bogus = tmp_path / "bogus.pt"
    torch.save({"format": "something-else"}, bogus)
    with pytest.raises(ModelFileError, match="not an rnn-model"):
        load_model(str(bogus))


def test_metrics_json_is_plain_json(tmp_path: Path, tiny_corpus: Path) -> None:
    result = train(
        tiny_config(tiny_corpus, epochs=1), str(tmp_path / "m"), progress=False, log=lambda _: None
    )
    assert json.loads(Path(result.metrics_uri).read_text())["config"]["hidden_size"] == 16


@pytest.mark.integration
def test_corpus_over_http_is_read_through_fsspec(tiny_corpus: Path) -> None:
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tiny_corpus.parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/{tiny_corpus.name}"
        assert read_corpus_bytes(url) == tiny_corpus.read_bytes()
        with pytest.raises(CorpusError, match=r"missing\.txt"):
            read_corpus_bytes(f"http://127.0.0.1:{server.server_port}/missing.txt")
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    "sizes,vocab",
    [({}, 103), ({"hidden_size": 16, "num_layers": 1, "embedding_dim": 8}, 65), ({"num_layers": 3}, 7)],
)
def test_parameter_count_matches_the_model_without_building_it(sizes: dict, vocab: int) -> None:
    config = TrainConfig(**sizes)
    assert parameter_count(config, vocab) == count_parameters(CharLSTM.from_config(config, vocab))
    assert parameter_count(TrainConfig(), 103) == 2_842_747  # the default model, as the README says


def test_each_process_records_its_segment_up_to_its_last_checkpoint(
    tmp_path: Path, tiny_corpus: Path
) -> None:
    # checkpoint every 2 steps; the first process stops after step 5, so its last checkpoint holds step 5
    config = tiny_config(tiny_corpus, checkpoint_every_steps=2)
    first = train(config, str(tmp_path / "run"), progress=False, stop_after_global_step=5, log=lambda _: None)
    [kept] = load_checkpoint(first.checkpoint_uri)["state"]["segments"]
    assert kept["resumed_from_step"] is None
    assert kept["checkpoints"] == 3 and kept["last_checkpoint_step"] == 5  # steps 2, 4 and the stop at 5
    assert kept["work_seconds"] > 0 and kept["setup_seconds"] > 0
    assert kept["finished_at"] is None  # as of the checkpoint: the process was still training

    second = train(config, str(tmp_path / "run"), resume=True, progress=False, log=lambda _: None)
    first_segment, second_segment = second.metrics["training"]["segments"]
    assert first_segment == kept
    assert second_segment["resumed_from_step"] == 5 and second_segment["restore_seconds"] > 0
    assert second_segment["finished_at"] is not None and second_segment["started_at"] > kept["started_at"]
    # steps 6, 8, 10, 12 and the two epoch ends (6 and 12 coincide with them: written again)
    assert second_segment["checkpoints"] == 6 and second_segment["last_checkpoint_step"] == 12
    assert second_segment["checkpoint_seconds"] > 0


@pytest.fixture
def restores_signal_handlers() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGUSR1)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def _sends_at_log_line(signum: int, prefix: str, lines: list[str]) -> Callable[[str], None]:
    """A ``log`` that keeps the lines and sends ``signum`` to this process when one starts with ``prefix``."""

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith(prefix):
            os.kill(os.getpid(), signum)

    return log


@pytest.mark.usefixtures("restores_signal_handlers")
def test_sigusr1_checkpoints_at_once_and_training_carries_on(tmp_path: Path, tiny_corpus: Path) -> None:
    # checkpoints every 2 steps; the log line of step 3 comes before step 3's checkpoint decision
    config = tiny_config(tiny_corpus, epochs=1, checkpoint_every_steps=2, log_every_steps=3)
    lines: list[str] = []
    result = train(
        config,
        str(tmp_path / "run"),
        progress=False,
        handle_signals=True,
        log=_sends_at_log_line(signal.SIGUSR1, "step      3 |", lines),
    )
    assert not result.interrupted and result.model_uri is not None
    assert "checkpoint written at step 3 on request" in lines
    assert sum("on request" in line for line in lines) == 1
    [segment] = result.metrics["training"]["segments"]
    assert segment["checkpoints"] == 5  # steps 2, 3 (requested), 4, 6 and the epoch end


@pytest.mark.usefixtures("restores_signal_handlers")
def test_sigterm_checkpoints_and_stops_after_the_step(tmp_path: Path, tiny_corpus: Path) -> None:
    config = tiny_config(tiny_corpus, checkpoint_every_steps=2, log_every_steps=3)
    lines: list[str] = []
    result = train(
        config,
        str(tmp_path / "run"),
        progress=False,
        handle_signals=True,
        log=_sends_at_log_line(signal.SIGTERM, "step      3 |", lines),
    )
    assert result.interrupted and result.model_uri is None
    assert result.metrics["status"] == "interrupted" and result.metrics["training"]["global_steps"] == 3
    assert load_checkpoint(result.checkpoint_uri)["state"]["global_step"] == 3
    assert f"stopped at step 3; checkpoint at {result.checkpoint_uri}" in lines


def test_one_fixed_width_log_line_per_interval() -> None:
    interval = LogInterval(tokens_per_step=384)  # 16 streams x 24 characters
    for loss in (1.80, 1.85, 1.87):
        interval.add(loss=loss, seconds=0.0382)
    # loss 5.52 / 3 steps; 0.1146 s / 3 steps; 3 x 384 tokens / 0.1146 s = 10,052.4 tok/s
    line = interval.close(global_step=120, epoch=1)
    assert line == "step    120 | epoch 1 | loss 1.8400 | 38.2 ms/step | 10,052 tok/s"
    assert (interval.loss_sum, interval.steps, interval.seconds) == (0.0, 0, 0.0)  # the next one starts empty
    interval.add(loss=2.0, seconds=0.5)
    assert interval.close(global_step=123456, epoch=12) == (
        "step 123456 | epoch 12 | loss 2.0000 | 500.0 ms/step | 768 tok/s"
    )


def test_the_epoch_line() -> None:
    stats = EpochStats(
        epoch=2,
        steps=6,
        tokens=384,
        wall_seconds=0.8539,
        train_loss=4.44114,
        train_perplexity=84.87,
        val_loss=4.43004,
        val_perplexity=83.93448,
        tokens_per_s=449.7,
    )
    assert epoch_line(stats) == "epoch 2 | train loss 4.4411 | val loss 4.4300 | val ppl 83.93 | 0.9 s"


def test_a_stopwatch_reads_the_seconds_since_its_last_lap() -> None:
    readings = iter([10.0, 10.5, 12.0])
    watch = Stopwatch(now=lambda: next(readings))  # created at 10.0
    assert watch.lap_seconds() == 0.5
    assert watch.lap_seconds() == 1.5
