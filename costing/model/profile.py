"""What the cost model knows about the model: measured numbers from ``metrics.json``.

:class:`ModelProfile` is built from a metrics.json dict (:func:`profile_from_metrics`, schema
``rnn-metrics`` v1, read by key: ``costing`` never imports :mod:`rnn`) or written as a literal in
tests. Everything the serving and training models need is derived here, in one place:

* **Work per request.** The benchmark times a ``completion_chars``-character completion (200) at
  batch 1 (p50/p95/p99 over >= 20 runs) and throughput at larger batches. A request of
  ``tokens`` characters takes ``p50 x tokens / completion_chars`` at batch 1 (generation is one
  LSTM step per character, so time is linear in length), and ``batch x tokens / tokens_per_s(batch)``
  at a measured larger batch.
* **Tail latency.** The p95/p50 ratio measured at batch 1 is assumed to hold at every batch size.
* **Where it was measured.** ``host_cpu_count`` is the benchmark host's logical CPUs (what
  ``os.cpu_count()`` reports). Other compute is scaled from it by the caller
  (:mod:`costing.model.capacity`): capacity in proportion to vCPUs, latency unchanged at or above the
  host's CPU count and longer below it.
* **Measured capacity.** When the load test of the real server ran (``serving`` in metrics.json
  v2), :class:`ServingCapacity` holds its result: the highest Poisson arrival rate one server process
  kept within ``slo_ms`` (p95) on ``cpu_count`` CPUs, and the latency curve it measured on the way
  (:mod:`costing.model.capacity` sizes fleets from it). Without it, capacity comes from the formula.
* **Cold starts.** When ``python -m rnn coldstart`` ran (``cold_start`` in metrics.json v3),
  :class:`ColdStartMeasurement` holds what a fresh serverless-style handler process took to answer and
  how much more than a warm request that was (:mod:`costing.model.cold_starts` prices it; without it,
  a labelled default).
* **Memory.** The serving process is sized at the server's own peak RSS when the load test measured
  it, else at the training process's peak RSS: an upper bound (no gradients or optimizer state are
  needed to serve), labelled as such.
* **Billed duration.** Per-request platforms (Lambda, SageMaker serverless, Workers CPU time) bill
  each request's own duration, so their expected bill follows the *mean* latency, not the median
  (:attr:`ModelProfile.billed_latency_ms`).

Which metrics.json a question is answered for is :mod:`costing.model.model_source`'s business (the
registered champion, else :data:`REFERENCE_METRICS_PATH`: real measurements of this repo's default
model, trained with the DAG's defaults, benchmarked with the fast decoder and load-tested, made by
``make reference-metrics``; its ``reference`` section says by which decoder version, schema, commit,
date and machine). Every profile passes :func:`costing.model.plausibility.check_metrics` first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from costing.model.assumptions import DEFAULT_COLD_START_ADDED_SECONDS
from costing.model.plausibility import check_metrics
from costing.units import BYTES_PER_MB
from toolkit.paths import INCLUDE_DIR

METRICS_SCHEMA = "rnn-metrics"
METRICS_SCHEMA_VERSION = 3  # the newest this reads; 2 (no cold_start) and 1 (no serving either) too
METRICS_SCHEMA_VERSIONS = (1, 2, 3)
REFERENCE_METRICS_PATH = INCLUDE_DIR / "reference_metrics.json"
REFERENCE_LABEL = "reference measurements from this repo's default model on a 2-core CPU"


@dataclass(frozen=True)
class BatchThroughput:
    batch_size: int
    tokens_per_s: float  # generated characters per second, whole batch


@dataclass(frozen=True)
class CapacityPoint:
    """One rate of the load test: ``rate_rps`` Poisson arrivals, the p95 it got, its error rate."""

    rate_rps: float
    p95_ms: float
    error_rate: float = 0.0


@dataclass(frozen=True)
class ServingCapacity:
    """The load test of ``python -m rnn serve`` (metrics.json ``serving``): one server process's capacity."""

    max_rps_at_slo: float  # highest arrival rate with p95 <= slo_ms and < 1 % errors; 0: none
    p95_ms_at_max: float | None
    slo_ms: float
    completion_chars: int
    cpu_count: int  # CPUs of the host the server ran on (the load generator shared them)
    rss_bytes: int = 0  # server peak RSS
    max_batch_size: int | None = None
    mean_batch_size_at_max: float | None = None
    curve: tuple[CapacityPoint, ...] = ()
    measured_at: str = ""

    def __post_init__(self) -> None:
        if self.max_rps_at_slo < 0 or not self.slo_ms > 0 or self.completion_chars < 1 or self.cpu_count < 1:
            raise ValueError(
                f"ServingCapacity needs max_rps_at_slo >= 0, slo_ms > 0, completion_chars >= 1, cpu_count >= 1; "
                f"got {self.max_rps_at_slo}, {self.slo_ms}, {self.completion_chars}, {self.cpu_count}"
            )

    @property
    def rps_per_cpu(self) -> float:
        return self.max_rps_at_slo / self.cpu_count

    @property
    def points(self) -> tuple[CapacityPoint, ...]:
        """The curve, plus the headline point, by rate."""
        points = set(self.curve)
        if self.max_rps_at_slo > 0 and self.p95_ms_at_max is not None:
            points.add(CapacityPoint(self.max_rps_at_slo, self.p95_ms_at_max, 0.0))
        return tuple(sorted(points, key=lambda p: p.rate_rps))


@dataclass(frozen=True)
class ColdStartMeasurement:
    """``python -m rnn coldstart`` (metrics.json ``cold_start``): fresh processes, medians of ``runs``."""

    handler_added_seconds: float  # spawn to answer minus a warm request: what a cold start adds
    handler_spawn_to_answer_seconds: float  # a fresh handler process: imports, model load, one request
    completion_chars: int
    cpu_count: int
    runs: int = 1
    handler_import_seconds: float | None = None
    handler_load_seconds: float | None = None
    server_ready_seconds: float | None = None  # python -m rnn serve: process start -> ready
    server_first_request_ms: float | None = None
    measured_at: str = ""

    def __post_init__(self) -> None:
        for name in ("handler_added_seconds", "handler_spawn_to_answer_seconds"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"ColdStartMeasurement.{name}={value!r} must be a number of seconds >= 0")
        if self.completion_chars < 1 or self.cpu_count < 1 or self.runs < 1:
            raise ValueError(
                f"ColdStartMeasurement needs completion_chars, cpu_count and runs >= 1; got "
                f"{self.completion_chars}, {self.cpu_count}, {self.runs}"
            )


@dataclass(frozen=True)
class ModelProfile:
    """Measured facts about one trained model; every field carries its unit."""

    latency_p50_ms: float  # batch 1, one completion of completion_chars characters
    latency_p95_ms: float
    latency_p99_ms: float
    latency_mean_ms: float | None = None  # batch 1; what per-request billing follows (None: not measured)
    throughput: tuple[BatchThroughput, ...] = ()  # larger batches; batch 1 comes from the latency
    completion_chars: int = 200
    host_cpu_count: int = 2  # logical CPUs of the benchmark host
    host_cpu_model: str = ""
    parameters: int = 0
    model_file_bytes: int = 0
    peak_rss_bytes: int = 0  # of the training process: upper bound of the serving process
    dataset_bytes: int = 0
    training_wall_seconds: float = 0.0  # process wall time, all attempts
    # checkpoint writes inside training_wall_seconds, all attempts (None: not recorded, metrics.json before segments)
    training_checkpoint_seconds: float | None = None
    training_step_seconds: float = 0.0  # inside optimizer steps, all attempts
    training_global_steps: int = 0
    training_epochs: int = 0
    checkpoint_every_steps: int = 0
    training_capped: bool = False  # max_steps_per_epoch > 0: a smoke run, shorter than a full one
    run_id: str = ""
    measured_at: str = ""  # ISO-8601 UTC of the metrics write
    source: str = "literal"  # where the numbers came from (a path, or "literal")
    # what the pipeline recorded about where training ran (metrics["compute"]), if anything
    compute_instance_type: str | None = None
    compute_region: str | None = None
    compute_market: str | None = None
    compute_billed_usd: float | None = None
    serving: ServingCapacity | None = None  # the load test of the real server, if it ran
    cold_start: ColdStartMeasurement | None = None  # python -m rnn coldstart, if it ran
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"ModelProfile.{name}={value!r} must be a positive number of milliseconds")
        if not self.latency_p50_ms <= self.latency_p95_ms <= self.latency_p99_ms:
            raise ValueError(
                f"latencies must satisfy p50 <= p95 <= p99, got {self.latency_p50_ms}, {self.latency_p95_ms}, "
                f"{self.latency_p99_ms} ms"
            )
        if self.completion_chars < 1 or self.host_cpu_count < 1:
            raise ValueError(
                f"completion_chars={self.completion_chars!r} and host_cpu_count={self.host_cpu_count!r} must be >= 1"
            )
        mean = self.latency_mean_ms
        if mean is not None and (not isinstance(mean, int | float) or not math.isfinite(mean) or mean <= 0):
            raise ValueError(
                f"ModelProfile.latency_mean_ms={mean!r} must be a positive number of milliseconds"
            )
        for row in self.throughput:
            if row.batch_size < 1 or not row.tokens_per_s > 0:
                raise ValueError(f"throughput row {row!r}: batch_size >= 1 and tokens_per_s > 0 required")

    # -- derived ---------------------------------------------------------------------------------------

    @property
    def benchmark_cpus(self) -> int:
        """CPUs the benchmark numbers were measured on (the host's cpu_count)."""
        return self.host_cpu_count

    @property
    def serving_memory_mb(self) -> float:
        """Memory one serving process needs, MB: the server's peak RSS if measured, else training's (0: unknown)."""
        if self.serving is not None and self.serving.rss_bytes > 0:
            return self.serving.rss_bytes / BYTES_PER_MB
        return self.peak_rss_bytes / BYTES_PER_MB

    @property
    def billed_latency_ms(self) -> float:
        """Mean latency at batch 1 (what per-request billing follows); the median when no mean was measured."""
        return self.latency_mean_ms if self.latency_mean_ms is not None else self.latency_p50_ms

    def billed_seconds_per_request(self, tokens: float) -> float:
        """Mean seconds one request of ``tokens`` characters takes at batch 1 on the benchmark host."""
        return self.billed_latency_ms / 1000.0 * tokens / self.completion_chars

    @property
    def serving_memory_basis(self) -> str:
        if self.serving is not None and self.serving.rss_bytes > 0:
            return "the server's peak RSS under the load test"
        return "the training process's peak RSS (an upper bound: no server measurement)"

    @property
    def tail_ratio(self) -> float:
        """p95 / p50 at batch 1, applied to every batch size."""
        return self.latency_p95_ms / self.latency_p50_ms

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        """Batch sizes with a measurement: 1 (the latency runs) and every throughput row."""
        return tuple(sorted({1} | {row.batch_size for row in self.throughput}))

    def service_seconds(self, batch_size: int, tokens: float) -> float:
        """Seconds one batch of ``batch_size`` requests of ``tokens`` characters takes on the benchmark host."""
        if batch_size == 1:
            return self.latency_p50_ms / 1000.0 * tokens / self.completion_chars
        for row in self.throughput:
            if row.batch_size == batch_size:
                return batch_size * tokens / row.tokens_per_s
        raise ValueError(
            f"batch_size={batch_size} was not measured; measured batch sizes: {self.batch_sizes}"
        )

    def latency_p95_seconds(self, batch_size: int, tokens: float) -> float:
        """p95 latency of one request served in a batch of ``batch_size`` on the benchmark host."""
        if batch_size == 1:
            return self.latency_p95_ms / 1000.0 * tokens / self.completion_chars
        return self.service_seconds(batch_size, tokens) * self.tail_ratio

    @property
    def checkpoint_interval_seconds(self) -> float | None:
        """Work between checkpoints in the measured run: checkpoint_every_steps x seconds per step."""
        if self.training_global_steps <= 0 or self.checkpoint_every_steps <= 0:
            return None
        return self.checkpoint_every_steps * self.training_step_seconds / self.training_global_steps

    def summary(self) -> dict[str, Any]:
        """The fields a report or JSON export shows about the profile."""
        data = asdict(self)
        data["throughput"] = [asdict(row) for row in self.throughput]
        data["notes"] = list(self.notes)
        data["serving"] = None if self.serving is None else asdict(self.serving)
        data["cold_start"] = None if self.cold_start is None else asdict(self.cold_start)
        data["serving_memory_mb"] = self.serving_memory_mb
        data["serving_memory_basis"] = self.serving_memory_basis
        return data


class MetricsSchemaError(ValueError):
    """A metrics.json dict of another schema, or without the numbers the cost model needs."""


def check_metrics_schema(metrics: Mapping[str, Any], source: str = "metrics") -> None:
    if not isinstance(metrics, Mapping):
        raise MetricsSchemaError(f"{source}: expected a JSON object, got {type(metrics).__name__}")
    if (
        metrics.get("schema") != METRICS_SCHEMA
        or metrics.get("schema_version") not in METRICS_SCHEMA_VERSIONS
    ):
        raise MetricsSchemaError(
            f"{source} has schema {metrics.get('schema')!r} v{metrics.get('schema_version')!r}; "
            f"expected {METRICS_SCHEMA!r} v{' or v'.join(map(str, METRICS_SCHEMA_VERSIONS))} "
            "(written by `python -m rnn train`)"
        )


def serving_from_metrics(serving: Mapping[str, Any] | None) -> ServingCapacity | None:
    """The ``serving`` section (metrics.json v2) as a :class:`ServingCapacity`; None when absent."""
    if not serving:
        return None
    return ServingCapacity(
        max_rps_at_slo=float(serving["max_rps_at_slo"]),
        p95_ms_at_max=None if serving.get("p95_ms_at_max") is None else float(serving["p95_ms_at_max"]),
        slo_ms=float(serving["slo_ms"]),
        completion_chars=int(serving["completion_chars"]),
        cpu_count=int(serving["cpu_count"]),
        rss_bytes=int(serving.get("rss_bytes") or 0),
        max_batch_size=None if serving.get("max_batch_size") is None else int(serving["max_batch_size"]),
        mean_batch_size_at_max=None
        if serving.get("mean_batch_size_at_max") is None
        else float(serving["mean_batch_size_at_max"]),
        curve=tuple(
            CapacityPoint(float(row["rate_rps"]), float(row["p95_ms"]), float(row.get("error_rate") or 0.0))
            for row in serving.get("curve") or []
            if row.get("p95_ms") is not None
        ),
        measured_at=str(serving.get("measured_at", "")),
    )


def checkpoint_seconds(training: Mapping[str, Any]) -> float | None:
    """Seconds the run spent writing checkpoints (``training.segments[].checkpoint_seconds``), None if unrecorded."""
    segments = training.get("segments")
    if not segments:
        return None
    return float(sum(float(segment.get("checkpoint_seconds") or 0.0) for segment in segments))


def cold_start_from_metrics(cold_start: Mapping[str, Any] | None) -> ColdStartMeasurement | None:
    """The ``cold_start`` section (metrics.json v3) as a :class:`ColdStartMeasurement`; None when absent or
    when it has no handler measurement (the part the cost model prices)."""
    handler = (cold_start or {}).get("handler")
    if not handler:
        return None
    server = cold_start.get("server") or {}  # type: ignore[union-attr]

    def number(value: Any) -> float | None:
        return None if value is None else float(value)

    return ColdStartMeasurement(
        handler_added_seconds=float(handler["added_seconds"]),
        handler_spawn_to_answer_seconds=float(handler["spawn_to_answer_seconds"]),
        completion_chars=int(cold_start["completion_chars"]),  # type: ignore[index]
        cpu_count=int(cold_start["cpu_count"]),  # type: ignore[index]
        runs=int(handler.get("runs") or 1),
        handler_import_seconds=number(handler.get("import_seconds")),
        handler_load_seconds=number(handler.get("load_seconds")),
        server_ready_seconds=number(server.get("ready_seconds")),
        server_first_request_ms=number(server.get("first_request_ms")),
        measured_at=str(cold_start.get("measured_at", "")),  # type: ignore[union-attr]
    )


def profile_from_metrics(metrics: Mapping[str, Any], *, source: str = "metrics") -> ModelProfile:
    """A :class:`ModelProfile` from a metrics.json dict (schema ``rnn-metrics`` v1, v2 or v3).

    Raises :class:`MetricsSchemaError` (a ``ValueError``) for another schema, or when the inference
    benchmark has not been run yet (the ``inference`` section is null), and
    :class:`~costing.model.plausibility.ImplausibleInput` (a ``ValueError``) for a latency, throughput,
    serving capacity or memory figure no real machine produces.
    """
    check_metrics_schema(metrics, source)
    inference = metrics.get("inference")
    if not inference:
        raise MetricsSchemaError(
            f'{source} has no inference benchmark ("inference": null); run '
            "`python -m rnn bench --model <model.pt> --metrics <metrics.json>` first"
        )
    try:
        latency = inference["latency_ms"]
        training = metrics["training"]
        model = metrics["model"]
        host = metrics["host"]
        config = metrics.get("config") or {}
        compute = metrics.get("compute") or {}
        cost = compute.get("cost") or {}
        throughput = tuple(
            BatchThroughput(batch_size=int(row["batch_size"]), tokens_per_s=float(row["tokens_per_s"]))
            for row in inference.get("throughput", [])
            if int(row["batch_size"]) > 1
        )
        capped = int(config.get("max_steps_per_epoch", 0) or 0) > 0
        notes = []
        mean = latency.get("mean")
        if mean is None:
            notes.append(
                "the benchmark recorded no mean latency: per-request platforms are billed at the median, "
                "which understates them"
            )
        if capped:
            notes.append(
                f"training was capped at {config['max_steps_per_epoch']} steps per epoch (a smoke run): its "
                "wall time understates a full run"
            )
        cold_start = cold_start_from_metrics(metrics.get("cold_start"))
        if cold_start is None:
            notes.append(
                "no cold start measured (python -m rnn coldstart): Lambda and SageMaker serverless are priced "
                f"with the default, {DEFAULT_COLD_START_ADDED_SECONDS:g} s a cold start adds to our handler"
            )
        profile = ModelProfile(
            latency_p50_ms=float(latency["p50"]),
            latency_p95_ms=float(latency["p95"]),
            latency_p99_ms=float(latency["p99"]),
            latency_mean_ms=float(mean) if mean is not None else None,
            throughput=throughput,
            completion_chars=int(inference["completion_chars"]),
            host_cpu_count=int(host["cpu_count"]),
            host_cpu_model=str(host.get("cpu_model", "")),
            parameters=int(model["parameters"]),
            model_file_bytes=int(model["file_size_bytes"]),
            peak_rss_bytes=int(training["peak_rss_bytes"]),
            dataset_bytes=int((metrics.get("dataset") or {}).get("size_bytes", 0)),
            training_wall_seconds=float(training["total_wall_seconds"]),
            training_checkpoint_seconds=checkpoint_seconds(training),
            training_step_seconds=float(training.get("train_seconds", 0.0)),
            training_global_steps=int(training.get("global_steps", 0)),
            training_epochs=len(training.get("epochs", [])),
            checkpoint_every_steps=int(config.get("checkpoint_every_steps", 0) or 0),
            training_capped=capped,
            run_id=str(metrics.get("run_id", "")),
            measured_at=str(metrics.get("finished_at", "")),
            source=source,
            compute_instance_type=compute.get("instance_type"),
            compute_region=compute.get("region"),
            compute_market=compute.get("market"),
            compute_billed_usd=float(cost["usd"]) if cost.get("usd") is not None else None,
            serving=serving_from_metrics(metrics.get("serving")),
            cold_start=cold_start,
            notes=tuple(notes),
        )
    except (KeyError, TypeError) as exc:
        raise MetricsSchemaError(f"{source} lacks a field the cost model needs: {exc!r}") from exc
    check_metrics(metrics, source=source)  # the one check of every measurement, for the CLI and the pipeline
    return profile
