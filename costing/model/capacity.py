"""Inference capacity from measured latency and throughput: the formulas, each one small and testable.

Every function here works on plain floats *and* on numpy arrays of one shape (the Monte Carlo
passes arrays), so the scalar model and the sampled one share a single implementation.

The capacity model, stated once:

* **Traffic.** ``mean_rps = requests_per_day / 86,400``; the fleet is sized for
  ``peak_rps = mean_rps x peak_factor`` and runs 24/7 (no autoscaling: an upper bound; with
  autoscaling the cost lies between the mean- and the peak-sized fleet).
* **Compute.** A target with ``v`` vCPUs runs ``v / benchmark_cpus`` copies of the benchmark's
  process (capacity is linear in vCPUs; per-vCPU speed is taken equal to the benchmark host's).
  Below the host's CPU count one process runs ``benchmark_cpus / v`` times slower. Above it the
  latency of one request does not improve (more cores serve more requests, not faster ones).
* **Memory.** Copies are also limited by memory: ``floor(memory_available / serving_memory)``.
* **Batching.** A server batches concurrent requests up to the largest measured batch size whose
  p95 latency meets the SLO; capacity is that batch's measured throughput. If even batch 1 misses
  the SLO the target is infeasible.
* **Instances.** ``max(min_instances, ceil(peak_rps / (capacity_rps x target_utilisation)))``;
  a burstable type also needs ``mean_rps <= capacity_rps x baseline`` per instance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from costing.model.assumptions import (
    ALB_ACTIVE_CONNECTIONS_PER_MIN_PER_LCU,
    ALB_GB_PER_HOUR_PER_LCU,
    ALB_NEW_CONNECTIONS_PER_S_PER_LCU,
    LAMBDA_BILLING_GRANULARITY_MS,
    LAMBDA_MAX_MEMORY_MB,
    LAMBDA_MB_PER_VCPU,
    LAMBDA_MEMORY_FLOOR_MB,
)
from costing.model.profile import ModelProfile
from costing.units import BYTES_PER_GB, SECONDS_PER_DAY, SECONDS_PER_HOUR

if TYPE_CHECKING:
    pass

# ceil() of a ratio that is an integer up to rounding error (e.g. 2.0000000000000004) is that integer.
_CEIL_TOLERANCE = 1e-9

Number = Any  # float or numpy array


def ceil(value: Number) -> Number:
    """Round up, forgiving floating-point noise just above an integer; works on floats and arrays."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return np.ceil(value - _CEIL_TOLERANCE)
    return float(math.ceil(value - _CEIL_TOLERANCE))


def maximum(a: Number, b: Number) -> Number:
    import numpy as np

    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.maximum(a, b)
    return max(a, b)


def minimum(a: Number, b: Number) -> Number:
    import numpy as np

    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.minimum(a, b)
    return min(a, b)


def mean_requests_per_second(requests_per_day: Number) -> Number:
    return requests_per_day / SECONDS_PER_DAY


def peak_requests_per_second(requests_per_day: Number, peak_factor: float) -> Number:
    """Example: 1,000,000 requests/day x peak factor 3 -> 34.72 requests/s at peak."""
    return requests_per_day / SECONDS_PER_DAY * peak_factor


def slowdown(vcpus: float, benchmark_cpus: int) -> float:
    """How much longer one request takes on ``vcpus`` than on the benchmark host (>= 1)."""
    return max(1.0, benchmark_cpus / vcpus)


def instances_needed(
    peak_rps: Number, capacity_rps: Number, target_utilisation: Number, min_instances: int
) -> Number:
    """``max(min_instances, ceil(peak_rps / (capacity_rps x target_utilisation)))``.

    Example: 34.72 rps at peak, 100 rps capacity per instance, 60 % target -> ceil(0.579) = 1 -> 2 (minimum).
    """
    return maximum(float(min_instances), ceil(peak_rps / (capacity_rps * target_utilisation)))


def burstable_instances_needed(mean_rps: Number, capacity_rps: Number, baseline_utilisation: float) -> Number:
    """Instances that keep a burstable fleet's *average* load per instance under its CPU baseline."""
    return ceil(mean_rps / (capacity_rps * baseline_utilisation))


@dataclass(frozen=True)
class ServingPoint:
    """How one compute target (an instance type, a task size) serves the model, at the nominal latency."""

    vcpus: float
    processes: float  # copies of the benchmark process it runs (fractional below one host's worth)
    batch_size: int  # largest measured batch meeting the SLO
    latency_p95_seconds: float  # of one request at that batch size on this target
    capacity_rps: float  # requests/s it sustains at 100 % utilisation
    memory_limited: bool  # fewer processes than vCPUs allow, for lack of memory


def serving_point(
    profile: ModelProfile,
    *,
    vcpus: float,
    memory_available_mb: float,
    tokens: float,
    latency_slo_seconds: float,
) -> ServingPoint | str:
    """The batch size and capacity of a target with ``vcpus`` and ``memory_available_mb``, or why it can't serve.

    Example (benchmark on 2 CPUs, 200-char p50 100 ms / p95 150 ms, batch 16 at 16,000 tokens/s;
    c-type with 4 vCPUs, ample memory, 200 tokens, SLO 1 s): 2 processes; batch 16 takes
    16 x 200 / 16,000 = 0.2 s, p95 0.3 s <= 1 s; capacity 2 x 16 / 0.2 = 160 requests/s.
    """
    if vcpus <= 0:
        raise ValueError(f"vcpus={vcpus!r} must be > 0")
    need_mb = profile.serving_memory_mb
    fit = math.inf if need_mb <= 0 else math.floor(memory_available_mb / need_mb)
    if fit < 1:
        return (
            f"needs {need_mb:,.0f} MB for one serving process, has {max(memory_available_mb, 0):,.0f} MB "
            "after the OS reserve"
        )
    by_cpu = vcpus / profile.benchmark_cpus
    processes = min(by_cpu, fit) if by_cpu >= 1 else by_cpu
    factor = slowdown(vcpus, profile.benchmark_cpus)
    chosen = None
    for batch_size in sorted(profile.batch_sizes, reverse=True):
        latency = profile.latency_p95_seconds(batch_size, tokens) * factor
        if latency <= latency_slo_seconds:
            chosen = batch_size, latency
            break
    if chosen is None:
        latency = profile.latency_p95_seconds(1, tokens) * factor
        return (
            f"p95 latency {latency * 1000:,.0f} ms at batch 1 on {vcpus:g} vCPU exceeds the "
            f"{latency_slo_seconds * 1000:,.0f} ms SLO"
        )
    batch_size, latency = chosen
    per_process_rps = batch_size / profile.service_seconds(batch_size, tokens)
    capacity = (processes if by_cpu >= 1 else 1.0) * per_process_rps / (1.0 if by_cpu >= 1 else factor)
    return ServingPoint(
        vcpus=vcpus,
        processes=processes,
        batch_size=batch_size,
        latency_p95_seconds=latency,
        capacity_rps=capacity,
        memory_limited=by_cpu >= 1 and fit < by_cpu,
    )


# -- Lambda-style memory-proportional CPU ----------------------------------------------------------------


def vcpu_share(memory_mb: float, mb_per_vcpu: float = LAMBDA_MB_PER_VCPU) -> float:
    """vCPUs a function gets at ``memory_mb`` (Lambda: 1,769 MB = 1 vCPU)."""
    return memory_mb / mb_per_vcpu


def memory_proportional_seconds(
    profile: ModelProfile,
    memory_mb: float,
    tokens: float,
    *,
    percentile: str = "p50",
    mb_per_vcpu: float = LAMBDA_MB_PER_VCPU,
) -> float:
    """Seconds one request takes at batch 1 with a CPU share proportional to memory.

    Example: benchmark on 2 CPUs, p50 140 ms per 200 chars; 1,024 MB -> 0.579 vCPU -> slowdown 3.455
    -> 0.4837 s.
    """
    milliseconds = {
        "p50": profile.latency_p50_ms,
        "p95": profile.latency_p95_ms,
        "mean": profile.billed_latency_ms,  # the mean, or the median when no mean was measured
    }
    if percentile not in milliseconds:
        raise ValueError(f"percentile={percentile!r}: one of {', '.join(milliseconds)}")
    base = milliseconds[percentile] / 1000.0
    return (
        base
        * tokens
        / profile.completion_chars
        * slowdown(vcpu_share(memory_mb, mb_per_vcpu), profile.benchmark_cpus)
    )


def lambda_memory_mb(
    profile: ModelProfile,
    *,
    tokens: float,
    latency_slo_seconds: float,
    floor_mb: int = LAMBDA_MEMORY_FLOOR_MB,
    max_mb: int = LAMBDA_MAX_MEMORY_MB,
    mb_per_vcpu: float = LAMBDA_MB_PER_VCPU,
    step_mb: int = 1,
) -> int | str:
    """Smallest memory size (``step_mb`` steps) that holds the process and meets the SLO, or why none does.

    Memory first covers the serving process (and our floor); if the p95 latency at that CPU share
    misses the SLO, memory grows until ``benchmark_cpus x p95 / SLO`` vCPUs. Cost per request is
    flat in memory below the benchmark's CPU count (GB x seconds stays constant), so the smallest
    size that meets the SLO is also the cheapest.
    """
    need = max(float(floor_mb), profile.serving_memory_mb)
    p95 = profile.latency_p95_ms / 1000.0 * tokens / profile.completion_chars
    if p95 > latency_slo_seconds:
        return (
            f"p95 latency {p95 * 1000:,.0f} ms exceeds the {latency_slo_seconds * 1000:,.0f} ms SLO even with "
            f"the benchmark host's {profile.benchmark_cpus} CPUs"
        )
    for_slo = profile.benchmark_cpus * p95 / latency_slo_seconds * mb_per_vcpu
    memory = math.ceil(max(need, for_slo) / step_mb - _CEIL_TOLERANCE) * step_mb
    if memory > max_mb:
        return f"needs {memory:,} MB, above the {max_mb:,} MB maximum"
    return int(memory)


def billed_duration_ms(seconds: Number, granularity_ms: float = LAMBDA_BILLING_GRANULARITY_MS) -> Number:
    """Lambda bills duration rounded up to 1 ms: 0.48372 s -> 484 ms."""
    return ceil(seconds * 1000.0 / granularity_ms) * granularity_ms


def gb_seconds(requests: Number, duration_ms: Number, memory_mb: float) -> Number:
    """GB-seconds = requests x duration (s) x memory (GB, 1,024 MB each).

    Example: 304,167 requests x 484 ms x 1,024 MB = 147,217 GB-s.
    """
    return requests * duration_ms / 1000.0 * memory_mb / 1024.0


# -- Application Load Balancer ---------------------------------------------------------------------------


def alb_lcu_per_hour(mean_rps: Number, latency_seconds: Number, bytes_per_request: float) -> Number:
    """LCUs consumed in an average hour: the highest of the dimensions (rule evaluations: <= 10 rules, free).

    Each request is assumed to open a new connection (no keep-alive: the conservative case).
    Example: 11.57 rps, 0.3 s, 1,000 bytes -> new connections 0.463, active 0.0012, bytes 0.0388 -> 0.463 LCU.
    """
    new_connections = mean_rps / ALB_NEW_CONNECTIONS_PER_S_PER_LCU
    active_connections = mean_rps * latency_seconds / ALB_ACTIVE_CONNECTIONS_PER_MIN_PER_LCU
    processed = mean_rps * SECONDS_PER_HOUR * bytes_per_request / BYTES_PER_GB / ALB_GB_PER_HOUR_PER_LCU
    return maximum(maximum(new_connections, active_connections), processed)
