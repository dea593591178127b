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

Where capacity comes from (:func:`serving_point`):

* **Measured** (the default when metrics.json has a ``serving`` section): the load test found the
  highest Poisson arrival rate one server process on ``cpu_count`` CPUs kept within its SLO, and the
  p95 at every rate it tried. A target with ``v`` vCPUs runs ``v / cpu_count`` such processes, as
  above; below ``cpu_count`` every step is ``f = cpu_count / v`` times slower, and a request of
  ``tokens`` characters is ``g = tokens / completion_chars`` times the measured work. A server
  slowed ``k = f x g`` times behaves like the measured one at ``k`` times the arrival rate with ``k``
  times the latency, so one process sustains ``r / k`` where ``r`` is the highest measured rate whose
  p95 x ``k`` still meets the SLO (with < 1 % errors). Labelled "measured on N CPUs".
* **Formula** (the batching model above, from the batch-1 latency and batch throughputs): used when
  there is no load test, when the scenario's SLO is tighter than the one load-tested, or when no
  measured rate stretches to the target. Labelled "formula", with the reason; the formula's figure is
  kept next to the measured one so the report can show their ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
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


_SCALARS = (float, int)


def maximum(a: Number, b: Number) -> Number:
    if type(a) in _SCALARS and type(b) in _SCALARS:  # the common case, without importing numpy per call
        return max(a, b)
    import numpy as np

    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.maximum(a, b)
    return max(a, b)


def minimum(a: Number, b: Number) -> Number:
    if type(a) in _SCALARS and type(b) in _SCALARS:
        return min(a, b)
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


CAPACITY_MEASURED = "measured"
CAPACITY_FORMULA = "formula"
MAX_ERROR_RATE = 0.01  # a measured rate counts only with fewer errors than this (the load test's rule)


@dataclass(frozen=True)
class ServingPoint:
    """How one compute target (an instance type, a task size) serves the model, at the nominal latency."""

    vcpus: float
    processes: float  # copies of the benchmark process it runs (fractional below one host's worth)
    batch_size: int  # largest measured batch meeting the SLO (measured: the server's batch limit)
    latency_p95_seconds: float  # of one request at that batch size on this target
    capacity_rps: float  # requests/s it sustains at 100 % utilisation
    memory_limited: bool  # fewer processes than vCPUs allow, for lack of memory
    capacity_source: str = CAPACITY_FORMULA  # "measured" (load test) | "formula"
    formula_capacity_rps: float | None = None  # the formula's answer for the same target, for comparison
    basis: str = ""  # where capacity_rps comes from, in words

    @property
    def measured_to_formula(self) -> float | None:
        """Measured capacity / formula capacity (None unless both exist)."""
        if self.capacity_source != CAPACITY_MEASURED or not self.formula_capacity_rps:
            return None
        return self.capacity_rps / self.formula_capacity_rps


def _processes(
    profile: ModelProfile, vcpus: float, memory_available_mb: float, host_cpus: int
) -> float | str:
    """Serving processes that fit ``memory_available_mb`` and ``vcpus`` (fractional below one host)."""
    need_mb = profile.serving_memory_mb
    unlimited = need_mb <= 0 or math.isinf(memory_available_mb)
    fit = math.inf if unlimited else math.floor(memory_available_mb / need_mb)
    if fit < 1:
        return (
            f"needs {need_mb:,.0f} MB for one serving process, has {max(memory_available_mb, 0):,.0f} MB "
            "after the OS reserve"
        )
    by_cpu = vcpus / host_cpus
    return min(by_cpu, fit) if by_cpu >= 1 else by_cpu


def formula_point(
    profile: ModelProfile,
    *,
    vcpus: float,
    memory_available_mb: float,
    tokens: float,
    latency_slo_seconds: float,
) -> ServingPoint | str:
    """The capacity formula (module doc): batch size and capacity from the benchmark, or why it can't serve.

    Example (benchmark on 2 CPUs, 200-char p50 100 ms / p95 150 ms, batch 16 at 16,000 tokens/s;
    c-type with 4 vCPUs, ample memory, 200 tokens, SLO 1 s): 2 processes; batch 16 takes
    16 x 200 / 16,000 = 0.2 s, p95 0.3 s <= 1 s; capacity 2 x 16 / 0.2 = 160 requests/s.
    """
    if vcpus <= 0:
        raise ValueError(f"vcpus={vcpus!r} must be > 0")
    processes = _processes(profile, vcpus, memory_available_mb, profile.benchmark_cpus)
    if isinstance(processes, str):
        return processes
    by_cpu = vcpus / profile.benchmark_cpus
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
        memory_limited=by_cpu >= 1 and processes < by_cpu,
        capacity_source=CAPACITY_FORMULA,
        formula_capacity_rps=capacity,
    )


@dataclass(frozen=True)
class MeasuredFit:
    """What the load test says about one target: a point, or why it does not apply, or why it can't serve."""

    point: ServingPoint | None
    reason: str = ""  # point None: why the measurement does not give this target's capacity
    infeasible: bool = False  # the measurement says the target cannot meet the SLO at all


def measured_point(
    profile: ModelProfile,
    *,
    vcpus: float,
    memory_available_mb: float,
    tokens: float,
    latency_slo_seconds: float,
) -> MeasuredFit:
    """Capacity from the load test, scaled to ``vcpus`` and ``tokens`` (module doc).

    Example (load test on 2 CPUs at p95 <= 1,000 ms, 200 chars: 20 rps at p95 400 ms, 40 rps at p95
    900 ms; SLO 1 s, 200 tokens): 4 vCPU -> 2 processes x 40 = 80 rps, p95 0.9 s; 1 vCPU -> k = 2,
    only 20 rps stretches (400 x 2 = 800 ms <= 1 s), so 20 / 2 = 10 rps at p95 0.8 s.
    """
    measured = profile.serving
    if measured is None:
        return MeasuredFit(None, "no load test in metrics.json")
    slo_ms = latency_slo_seconds * 1000.0
    if measured.slo_ms > slo_ms * (1 + 1e-9):
        return MeasuredFit(
            None,
            f"the load test's SLO ({measured.slo_ms:,.0f} ms) is looser than this one ({slo_ms:,.0f} ms)",
        )
    processes = _processes(profile, vcpus, memory_available_mb, measured.cpu_count)
    if isinstance(processes, str):
        return MeasuredFit(None, processes, infeasible=True)
    by_cpu = vcpus / measured.cpu_count
    stretch = slowdown(vcpus, measured.cpu_count) * tokens / measured.completion_chars
    usable = [p for p in measured.points if p.error_rate < MAX_ERROR_RATE and p.p95_ms * stretch <= slo_ms]
    where = f"{vcpus:g} vCPU, {tokens:g} chars/request"
    if not usable:
        if measured.max_rps_at_slo <= 0 and stretch >= 1:
            return MeasuredFit(
                None,
                f"the load test found no rate with p95 <= {measured.slo_ms:,.0f} ms on {measured.cpu_count} CPUs",
                infeasible=True,
            )
        return MeasuredFit(None, f"no load-tested rate stretches to {where} within the SLO")
    best = max(usable, key=lambda p: p.rate_rps)
    per_process = best.rate_rps / stretch
    capacity = (processes if by_cpu >= 1 else 1.0) * per_process
    basis = (
        f"measured on {measured.cpu_count} CPUs (load test: {measured.max_rps_at_slo:,.1f} requests/s at p95 <= "
        f"{measured.slo_ms:,.0f} ms, {measured.completion_chars} chars)"
    )
    if vcpus != measured.cpu_count or tokens != measured.completion_chars:
        basis += f", scaled to {where}"
    return MeasuredFit(
        ServingPoint(
            vcpus=vcpus,
            processes=processes,
            batch_size=measured.max_batch_size or max(profile.batch_sizes),
            latency_p95_seconds=best.p95_ms * stretch / 1000.0,
            capacity_rps=capacity,
            memory_limited=by_cpu >= 1 and processes < by_cpu,
            capacity_source=CAPACITY_MEASURED,
            basis=basis,
        )
    )


def serving_point(
    profile: ModelProfile,
    *,
    vcpus: float,
    memory_available_mb: float,
    tokens: float,
    latency_slo_seconds: float,
) -> ServingPoint | str:
    """How a target with ``vcpus`` and ``memory_available_mb`` serves, or why it can't (module doc).

    Measured capacity when the load test applies, else the formula, labelled; the formula's figure
    rides along either way (``formula_capacity_rps``).
    """
    kwargs = {
        "vcpus": vcpus,
        "memory_available_mb": memory_available_mb,
        "tokens": tokens,
        "latency_slo_seconds": latency_slo_seconds,
    }
    formula = formula_point(profile, **kwargs)
    fit = measured_point(profile, **kwargs)
    if fit.point is not None:
        return replace(
            fit.point,
            formula_capacity_rps=formula.capacity_rps if isinstance(formula, ServingPoint) else None,
        )
    if fit.infeasible:
        return fit.reason
    if isinstance(formula, str):
        return formula
    return replace(formula, basis=f"formula ({fit.reason})")


@dataclass(frozen=True)
class CapacityComparison:
    """Measured and formula capacity of one serving process on the host the load test ran on."""

    cpus: int
    tokens: float
    latency_slo_ms: float
    measured_rps: float | None
    formula_rps: float | None
    basis: str  # how the measured figure applies, or why there is none

    @property
    def ratio(self) -> float | None:
        """measured / formula (None unless both exist)."""
        if self.measured_rps is None or not self.formula_rps:
            return None
        return self.measured_rps / self.formula_rps

    def to_dict(self) -> dict[str, Any]:
        return {
            "cpus": self.cpus,
            "tokens": self.tokens,
            "latency_slo_ms": self.latency_slo_ms,
            "measured_rps": self.measured_rps,
            "formula_rps": self.formula_rps,
            "ratio": self.ratio,
            "basis": self.basis,
            "sentence": self.sentence(),
        }

    def sentence(self) -> str:
        def rps(value: float | None) -> str:
            return "n/a" if value is None else f"{value:,.1f} requests/s"

        text = (
            f"serving capacity on {self.cpus} CPUs at p95 <= {self.latency_slo_ms:,.0f} ms, "
            f"{self.tokens:g} chars: measured {rps(self.measured_rps)}, formula {rps(self.formula_rps)}"
        )
        if self.ratio is not None:
            text += f" (measured / formula = {self.ratio:.2f})"
        if self.measured_rps is None:
            text += f"; fleets sized by the formula: {self.basis}"
        return text


def capacity_comparison(
    profile: ModelProfile, *, tokens: float, latency_slo_seconds: float
) -> CapacityComparison:
    """Both capacities of one process on the load-test host (the benchmark host if there was none)."""
    cpus = profile.serving.cpu_count if profile.serving is not None else profile.benchmark_cpus
    kwargs = {
        "vcpus": float(cpus),
        "memory_available_mb": math.inf,
        "tokens": tokens,
        "latency_slo_seconds": latency_slo_seconds,
    }
    formula = formula_point(profile, **kwargs)
    fit = measured_point(profile, **kwargs)
    return CapacityComparison(
        cpus=cpus,
        tokens=tokens,
        latency_slo_ms=latency_slo_seconds * 1000.0,
        measured_rps=fit.point.capacity_rps if fit.point is not None else (0.0 if fit.infeasible else None),
        formula_rps=formula.capacity_rps if isinstance(formula, ServingPoint) else None,
        basis=fit.point.basis if fit.point is not None else fit.reason,
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
