"""Inference benchmark: what serving this model costs in time, measured on this machine.

:func:`benchmark` (what ``python -m rnn bench`` records in metrics.json): latency of a 200-character
completion at batch 1 (p50/p95/p99 over >= 20 runs) and throughput in characters/s at batch 1, 16
and 64, with the fast decoder that serving uses. These numbers feed the serving cost model. The
prompt is the model's own (:func:`rnn.serving.generate.default_prompt`) unless one is given.

:func:`precision_comparison` puts each reduced precision's speed next to its quality cost (the
validation-loss delta against fp32 on the same text); :func:`compare_generators` measures the fast
decoder against the per-token ``nn.LSTM`` loop it replaced, and the fraction of this host's matmul
peak it reaches (``make bench``).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from rnn.data import Vocab
from rnn.metrics import InferenceBenchmark, LatencyStats, PrecisionResult, Throughput, percentile
from rnn.model import CharLSTM
from rnn.serving.decoder import DECODER_NAME, DECODER_VERSION, FastDecoder, validation_loss
from rnn.serving.generate import check_prompt, default_prompt, sample, sample_reference
from rnn.serving.settings import DEFAULT_PRECISION

DEFAULT_COMPLETION_CHARS = 200
DEFAULT_RUNS = 20
DEFAULT_BATCH_SIZES = (1, 16, 64)


def _prompt(model: CharLSTM, vocab: Vocab, prompt: str | None) -> str:
    """``prompt`` (every character known to the model, or a PromptError), or the model's own when None."""
    return default_prompt(model, vocab) if prompt is None else check_prompt(vocab, prompt)


def _timer(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _latency(latencies_ms: Sequence[float]) -> LatencyStats:
    return LatencyStats(
        p50=percentile(latencies_ms, 50),
        p95=percentile(latencies_ms, 95),
        p99=percentile(latencies_ms, 99),
        mean=statistics.fmean(latencies_ms),
        min=min(latencies_ms),
        max=max(latencies_ms),
    )


def benchmark(
    model: CharLSTM,
    vocab: Vocab,
    *,
    completion_chars: int = DEFAULT_COMPLETION_CHARS,
    runs: int = DEFAULT_RUNS,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    warmup: int = 2,
    prompt: str | None = None,
    seed: int = 0,
    precision: str = DEFAULT_PRECISION,
    progress: bool = False,
) -> InferenceBenchmark:
    if runs < 1 or completion_chars < 1 or warmup < 0:
        raise ValueError(
            f"runs, completion_chars must be >= 1 and warmup >= 0 (got {runs}, {completion_chars}, {warmup})"
        )
    prompt = _prompt(model, vocab, prompt)
    generator = torch.Generator().manual_seed(seed)
    decoder = FastDecoder(model, precision=precision)

    def one(batch_size: int) -> float:
        return _timer(
            lambda: sample(
                decoder,
                vocab,
                prompt=prompt,
                length=completion_chars,
                batch_size=batch_size,
                generator=generator,
            )
        )

    for _ in range(warmup):
        one(1)
    from tqdm.auto import tqdm

    latencies_ms = [
        1000 * one(1) for _ in tqdm(range(runs), desc="latency", disable=not progress, leave=False)
    ]
    throughput = []
    for batch_size in batch_sizes:
        seconds = min(one(batch_size) for _ in range(2))
        throughput.append(
            Throughput(
                batch_size=batch_size,
                tokens_per_s=batch_size * completion_chars / seconds,
                seconds=round(seconds, 6),
            )
        )
    return InferenceBenchmark(
        completion_chars=completion_chars,
        runs=runs,
        latency_ms=_latency(latencies_ms),
        throughput=throughput,
        generator=DECODER_NAME,
        generator_version=DECODER_VERSION,
        precision=precision,
    )


def precision_comparison(
    model: CharLSTM,
    vocab: Vocab,
    val_ids: torch.Tensor,
    precisions: Sequence[str],
    *,
    completion_chars: int = DEFAULT_COMPLETION_CHARS,
    runs: int = DEFAULT_RUNS,
    batch_size: int = 64,
    prompt: str | None = None,
    val_chars: int = 20_000,
) -> list[PrecisionResult]:
    """Speed and quality of each precision, fp32 first (the baseline of every delta)."""
    prompt = _prompt(model, vocab, prompt)
    order = ["fp32", *[p for p in precisions if p != "fp32"]]
    results: list[PrecisionResult] = []
    baseline_loss = baseline_ms = 0.0
    for precision in order:
        decoder = FastDecoder(model, precision=precision)
        generator = torch.Generator().manual_seed(0)

        def one(batch: int, decoder: FastDecoder = decoder, generator: torch.Generator = generator) -> float:
            return _timer(
                lambda: sample(
                    decoder,
                    vocab,
                    prompt=prompt,
                    length=completion_chars,
                    batch_size=batch,
                    generator=generator,
                )
            )

        one(1)
        p50_ms = 1000 * statistics.median(one(1) for _ in range(runs))
        tokens_per_s = batch_size * completion_chars / min(one(batch_size) for _ in range(2))
        loss = validation_loss(decoder, val_ids, max_chars=val_chars)
        if precision == "fp32":
            baseline_loss, baseline_ms = loss, p50_ms
        results.append(
            PrecisionResult(
                precision=precision,
                latency_p50_ms=p50_ms,
                speedup_vs_fp32=baseline_ms / p50_ms,
                tokens_per_s_batch=tokens_per_s,
                batch_size=batch_size,
                val_loss=loss,
                val_loss_delta=loss - baseline_loss,
                val_chars=min(val_chars, len(val_ids) - 1),
            )
        )
    return results


def matmul_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """This host's fp32 matmul rate: the best of ``repeats`` ``size`` x ``size`` products, GFLOP/s.

    Through ``torch.mm`` and through oneDNN's linear (what the decoder uses), whichever is faster.
    """
    a, b = torch.randn(size, size), torch.randn(size, size)
    candidates = [lambda: a @ b]
    if torch.backends.mkldnn.is_available():
        packed = torch.ops.mkldnn._reorder_linear_weight(b, size)
        candidates.append(lambda: torch.ops.mkldnn._linear_pointwise(a, packed, None, "none", [], ""))
    best = math.inf
    with torch.inference_mode():
        for product in candidates:
            product()
            best = min(best, *(_timer(product) for _ in range(repeats)))
    return 2 * size**3 / best / 1e9


@dataclass(frozen=True)
class GeneratorComparison:
    completion_chars: int
    runs: int
    threads: int
    step: str  # which step the fast decoder ran (FastDecoder.step_kind)
    fast_p50_ms: float  # batch 1, one completion
    reference_p50_ms: float
    reference_min_ms: float  # the loop's fastest run: its time varies between processes on some hosts
    speedup_batch1: float  # medians
    speedup_vs_fastest_loop: float  # fast median vs the loop's fastest run (the conservative ratio)
    batch_size: int
    fast_tokens_per_s: float  # at batch_size
    reference_tokens_per_s: float
    throughput_ratio: float
    matmul_peak_gflops: float
    fast_gflops: float  # matmul work the fast decoder does per second at batch_size
    fraction_of_peak: float


def compare_generators(
    model: CharLSTM,
    vocab: Vocab,
    *,
    completion_chars: int = DEFAULT_COMPLETION_CHARS,
    runs: int = DEFAULT_RUNS,
    batch_size: int = 64,
    prompt: str | None = None,
) -> GeneratorComparison:
    """Fast decoder vs the per-token ``nn.LSTM`` loop, runs interleaved so both see the same machine."""
    prompt = _prompt(model, vocab, prompt)
    decoder = FastDecoder(model)
    generator = torch.Generator().manual_seed(0)

    def fast(batch: int) -> float:
        return _timer(
            lambda: sample(
                decoder, vocab, prompt=prompt, length=completion_chars, batch_size=batch, generator=generator
            )
        )

    def reference(batch: int) -> float:
        return _timer(
            lambda: sample_reference(
                model, vocab, prompt=prompt, length=completion_chars, batch_size=batch, generator=generator
            )
        )

    fast(1), reference(1)
    fast_runs, reference_runs = [], []
    for _ in range(runs):
        fast_runs.append(fast(1))
        reference_runs.append(reference(1))
    fast_batch, reference_batch = [], []
    for _ in range(3):
        fast_batch.append(fast(batch_size))
        reference_batch.append(reference(batch_size))
    fast_tps = batch_size * completion_chars / statistics.median(fast_batch)
    reference_tps = batch_size * completion_chars / statistics.median(reference_batch)
    peak = matmul_peak_gflops()
    achieved = fast_tps * decoder.flops_per_row_step() / 1e9
    fast_ms = 1000 * statistics.median(fast_runs)
    reference_ms = 1000 * statistics.median(reference_runs)
    return GeneratorComparison(
        completion_chars=completion_chars,
        runs=runs,
        threads=torch.get_num_threads(),
        step=decoder.step_kind,
        fast_p50_ms=fast_ms,
        reference_p50_ms=reference_ms,
        reference_min_ms=1000 * min(reference_runs),
        speedup_batch1=reference_ms / fast_ms,
        speedup_vs_fastest_loop=1000 * min(reference_runs) / fast_ms,
        batch_size=batch_size,
        fast_tokens_per_s=fast_tps,
        reference_tokens_per_s=reference_tps,
        throughput_ratio=fast_tps / reference_tps,
        matmul_peak_gflops=peak,
        fast_gflops=achieved,
        fraction_of_peak=achieved / peak,
    )
