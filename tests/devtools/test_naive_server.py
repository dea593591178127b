"""The baseline server of `make bench` speaks the same API as ours, so one load test measures both."""

from __future__ import annotations

from pathlib import Path


def test_the_naive_server_answers_like_ours(tmp_path: Path) -> None:
    import torch
    from fastapi.testclient import TestClient

    from devtools.naive_server import create_app
    from rnn.config import TrainConfig
    from rnn.data import Vocab
    from rnn.model import CharLSTM
    from rnn.serving.generate import default_prompt, sample_reference
    from rnn.train import save_model

    config = TrainConfig(hidden_size=16, embedding_dim=8, num_layers=1)
    vocab = Vocab(list("abcdefgh "))
    torch.manual_seed(0)
    model = CharLSTM.from_config(config, len(vocab)).eval()
    save_model(str(tmp_path / "model.pt"), model, config, vocab)
    client = TestClient(create_app(str(tmp_path / "model.pt")))
    body = client.post("/v1/generate", json={"prompt": "abc", "max_chars": 40, "seed": 3}).json()
    [expected] = sample_reference(
        model, vocab, prompt="abc", length=40, generator=torch.Generator().manual_seed(3)
    )
    assert body == {"text": expected, "chars": 40}
    assert client.post("/v1/generate", json={"prompt": "abc", "max_chars": "40"}).status_code == 422
    health = client.get("/healthz").json()
    assert health["active"] == 0 and health["queued"] == 0 and health["cpu_count"] >= 1
    assert health["default_prompt"] == default_prompt(model, vocab)  # the load test sends it to both servers
    assert "process_cpu_seconds_total" in client.get("/metrics").text
