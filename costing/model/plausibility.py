"""Inputs that cannot mislead: the bounds a measurement or a parameter must keep before anything is priced.

A number outside these bounds is not a measurement of this model on a real machine, or not a question
the cost model can answer; priced anyway, it yields a confident and wrong dollar figure. Each check
raises :class:`ImplausibleInput` (a ``ValueError``: the command line prints it as one ``error:`` line
and exits 2, the pipeline task fails with it) naming the field, its value and the bound.

**Measurements** are checked on the metrics.json document itself, by the key a user finds in the file,
in one place: :func:`~costing.model.profile.profile_from_metrics`, the only door through which a
metrics.json (a file, the registered champion's MLflow artifact, or the shipped reference) enters the
cost model, for the command line and the pipeline alike.

* **Latency floor.** Generating one character runs every recurrent weight of the LSTM once: at least
  ``2 x (L x 4H x H + H x V)`` floating-point operations (the embedding and the layer-0 input matmul can
  be folded into a table lookup, so they are not counted). No CPU does more than
  :data:`MAX_FLOPS_PER_CPU_SECOND` of fp32 work (4x the AVX-512 peak of a 4 GHz core with two FMA units,
  2 x 16 lanes x 2 x 4e9 = 256 GFLOP/s), and no decoder produces a character in less than
  :data:`MIN_CPU_SECONDS_PER_CHARACTER` of one CPU (the floor when the architecture is not recorded).
  So a character takes at least ``max(FLOPs / MAX_FLOPS_PER_CPU_SECOND, MIN_CPU_SECONDS_PER_CHARACTER)``
  CPU-seconds, divided by the benchmark host's CPUs. The batch-1 latencies (p50, mean) and every
  measured batch throughput must respect it.
* **Serving capacity ceiling.** One server process cannot complete more requests per second than the
  decoder can generate characters for. With a measured batch throughput, the bound is the best measured
  rate (characters/s, scaled from the benchmark host's CPUs to the server's) divided by the characters
  per request, times :data:`BATCHED_CAPACITY_SLACK` (the server may batch beyond the largest
  benchmarked batch, and a short load-test trial is noisy). Without one, it is ``cpu_count x 1000 /
  per-request latency (ms)`` times :data:`UNBATCHED_CAPACITY_SLACK`, a generous allowance for batching
  (the per-token loop measured 22x at batch 64 over batch 1; the fast decoder less).
* **Memory.** The training process's peak RSS, and the server's when the load test recorded one, must
  be positive: a negative or zero figure used to fall back silently to another number.

**Parameters** are checked where the cost model receives them (:func:`~costing.model.tco.tco` and
:func:`~costing.model.sensitivity.sensitivity`, which both the command line and the pipeline call; the
horizon's bounds are :func:`~costing.model.assumptions.check_horizon`'s):

* a retraining cadence leaves at least one run's wall time between two runs (a run every 8.6 s when
  one takes 86 s is not a schedule).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from costing.units import SECONDS_PER_MONTH

# fp32 work one logical CPU can do, at most: 4x a 4 GHz AVX-512 core with two FMA units (256 GFLOP/s)
MAX_FLOPS_PER_CPU_SECOND = 1e12
# one CPU needs at least this long per generated character whatever the model (~40 cycles at 4 GHz):
# the floor when metrics.json does not record the architecture
MIN_CPU_SECONDS_PER_CHARACTER = 1e-8
# serving capacity over the best measured batch throughput (batches beyond the largest benchmarked one)
BATCHED_CAPACITY_SLACK = 4.0
# serving capacity over cpu_count x single-stream rate when no batch throughput was measured
UNBATCHED_CAPACITY_SLACK = 100.0

RERUN_BENCH = "re-run `python -m rnn bench --model <model.pt> --metrics <metrics.json>`"
RERUN_LOADTEST = "re-run `python -m rnn loadtest --url <server> --metrics <metrics.json>`"


class ImplausibleInput(ValueError):
    """A measurement or parameter outside what hardware or the calendar allows; the message names the bound."""


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def flops_per_character(metrics: Mapping[str, Any]) -> float:
    """Floating-point operations one generated character needs at least: 2 x (L x 4H^2 + H x V); 0 if unknown."""
    config = metrics.get("config") or {}
    hidden, layers = _number(config.get("hidden_size")), _number(config.get("num_layers"))
    vocab = _number((metrics.get("dataset") or {}).get("vocab_size")) or 0.0
    if not hidden or not layers or hidden <= 0 or layers <= 0:
        return 0.0
    return 2.0 * (layers * 4.0 * hidden * hidden + hidden * max(vocab, 0.0))


def min_seconds_per_character(metrics: Mapping[str, Any], cpus: int) -> float:
    """Wall seconds a character takes at least on ``cpus`` CPUs (see the module's latency floor)."""
    cpu_seconds = max(flops_per_character(metrics) / MAX_FLOPS_PER_CPU_SECOND, MIN_CPU_SECONDS_PER_CHARACTER)
    return cpu_seconds / max(cpus, 1)


def _floor_basis(metrics: Mapping[str, Any], cpus: int) -> str:
    flops = flops_per_character(metrics)
    if flops / MAX_FLOPS_PER_CPU_SECOND >= MIN_CPU_SECONDS_PER_CHARACTER:
        return (
            f"{flops:,.0f} FLOPs per character at most {MAX_FLOPS_PER_CPU_SECOND:.0e} FLOP/s per CPU "
            f"on {cpus} CPU{'s' if cpus != 1 else ''}"
        )
    return f"{MIN_CPU_SECONDS_PER_CHARACTER:.0e} CPU-seconds per character on {cpus} CPU{'s' if cpus != 1 else ''}"


def check_metrics(metrics: Mapping[str, Any], *, source: str = "metrics") -> None:
    """Refuse a metrics.json whose latency, throughput, capacity or memory no real machine produces.

    Called once, by :func:`~costing.model.profile.profile_from_metrics`, after the document was read.
    """
    inference = metrics.get("inference") or {}
    host_cpus = int(_number((metrics.get("host") or {}).get("cpu_count")) or 1)
    completion_chars = int(_number(inference.get("completion_chars")) or 1)
    floor_s = min_seconds_per_character(metrics, host_cpus)
    latency = inference.get("latency_ms") or {}
    for key in ("p50", "mean"):
        value = _number(latency.get(key))
        if value is None:
            continue
        floor_ms = floor_s * completion_chars * 1000.0
        if value < floor_ms:
            raise ImplausibleInput(
                f"{source}: inference.latency_ms.{key}={value:g} ms for {completion_chars} characters is faster "
                f"than hardware allows: at least {floor_ms:.3g} ms ({_floor_basis(metrics, host_cpus)}); "
                f"{RERUN_BENCH}"
            )
    for row in inference.get("throughput") or []:
        rate = _number(row.get("tokens_per_s"))
        if rate is None:
            continue
        ceiling = 1.0 / floor_s
        if rate > ceiling:
            raise ImplausibleInput(
                f"{source}: inference.throughput (batch {row.get('batch_size')}) tokens_per_s={rate:,.6g} is "
                f"more than hardware allows: at most {ceiling:,.6g} characters/s "
                f"({_floor_basis(metrics, host_cpus)}); {RERUN_BENCH}"
            )
    _check_memory(metrics, source)
    serving = metrics.get("serving")
    if serving:
        _check_serving(metrics, serving, source, host_cpus=host_cpus, completion_chars=completion_chars)


def _check_memory(metrics: Mapping[str, Any], source: str) -> None:
    peak = (metrics.get("training") or {}).get("peak_rss_bytes")
    if peak is not None and not (_number(peak) or 0) > 0:
        raise ImplausibleInput(
            f"{source}: training.peak_rss_bytes={peak!r} must be a positive number of bytes (the training "
            "process's peak resident memory); re-run `python -m rnn train`"
        )
    serving = metrics.get("serving") or {}
    rss = serving.get("rss_bytes")
    if rss is not None and not (_number(rss) or 0) > 0:
        raise ImplausibleInput(
            f"{source}: serving.rss_bytes={rss!r} must be a positive number of bytes (the server's peak "
            f"resident memory), or null when not measured; {RERUN_LOADTEST}"
        )


def serving_capacity_ceiling(
    metrics: Mapping[str, Any], serving: Mapping[str, Any]
) -> tuple[float, str] | None:
    """The most requests/s one server process can plausibly complete, and how it was derived (None: unknown)."""
    inference = metrics.get("inference") or {}
    host_cpus = int(_number((metrics.get("host") or {}).get("cpu_count")) or 1)
    completion_chars = int(_number(inference.get("completion_chars")) or 0)
    server_cpus = int(_number(serving.get("cpu_count")) or host_cpus)
    request_chars = float(_number(serving.get("completion_chars")) or completion_chars or 0)
    p50 = _number((inference.get("latency_ms") or {}).get("p50"))
    if not request_chars or not completion_chars or not p50 or p50 <= 0:
        return None
    batches = [
        (int(row.get("batch_size") or 0), float(row["tokens_per_s"]))
        for row in inference.get("throughput") or []
        if int(row.get("batch_size") or 0) > 1 and (_number(row.get("tokens_per_s")) or 0) > 0
    ]
    if batches:
        batch, best = max(batches, key=lambda item: item[1])
        best = max(best, completion_chars / (p50 / 1000.0))
        scale = server_cpus / host_cpus
        ceiling = best * scale / request_chars * BATCHED_CAPACITY_SLACK
        return ceiling, (
            f"the best measured throughput, {best:,.0f} characters/s (batch {batch}) on {host_cpus} CPUs, scaled "
            f"to the server's {server_cpus}, / {request_chars:g} characters per request x {BATCHED_CAPACITY_SLACK:g} "
            "for batches the benchmark did not measure"
        )
    request_ms = p50 * request_chars / completion_chars
    ceiling = server_cpus * 1000.0 / request_ms * UNBATCHED_CAPACITY_SLACK
    return ceiling, (
        f"{server_cpus} CPUs x 1000 / {request_ms:.3g} ms per {request_chars:g}-character request (batch-1 p50) "
        f"x {UNBATCHED_CAPACITY_SLACK:g} for batching (no batch throughput was measured)"
    )


def _check_serving(
    metrics: Mapping[str, Any],
    serving: Mapping[str, Any],
    source: str,
    *,
    host_cpus: int,
    completion_chars: int,
) -> None:
    capacity = _number(serving.get("max_rps_at_slo"))
    found = serving_capacity_ceiling(metrics, serving)
    if capacity is not None and found is not None:
        ceiling, basis = found
        if capacity > ceiling:
            raise ImplausibleInput(
                f"{source}: serving.max_rps_at_slo={capacity:,.6g} requests/s is more than the measured decoder "
                f"allows: at most {ceiling:,.4g} requests/s ({basis}); {RERUN_LOADTEST}"
            )
    p95 = _number(serving.get("p95_ms_at_max"))
    request_chars = int(_number(serving.get("completion_chars")) or completion_chars)
    server_cpus = int(_number(serving.get("cpu_count")) or host_cpus)
    if p95 is not None:
        floor_ms = min_seconds_per_character(metrics, server_cpus) * request_chars * 1000.0
        if p95 < floor_ms:
            raise ImplausibleInput(
                f"{source}: serving.p95_ms_at_max={p95:g} ms for {request_chars} characters is faster than "
                f"hardware allows: at least {floor_ms:.3g} ms ({_floor_basis(metrics, server_cpus)}); "
                f"{RERUN_LOADTEST}"
            )


# -- parameters --------------------------------------------------------------------------------------------


def check_retraining_cadence(retrain_cadence: str, runs_per_month: float, run_seconds: float) -> float:
    """``runs_per_month``, refused when a run every ``SECONDS_PER_MONTH / runs_per_month`` s is shorter than one run."""
    interval = SECONDS_PER_MONTH / runs_per_month if runs_per_month > 0 else math.inf
    if run_seconds > 0 and interval < run_seconds:
        most = SECONDS_PER_MONTH / run_seconds
        raise ImplausibleInput(
            f"retrain_cadence={retrain_cadence!r} starts a run every {interval:,.3g} s ({runs_per_month:,.4g} runs "
            f"a month), but one training run takes {run_seconds:,.4g} s: the interval between runs must be at "
            f"least the run's {run_seconds:,.4g} s (at most {most:,.4g} runs a month, e.g. 'daily' or "
            f"'{math.ceil(run_seconds / 8.64) / 10_000:g}d')"
        )
    return runs_per_month
