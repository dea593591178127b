"""Prompts come from the model: a model that never saw "T" (lowercase only, Cyrillic) is generated,
benchmarked, served and load-tested without one, and a prompt it cannot read is one clear error."""

from __future__ import annotations

import json
import random
import string
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import torch

from rnn.data import Vocab
from rnn.serving.benchmark import benchmark
from rnn.serving.generate import PromptError, check_prompt, default_prompt, load_model
from rnn.serving.loadtest import LoadTestConfig, LoadTestError, capacity_search

CYRILLIC = "".join(chr(c) for c in range(ord("а"), ord("я") + 1)) + "ё"


def generated_text(alphabet: str, *, words: int = 300, seed: int = 0) -> str:
    """Words of random letters from ``alphabet``, separated by spaces (made here: no third-party text)."""
    rng = random.Random(seed)
    return " ".join("".join(rng.choices(alphabet, k=rng.randint(1, 8))) for _ in range(words)) + "\n"


SCRIPTS = {"lowercase": string.ascii_lowercase, "cyrillic": CYRILLIC}


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory, random_model) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("scripts")
    return {
        name: random_model(folder / f"{name}.pt", chars=Vocab.from_text(generated_text(alphabet)).chars)
        for name, alphabet in SCRIPTS.items()
    }


def run_rnn(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rnn", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_default_prompt_is_the_models_own(model_files: dict[str, Path], script: str) -> None:
    loaded = load_model(str(model_files[script]))
    model, vocab = loaded.model, loaded.vocab
    assert "T" not in vocab.index  # "The " would be refused by this model
    prompt = default_prompt(model, vocab)
    assert len(prompt) == 4 and set(prompt) <= set(vocab.chars)
    assert prompt == default_prompt(
        load_model(str(model_files[script])).model, vocab
    )  # same file, same prompt
    # the first character is the model's prediction from its zero state (the output bias), then greedy
    assert prompt[0] == vocab.chars[int(model.decoder.bias.argmax())]
    with torch.inference_mode():
        logits, _ = model(vocab.encode(prompt[:-1]).unsqueeze(0))
    assert [vocab.chars[int(i)] for i in logits[0].argmax(-1)] == list(prompt[1:])
    # another bias, another first character: it comes from the weights, not from a list
    target = vocab.chars[-1]
    with torch.no_grad():
        model.decoder.bias[vocab.index[target]] = model.decoder.bias.max() + 10
    assert default_prompt(model, vocab)[0] == target


def test_a_prompt_the_model_cannot_read_names_the_unknown_characters(model_files: dict[str, Path]) -> None:
    vocab = load_model(str(model_files["cyrillic"])).vocab
    with pytest.raises(
        PromptError, match=r"the prompt 'The ' has characters the model never saw: \['T', 'e', 'h'\]"
    ):
        check_prompt(vocab, "The ")
    assert check_prompt(vocab, "мир ") == "мир "


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_benchmark_uses_the_models_prompt_and_refuses_one_it_cannot_read(
    model_files: dict[str, Path], script: str
) -> None:
    loaded = load_model(str(model_files[script]))
    result = benchmark(loaded.model, loaded.vocab, completion_chars=10, runs=2, batch_sizes=(2,), warmup=0)
    assert result.latency_ms.p50 > 0 and result.throughput[0].batch_size == 2
    with pytest.raises(PromptError, match=r"\['T'"):
        benchmark(loaded.model, loaded.vocab, completion_chars=10, runs=1, batch_sizes=(1,), prompt="The ")


def test_generate_and_bench_default_to_the_models_prompt(model_files: dict[str, Path]) -> None:
    model = str(model_files["cyrillic"])
    loaded = load_model(model)
    generated = run_rnn("generate", "--model", model, "--length", "12")
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout.startswith(default_prompt(loaded.model, loaded.vocab))
    first_line = generated.stdout.splitlines()[0]
    assert len(first_line) == 4 + 12 and set(first_line) <= set(loaded.vocab.chars)
    bench = run_rnn("bench", "--model", model, "--runs", "2", "--chars", "10", "--batch-sizes", "1")
    assert bench.returncode == 0, bench.stderr


@pytest.mark.parametrize(
    "command", [["generate"], ["bench", "--runs", "1", "--chars", "5", "--batch-sizes", "1"]]
)
def test_a_prompt_outside_the_vocabulary_is_exit_2_with_one_line(
    model_files: dict[str, Path], command: list[str]
) -> None:
    result = run_rnn(*command, "--model", str(model_files["lowercase"]), "--prompt", "The ")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "error: --prompt 'The ' has characters the model never saw: ['T']; its 28 characters are "
        "'\\n abcdefghijklmnopqrstuvwxyz'. Leave the prompt out to use the model's own."
    ]


@pytest.mark.integration
def test_the_server_says_its_prompt_and_the_load_test_sends_it(
    model_files: dict[str, Path], live_server
) -> None:
    loaded = load_model(str(model_files["cyrillic"]))
    prompt = default_prompt(loaded.model, loaded.vocab)
    with live_server(model_files["cyrillic"]) as url:
        with urllib.request.urlopen(f"{url}/healthz", timeout=30) as response:
            assert json.loads(response.read())["default_prompt"] == prompt
        quick = {"max_seconds": 6, "chars": 20, "trial_seconds": 1.5, "min_trial_seconds": 1}
        result = capacity_search(LoadTestConfig(url=url, **quick), log=lambda _: None)  # type: ignore[arg-type]
        assert result.prompt == prompt and result.max_rps_at_slo > 0
        with pytest.raises(
            LoadTestError, match=r"HTTP 422: characters not in the model's vocabulary: \['T', 'e', 'h'\]"
        ):
            capacity_search(LoadTestConfig(url=url, prompt="The ", **quick), log=lambda _: None)  # type: ignore[arg-type]
