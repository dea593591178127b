"""Cold starts, measured (rnn.serving.coldstart, python -m rnn coldstart): the server's start-up and first
request, a serverless-style handler from spawn to answer, and the cold_start section of metrics.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnn.config import TrainConfig
from rnn.data import Vocab
from rnn.metrics import SCHEMA_VERSION, upgrade
from rnn.model import CharLSTM
from rnn.serving import handler
from rnn.serving.coldstart import (
    HandlerColdStart,
    HandlerRun,
    ServerColdStart,
    cold_start_section,
    single_stream,
    started_server,
)
from rnn.serving.generate import PromptError, default_prompt
from rnn.serving.settings import API_KEY_ENV
from rnn.train import save_model


def _tiny(tmp_path: Path, chars: str = " Tabcdefghijklmnopqrstuvwxyz") -> tuple[Path, CharLSTM, Vocab]:
    config = TrainConfig(hidden_size=16, embedding_dim=8, num_layers=1)
    vocab = Vocab(list(chars))
    torch.manual_seed(0)
    model = CharLSTM.from_config(config, len(vocab)).eval()
    save_model(str(tmp_path / "model.pt"), model, config, vocab)
    return tmp_path / "model.pt", model, vocab


@pytest.mark.integration
def test_the_single_stream_client_times_our_server_with_its_key(tmp_path: Path) -> None:
    # no "T" in the vocabulary: the prompt must come from the model
    model_file, model, vocab = _tiny(tmp_path, " абвгдежзийклмнопрстуфхцчшщъыьэюя")
    command = [sys.executable, "-m", "rnn", "serve", "--model", str(model_file), "--threads", "1"]
    key = "bench-key"  # pragma: allowlist secret
    with started_server(command, tmp_path, {**os.environ, API_KEY_ENV: key}) as (url, ready_seconds):
        assert 0 < ready_seconds < 180
        stream = single_stream(url, requests=5, chars=30, api_key="bench-key")
        assert stream["prompt"] == default_prompt(model, vocab) and stream["requests"] == 5
        assert 0 < stream["min_ms"] <= stream["p50_ms"] <= stream["p95_ms"] and stream["first_ms"] > 0
        with pytest.raises(RuntimeError, match="answered 401"):
            single_stream(url, requests=1, chars=30, api_key="not-the-key")  # pragma: allowlist secret


def test_the_handler_answers_like_the_server_would(tmp_path: Path) -> None:
    model_file, model, vocab = _tiny(tmp_path)
    loaded = handler.load(str(model_file))
    assert loaded.default_prompt == default_prompt(model, vocab)
    answer = handler.handle(loaded, {"prompt": None, "max_chars": 25, "seed": 3})
    assert answer["chars"] == 25 == len(answer["text"]) and answer["prompt"] == loaded.default_prompt
    assert handler.handle(loaded, {"prompt": "ab", "max_chars": 25, "seed": 3})["prompt"] == "ab"
    # the same seed, the same text (each request draws from its own generator)
    assert handler.handle(loaded, {"max_chars": 25, "seed": 3})["text"] == answer["text"]
    with pytest.raises(PromptError, match="never saw"):
        handler.handle(loaded, {"prompt": "ABC", "max_chars": 5})
    with pytest.raises(ValueError, match="max_chars=5000"):
        handler.handle(loaded, {"max_chars": 5000})


def test_the_section_reports_the_median_of_the_runs_and_what_a_cold_start_adds() -> None:
    runs = tuple(
        HandlerRun(
            spawn_to_answer_seconds=total,
            interpreter_seconds=0.05,
            import_seconds=imported,
            load_seconds=0.2,
            first_request_ms=30.0,
            warm_request_ms=warm,
        )
        for total, imported, warm in ((1.7, 1.2, 20.0), (1.5, 1.0, 22.0), (2.1, 1.6, 18.0))
    )
    section = cold_start_section(
        chars=200,
        server=ServerColdStart(ready_seconds=1.6, first_request_ms=35.0),
        handler=HandlerColdStart(runs),
    )
    handler_part = section["handler"]
    assert section["server"] == {"ready_seconds": 1.6, "first_request_ms": 35.0}
    assert handler_part["runs"] == 3 and handler_part["spawn_to_answer_seconds"] == 1.7  # the median
    assert (handler_part["import_seconds"], handler_part["warm_request_ms"]) == (1.2, 20.0)
    # per run: 1.7 - 0.020 = 1.68, 1.5 - 0.022 = 1.478, 2.1 - 0.018 = 2.082; their median
    assert handler_part["added_seconds"] == 1.68
    assert handler_part["spawn_to_answer_seconds_runs"] == [1.7, 1.5, 2.1]
    assert section["completion_chars"] == 200 and section["measured_at"].endswith("Z")


def test_older_metrics_are_upgraded_with_no_cold_start() -> None:
    serving = {"max_rps_at_slo": 3.0}
    upgraded = upgrade({"schema": "rnn-metrics", "schema_version": 2, "serving": serving})
    assert (upgraded["schema_version"], upgraded["serving"], upgraded["cold_start"]) == (3, serving, None)
    kept = upgrade({"schema": "rnn-metrics", "schema_version": 3, "serving": None, "cold_start": {"a": 1}})
    assert kept["cold_start"] == {"a": 1} and SCHEMA_VERSION == 3


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_coldstart_writes_the_server_and_the_handler_into_metrics_json(tmp_path: Path) -> None:
    model_file, _, _ = _tiny(tmp_path)
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"schema": "rnn-metrics", "schema_version": 2, "serving": None}))
    command = [sys.executable, "-m", "rnn", "coldstart", "--model", str(model_file), "--chars", "20"]
    out = subprocess.run(
        [*command, "--runs", "2", "--warm-requests", "2", "--threads", "1", "--metrics", str(metrics)],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    written = json.loads(metrics.read_text())
    assert written["schema_version"] == 3 and written["serving"] is None
    section = written["cold_start"]
    server, measured = section["server"], section["handler"]
    assert section["completion_chars"] == 20 and section["cpu_count"] == os.cpu_count()
    assert 0 < server["ready_seconds"] < 180 and server["first_request_ms"] > 0
    assert measured["runs"] == 2 and len(measured["spawn_to_answer_seconds_runs"]) == 2
    # spawn -> answer covers importing torch, loading the model and the request itself
    assert measured["import_seconds"] > 0 and measured["load_seconds"] > 0 and measured["warm_request_ms"] > 0
    assert min(measured["spawn_to_answer_seconds_runs"]) <= measured["spawn_to_answer_seconds"]
    assert measured["spawn_to_answer_seconds"] > measured["import_seconds"] + measured["load_seconds"]
    assert 0 < measured["added_seconds"] < measured["spawn_to_answer_seconds"]
    assert "a cold start adds" in out.stdout and f"updated {metrics}" in out.stdout


def test_coldstart_refuses_a_missing_model_at_once(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "rnn", "coldstart", "--model", str(tmp_path / "none.pt"), "--skip-server"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "model file not found" in out.stderr
