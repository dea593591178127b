"""A serverless-style handler: what a Lambda function (container image) or a SageMaker serverless container
would run, one request at a time per process.

Importing this module imports the runtime (torch and the fast decoder); :func:`load` loads the model and
builds its decoder (a platform runs both once, when it starts a new execution environment: the cold start);
:func:`handle` answers one request. ``python -m rnn coldstart`` times a fresh process through all three
(:mod:`rnn.serving.coldstart`).

A request (the event) is ``{"prompt": str | None, "max_chars": int, "seed": int, "temperature": float}``,
as ``POST /v1/generate`` takes it; a prompt of None is the model's own (:func:`~rnn.serving.generate.default_prompt`).
The answer is ``{"text": ..., "chars": ..., "prompt": ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from rnn.data import Vocab
from rnn.serving.decoder import FastDecoder
from rnn.serving.generate import check_prompt, default_prompt, load_model_source, sample
from rnn.serving.settings import DEFAULT_MAX_CHARS, DEFAULT_TEMPERATURE, MAX_CHARS_LIMIT


@dataclass(frozen=True)
class LoadedHandler:
    decoder: FastDecoder
    vocab: Vocab
    default_prompt: str
    model_uri: str


def load(model_uri: str) -> LoadedHandler:
    """The model (a file, s3:// or ``models:/``), its fp32 decoder and its own prompt."""
    loaded, _ = load_model_source(model_uri)
    decoder = FastDecoder(loaded.model)
    prompt = default_prompt(loaded.model, loaded.vocab, decoder=decoder)
    return LoadedHandler(decoder=decoder, vocab=loaded.vocab, default_prompt=prompt, model_uri=model_uri)


def handle(handler: LoadedHandler, event: Mapping[str, Any]) -> dict[str, Any]:
    """One completion; a ``ValueError`` names what is wrong with the request."""
    chars = int(event.get("max_chars") or DEFAULT_MAX_CHARS)
    if not 1 <= chars <= MAX_CHARS_LIMIT:
        raise ValueError(f"max_chars={chars} must be 1..{MAX_CHARS_LIMIT}")
    prompt = event.get("prompt")
    prompt = handler.default_prompt if prompt is None else check_prompt(handler.vocab, str(prompt))
    generator = torch.Generator().manual_seed(int(event.get("seed") or 0))
    [text] = sample(
        handler.decoder,
        handler.vocab,
        prompt=prompt,
        length=chars,
        temperature=float(event.get("temperature") or DEFAULT_TEMPERATURE),
        generator=generator,
    )
    return {"text": text, "chars": len(text), "prompt": prompt}
