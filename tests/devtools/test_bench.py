"""make bench's serving pieces on a tiny model: the server's start-up time and the single-stream client."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

from devtools.bench import server, single_stream
from rnn.config import TrainConfig
from rnn.data import Vocab
from rnn.model import CharLSTM
from rnn.serving.generate import default_prompt
from rnn.serving.settings import API_KEY_ENV
from rnn.train import save_model


@pytest.mark.integration
def test_the_single_stream_client_times_our_server_with_its_key(tmp_path: Path) -> None:
    config = TrainConfig(hidden_size=16, embedding_dim=8, num_layers=1)
    vocab = Vocab(list(" абвгдежзийклмнопрстуфхцчшщъыьэюя"))  # no "T": the prompt must come from the model
    torch.manual_seed(0)
    model = CharLSTM.from_config(config, len(vocab)).eval()
    save_model(str(tmp_path / "model.pt"), model, config, vocab)
    command = [sys.executable, "-m", "rnn", "serve", "--model", str(tmp_path / "model.pt"), "--threads", "1"]
    key = "bench-key"  # pragma: allowlist secret
    with server(command, tmp_path, env={**os.environ, API_KEY_ENV: key}) as (url, ready_seconds):
        assert 0 < ready_seconds < 180
        stream = single_stream(url, requests=5, chars=30, api_key="bench-key")
        assert stream["prompt"] == default_prompt(model, vocab) and stream["requests"] == 5
        assert 0 < stream["min_ms"] <= stream["p50_ms"] <= stream["p95_ms"] and stream["first_ms"] > 0
        with pytest.raises(RuntimeError, match="answered 401"):
            single_stream(url, requests=1, chars=30, api_key="not-the-key")  # pragma: allowlist secret
