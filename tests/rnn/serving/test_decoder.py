"""The fast decoder: same logits as nn.LSTM, same sampling distribution, reduced precision behind a flag."""

from __future__ import annotations

import math

import pytest
import torch

from rnn.data import Vocab
from rnn.model import CharLSTM
from rnn.serving.decoder import FastDecoder, generate_ids, sample_ids, teacher_forced_logits, validation_loss
from rnn.serving.generate import sample, sample_reference


def model(
    vocab: int = 103, embedding: int = 128, hidden: int = 460, layers: int = 2, seed: int = 0
) -> CharLSTM:
    torch.manual_seed(seed)
    return CharLSTM(vocab, embedding, hidden, layers, dropout=0.1).eval()


def reference_logits(m: CharLSTM, ids: torch.Tensor) -> torch.Tensor:
    """The nn.LSTM path, one character per call as the old generator stepped it."""
    out, hidden = [], None
    with torch.inference_mode():
        for t in range(ids.size(1)):
            logits, hidden = m(ids[:, t : t + 1], hidden)
            out.append(logits[:, 0])
    return torch.stack(out, dim=1)


@pytest.mark.parametrize(
    ("vocab", "embedding", "hidden", "layers", "stepwise"),
    [(103, 128, 460, 2, False), (40, 8, 16, 1, True), (40, 24, 32, 3, True)],
    ids=["default-size", "one-layer", "three-layers"],
)
def test_logits_match_nn_lstm_within_1e5_over_500_steps(
    vocab: int, embedding: int, hidden: int, layers: int, stepwise: bool
) -> None:
    m = model(vocab, embedding, hidden, layers)
    ids = torch.randint(0, vocab, (2, 500), generator=torch.Generator().manual_seed(1))
    actual = teacher_forced_logits(FastDecoder(m), ids)
    with torch.inference_mode():
        whole, _ = m(ids)  # one nn.LSTM call over the sequence, as training and evaluation run it
    assert actual.shape == whole.shape == (2, 500, vocab)
    assert (actual - whole).abs().max().item() < 1e-5
    if stepwise:  # and one nn.LSTM call per character, as the old generator stepped it
        assert (actual - reference_logits(m, ids)).abs().max().item() < 1e-5


def test_rows_of_a_batch_are_independent() -> None:
    """Row 0 alone and row 0 next to other rows: the same logits (to float rounding)."""
    m = model(40, 8, 16, 2)
    ids = torch.randint(0, 40, (5, 60), generator=torch.Generator().manual_seed(2))
    alone = teacher_forced_logits(FastDecoder(m), ids[:1])
    together = teacher_forced_logits(FastDecoder(m), ids)[:1]
    assert (alone - together).abs().max().item() < 1e-6


def test_inverse_cdf_sampling_follows_the_softmax() -> None:
    """20,000 draws from fixed logits: every frequency within 4 standard errors of softmax(logits / T)."""
    logits = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0, -3.0]])
    draws = 20_000
    uniforms = torch.rand(draws, 1, generator=torch.Generator().manual_seed(3))
    for temperature in (0.5, 1.0, 2.0):
        picked = sample_ids(logits.expand(draws, -1), uniforms, temperature)
        frequency = torch.bincount(picked, minlength=6).double() / draws
        expected = torch.softmax(logits[0].double() / temperature, dim=0)
        standard_error = (expected * (1 - expected) / draws).sqrt()
        assert ((frequency - expected).abs() <= 4 * standard_error + 1e-9).all(), (
            temperature,
            frequency,
            expected,
        )


def test_top_k_keeps_only_the_k_best_and_renormalises() -> None:
    logits = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0, -3.0]])
    draws = 20_000
    uniforms = torch.rand(draws, 1, generator=torch.Generator().manual_seed(4))
    picked = sample_ids(logits.expand(draws, -1), uniforms, 1.0, top_k=2)
    frequency = torch.bincount(picked, minlength=6).double() / draws
    assert frequency[2:].sum() == 0
    # e^2 / (e^2 + e^1) = 0.7311
    assert frequency[0].item() == pytest.approx(math.e / (math.e + 1), abs=0.015)
    # per-row k (a tensor): row 0 keeps one character, row 1 all of them
    ks = torch.tensor([1, 0])
    rows = sample_ids(logits.expand(2, -1), torch.tensor([[0.999], [0.999]]), 1.0, top_k=ks)
    assert rows.tolist() == [0, 5]


def test_sample_first_character_distribution_matches_the_reference_loop() -> None:
    """Both generators draw the first character after a prompt from the model's own softmax."""
    m = model(12, 8, 16, 1, seed=5)
    vocab = Vocab(list("abcdefghijkl"))
    with torch.inference_mode():
        probs = torch.softmax(m(vocab.encode("abc").unsqueeze(0))[0][0, -1].double() / 0.8, dim=0)
    draws = 6_000
    for generate in (sample, sample_reference):
        texts = generate(
            m, vocab, prompt="abc", length=1, batch_size=draws, generator=torch.Generator().manual_seed(6)
        )
        counts = torch.bincount(torch.tensor([vocab.index[t] for t in texts]), minlength=12).double()
        standard_error = (probs * (1 - probs) / draws).sqrt()
        assert ((counts / draws - probs).abs() <= 4 * standard_error + 1e-9).all(), generate.__name__


def test_generation_is_seeded_and_a_prefix_of_a_longer_one() -> None:
    """Uniforms come from the seed in order: the first 50 characters of 200 are the 50-character text."""
    decoder = FastDecoder(model(40, 8, 16, 2))
    short = generate_ids(decoder, [1, 2, 3], length=50, generator=torch.Generator().manual_seed(7))
    long = generate_ids(decoder, [1, 2, 3], length=200, generator=torch.Generator().manual_seed(7))
    again = generate_ids(decoder, [1, 2, 3], length=200, generator=torch.Generator().manual_seed(7))
    other = generate_ids(decoder, [1, 2, 3], length=200, generator=torch.Generator().manual_seed(8))
    assert torch.equal(long, again) and torch.equal(long[:, :50], short)
    assert not torch.equal(long, other)


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_reduced_precision_is_close_and_its_quality_cost_is_measured(precision: str) -> None:
    m = model(40, 16, 64, 2)
    ids = torch.randint(0, 40, (2, 100), generator=torch.Generator().manual_seed(9))
    exact = teacher_forced_logits(FastDecoder(m), ids)
    reduced = FastDecoder(m, precision=precision)
    assert reduced.precision == precision
    assert (teacher_forced_logits(reduced, ids) - exact).abs().max().item() < 0.05
    text = torch.randint(0, 40, (5_000,), generator=torch.Generator().manual_seed(10))
    fp32_loss = validation_loss(FastDecoder(m), text)
    # an untrained model predicts ~uniformly: loss ~ ln(40) = 3.69; reduced precision moves it a little
    assert fp32_loss == pytest.approx(math.log(40), abs=0.1)
    assert abs(validation_loss(reduced, text) - fp32_loss) < 0.01
    assert reduced.weight_bytes < FastDecoder(m).weight_bytes


def test_bad_arguments_are_refused() -> None:
    m = model(40, 8, 16, 1)
    with pytest.raises(ValueError, match="precision 'fp16' is not one of"):
        FastDecoder(m, precision="fp16")
    with pytest.raises(ValueError, match="length must be >= 1"):
        generate_ids(FastDecoder(m), [1], length=0)
    with pytest.raises(ValueError, match="too few"):
        validation_loss(FastDecoder(m), torch.tensor([1, 2, 3]))
