"""Inference benchmark: what serving this model costs in time, measured on this machine.

Latency of a 200-character completion at batch 1 (p50/p95/p99 over >= 20 runs) and generation
throughput in tokens/s at batch 1, 16 and 64. These numbers feed the serving cost model.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import torch

from rnn.data import Vocab
from rnn.generate import sample
from rnn.metrics import InferenceBenchmark, LatencyStats, Throughput
from rnn.model import CharLSTM

DEFAULT_COMPLETION_CHARS = 200
DEFAULT_RUNS = 20
DEFAULT_BATCH_SIZES = (1, 16, 64)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def benchmark(
    model: CharLSTM,
    vocab: Vocab,
    *,
    completion_chars: int = DEFAULT_COMPLETION_CHARS,
    runs: int = DEFAULT_RUNS,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    warmup: int = 2,
    prompt: str = "The ",
    seed: int = 0,
    progress: bool = False,
) -> InferenceBenchmark:
    if runs < 1 or completion_chars < 1 or warmup < 0:
        raise ValueError(
            f"runs, completion_chars must be >= 1 and warmup >= 0 (got {runs}, {completion_chars}, {warmup})"
        )
    prompt = "".join(ch for ch in prompt if ch in vocab.index) or vocab.chars[0]
    generator = torch.Generator().manual_seed(seed)

    def one(batch_size: int) -> float:
        start = time.perf_counter()
        sample(
            model, vocab, prompt=prompt, length=completion_chars, batch_size=batch_size, generator=generator
        )
        return time.perf_counter() - start

    for _ in range(warmup):
        one(1)
    from tqdm.auto import tqdm

    latencies_ms = [
        1000 * one(1) for _ in tqdm(range(runs), desc="latency", disable=not progress, leave=False)
    ]
    throughput = []
    for batch_size in batch_sizes:
        seconds = one(batch_size)
        throughput.append(
            Throughput(
                batch_size=batch_size,
                tokens_per_s=batch_size * completion_chars / seconds,
                seconds=round(seconds, 6),
            )
        )
    latency = LatencyStats(
        p50=percentile(latencies_ms, 50),
        p95=percentile(latencies_ms, 95),
        p99=percentile(latencies_ms, 99),
        mean=statistics.fmean(latencies_ms),
        min=min(latencies_ms),
        max=max(latencies_ms),
    )
    return InferenceBenchmark(
        completion_chars=completion_chars, runs=runs, latency_ms=latency, throughput=throughput
    )
