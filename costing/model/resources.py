"""Resource mapping: from the model's configuration to parameters, memory, FLOPs, and which instance types fit.

Derived numbers are pure functions of the configuration (:class:`ModelArchitecture`), each checked by
hand in ``tests/costing/model/test_resources.py``:

* **parameters** of the char-LSTM (``rnn.model.CharLSTM``: embedding -> stacked ``nn.LSTM`` -> linear
  decoder): ``V x E`` + per layer ``4H x (in + H) + 8H`` (PyTorch keeps two bias vectors) + ``H x V + V``.
  The default configuration at a vocabulary of 103 has 2,842,747.
* **memory** (fp32, 4 bytes a number): training holds the weights, their gradients and AdamW's two
  moment buffers (16 bytes a parameter) plus the activations kept for backpropagation through one
  window (per token: the embedding, per layer the four gates, the cell and hidden state, and the logits
  with their gradient: ``E + 6LH + 2V`` numbers, ``batch x seq_len`` tokens). Serving holds the weights
  plus per request the recurrent state (``2LH``) and the logits (``V``).
* **FLOPs**: a forward step costs ``2 x`` its multiply-adds, ``Σ 4H(in + H) + HV``; a training token
  costs three forward passes (backward is about two), a generated character one.

Prediction is set against measurement: training tokens/s against what the host's measured matmul peak
allows, and the predicted tensors against the measured peak RSS (the rest is the Python and torch
runtime). Then instance types are ranked in a region for training (memory fits, cost per run at spot
and on-demand with the boot, setup and upload a cloud run bills, interruption bucket, burstable
credits, architecture) and for serving (the cost model's
own EC2 on-demand plan at one request volume: fits, meets the SLO, $ per 1,000 requests), each
rejected type with the reason it lost, and the original hand analysis (r6i.xlarge to train, c6i.xlarge
to serve) is checked against the measurements.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from costing.model.assumptions import BURSTABLE_BASELINE_UTILISATION, OS_RESERVED_MB, ServingAssumptions
from costing.model.grid import cost_scenario
from costing.model.profile import ModelProfile
from costing.model.results import CURRENCY, RESULT_SCHEMA_VERSION
from costing.model.training import DEFAULT_RUN_OVERHEAD, RunOverhead
from costing.model.training.rules import billed_seconds_for
from costing.pricing.sheet import PriceSheet
from costing.units import BYTES_PER_MB, MB_PER_GB, SECONDS_PER_HOUR
from toolkit import lstm

RESOURCES_SCHEMA = "rnn-cost-resources"
BYTES_PER_FLOAT = 4  # fp32
TRAINING_BYTES_PER_PARAMETER = 16  # weights + gradients + AdamW's exp_avg and exp_avg_sq
TRAINING_PASSES = 3  # forward + backward (about two forwards)
# The original recommendation, made by hand before anything was measured: a historical fact the
# measurements are checked against, not the default training type (costing.choices.DEFAULT_INSTANCE_TYPE,
# the same type today), so it stays as it is when the default moves.
HAND_ANALYSIS = {"training": "r6i.xlarge", "serving": "c6i.xlarge"}
DEFAULT_SERVING_REQUESTS_PER_DAY = 1_000_000.0


@dataclass(frozen=True)
class ModelArchitecture:
    """What sizes the model and one training step (``rnn.config.TrainConfig`` fields, by name)."""

    vocab_size: int = 103
    embedding_dim: int = 128
    hidden_size: int = 460
    num_layers: int = 2
    seq_len: int = 128
    batch_size: int = 32

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
                raise ValueError(f"{f.name}={value!r} must be a whole number from 1 to 1,000,000")

    @classmethod
    def from_metrics(
        cls, metrics: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
    ) -> ModelArchitecture:
        """The architecture a metrics.json was trained with (its config and dataset vocabulary), then ``overrides``."""
        config = metrics.get("config") or {}
        values: dict[str, Any] = {f.name: config[f.name] for f in fields(cls) if f.name in config}
        vocab = (metrics.get("dataset") or {}).get("vocab_size")
        if vocab is not None:
            values["vocab_size"] = vocab
        unknown = sorted(set(overrides or {}) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(
                f"unknown configuration field(s) {unknown}; known: {', '.join(f.name for f in fields(cls))}"
            )
        return cls(**(values | dict(overrides or {})))


# -- derived numbers -----------------------------------------------------------------------------------------


def _shape(arch: ModelArchitecture) -> dict[str, int]:
    return {
        "embedding_dim": arch.embedding_dim,
        "hidden_size": arch.hidden_size,
        "num_layers": arch.num_layers,
    }


def parameter_count(arch: ModelArchitecture) -> int:
    """2,842,747 at V=103, E=128, H=460, L=2 (:func:`toolkit.lstm.parameter_count`)."""
    return lstm.parameter_count(vocab_size=arch.vocab_size, **_shape(arch))


def forward_flops_per_token(arch: ModelArchitecture) -> int:
    """2 x multiply-adds of one step: Σ 4H(in + H) + H x V. Default: 2 x 2,822,100 = 5,644,200."""
    return 2 * (lstm.lstm_multiply_adds_per_token(**_shape(arch)) + arch.hidden_size * arch.vocab_size)


def training_flops_per_token(arch: ModelArchitecture) -> int:
    return TRAINING_PASSES * forward_flops_per_token(arch)


def activation_floats_per_token(arch: ModelArchitecture) -> int:
    """Numbers kept per token for backward: E + 6LH + 2V (default 128 + 5,520 + 206 = 5,854)."""
    return arch.embedding_dim + 6 * arch.num_layers * arch.hidden_size + 2 * arch.vocab_size


@dataclass(frozen=True)
class MemoryEstimate:
    weights_bytes: int
    optimizer_and_gradients_bytes: int  # training only
    activations_bytes: int  # training: one window of batch x seq_len tokens; serving: per request
    total_bytes: int


def training_memory(arch: ModelArchitecture) -> MemoryEstimate:
    n = parameter_count(arch)
    weights = n * BYTES_PER_FLOAT
    optimizer = n * (TRAINING_BYTES_PER_PARAMETER - BYTES_PER_FLOAT)
    activations = arch.batch_size * arch.seq_len * activation_floats_per_token(arch) * BYTES_PER_FLOAT
    return MemoryEstimate(weights, optimizer, activations, weights + optimizer + activations)


def serving_memory(arch: ModelArchitecture, batch_size: int = 1) -> MemoryEstimate:
    weights = parameter_count(arch) * BYTES_PER_FLOAT
    per_request = (2 * arch.num_layers * arch.hidden_size + arch.vocab_size) * BYTES_PER_FLOAT
    return MemoryEstimate(weights, 0, per_request * batch_size, weights + per_request * batch_size)


# -- instance types --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One instance type for one job, with its numbers and, when it lost, why."""

    instance_type: str
    vcpus: int
    memory_gib: float
    architecture: str
    fits: bool
    usd: float | None  # training: per run (spot when priced, else on-demand); serving: per month
    usd_per_1k_requests: float | None = None  # serving
    on_demand_usd: float | None = None  # training: per run on-demand
    seconds: float | None = (
        None  # training: predicted wall time of a run (without the boot and upload overhead)
    )
    interruption: str = ""  # Spot Advisor bucket
    notes: tuple[str, ...] = ()
    rank: int | None = None  # 1 = chosen
    lost_because: str = ""


def rank_training(
    profile: ModelProfile,
    sheet: PriceSheet,
    *,
    needed_mb: float,
    overhead: RunOverhead = DEFAULT_RUN_OVERHEAD,
) -> list[Candidate]:
    """Every instance type of the sheet for a training run: the measured run's work scaled to its vCPUs,
    plus the boot, setup and upload a cloud run bills (``overhead``), once."""
    work = profile.training_wall_seconds
    out = []
    for name, rates in sorted(sheet.instances.items()):
        available_mb = rates.memory_gib * MB_PER_GB - OS_RESERVED_MB
        notes = []
        seconds = work * profile.host_cpu_count / rates.vcpus if work > 0 else None
        billed = billed_seconds_for(seconds + overhead.seconds) if seconds is not None else None
        hourly = (
            rates.spot_usd_per_hour if rates.spot_usd_per_hour is not None else rates.on_demand_usd_per_hour
        )
        usd = billed * hourly / SECONDS_PER_HOUR if billed is not None else None
        on_demand = billed * rates.on_demand_usd_per_hour / SECONDS_PER_HOUR if billed is not None else None
        bucket = (
            ""
            if rates.interruption_rate_per_month is None
            else f"<={rates.interruption_rate_per_month:.0%}/month"
        )
        fits = available_mb >= needed_mb
        if not fits:
            notes.append(f"needs {needed_mb:,.0f} MB, has {available_mb:,.0f} MB after the OS reserve")
        if name in BURSTABLE_BASELINE_UTILISATION:
            notes.append(
                f"burstable: training holds every vCPU at 100 % against a {BURSTABLE_BASELINE_UTILISATION[name]:.0%} "
                "baseline, so it spends CPU credits (throttled in standard mode, billed in unlimited mode)"
            )
        if rates.architecture == "arm64":
            notes.append("arm64 (Graviton): measured on x86; equal per-vCPU speed assumed")
        if name.startswith(("g4", "g5", "p3", "p4", "p5")):
            notes.append("its GPU is unused: the pinned torch is the CPU build")
        if rates.spot_usd_per_hour is None:
            notes.append("no spot price: priced on demand")
        out.append(
            Candidate(
                name,
                rates.vcpus,
                rates.memory_gib,
                rates.architecture,
                fits,
                usd,
                None,
                on_demand,
                seconds,
                bucket,
                tuple(notes),
            )
        )
    return _ranked(out, disqualify=lambda c: not c.fits or any(n.startswith("burstable") for n in c.notes))


def rank_serving(
    profile: ModelProfile,
    sheet: PriceSheet,
    *,
    requests_per_day: float,
    assumptions: ServingAssumptions | None = None,
) -> list[Candidate]:
    """Every instance type of the sheet serving ``requests_per_day`` on demand, as the cost model plans it."""
    scenario = cost_scenario(profile, sheet, requests_per_day, assumptions=assumptions)
    out = []
    for name, rates in sorted(sheet.instances.items()):
        option = scenario.option(f"ec2-on-demand:{name}")
        notes = [c for c in option.caveats if c.startswith(("burstable", "arm64", "memory-bound"))]
        if not option.feasible:
            notes.insert(0, option.reason)
        else:
            notes.insert(0, f"{option.config}; p95 {option.details.get('latency_p95_ms', 0):,.0f} ms")
        out.append(
            Candidate(
                name,
                rates.vcpus,
                rates.memory_gib,
                rates.architecture,
                option.feasible,
                option.usd_per_month,
                option.usd_per_1k_requests,
                None,
                None,
                ""
                if rates.interruption_rate_per_month is None
                else f"<={rates.interruption_rate_per_month:.0%}/month",
                tuple(notes),
            )
        )
    return _ranked(out, disqualify=lambda c: not c.fits)


def _ranked(candidates: Sequence[Candidate], *, disqualify) -> list[Candidate]:
    eligible = sorted(
        (c for c in candidates if not disqualify(c) and c.usd is not None),
        key=lambda c: (c.usd, c.instance_type),
    )
    best = eligible[0] if eligible else None
    ranked = []
    for position, candidate in enumerate(eligible, start=1):
        lost = (
            ""
            if position == 1
            else (
                f"costs {candidate.usd / best.usd - 1:.0%} more than {best.instance_type}"
                if best and best.usd
                else ""
            )
        )
        ranked.append(replace(candidate, rank=position, lost_because=lost))
    for candidate in candidates:
        if candidate in eligible:
            continue
        reason = candidate.notes[0] if candidate.notes else "no price"
        ranked.append(replace(candidate, lost_because=f"rejected: {reason}"))
    return ranked


def training_needed_mb(arch: ModelArchitecture, measured_rss_bytes: float | None) -> float:
    """Memory a training run needs, MB: the measured peak RSS, or the predicted tensors if more (or unmeasured)."""
    return max(
        float(measured_rss_bytes or 0) / BYTES_PER_MB, training_memory(arch).total_bytes / BYTES_PER_MB
    )


def best_training_instance(
    metrics: Mapping[str, Any],
    profile: ModelProfile,
    sheet: PriceSheet,
    *,
    overhead: RunOverhead = DEFAULT_RUN_OVERHEAD,
) -> Candidate:
    """The type the resource mapping chooses for training (rank 1 of :func:`rank_training`: the cheapest
    run that fits, not burstable). Raises ``ValueError`` when none qualifies."""
    arch = ModelArchitecture.from_metrics(metrics)
    needed = training_needed_mb(arch, (metrics.get("training") or {}).get("peak_rss_bytes"))
    ranked = rank_training(profile, sheet, needed_mb=needed, overhead=overhead)
    chosen = next((c for c in ranked if c.rank == 1), None)
    if chosen is None:
        raise ValueError(
            f"no instance type in price sheet {sheet.snapshot_id} ({sheet.region}) qualifies for training "
            f"(needs {needed:,.0f} MB, not burstable); name one instead"
        )
    return chosen


# -- the whole mapping ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceMapping:
    architecture: ModelArchitecture
    parameters: int
    parameters_measured: int | None
    training_memory: MemoryEstimate
    serving_memory: MemoryEstimate
    forward_flops_per_token: int
    training_flops_per_token: int
    measured_tokens_per_s: float | None
    peak_gflops: float | None
    peak_source: str
    measured_peak_rss_bytes: int | None
    measured_serving_rss_bytes: int | None
    region: str
    snapshot_id: str
    metrics_source: str
    serving_requests_per_day: float
    training: tuple[Candidate, ...]
    serving: tuple[Candidate, ...]
    notes: tuple[str, ...] = field(default=())
    training_overhead_seconds: float = DEFAULT_RUN_OVERHEAD.seconds  # in each training candidate's cost
    training_overhead_source: str = DEFAULT_RUN_OVERHEAD.source

    @property
    def achieved_gflops(self) -> float | None:
        if self.measured_tokens_per_s is None:
            return None
        return self.measured_tokens_per_s * self.training_flops_per_token / 1e9

    @property
    def fraction_of_peak(self) -> float | None:
        achieved = self.achieved_gflops
        return achieved / self.peak_gflops if achieved is not None and self.peak_gflops else None

    @property
    def predicted_tokens_per_s_at_peak(self) -> float | None:
        return self.peak_gflops * 1e9 / self.training_flops_per_token if self.peak_gflops else None

    def verdicts(self) -> dict[str, str]:
        """Whether the measurements agree with the original hand analysis, per job, in words."""
        out = {}
        for job, ranked in (("training", self.training), ("serving", self.serving)):
            expected = HAND_ANALYSIS[job]
            chosen = next((c for c in ranked if c.rank == 1), None)
            theirs = next((c for c in ranked if c.instance_type == expected), None)
            if chosen is None:
                out[job] = f"no instance type qualifies for {job}; the hand analysis chose {expected}"
            elif chosen.instance_type == expected:
                out[job] = f"agrees: {expected} is the cheapest type that qualifies for {job}"
            elif theirs is None:
                out[job] = (
                    f"cannot check: {expected} is not priced in {self.region} in snapshot {self.snapshot_id}"
                )
            else:
                why = theirs.lost_because or "it is not the cheapest"
                out[job] = (
                    f"disagrees: the measurements favour {chosen.instance_type} "
                    f"(${chosen.usd:,.4g}{' per run' if job == 'training' else ' a month'}); "
                    f"{expected} {why}"
                )
        return out

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "schema": RESOURCES_SCHEMA,
            "schema_version": RESULT_SCHEMA_VERSION,
            "currency": CURRENCY,
            "region": self.region,
            "snapshot_id": self.snapshot_id,
            "metrics_source": self.metrics_source,
            "architecture": asdict(self.architecture),
            "parameters": self.parameters,
            "parameters_measured": self.parameters_measured,
            "training_memory": asdict(self.training_memory),
            "serving_memory": asdict(self.serving_memory),
            "forward_flops_per_token": self.forward_flops_per_token,
            "training_flops_per_token": self.training_flops_per_token,
            "measured_tokens_per_s": self.measured_tokens_per_s,
            "achieved_gflops": self.achieved_gflops,
            "peak_gflops": self.peak_gflops,
            "peak_source": self.peak_source,
            "fraction_of_peak": self.fraction_of_peak,
            "predicted_tokens_per_s_at_peak": self.predicted_tokens_per_s_at_peak,
            "measured_peak_rss_bytes": self.measured_peak_rss_bytes,
            "measured_serving_rss_bytes": self.measured_serving_rss_bytes,
            "serving_requests_per_day": self.serving_requests_per_day,
            "training": [asdict(c) for c in self.training],
            "training_overhead_seconds": self.training_overhead_seconds,
            "training_overhead_source": self.training_overhead_source,
            "serving": [asdict(c) for c in self.serving],
            "verdicts": self.verdicts(),
            "notes": list(self.notes),
        }


def map_resources(
    metrics: Mapping[str, Any],
    profile: ModelProfile,
    sheet: PriceSheet,
    *,
    overrides: Mapping[str, Any] | None = None,
    peak_gflops: float | None = None,
    peak_source: str = "",
    serving_requests_per_day: float = DEFAULT_SERVING_REQUESTS_PER_DAY,
    assumptions: ServingAssumptions | None = None,
    training_overhead: RunOverhead = DEFAULT_RUN_OVERHEAD,
) -> ResourceMapping:
    """The resource mapping of the model behind ``metrics`` (``overrides`` change its configuration: a
    what-if; measurements then describe the measured configuration, and the ranking uses predictions)."""
    arch = ModelArchitecture.from_metrics(metrics, overrides)
    training = metrics.get("training") or {}
    host = metrics.get("host") or {}
    serving = metrics.get("serving") or {}
    notes = []
    measured_tokens = training.get("tokens_per_s")
    measured_rss = training.get("peak_rss_bytes")
    if peak_gflops is None and host.get("matmul_peak_gflops"):
        peak_gflops, peak_source = (
            float(host["matmul_peak_gflops"]),
            "measured on the training host (metrics.json)",
        )
    predicted_training = training_memory(arch)
    if overrides:
        notes.append(
            f"configuration changed by {json.dumps(dict(overrides), sort_keys=True)}: parameters, memory and FLOPs "
            "are predictions for it; measured tokens/s and RSS describe the measured model"
        )
    needed_mb = training_needed_mb(arch, None if overrides else measured_rss)
    serving_rss = serving.get("rss_bytes")
    if serving_rss is None:
        notes.append(
            "no server RSS measured: serving memory is sized at the training peak RSS (an upper bound)"
        )
    ranked_training = rank_training(profile, sheet, needed_mb=needed_mb, overhead=training_overhead)
    notes.append(
        f"a training run's cost includes {training_overhead.seconds:,.0f} s of boot, setup and upload "
        f"({training_overhead.source})"
    )
    ranked_serving = rank_serving(
        profile, sheet, requests_per_day=serving_requests_per_day, assumptions=assumptions
    )
    if profile.training_capped:
        notes.append(
            "the measured run was capped (a smoke run): per-run training costs scale its wall time, not a full run's"
        )
    return ResourceMapping(
        architecture=arch,
        parameters=parameter_count(arch),
        parameters_measured=(metrics.get("model") or {}).get("parameters"),
        training_memory=predicted_training,
        serving_memory=serving_memory(arch),
        forward_flops_per_token=forward_flops_per_token(arch),
        training_flops_per_token=training_flops_per_token(arch),
        measured_tokens_per_s=float(measured_tokens) if measured_tokens else None,
        peak_gflops=peak_gflops,
        peak_source=peak_source or ("not measured" if peak_gflops is None else "given"),
        measured_peak_rss_bytes=int(measured_rss) if measured_rss else None,
        measured_serving_rss_bytes=int(serving_rss) if serving_rss else None,
        region=sheet.region,
        snapshot_id=sheet.snapshot_id,
        metrics_source=profile.source,
        serving_requests_per_day=serving_requests_per_day,
        training=tuple(ranked_training),
        serving=tuple(ranked_serving),
        notes=tuple(notes),
        training_overhead_seconds=training_overhead.seconds,
        training_overhead_source=training_overhead.source,
    )


def measure_matmul_gflops(seconds: float = 0.5, size: int = 1024) -> float:
    """fp32 matmul throughput of this machine now (numpy's BLAS): the best of repeated square products."""
    import time

    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    a @ b  # warm up the BLAS threads
    best = math.inf
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9
