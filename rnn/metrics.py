"""The ``metrics.json`` contract: what one training run measured about itself.

Written by ``python -m rnn train`` (training part), ``python -m rnn bench`` (``inference``),
``python -m rnn loadtest --metrics`` (``serving``) and ``python -m rnn coldstart --metrics``
(``cold_start``); read by ``costing``, the DAGs and the report. Readers check ``schema`` and
``schema_version``.

Schema ``rnn-metrics`` version 3 (all times in seconds unless the name says ms, sizes in bytes,
rates per second)::

    schema, schema_version        "rnn-metrics", 3
    run_id                        id given by the caller (Airflow run id) or a random hex id
    status                        "completed" | "interrupted" (stopped by SIGTERM after a checkpoint)
    started_at, finished_at       ISO-8601 UTC of the first attempt's start and of this write
    config                        TrainConfig as a dict
    dataset                       uri, size_bytes, chars, vocab_size, sha256, train_tokens, val_tokens
    model                         parameters, file_size_bytes (model.pt), file (its name)
    training
      epochs[]                    epoch (1-based), steps, tokens, wall_seconds, train_loss,
                                  train_perplexity, val_loss, val_perplexity, tokens_per_s
      total_wall_seconds          process wall time from start to the end of the last epoch, all attempts
      train_seconds               time inside optimizer steps, all attempts
      global_steps, tokens_processed, tokens_per_s (tokens_processed / train_seconds)
      final_train_loss, final_val_loss, final_val_perplexity
      val_chars                   characters each validation loss scores: a fixed sample of the held-out
                                  tail (config.eval_chars), the same every epoch; null in documents
                                  written before it was recorded
      peak_rss_bytes              peak resident set size of the training process (this attempt)
      attempts                    processes that worked on the run (1 + number of resumes)
      resumed_from_step           global step of the checkpoint this attempt resumed from, or null
      segments[]                  one per process (1 + resumes): started_at, resumed_from_step,
                                  setup_seconds, restore_seconds, work_seconds, checkpoint_seconds,
                                  checkpoints, last_checkpoint_at, last_checkpoint_step, finished_at;
                                  a process that was killed is known up to its last checkpoint
    host                          hostname, platform, python, torch, cpu_model, cpu_count,
                                  torch_threads, memory_total_bytes
    inference                     null until ``rnn bench`` ran, then: completion_chars, runs,
                                  latency_ms {p50, p95, p99, mean, min, max} at batch 1,
                                  throughput[] {batch_size, tokens_per_s, seconds},
                                  generator ("fast-decoder") and generator_version (its version,
                                  rnn.serving.decoder; null in documents written before it was
                                  recorded), precision ("fp32"),
                                  reduced_precision[] (``bench --precision``): precision,
                                  latency_p50_ms, speedup_vs_fp32, tokens_per_s_batch, batch_size,
                                  val_loss, val_loss_delta (vs fp32, same text), val_chars
    serving                       null until ``rnn loadtest --metrics`` ran, then the measured capacity
                                  of ``rnn serve``: slo_ms, completion_chars, max_rps_at_slo (highest
                                  Poisson arrival rate with p95 <= slo_ms and < 1 % errors),
                                  p95_ms_at_max, p50_ms_at_max, mean_batch_size_at_max, cpu_count and
                                  torch_threads of the server, rss_bytes (server peak RSS),
                                  rss_bytes_after_load, max_batch_size, precision, load_generator,
                                  curve[] {rate_rps, requests, p50_ms, p95_ms, p99_ms, error_rate,
                                  mean_batch_size, server_cpu_cores, passed}, stopped_because,
                                  duration_seconds, requests, measured_at
    cold_start                    null until ``rnn coldstart --metrics`` ran (rnn.serving.coldstart), then
                                  completion_chars, cpu_count, measured_at and
                                  server {ready_seconds (process start -> listening with the model
                                  loaded), first_request_ms} (null with --skip-server),
                                  handler {runs, spawn_to_answer_seconds (a fresh process that imports
                                  torch and the decoder, loads the model and answers one request),
                                  interpreter_seconds, import_seconds, load_seconds, first_request_ms,
                                  warm_request_ms (the same process, warm), added_seconds (spawn to
                                  answer minus a warm request: what a cold start adds),
                                  spawn_to_answer_seconds_runs[]}: medians over the runs
    compute                       null from rnn; the pipeline fills backend, instance_type, region,
                                  market and, for cloud runs, attempts[] (instance_id, instance_type,
                                  availability_zone, market, launched_at, terminated_at, interrupted)

Version 2 is version 3 without ``cold_start``; version 1 is version 2 without ``serving`` and the new
``inference`` fields. Both are still read, and :func:`upgrade` turns them into version 3 when a writer
adds to them.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import socket
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from rnn.config import TrainConfig
from rnn.corpus import CorpusStats
from toolkit import storage

SCHEMA = "rnn-metrics"
SCHEMA_VERSION = 3
READABLE_SCHEMA_VERSIONS = (1, 2, 3)
METRICS_FILENAME = "metrics.json"


class MetricsError(ValueError):
    """metrics.json is missing, unreadable or of another schema."""


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    steps: int
    tokens: int
    wall_seconds: float
    train_loss: float
    train_perplexity: float
    val_loss: float
    val_perplexity: float
    tokens_per_s: float


@dataclass(frozen=True)
class HostInfo:
    hostname: str
    platform: str
    python: str
    torch: str
    cpu_model: str
    cpu_count: int
    torch_threads: int
    memory_total_bytes: int


@dataclass(frozen=True)
class LatencyStats:
    p50: float
    p95: float
    p99: float
    mean: float
    min: float
    max: float


@dataclass(frozen=True)
class Throughput:
    batch_size: int
    tokens_per_s: float
    seconds: float


@dataclass(frozen=True)
class PrecisionResult:
    """One precision of the fast decoder: its speed next to its quality cost."""

    precision: str
    latency_p50_ms: float  # one completion at batch 1
    speedup_vs_fp32: float
    tokens_per_s_batch: float  # at batch_size
    batch_size: int
    val_loss: float
    val_loss_delta: float  # minus fp32's, on the same text
    val_chars: int


@dataclass(frozen=True)
class InferenceBenchmark:
    completion_chars: int
    runs: int
    latency_ms: LatencyStats
    throughput: list[Throughput] = field(default_factory=list)
    generator: str = ""  # rnn.serving.decoder.DECODER_NAME (training never imports serving)
    generator_version: int | None = None  # rnn.serving.decoder.DECODER_VERSION; null before it was recorded
    precision: str = "fp32"
    reduced_precision: list[PrecisionResult] = field(default_factory=list)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def utc_now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def peak_rss_bytes() -> int:
    """Peak resident set size of this process since it started (Linux: VmHWM of /proc/self/status).

    Not ``ru_maxrss`` on Linux: it survives ``execve``, so a process started by a bigger parent (an
    Airflow task) would report the parent's peak as its own. Elsewhere ``ru_maxrss`` (bytes on macOS).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if platform.system() == "Darwin" else peak * 1024)


def host_info() -> HostInfo:
    import torch

    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = 0
    return HostInfo(
        hostname=socket.gethostname(),
        platform=platform.platform(),
        python=platform.python_version(),
        torch=torch.__version__,
        cpu_model=cpu_model(),
        cpu_count=os.cpu_count() or 1,
        torch_threads=torch.get_num_threads(),
        memory_total_bytes=int(memory),
    )


def to_jsonable(value: Any) -> Any:
    return asdict(value) if hasattr(value, "__dataclass_fields__") else value


def training_document(
    *,
    run_id: str,
    interrupted: bool,
    started_at: str,
    finished_at: str,
    config: TrainConfig,
    dataset: CorpusStats,
    train_tokens: int,
    val_tokens: int,
    val_chars: int | None = None,
    parameters: int,
    model_file: str | None,
    model_file_size_bytes: int | None,
    epochs: list[dict[str, Any]],
    total_wall_seconds: float,
    train_seconds: float,
    global_steps: int,
    tokens_per_step: int,
    peak_rss_bytes: int,
    attempts: int,
    resumed_from_step: int | None,
    segments: list[dict[str, Any]],
    host: HostInfo,
) -> dict[str, Any]:
    """The ``metrics.json`` of a training run (schema above), from what the run measured.

    ``epochs`` are :class:`EpochStats` as dicts, ``segments`` one dict per process; ``model_file`` and
    its size are None when no model was written (an interrupted run). ``inference``, ``serving``,
    ``cold_start`` and ``compute`` are null: other writers fill them in.
    """
    last = epochs[-1] if epochs else None
    tokens_processed = global_steps * tokens_per_step
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "status": "interrupted" if interrupted else "completed",
        "started_at": started_at,
        "finished_at": finished_at,
        "config": config.to_dict(),
        "dataset": {**asdict(dataset), "train_tokens": train_tokens, "val_tokens": val_tokens},
        "model": {"parameters": parameters, "file_size_bytes": model_file_size_bytes, "file": model_file},
        "training": {
            "epochs": epochs,
            "total_wall_seconds": round(total_wall_seconds, 4),
            "train_seconds": round(train_seconds, 4),
            "global_steps": global_steps,
            "tokens_processed": tokens_processed,
            "tokens_per_s": tokens_processed / train_seconds if train_seconds else 0.0,
            "final_train_loss": last["train_loss"] if last else None,
            "final_val_loss": last["val_loss"] if last else None,
            "final_val_perplexity": last["val_perplexity"] if last else None,
            "val_chars": val_chars,
            "peak_rss_bytes": peak_rss_bytes,
            "attempts": attempts,
            "resumed_from_step": resumed_from_step,
            "segments": segments,
        },
        "host": asdict(host),
        "inference": None,
        "serving": None,
        "cold_start": None,
        "compute": None,
    }


def write_metrics(uri: str, metrics: dict[str, Any]) -> None:
    storage.write_text_atomic(uri, json.dumps(metrics, indent=2, sort_keys=False) + "\n")


def read_metrics(uri: str) -> dict[str, Any]:
    try:
        metrics = json.loads(storage.read_bytes(uri))
    except FileNotFoundError as exc:
        raise MetricsError(f"metrics file not found: {uri!r}; run `python -m rnn train` first") from exc
    except json.JSONDecodeError as exc:
        raise MetricsError(f"metrics file {uri!r} is not valid JSON: {exc}") from exc
    check_schema(metrics, uri)
    return metrics


def check_schema(metrics: dict[str, Any], source: str = "metrics") -> None:
    if metrics.get("schema") != SCHEMA or metrics.get("schema_version") not in READABLE_SCHEMA_VERSIONS:
        raise MetricsError(
            f"{source} has schema {metrics.get('schema')!r} v{metrics.get('schema_version')!r}; "
            f"expected {SCHEMA!r} v{' or v'.join(map(str, READABLE_SCHEMA_VERSIONS))}"
        )


def upgrade(metrics: dict[str, Any]) -> dict[str, Any]:
    """Version 1 or 2 -> 3 (adds ``serving`` and ``cold_start``, null when absent); a version-3 dict keeps
    its sections."""
    return {
        **metrics,
        "schema_version": SCHEMA_VERSION,
        "serving": metrics.get("serving"),
        "cold_start": metrics.get("cold_start"),
    }
