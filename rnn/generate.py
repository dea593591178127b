"""Loading a trained model and sampling text from it."""

from __future__ import annotations

import io
from dataclasses import dataclass

import torch

from rnn import storage
from rnn.config import TrainConfig
from rnn.data import Vocab
from rnn.model import CharLSTM
from rnn.storage import first_line


class ModelFileError(ValueError):
    """model.pt is missing or not a model written by ``rnn train``."""


@dataclass(frozen=True)
class LoadedModel:
    model: CharLSTM
    vocab: Vocab
    config: TrainConfig


def load_model(uri: str) -> LoadedModel:
    from rnn.train import MODEL_FORMAT

    try:
        payload = torch.load(io.BytesIO(storage.read_bytes(uri)), map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ModelFileError(f"model file not found: {uri!r}; train one with `python -m rnn train`") from exc
    except Exception as exc:
        raise ModelFileError(
            f"model file {uri!r} is corrupt or not a model ({type(exc).__name__}: {first_line(exc)})"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{uri!r} is not an {MODEL_FORMAT} file")
    config = TrainConfig.from_dict(payload["config"])
    vocab = Vocab(list(payload["vocab"]))
    model = CharLSTM.from_config(config, len(vocab))
    model.load_state_dict(payload["model"])
    model.eval()
    return LoadedModel(model=model, vocab=vocab, config=config)


def sample(
    model: CharLSTM,
    vocab: Vocab,
    *,
    prompt: str,
    length: int,
    batch_size: int = 1,
    temperature: float = 0.8,
    top_k: int = 0,
    generator: torch.Generator | None = None,
) -> list[str]:
    """``batch_size`` completions of ``length`` characters after ``prompt``."""
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not prompt:
        prompt = vocab.chars[0]
    prompt_ids = vocab.encode(prompt).unsqueeze(0).repeat(batch_size, 1)
    out = torch.empty(batch_size, length, dtype=torch.long)
    model.eval()
    with torch.inference_mode():
        logits, hidden = model(prompt_ids)
        last = logits[:, -1, :]
        for i in range(length):
            scaled = last / temperature
            if top_k:
                kth = torch.topk(scaled, min(top_k, scaled.size(-1))).values[:, -1:]
                scaled = scaled.masked_fill(scaled < kth, float("-inf"))
            next_ids = torch.multinomial(torch.softmax(scaled, dim=-1), 1, generator=generator)
            out[:, i] = next_ids[:, 0]
            logits, hidden = model(next_ids, hidden)
            last = logits[:, -1, :]
    return [vocab.decode(row) for row in out]
