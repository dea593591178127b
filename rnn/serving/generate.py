"""Loading a trained model and sampling text from it."""

from __future__ import annotations

import io
from dataclasses import dataclass

import torch

from rnn.config import TrainConfig
from rnn.data import Vocab
from rnn.model import CharLSTM
from rnn.serving.decoder import FastDecoder, generate_ids
from rnn.serving.settings import REGISTRY_SCHEME
from toolkit import storage
from toolkit.registry import REGISTERED_MODEL
from toolkit.storage import first_line

PROMPT_CHARS = 4  # length of the model's own prompt (:func:`default_prompt`)


class ModelFileError(ValueError):
    """model.pt is missing or not a model written by ``rnn train``, or a registry URI does not resolve."""


class PromptError(ValueError):
    """A prompt has characters outside the model's vocabulary; the message names them."""


@dataclass(frozen=True)
class LoadedModel:
    model: CharLSTM
    vocab: Vocab
    config: TrainConfig | None  # None for a model loaded from the MLflow registry (it logs no config)


@dataclass(frozen=True)
class ModelSource:
    """Where a served model came from: ``uri`` as given, ``name`` and ``version`` as /healthz reports them."""

    uri: str
    name: str
    version: str


def parse_registry_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``models:/<name>/<version>`` or ``models:/<name>@<alias>`` -> (name, version, alias)."""
    rest = uri.removeprefix(REGISTRY_SCHEME)
    if "@" in rest:
        name, alias = rest.split("@", 1)
        if name and alias and "/" not in name:
            return name, None, alias
    elif rest.count("/") == 1:
        name, version = rest.split("/")
        if name and version.isdigit():
            return name, version, None
    raise ModelFileError(
        f"{uri!r} is not a registry URI; use {REGISTRY_SCHEME}{REGISTERED_MODEL}/<version> or "
        f"{REGISTRY_SCHEME}{REGISTERED_MODEL}@<alias>"
    )


def load_model_source(uri: str) -> tuple[LoadedModel, ModelSource]:
    """A model file (local or s3://) or a registered version (``models:/...``), with its identity."""
    if not uri.startswith(REGISTRY_SCHEME):
        import hashlib

        loaded = load_model(uri)
        digest = hashlib.sha256(storage.read_bytes(uri)).hexdigest()
        return loaded, ModelSource(uri=uri, name=uri, version=f"sha256:{digest[:12]}")
    return _load_registered(uri)


def _load_registered(uri: str) -> tuple[LoadedModel, ModelSource]:
    import json
    import tempfile
    from pathlib import Path

    import mlflow
    import mlflow.pytorch
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    name, version, alias = parse_registry_uri(uri)
    client = MlflowClient()
    try:
        if alias is not None:
            version = str(client.get_model_version_by_alias(name, alias).version)
        assert version is not None
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=f"{REGISTRY_SCHEME}{name}/{version}", dst_path=tmp
                )
            )
            model = mlflow.pytorch.load_model(str(local), map_location="cpu")
            vocab_files = sorted(local.rglob("vocab.json"))
            if not vocab_files:
                raise ModelFileError(f"{uri!r} (version {version}) has no vocab.json among its files")
            vocab = Vocab(json.loads(vocab_files[0].read_text(encoding="utf-8")))
    except MlflowException as exc:
        raise ModelFileError(
            f"cannot load {uri!r} from the MLflow registry at {mlflow.get_tracking_uri()!r}: {exc.message}"
        ) from exc
    if not isinstance(model, CharLSTM):
        raise ModelFileError(f"{uri!r} is a {type(model).__name__}, not an rnn CharLSTM")
    model.eval()
    return LoadedModel(model=model, vocab=vocab, config=None), ModelSource(
        uri=uri, name=name, version=version
    )


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


def default_prompt(model: CharLSTM, vocab: Vocab, length: int = PROMPT_CHARS) -> str:
    """The prompt used when none is given: the model's own, never a fixed string in some language.

    Its first character is what the model predicts before it has read anything: from the all-zero
    state the LSTM starts in, the logits are the output layer's bias, and training pulls that bias
    towards the log-frequency of each character, so a trained model starts with a character common
    in its corpus (for English prose, the space). The rest is the model's greedy continuation, to
    ``length`` characters. Deterministic (the argmax; a tie goes to the lower id), in whatever script
    the corpus was, and it needs only the weights and the vocabulary: a registered version carries
    no corpus, and a server does not read one to start. ``python -m rnn generate`` and ``bench``,
    the server's ``/healthz`` (``default_prompt``, what the load test sends) all use it.
    """
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    was_training = model.training
    model.eval()  # no dropout: the same model gives the same prompt
    try:
        with torch.inference_mode():
            ids = [int(torch.argmax(model.decoder.bias))]
            logits, hidden = model(torch.tensor([ids]))
            while len(ids) < length:
                ids.append(int(torch.argmax(logits[0, -1])))
                logits, hidden = model(torch.tensor([ids[-1:]]), hidden)
    finally:
        model.train(was_training)
    return vocab.decode(ids)


def check_prompt(vocab: Vocab, prompt: str, *, what: str = "the prompt") -> str:
    """``prompt`` if the model knows every character of it; else a :class:`PromptError` naming the others."""
    unknown = sorted({ch for ch in prompt if ch not in vocab.index})
    if unknown:
        shown = "".join(vocab.chars[:60]) + ("…" if len(vocab) > 60 else "")
        raise PromptError(
            f"{what} {prompt!r} has characters the model never saw: {unknown!r}; its {len(vocab)} "
            f"characters are {shown!r}. Leave the prompt out to use the model's own."
        )
    return prompt


def _prompt_ids(vocab: Vocab, prompt: str) -> list[int]:
    """Character ids of ``prompt``; an empty prompt starts from the vocabulary's first character."""
    return vocab.encode(prompt or vocab.chars[0]).tolist()


def _check_sampling(length: int, temperature: float) -> None:
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def sample(
    model: CharLSTM | FastDecoder,
    vocab: Vocab,
    *,
    prompt: str,
    length: int,
    batch_size: int = 1,
    temperature: float = 0.8,
    top_k: int = 0,
    generator: torch.Generator | None = None,
) -> list[str]:
    """``batch_size`` completions of ``length`` characters after ``prompt`` (the fast decoder).

    Pass a :class:`~rnn.serving.decoder.FastDecoder` to reuse one; a model is wrapped in a new decoder.
    """
    _check_sampling(length, temperature)
    decoder = model if isinstance(model, FastDecoder) else FastDecoder(model)
    ids = generate_ids(
        decoder,
        _prompt_ids(vocab, prompt),
        length=length,
        batch_size=batch_size,
        temperature=temperature,
        top_k=top_k,
        generator=generator,
    )
    return [vocab.decode(row) for row in ids]


def sample_reference(
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
    """The per-token ``nn.LSTM`` loop :func:`sample` replaced: the baseline of tests and benchmarks."""
    _check_sampling(length, temperature)
    prompt_ids = torch.tensor(_prompt_ids(vocab, prompt)).unsqueeze(0).repeat(batch_size, 1)
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
