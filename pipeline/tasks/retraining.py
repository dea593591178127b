"""Task bodies of ``rnn_retraining``: validate -> train -> benchmark -> load test -> log -> cost -> register.

Training runs on the worker (``compute=local``, :func:`train`) or on spot EC2 (``compute=ec2_spot``:
:mod:`pipeline.spot`, whose operator returns the same ``train`` result dict plus a ``spot`` entry).

Each function takes plain values and returns a JSON-serialisable dict (the XCom). Problems the
user must fix (bad corpus, bad config, corrupt checkpoint) raise ``AirflowFailException`` so the
task fails at once with the message instead of retrying; transient problems raise normally and
Airflow retries. Every function that touches the run's MLflow run does so through
``tracking.task_run`` so the run ends FINISHED or FAILED, never RUNNING.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from costing.model import estimate_training_cost
from costing.pricing import DEFAULT_INSTANCE_TYPE, DEFAULT_MARKET, DEFAULT_REGION, MARKETS, PriceCatalog
from pipeline import names, registry, tracking
from pipeline.cost_record import record_cost
from pipeline.price_store import newest_snapshot_dir
from pipeline.settings import REPO_ROOT, load_settings, run_dir
from pipeline.spot.billing import record_billed_cost
from pipeline.spot.budget import check_budget
from pipeline.spot.ledger import run_overhead
from rnn.config import ConfigError, TrainConfig, parameter_count
from rnn.corpus import (
    DEFAULT_CORPUS_URI,
    CorpusError,
    corpus_stats_of,
    decode_utf8,
    open_corpus,
    read_corpus_bytes,
)
from rnn.corpus_validation import validate_corpus, validate_corpus_source, write_validation_report
from rnn.metrics import read_metrics
from rnn.serving.loadtest import LoadTestConfig
from rnn.serving.settings import API_KEY_ENV
from toolkit import storage

log = logging.getLogger(__name__)

# DAG params that map one-to-one onto rnn.config.TrainConfig fields
CONFIG_PARAMS = (
    "epochs",
    "hidden_size",
    "num_layers",
    "embedding_dim",
    "seq_len",
    "batch_size",
    "max_steps_per_epoch",
    "learning_rate",
    "seed",
    "checkpoint_every_steps",
    "eval_chars",
)


def _fail(message: str) -> Exception:
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(message)


def _fail_or_retry(exc: CorpusError | storage.StorageError) -> Exception:
    """A fault retrying cannot fix fails the task at once; one that may pass (host unreachable) is retried."""
    return RuntimeError(str(exc)) if exc.transient else _fail(str(exc))


@dataclass(frozen=True)
class ComputeChoice:
    backend: str
    instance_type: str
    region: str
    market: str

    def to_dict(self) -> dict[str, str]:
        return {
            "backend": self.backend,
            "instance_type": self.instance_type,
            "region": self.region,
            "market": self.market,
        }


def resolve_inputs(
    params: dict[str, Any], corpus_variable: str | None
) -> tuple[dict[str, Any], ComputeChoice]:
    """TrainConfig values and compute choice from DAG params (+ the corpus Variable), validated."""
    corpus_uri = (params.get("corpus_uri") or corpus_variable or DEFAULT_CORPUS_URI).strip()
    values: dict[str, Any] = {"corpus_uri": corpus_uri}
    values.update({key: params[key] for key in CONFIG_PARAMS if params.get(key) is not None})
    try:
        config = TrainConfig.from_dict(values)
    except (ConfigError, TypeError) as exc:
        raise _fail(f"invalid training config: {exc}") from exc
    compute = ComputeChoice(
        backend=params.get("compute", names.COMPUTE_LOCAL),
        instance_type=params.get("instance_type", DEFAULT_INSTANCE_TYPE),
        region=params.get("region", DEFAULT_REGION),
        market=params.get("market", DEFAULT_MARKET),
    )
    if compute.backend not in names.COMPUTE_BACKENDS:
        raise _fail(
            f"compute backend {compute.backend!r} is not available; choose one of {names.COMPUTE_BACKENDS}"
        )
    if compute.market not in MARKETS:
        raise _fail(f"market {compute.market!r} is not one of {MARKETS}")
    return config.to_dict(), compute


def training_run_name(config: dict[str, Any], compute: ComputeChoice, vocab_size: int) -> str:
    """What the run is, for MLflow's runs table: "2.84M params · 3 ep · pydoc-topics · r6i.xlarge spot"."""
    params = parameter_count(TrainConfig.from_dict(config), vocab_size)
    size = f"{params / 1e6:.2f}M" if params >= 1e6 else f"{params / 1e3:.1f}k"
    where = f"{compute.instance_type} {compute.market}"
    if compute.backend == "local":
        where += " (local)"  # trained on the worker, priced as if there
    corpus = tracking.corpus_name(config["corpus_uri"])
    return f"{size} params · {config['epochs']} ep · {corpus} · {where}"


def git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def validate_dataset(
    *,
    dag_id: str,
    run_id: str,
    params: dict[str, Any],
    corpus_variable: str | None,
    experiment: str = names.TRAINING_EXPERIMENT,
) -> dict[str, Any]:
    """GX-validate the corpus; the result becomes an artifact of the run's MLflow run (in ``experiment``)
    either way."""
    import mlflow

    config, compute = resolve_inputs(params, corpus_variable)
    settings = load_settings()
    out = run_dir(settings, dag_id, run_id)
    try:
        storage.check_writable(out)
    except storage.StorageError as exc:
        raise _fail_or_retry(exc) from exc
    mlflow_run_id = tracking.get_or_create_run(
        experiment, dag_id, run_id, run_name=f"{dag_id}/{run_id}", settings=settings
    )
    with tracking.task_run(mlflow_run_id):
        mlflow.set_tags({names.TAG_COMPUTE_BACKEND: compute.backend, "run_dir": out})
        mlflow.log_params(
            {
                **tracking.flatten("config", config),
                **tracking.flatten("compute", compute.to_dict()),
                "git_sha": git_sha(),
            }
        )
        try:  # a local corpus is read in chunks, never whole (rnn.corpus.CorpusSource)
            source = open_corpus(config["corpus_uri"])
            stats = corpus_stats_of(source)
        except CorpusError as exc:
            mlflow.set_tag(names.TAG_VALIDATION, "failed")
            raise _fail_or_retry(exc) from exc
        tracking.log_corpus_input(
            mlflow_run_id,
            uri=config["corpus_uri"],
            sha256=stats.sha256,
            profile={"bytes": stats.size_bytes, "chars": stats.chars, "vocab_size": stats.vocab_size},
            context=names.DATASET_CONTEXT_TRAINING,
        )
        tracking.rename_run(mlflow_run_id, training_run_name(config, compute, stats.vocab_size))
        min_chars = params.get("min_corpus_chars") or None
        try:
            validation = validate_corpus_source(source, min_chars=min_chars)
        except CorpusError as exc:
            mlflow.set_tag(names.TAG_VALIDATION, "failed")
            raise _fail_or_retry(exc) from exc
        if validation.sha256 != stats.sha256:
            raise RuntimeError(
                f"corpus {config['corpus_uri']!r} changed while it was being validated (sha256 "
                f"{stats.sha256[:12]}…, then {validation.sha256[:12]}…); trying again"
            )
        with tempfile.TemporaryDirectory() as tmp:
            for path in write_validation_report(validation, Path(tmp)):
                storage.write_bytes_atomic(storage.join(out, "validation", path.name), path.read_bytes())
            mlflow.log_artifacts(tmp, artifact_path="validation")
        mlflow.set_tag(names.TAG_VALIDATION, "passed" if validation.success else "failed")
        log.info("dataset validation:\n%s", validation.summary())
        if not validation.success:
            raise _fail(
                f"dataset {config['corpus_uri']!r} failed validation; nothing was trained.\n"
                f"{validation.summary()}"
            )
        mlflow.log_param("dataset.sha256", stats.sha256)

    storage.write_text_atomic(storage.join(out, "config.json"), json.dumps(config, indent=2))
    return {
        "mlflow_run_id": mlflow_run_id,
        "run_dir": out,
        "config": config,
        "compute": compute.to_dict(),
        "dataset_sha256": stats.sha256,
        "dataset_chars": stats.chars,
        "dataset_vocab_size": stats.vocab_size,
        "experiment_id": tracking.experiment_id(experiment, settings),
    }


def _run_rnn(args: list[str], *, what: str, env: dict[str, str] | None = None) -> None:
    """Run ``python -m rnn ...``, streaming its lines into the task log; the child dies with the task."""
    command = [sys.executable, "-m", "rnn", *args]
    log.info("running %s", " ".join(command))
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, env=env
    )
    last_lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            log.info("%s", line)
            last_lines = [*last_lines[-19:], line]
        code = proc.wait()
    finally:
        if proc.poll() is None:  # the task is being killed: don't leave training running
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    errors = [line for line in last_lines if line.startswith("error:")]
    if code == 2:
        raise _fail(f"{what} refused its input: {errors[-1] if errors else last_lines[-1:]}")
    if code != 0:
        raise RuntimeError(f"{what} failed with exit code {code}; last output:\n" + "\n".join(last_lines))


def train(*, validated: dict[str, Any]) -> dict[str, Any]:
    """Train in a subprocess (``python -m rnn train --resume``): a retried task continues from the checkpoint."""
    train_dir = storage.join(validated["run_dir"], "train")
    with (
        tracking.task_run(validated["mlflow_run_id"], system_metrics=True),
        tempfile.NamedTemporaryFile("w", suffix=".json") as config_file,
    ):
        json.dump(validated["config"], config_file)
        config_file.flush()
        _run_rnn(
            [
                "train",
                "--out-dir",
                train_dir,
                "--config",
                config_file.name,
                "--resume",
                "--no-progress",
                "--run-id",
                validated["mlflow_run_id"],
                # validate_dataset ran the suite on these exact bytes (and logged the report)
                "--skip-validation",
                "--expect-sha256",
                validated["dataset_sha256"],
                # a large corpus is encoded once per sha256, next to the runs' data: retries reuse it
                "--token-cache-dir",
                str(load_settings().home / "token-cache"),
            ],
            what="training",
        )
    metrics = _read_metrics(storage.join(train_dir, "metrics.json"))
    if metrics["dataset"]["sha256"] != validated["dataset_sha256"]:
        raise _fail(
            f"corpus changed between validation and training (sha256 {validated['dataset_sha256'][:12]}… "
            f"then {metrics['dataset']['sha256'][:12]}…); re-run the DAG"
        )
    return {
        **validated,
        "train_dir": train_dir,
        "metrics_uri": storage.join(train_dir, "metrics.json"),
        "model_uri": storage.join(train_dir, "model.pt"),
    }


def benchmark(*, trained: dict[str, Any], precision: str = "fp32") -> dict[str, Any]:
    """``python -m rnn bench`` into metrics.json's ``inference`` section, measured at ``precision`` (what
    the server will serve at; a reduced one also records its validation-loss delta vs fp32)."""
    with tracking.task_run(trained["mlflow_run_id"]):
        _run_rnn(
            [
                "bench",
                "--model",
                trained["model_uri"],
                "--metrics",
                trained["metrics_uri"],
                "--serve-precision",
                precision,
            ],
            what="inference benchmark",
        )
    return trained


# what `python -m rnn loadtest` runs with unless told otherwise (the DAG's form starts there too)
_LOAD_TEST_DEFAULTS = {f.name: f.default for f in fields(LoadTestConfig)}
DEFAULT_LOAD_TEST_SECONDS: float = _LOAD_TEST_DEFAULTS["max_seconds"]
DEFAULT_LOAD_TEST_SLO_MS: float = _LOAD_TEST_DEFAULTS["slo_ms"]
DEFAULT_LOAD_TEST_CHARS: int = _LOAD_TEST_DEFAULTS["chars"]
SERVER_START_SECONDS = 180  # torch import + model load on a busy worker
SERVER_STOP_SECONDS = 30


def load_test(
    *,
    benchmarked: dict[str, Any],
    seconds: float = DEFAULT_LOAD_TEST_SECONDS,
    slo_ms: float = DEFAULT_LOAD_TEST_SLO_MS,
    chars: int = DEFAULT_LOAD_TEST_CHARS,
    prompt: str = "",
    precision: str = "fp32",
) -> dict[str, Any]:
    """Serve the new model on a free 127.0.0.1 port, measure its capacity at the SLO, stop the server;
    then measure its cold starts.

    Every request continues ``prompt``; "" sends the model's own (``default_prompt`` of the server's
    /healthz), so a corpus in any script is load-tested as it is. A prompt with characters the model
    never saw fails the task before the server starts, naming them.

    ``python -m rnn loadtest`` writes the ``serving`` section of metrics.json. Once its server has
    stopped, ``python -m rnn coldstart`` writes ``cold_start``: a new server process timed from start to
    ready and on its first request, and fresh serverless-style handler processes timed from spawn to
    their first answer (what a Lambda function or a SageMaker serverless container does on a cold
    start). This task logs ``serve.*`` and ``serve.cold_start.*`` to MLflow and keeps ``capacity.json``
    next to the run. ``seconds=0`` skips both (the cost model then sizes serving with its formula and
    prices cold starts with its labelled default, and says so). The server is stopped on every path.
    """
    if seconds <= 0:
        log.info(
            "load test and cold-start measurement skipped (load_test_seconds=0): serving will be costed by the "
            "capacity formula and the default cold start"
        )
        return {**benchmarked, "serving": None, "cold_start": None}
    if prompt:
        _check_prompt(benchmarked["model_uri"], prompt)
    import mlflow

    with tracking.task_run(benchmarked["mlflow_run_id"]), tempfile.TemporaryDirectory() as tmp:
        capacity_path = Path(tmp, "capacity.json")
        # A key of its own for the server this task starts: only the load test can call it. It reaches
        # both processes through the environment, never a command line or the log.
        env = {**os.environ, API_KEY_ENV: secrets.token_urlsafe(32)}
        with _serving(benchmarked["model_uri"], Path(tmp), env=env, precision=precision) as url:
            _run_rnn(
                [
                    "loadtest",
                    "--url",
                    url,
                    "--slo-ms",
                    f"{slo_ms:g}",
                    "--chars",
                    str(chars),
                    "--max-seconds",
                    f"{seconds:g}",
                    "--out",
                    str(capacity_path),
                    "--metrics",
                    benchmarked["metrics_uri"],
                    *(["--prompt", prompt] if prompt else []),
                ],
                what="load test",
                env=env,
            )
        capacity = json.loads(capacity_path.read_text())
        storage.write_text_atomic(
            storage.join(benchmarked["run_dir"], "serving", "capacity.json"), json.dumps(capacity, indent=2)
        )
        # alone on the worker now that the load test's server has stopped
        _run_rnn(
            [
                "coldstart",
                "--model",
                benchmarked["model_uri"],
                "--chars",
                str(chars),
                "--metrics",
                benchmarked["metrics_uri"],
                *(["--prompt", prompt] if prompt else []),
            ],
            what="cold-start measurement",
        )
        metrics = _read_metrics(benchmarked["metrics_uri"])
        serving, cold_start = metrics["serving"], metrics["cold_start"]
        mlflow.log_metrics(serving_metrics(serving) | cold_start_metrics(cold_start))
        mlflow.log_dict(capacity, "serving/capacity.json")
    log.info(
        "serving capacity: %.2f requests/s at p95 <= %g ms on %s CPUs (server peak RSS %.0f MiB)",
        serving["max_rps_at_slo"],
        serving["slo_ms"],
        serving["cpu_count"],
        (serving["rss_bytes"] or 0) / 2**20,
    )
    handler = cold_start["handler"]
    log.info(
        "cold starts: server ready in %.2f s, first request %.1f ms; a fresh handler answers in %.2f s "
        "(a cold start adds %.2f s)",
        cold_start["server"]["ready_seconds"],
        cold_start["server"]["first_request_ms"],
        handler["spawn_to_answer_seconds"],
        handler["added_seconds"],
    )
    return {
        **benchmarked,
        "serving": {
            "max_rps_at_slo": serving["max_rps_at_slo"],
            "p95_ms_at_max": serving["p95_ms_at_max"],
            "rss_bytes": serving["rss_bytes"],
        },
        "cold_start": {
            "server_ready_seconds": cold_start["server"]["ready_seconds"],
            "handler_added_seconds": handler["added_seconds"],
        },
    }


def _check_prompt(model_uri: str, prompt: str) -> None:
    from rnn.serving.generate import PromptError, check_prompt, load_model

    try:
        check_prompt(load_model(model_uri).vocab, prompt, what="load_test_prompt")
    except PromptError as exc:
        raise _fail(f"{exc} (the model: {model_uri})") from exc


def serving_metrics(serving: dict[str, Any]) -> dict[str, float]:
    """The ``serving`` section of metrics.json as flat MLflow metrics (names from pipeline.names)."""
    values = {
        names.SERVE_MAX_RPS_AT_SLO: serving.get("max_rps_at_slo"),
        names.SERVE_P95_MS_AT_MAX: serving.get("p95_ms_at_max"),
        names.SERVE_RSS_BYTES: serving.get("rss_bytes"),
        names.SERVE_SLO_MS: serving.get("slo_ms"),
        names.SERVE_CPU_COUNT: serving.get("cpu_count"),
    }
    return {key: float(value) for key, value in values.items() if value is not None}


def cold_start_metrics(cold_start: dict[str, Any] | None) -> dict[str, float]:
    """The ``cold_start`` section of metrics.json as flat MLflow metrics (names from pipeline.names)."""
    server = (cold_start or {}).get("server") or {}
    handler = (cold_start or {}).get("handler") or {}
    values = {
        names.SERVE_COLD_READY_SECONDS: server.get("ready_seconds"),
        names.SERVE_COLD_FIRST_REQUEST_MS: server.get("first_request_ms"),
        names.SERVE_COLD_HANDLER_SECONDS: handler.get("spawn_to_answer_seconds"),
        names.SERVE_COLD_HANDLER_ADDED_SECONDS: handler.get("added_seconds"),
        names.SERVE_COLD_HANDLER_IMPORT_SECONDS: handler.get("import_seconds"),
        names.SERVE_COLD_HANDLER_LOAD_SECONDS: handler.get("load_seconds"),
    }
    return {key: float(value) for key, value in values.items() if value is not None}


@contextlib.contextmanager
def _serving(model_uri: str, workdir: Path, *, env: dict[str, str], precision: str = "fp32") -> Iterator[str]:
    """``python -m rnn serve`` on a free 127.0.0.1 port for the duration of the block; its lines go to the log.

    ``env`` is the server's environment; with ``RNN_API_KEY`` in it, /v1/generate and /metrics need that key.
    Its OpenMP threads wait passively unless ``env`` says otherwise (``rnn``'s default): the load-test
    client runs beside it, on a worker that may run other tasks.
    """
    port_file = workdir / "port"
    command = [
        sys.executable,
        "-m",
        "rnn",
        "serve",
        "--model",
        model_uri,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--port-file",
        str(port_file),
        "--precision",
        precision,
    ]
    if API_KEY_ENV in env:
        command.append("--protect-metrics")
    log.info("starting the inference server: %s", " ".join(command))
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, env=env
    )
    lines: list[str] = []

    def relay() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())
            log.info("server: %s", line.rstrip())

    reader = threading.Thread(target=relay, name="rnn-serve-log", daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None:
                reader.join(5)
                errors = [line for line in lines if line.startswith("error:")]
                if proc.returncode == 2 and errors:
                    raise _fail(f"the inference server refused its input: {errors[-1]}")
                raise RuntimeError(
                    f"the inference server exited with code {proc.returncode} before it was ready; last output:\n"
                    + "\n".join(lines[-20:])
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"the inference server was not ready within {SERVER_START_SECONDS} s")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{int(port_file.read_text())}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # drains in-flight requests, then exits
            try:
                proc.wait(timeout=SERVER_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        reader.join(5)
        log.info("inference server stopped (exit code %s)", proc.returncode)


def _read_metrics(uri: str) -> dict[str, Any]:
    return read_metrics(uri)


def training_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The instrumentation of metrics.json as flat MLflow metrics (names from pipeline.names)."""
    training, model, dataset = metrics["training"], metrics["model"], metrics["dataset"]
    values = {
        names.TRAIN_TOKENS_PER_S: training["tokens_per_s"],
        names.TRAIN_WALL_SECONDS: training["total_wall_seconds"],
        names.TRAIN_STEP_SECONDS: training["train_seconds"],
        names.TRAIN_PEAK_RSS_BYTES: training["peak_rss_bytes"],
        names.TRAIN_FINAL_LOSS: training["final_train_loss"],
        names.VAL_LOSS: training["final_val_loss"],
        names.VAL_PERPLEXITY: training["final_val_perplexity"],
        names.VAL_CHARS: training.get("val_chars"),  # absent from metrics.json written before it was recorded
        names.MODEL_PARAMETERS: model["parameters"],
        names.MODEL_FILE_BYTES: model["file_size_bytes"],
        names.DATASET_BYTES: dataset["size_bytes"],
        names.DATASET_CHARS: dataset["chars"],
        names.DATASET_VOCAB: dataset["vocab_size"],
    }
    inference = metrics.get("inference")
    if inference:
        values[names.INFER_LATENCY_P50_MS] = inference["latency_ms"]["p50"]
        values[names.INFER_LATENCY_P95_MS] = inference["latency_ms"]["p95"]
        values[names.INFER_LATENCY_P99_MS] = inference["latency_ms"]["p99"]
        for row in inference["throughput"]:
            values[names.infer_tokens_per_s(row["batch_size"])] = row["tokens_per_s"]
    return {key: float(value) for key, value in values.items() if value is not None}


def log_to_mlflow(*, benchmarked: dict[str, Any]) -> dict[str, Any]:
    """Per-epoch and instrumentation metrics, metrics.json and the model (with its vocabulary)."""
    import mlflow
    import mlflow.pytorch
    from mlflow import MlflowClient

    from rnn.serving.generate import load_model

    metrics = _read_metrics(benchmarked["metrics_uri"])
    with tracking.task_run(benchmarked["mlflow_run_id"]) as run:
        mlflow.log_metrics(training_metrics(metrics))
        mlflow.log_dict(metrics, "metrics.json")
        model_id = run.data.tags.get(names.TAG_LOGGED_MODEL_ID)
        if not model_id:  # a retried task must not log the model twice
            loaded = load_model(benchmarked["model_uri"])
            with tempfile.TemporaryDirectory() as tmp:
                vocab_path = Path(tmp, "vocab.json")
                vocab_path.write_text(json.dumps(loaded.vocab.chars))
                info = mlflow.pytorch.log_model(
                    loaded.model,
                    name="model",
                    extra_files=[str(vocab_path)],
                    code_paths=[str(REPO_ROOT / "rnn"), str(REPO_ROOT / "toolkit")],  # rnn imports toolkit
                    pip_requirements=["torch==2.13.0"],
                    serialization_format="pickle",
                    metadata={
                        "vocab_size": len(loaded.vocab),
                        "val_loss": metrics["training"]["final_val_loss"],
                    },
                )
            model_id = info.model_id
            mlflow.set_tag(names.TAG_LOGGED_MODEL_ID, model_id)
        # After the model: log_model links the run's step-0 metrics to it by reading the history of
        # every metric the run has (one request each), and these curves (steps 1..n) are never linked.
        MlflowClient().log_batch(run.info.run_id, metrics=epoch_metrics(metrics))
    return {**benchmarked, "logged_model_id": model_id, "val_loss": metrics["training"]["final_val_loss"]}


def epoch_metrics(metrics: dict[str, Any]) -> list[Any]:
    """The per-epoch curves of metrics.json as MLflow metrics, step = epoch (1, 2, ...), for one log_batch."""
    from mlflow.entities import Metric

    now_ms = int(time.time() * 1000)
    return [
        Metric(key, float(epoch[field]), now_ms, epoch["epoch"])
        for epoch in metrics["training"]["epochs"]
        for key, field in (
            (names.EPOCH_TRAIN_LOSS, "train_loss"),
            (names.EPOCH_VAL_LOSS, "val_loss"),
            (names.EPOCH_VAL_PERPLEXITY, "val_perplexity"),
            (names.EPOCH_WALL_SECONDS, "wall_seconds"),
            (names.EPOCH_TOKENS_PER_S, "tokens_per_s"),
        )
    ]


def cost(*, logged: dict[str, Any]) -> dict[str, Any]:
    """Price the run (local: as if on the configured instance, with the boot, setup and upload overhead
    of a spot run from the ledger of earlier attempts, else the labelled default) and record it in
    metrics.json and MLflow.

    ``ec2_spot`` runs are billed from their instance attempts instead (:mod:`pipeline.spot.billing`).
    """
    if logged.get("spot"):
        result = record_billed_cost(logged=logged)
        log.info("cost: %s", result["cost"]["basis"])
        return result

    settings = load_settings()
    compute = logged["compute"]
    metrics = _read_metrics(logged["metrics_uri"])
    with tracking.task_run(logged["mlflow_run_id"]):
        catalog = PriceCatalog.load(newest_snapshot_dir(settings))
        overhead = run_overhead(compute["instance_type"])
        try:
            training_cost = estimate_training_cost(
                duration_seconds=metrics["training"]["total_wall_seconds"],
                epochs=len(metrics["training"]["epochs"]),
                instance_type=compute["instance_type"],
                region=compute["region"],
                market=compute["market"],
                catalog=catalog,
                overhead=overhead,
            )
        except ValueError as exc:
            raise _fail(f"cannot price this run: {exc}") from exc
        cost_dict = training_cost.to_dict()
        record_cost(
            cost_dict,
            interruptions=0,
            metrics=metrics,
            metrics_uri=logged["metrics_uri"],
            compute={**compute, "attempts": []},
        )
    log.info("cost: %s", training_cost.basis)
    return {**logged, "cost": cost_dict}


def register(
    *, costed: dict[str, Any], eval_corpus_uri: str | None = None, replace_champion_reason: str = ""
) -> dict[str, Any]:
    """Promote this run's model to ``champion`` if it beats the champion on the same evaluation data.

    Both are scored on the evaluation split of ``eval_corpus_uri`` when given, else of the corpus the
    champion was accepted on; the first model ever trained is scored on its own corpus and promoted.
    With ``replace_champion_reason``, a model trained on a corpus other than the champion's is instead
    judged on its own corpus's evaluation split against the quality bar (a deliberate corpus change,
    :mod:`pipeline.registry`). Promoting registers a new version of rnn-textgen with its lineage and
    moves the alias to it.
    """
    import mlflow
    from mlflow import MlflowClient

    replace_reason = (replace_champion_reason or "").strip()
    if len(replace_reason) > registry.REPLACE_REASON_MAX_CHARS:
        raise _fail(
            f"replace_champion_reason has {len(replace_reason):,} characters; say why in at most "
            f"{registry.REPLACE_REASON_MAX_CHARS} (it is kept whole in the version's tags); nothing was registered"
        )
    with tracking.task_run(costed["mlflow_run_id"]):
        client = MlflowClient()
        mine = [v for v in registry.registered_versions(client) if v.run_id == costed["mlflow_run_id"]]
        if mine:  # retried task: this run was promoted and registered already
            version = str(mine[0].version)
            registry.finish_promotion(client, version, mine[0].description or "")
            decision = {
                "registered": True,
                "version": int(version),
                "reason": f"already registered as version {version}",
            }
        else:
            decision = _challenge(client, costed, eval_corpus_uri or None, replace_reason)
        tags = {
            names.TAG_REGISTRY_DECISION: "registered" if decision["registered"] else "not-registered",
            names.TAG_REGISTRY_REASON: decision["reason"][:5000],
            names.TAG_REGISTRY_VERSION: str(decision["version"] or ""),
        }
        if replace_reason:
            tags[names.TAG_REGISTRY_REPLACE_REASON] = replace_reason
        mlflow.set_tags(tags)
    log.info("model registry: %s", decision["reason"])
    return {**costed, "registry": decision}


def _challenge(
    client: Any, costed: dict[str, Any], eval_corpus_uri: str | None, replace_reason: str = ""
) -> dict[str, Any]:
    """Score challenger and champion on one evaluation split, decide, and promote if so (MLflow run open).

    A corpus change with a reason (:func:`pipeline.registry.is_corpus_change`) goes to :func:`_replace`.
    """
    import hashlib

    import mlflow

    from rnn.serving.generate import load_model

    config = costed["config"]
    champion = registry.current_champion(client)
    if replace_reason and registry.is_corpus_change(
        challenger_sha256=costed["dataset_sha256"], champion=champion
    ):
        assert champion is not None
        return _replace(client, costed, champion, replace_reason, eval_corpus_uri)
    if eval_corpus_uri:
        uri, val_fraction = eval_corpus_uri.strip(), float(config["val_fraction"])
    elif champion is not None:
        uri, val_fraction = champion.lineage.eval_uri, champion.lineage.eval_val_fraction
    else:
        uri, val_fraction = config["corpus_uri"], float(config["val_fraction"])
    data = _evaluation_corpus(uri, named=bool(eval_corpus_uri))
    sha256 = hashlib.sha256(data).hexdigest()
    from rnn.evaluate import evaluation_split

    split = evaluation_split(decode_utf8(data, uri), val_fraction)
    evaluation = registry.describe_evaluation(uri, sha256, val_fraction, len(split))
    if champion is not None and not eval_corpus_uri and sha256 != champion.lineage.eval_sha256:
        evaluation += f" (it has changed since the champion was accepted on sha256 {champion.lineage.eval_sha256[:12]}…)"

    loaded = load_model(costed["model_uri"])
    challenger = _score(
        f"challenger run {costed['mlflow_run_id'][:8]}",
        "trained on",
        costed["dataset_sha256"],
        loaded.model,
        loaded.vocab,
        split,
    )
    defender = None
    if champion is not None:
        model, vocab = registry.load_champion_model(champion)
        defender = _score(champion.label, "accepted on", champion.lineage.eval_sha256, model, vocab, split)
    decision = registry.decide(challenger, defender, evaluation)
    reason = decision.reason + registry.reason_not_used(replace_reason, champion)

    from rnn.evaluate import scored_chars

    finite = {
        names.EVAL_LOSS: challenger.loss,
        names.EVAL_CHAMPION_LOSS: defender.loss if defender else None,
        names.EVAL_CHARS: scored_chars(len(split)),
    }
    mlflow.log_metrics({k: v for k, v in finite.items() if v is not None and math.isfinite(v)})
    mlflow.set_tags(
        {
            names.TAG_EVAL_DATASET_URI: uri,
            names.TAG_EVAL_DATASET_SHA256: sha256,
            names.TAG_REGISTRY_COMPARED_WITH: f"version {champion.version}" if champion else "",
        }
    )
    if not decision.promote:
        return {"registered": False, "version": None, "reason": reason}
    lineage = registry.Lineage(
        dataset_uri=config["corpus_uri"],
        dataset_sha256=costed["dataset_sha256"],
        eval_uri=uri,
        eval_sha256=sha256,
        eval_val_fraction=val_fraction,
        eval_loss=challenger.loss,
    )
    return _promote(client, costed, lineage, reason)


def _replace(
    client: Any,
    costed: dict[str, Any],
    champion: registry.Champion,
    replace_reason: str,
    eval_corpus_uri: str | None,
) -> dict[str, Any]:
    """A deliberate corpus change: the challenger on its own corpus's evaluation split against the quality bar.

    The champion is not scored (it was accepted on other data); its recorded loss is reported beside.
    """
    import hashlib
    import itertools
    from collections import Counter

    import mlflow

    from rnn.evaluate import evaluation_split
    from rnn.serving.generate import load_model

    config = costed["config"]
    uri, val_fraction = config["corpus_uri"], float(config["val_fraction"])
    data = _evaluation_corpus(uri, named=False)
    sha256 = hashlib.sha256(data).hexdigest()
    if sha256 != costed["dataset_sha256"]:
        raise _fail(
            f"corpus {uri!r} changed since training (sha256 {costed['dataset_sha256'][:12]}… then "
            f"{sha256[:12]}…): the model cannot be judged on it; nothing was registered, re-run the DAG"
        )
    text = decode_utf8(data, uri)  # the bytes validate_dataset passed as UTF-8 (same sha256)
    split = evaluation_split(text, val_fraction)
    # the characters of the part training learnt from (all but the held-out tail), counted in place
    train_counts = Counter(itertools.islice(text, len(text) - int(len(text) * val_fraction)))
    evaluation = registry.describe_evaluation(uri, sha256, val_fraction, len(split))
    loaded = load_model(costed["model_uri"])
    challenger = _score(
        f"challenger run {costed['mlflow_run_id'][:8]}",
        "trained on",
        sha256,
        loaded.model,
        loaded.vocab,
        split,
    )
    # its vocabulary is every character of this corpus (same sha256 as trained on), so the baseline has all
    unigram = registry.unigram_loss(train_counts, split, loaded.vocab.chars)
    lineage = champion.lineage
    recorded = registry.Candidate(champion.label, "accepted on", lineage.eval_sha256, loss=lineage.eval_loss)
    decision = registry.decide_replacement(
        challenger,
        recorded,
        evaluation,
        unigram=unigram,
        reason=replace_reason,
        champion_on=f"the evaluation split (last {lineage.eval_val_fraction:.0%}) of {lineage.eval_uri}",
    )
    reason = decision.reason
    if eval_corpus_uri:
        reason += (
            f"; eval_corpus_uri {eval_corpus_uri!r} was not used: a corpus change is judged on the "
            "challenger's own corpus"
        )
    metrics = {names.EVAL_LOSS: challenger.loss, names.EVAL_UNIGRAM_LOSS: unigram}
    mlflow.log_metrics({k: v for k, v in metrics.items() if v is not None and math.isfinite(v)})
    mlflow.set_tags(
        {
            names.TAG_EVAL_DATASET_URI: uri,
            names.TAG_EVAL_DATASET_SHA256: sha256,
            names.TAG_REGISTRY_COMPARED_WITH: "",  # judged against the quality bar, not against the champion
        }
    )
    if not decision.promote:
        return {"registered": False, "version": None, "reason": reason}
    replacement = registry.Replacement(
        reason=replace_reason,
        champion_version=champion.version,
        champion_eval_uri=lineage.eval_uri,
        champion_eval_sha256=lineage.eval_sha256,
        champion_eval_loss=lineage.eval_loss,
        unigram_loss=unigram,
        quality_bar_loss=registry.quality_bar(unigram),
    )
    own = registry.Lineage(
        dataset_uri=uri,
        dataset_sha256=sha256,
        eval_uri=uri,
        eval_sha256=sha256,
        eval_val_fraction=val_fraction,
        eval_loss=challenger.loss,
    )
    return _promote(client, costed, own, reason, replacement)


def _promote(
    client: Any,
    costed: dict[str, Any],
    lineage: registry.Lineage,
    reason: str,
    replacement: registry.Replacement | None = None,
) -> dict[str, Any]:
    """Register the challenger as a new version with its lineage (and what it replaced); move the alias."""
    airflow_run_id = _run_tag(client, costed["mlflow_run_id"])
    version = registry.promote(
        client,
        logged_model_id=costed["logged_model_id"],
        tags={
            names.VERSION_TAG_VAL_LOSS: f"{float(costed['val_loss']):.6f}",
            names.VERSION_TAG_AIRFLOW_RUN_ID: airflow_run_id,
            **lineage.to_tags(),
            **(replacement.to_tags() if replacement else {}),
        },
        description=registry.version_description(
            run_id=costed["mlflow_run_id"],
            airflow_run_id=airflow_run_id,
            lineage=lineage,
            dataset_chars=int(costed.get("dataset_chars") or 0),
            reason=reason,
            replacement=replacement,
        ),
    )
    return {"registered": True, "version": int(version), "reason": reason}


def _evaluation_corpus(uri: str, *, named: bool) -> bytes:
    """The evaluation corpus's bytes; a corpus named for evaluation passes the same suite as training data."""
    try:
        data = read_corpus_bytes(uri)
    except CorpusError as exc:
        if exc.transient:
            raise RuntimeError(str(exc)) from exc
        raise _fail(
            f"cannot read the evaluation corpus: {exc}. Name one that can be read in eval_corpus_uri "
            f"(or the Variable {names.VAR_EVAL_CORPUS_URI}); nothing was registered"
        ) from exc
    if named:
        validation = validate_corpus(data)
        if not validation.success:
            raise _fail(f"evaluation corpus {uri!r} failed validation:\n{validation.summary()}")
    return data


def _score(label: str, role: str, sha256: str, model: Any, vocab: Any, text: str) -> registry.Candidate:
    from rnn.evaluate import VocabularyMismatchError, evaluate_on

    try:
        loss = evaluate_on(model, vocab, text).loss
    except VocabularyMismatchError as exc:
        return registry.Candidate(label, role, sha256, cannot_encode=str(exc))
    return registry.Candidate(label, role, sha256, loss=loss)


def _run_tag(client: Any, mlflow_run_id: str) -> str:
    return client.get_run(mlflow_run_id).data.tags.get(names.TAG_RUN_ID, "")


def on_task_failure(context: dict[str, Any]) -> None:
    """Failure callback: close the DAG run's MLflow run as FAILED if a dying task left it RUNNING."""
    try:
        dag_run = context["dag_run"]
        settings = tracking.configure()
        run = tracking.find_run_id(names.TRAINING_EXPERIMENT, dag_run.dag_id, dag_run.run_id, settings)
        if run:
            tracking.mark_failed(run)
    except Exception:  # a callback must never mask the task's own error
        log.exception("could not mark the MLflow run FAILED")


def check_spot_budget(*, validated: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """rnn_retraining's ``check_spot_budget`` task: the spot budget guard (:mod:`pipeline.spot.budget`),
    loaded with this module when the task runs, never when the DAG file parses."""
    return check_budget(validated=validated, params=params)
