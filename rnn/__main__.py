"""Command line: ``python -m rnn {train,generate,bench,serve,loadtest,coldstart} --help``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from rnn.config import ConfigError, TrainConfig
from rnn.corpus import CorpusError, CorpusSource, decode_utf8, open_corpus, read_corpus_bytes
from rnn.corpus_validation import CorpusValidationError, require_valid, validate_corpus_source
from rnn.metrics import MetricsError, read_metrics, to_jsonable, upgrade, write_metrics
from rnn.serving import coldstart
from rnn.serving.loadtest import LoadTestConfig, LoadTestError, capacity_search, serving_section
from rnn.serving.settings import API_KEY_ENV, PRECISIONS, ServeSettings, resolve_api_key
from toolkit import storage
from toolkit.arguments import (
    EXIT_USAGE,
    Parser,
    finite_float,
    non_negative_int,
    positive_float,
    positive_int,
    sha256_hex,
)
from toolkit.registry import REGISTERED_MODEL

EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: a host could not be reached; trying again may work
EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: stopped after a checkpoint; run again with --resume
PROMPT_HELP = "the character it writes most often, then its greedy continuation (docs/serving.md)"


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training config (defaults from rnn.config.TrainConfig)")
    group.add_argument(
        "--config", type=Path, help="JSON file with TrainConfig fields; flags below override it"
    )
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        kind = {float: finite_float}.get(type(field.default), type(field.default))
        group.add_argument(flag, dest=field.name, type=kind, default=None, help=f"default {field.default!r}")


def _build_config(args: argparse.Namespace) -> TrainConfig:
    values: dict[str, Any] = {}
    if args.config:
        try:
            values.update(json.loads(args.config.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read config file {str(args.config)!r}: {exc}") from exc
    for field in dataclasses.fields(TrainConfig):
        value = getattr(args, field.name)
        if value is not None:
            values[field.name] = value
    return TrainConfig.from_dict(values)


def _validated_corpus(config: TrainConfig, args: argparse.Namespace) -> CorpusSource:
    """The corpus, opened (a local file is read in chunks, never whole), after the expectation suite
    passed on it (or a loud --skip-validation); it carries the sha256 it was checked under."""
    source = open_corpus(config.corpus_uri)
    if args.expect_sha256:
        found = source.sha256()
        if found != args.expect_sha256:
            raise CorpusError(
                f"corpus {config.corpus_uri!r} has sha256 {found[:12]}…, not the expected "
                f"{args.expect_sha256[:12]}… (--expect-sha256): it changed since it was validated"
            )
        source = dataclasses.replace(source, known_sha256=found)
    if args.skip_validation:
        checked = f"; its sha256 is the expected {args.expect_sha256[:12]}…" if args.expect_sha256 else ""
        print(
            f"WARNING: --skip-validation: training on {config.corpus_uri!r} without running the corpus "
            f"expectation suite{checked}",
            file=sys.stderr,
        )
        return source
    # In a child process, which reads the corpus itself: Great Expectations and pandas stay out of
    # this one, whose peak memory metrics.json reports as the training's.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        validation = pool.submit(validate_corpus_source, source, min_chars=args.min_corpus_chars).result()
    try:
        require_valid(validation)
    except CorpusValidationError as exc:
        raise CorpusError(f"{config.corpus_uri}: {exc}\nNothing was trained.") from exc
    print(f"{config.corpus_uri}: {validation.summary().splitlines()[0]}", file=sys.stderr)
    return dataclasses.replace(source, known_sha256=validation.sha256)


def cmd_train(args: argparse.Namespace) -> int:
    from rnn.train import train

    config = _build_config(args)
    storage.check_writable(args.out_dir)  # before the corpus is read, validated or trained on
    corpus = _validated_corpus(config, args)
    result = train(
        config,
        args.out_dir,
        checkpoint_uri=args.checkpoint,
        resume=args.resume,
        run_id=args.run_id,
        progress=not args.no_progress and sys.stderr.isatty(),
        handle_signals=True,
        stop_after_global_step=args.stop_after_step,
        corpus=corpus,
        token_cache_dir=args.token_cache_dir,
    )
    training = result.metrics["training"]
    if result.interrupted:
        print(f"interrupted at step {training['global_steps']}; continue with --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(
        f"val loss {training['final_val_loss']:.4f} | {training['tokens_per_s']:,.0f} tok/s | "
        f"{training['total_wall_seconds']:.1f} s | metrics {result.metrics_uri}"
    )
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    import torch

    from rnn.serving.generate import check_prompt, default_prompt, load_model_source, sample

    loaded, _ = load_model_source(args.model)
    if args.prompt is None:
        prompt = default_prompt(loaded.model, loaded.vocab)
    else:
        prompt = check_prompt(loaded.vocab, args.prompt, what="--prompt")
    generator = torch.Generator().manual_seed(args.seed)
    for text in sample(
        loaded.model,
        loaded.vocab,
        prompt=prompt,
        length=args.length,
        batch_size=args.num_samples,
        temperature=args.temperature,
        top_k=args.top_k,
        generator=generator,
    ):
        print(prompt + text)
        print("-" * 40)
    return 0


def _validation_ids(loaded: Any, corpus_uri: str | None) -> Any:
    """The validation split of the model's corpus (or of ``corpus_uri``), as character ids."""
    config = loaded.config
    uri = corpus_uri or (config.corpus_uri if config else None)
    if not uri:
        raise ConfigError("--precision needs a corpus to measure validation loss on: pass --corpus")
    text = decode_utf8(read_corpus_bytes(uri), uri)
    val_fraction = config.val_fraction if config else TrainConfig.val_fraction
    tail = text[len(text) - int(len(text) * val_fraction) :]
    unknown = sorted({ch for ch in tail if ch not in loaded.vocab.index})
    if unknown:
        raise CorpusError(f"corpus {uri!r} has characters the model does not know: {unknown[:20]!r}")
    return loaded.vocab.encode(tail)


def cmd_bench(args: argparse.Namespace) -> int:
    from rnn.serving.benchmark import benchmark, compare_generators, precision_comparison
    from rnn.serving.generate import check_prompt, load_model_source

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    metrics = upgrade(read_metrics(args.metrics)) if args.metrics else None  # before the work, not after
    loaded, _ = load_model_source(args.model)
    if args.prompt is not None:
        check_prompt(loaded.vocab, args.prompt, what="--prompt")  # before anything is measured
    if args.compare:
        c = compare_generators(
            loaded.model, loaded.vocab, completion_chars=args.chars, runs=args.runs, prompt=args.prompt
        )
        print(json.dumps(dataclasses.asdict(c)) if args.json else _comparison_text(c))
        return 0
    result = benchmark(
        loaded.model,
        loaded.vocab,
        completion_chars=args.chars,
        runs=args.runs,
        batch_sizes=args.batch_sizes,
        prompt=args.prompt,
        precision=args.serve_precision,
        progress=sys.stderr.isatty(),
    )
    # a reduced serving precision is measured for its quality too (its delta is what the loss becomes)
    reduced_precisions = sorted({*(args.precision or []), args.serve_precision} - {"fp32"})
    if reduced_precisions:
        reduced = precision_comparison(
            loaded.model,
            loaded.vocab,
            _validation_ids(loaded, args.corpus),
            reduced_precisions,
            completion_chars=args.chars,
            runs=args.runs,
            prompt=args.prompt,
        )
        result = dataclasses.replace(result, reduced_precision=reduced)
    latency = result.latency_ms
    print(
        f"{args.chars}-char completion at batch 1 over {args.runs} runs: p50 {latency.p50:.1f} ms | "
        f"p95 {latency.p95:.1f} ms | p99 {latency.p99:.1f} ms ({result.generator}, {result.precision})"
    )
    for row in result.throughput:
        print(f"batch {row.batch_size:>3}: {row.tokens_per_s:,.0f} tok/s")
    for row in result.reduced_precision:
        print(
            f"{row.precision:>5}: p50 {row.latency_p50_ms:.1f} ms ({row.speedup_vs_fp32:.2f}x fp32) | batch "
            f"{row.batch_size} {row.tokens_per_s_batch:,.0f} tok/s | val loss {row.val_loss:.4f} "
            f"({row.val_loss_delta:+.4f} vs fp32 over {row.val_chars:,} chars)"
        )
    if metrics is not None:
        metrics["inference"] = json.loads(json.dumps(result, default=to_jsonable))
        write_metrics(args.metrics, metrics)
        print(f"updated {args.metrics}")
    return 0


def cmd_build_kernel(args: argparse.Namespace) -> int:
    from rnn.serving import fused_step

    logging.getLogger(fused_step.__name__).setLevel(logging.ERROR)  # the error below says it once
    build = fused_step.load()
    if build.module is None:
        if len(build.detail.splitlines()) > 1:  # the compiler's output
            print("\n".join(build.detail.splitlines()[-20:]), file=sys.stderr)
        print(f"error: the fused decoder step is not available: {build.reason}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    print(build.reason)
    return 0


def _comparison_text(c: Any) -> str:
    return "\n".join(
        [
            f"{c.completion_chars}-char completion at batch 1, median of {c.runs} runs each ({c.threads} threads):",
            f"  decoder step: {c.step}",
            f"  fast decoder {c.fast_p50_ms:8.1f} ms | per-token nn.LSTM loop {c.reference_p50_ms:8.1f} ms | "
            f"{c.speedup_batch1:.1f}x faster",
            f"  against the loop's fastest run ({c.reference_min_ms:.1f} ms): {c.speedup_vs_fastest_loop:.1f}x",
            f"batch {c.batch_size} throughput: fast {c.fast_tokens_per_s:,.0f} chars/s | loop "
            f"{c.reference_tokens_per_s:,.0f} chars/s | {c.throughput_ratio:.2f}x",
            f"matmul peak of this host {c.matmul_peak_gflops:,.0f} GFLOP/s; the fast decoder at batch "
            f"{c.batch_size} does {c.fast_gflops:,.1f} GFLOP/s of matmul = {c.fraction_of_peak:.0%} of peak",
        ]
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from rnn.serving.generate import load_model_source
    from rnn.serving.server import one_openmp_team, serve

    try:
        settings = ServeSettings(
            api_key=_api_key(args),
            protect_metrics=args.protect_metrics,
            max_batch_size=args.max_batch_size,
            steps_per_call=args.steps_per_call,
            max_queue=args.max_queue,
            max_body_bytes=args.max_body_bytes,
            drain_seconds=args.drain_seconds,
            threads=args.threads,
            precision=args.precision,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    settings = one_openmp_team(settings)  # before the model is loaded
    loaded, source = load_model_source(args.model)
    try:
        return serve(
            loaded,
            source,
            host=args.host,
            port=args.port,
            settings=settings,
            port_file=Path(args.port_file) if args.port_file else None,
            access_log=args.access_log,
        )
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from exc


def cmd_loadtest(args: argparse.Namespace) -> int:
    config = LoadTestConfig(
        url=args.url,
        slo_ms=args.slo_ms,
        chars=args.chars,
        prompt=args.prompt,
        max_seconds=args.max_seconds,
        max_requests=args.max_requests,
        trial_seconds=args.trial_seconds,
        start_rps=args.start_rps,
        seed=args.seed,
        api_key=_api_key(args),
    )
    if args.metrics:
        read_metrics(args.metrics)  # fail before the load test, not after it
    print(
        f"load test of {config.base_url}: open-loop Poisson arrivals, p95 SLO {config.slo_ms:,.0f} ms, "
        f"{config.chars}-char completions, at most {config.max_seconds:g} s and {config.max_requests:,} requests",
        flush=True,
    )
    result = capacity_search(config, log=lambda line: print(line, flush=True))
    print(result.summary())
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        print(f"wrote {args.out}")
    if args.metrics:
        metrics = upgrade(read_metrics(args.metrics))
        metrics["serving"] = serving_section(result)
        write_metrics(args.metrics, metrics)
        print(f"updated {args.metrics}")
    return 0


def cmd_coldstart(args: argparse.Namespace) -> int:
    import tempfile

    from rnn.serving.generate import check_prompt, load_model_source

    if args.metrics:
        read_metrics(args.metrics)  # fail before the measurement, not after it
    loaded, _ = load_model_source(args.model)  # a missing or foreign model file is refused here, at once
    if args.prompt is not None:
        check_prompt(loaded.vocab, args.prompt, what="--prompt")
    del loaded
    print(
        f"cold starts of {args.model}: {args.chars}-char requests"
        + ("" if args.skip_server else "; the server (python -m rnn serve) from a new process")
        + f"; {args.runs} fresh handler processes (rnn.serving.handler)",
        flush=True,
    )
    server = None
    if not args.skip_server:
        with tempfile.TemporaryDirectory() as tmp:
            server = coldstart.measure_server(
                args.model, Path(tmp), chars=args.chars, prompt=args.prompt, threads=args.threads
            )
    handler = coldstart.measure_handler(
        args.model, chars=args.chars, prompt=args.prompt, runs=args.runs, warm_requests=args.warm_requests
    )
    section = coldstart.cold_start_section(chars=args.chars, server=server, handler=handler)
    for line in coldstart.summary(section):
        print(line)
    if args.json:
        print(json.dumps(section))
    if args.metrics:
        metrics = upgrade(read_metrics(args.metrics))
        metrics["cold_start"] = section
        write_metrics(args.metrics, metrics)
        print(f"updated {args.metrics}")
    return 0


def _api_key(args: argparse.Namespace) -> str | None:
    try:
        return resolve_api_key(args.api_key, args.api_key_file)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _api_key_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    group = parser.add_argument_group(
        "API key", f"--api-key, else --api-key-file, else ${API_KEY_ENV}; none of them: no key"
    )
    group.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"{what} (visible to other users in `ps`: prefer the file or ${API_KEY_ENV})",
    )
    group.add_argument(
        "--api-key-file", metavar="PATH", help="a file holding the key (surrounding whitespace ignored)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m rnn",
        description=__doc__
        and "Train, sample, benchmark and serve the character-level LSTM text generator, "
        "and load-test the server.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p_train = sub.add_parser(
        "train",
        help="train (or resume) a model; writes model.pt, checkpoint.pt, metrics.json",
        description="Train a character-level LSTM. Outputs go to --out-dir (local or s3://).",
    )
    p_train.add_argument(
        "--out-dir", required=True, help="directory or s3:// prefix for model.pt and metrics.json"
    )
    p_train.add_argument("--checkpoint", help="checkpoint URI (default: <out-dir>/checkpoint.pt)")
    p_train.add_argument("--resume", action="store_true", help="continue from the checkpoint if there is one")
    p_train.add_argument("--run-id", help="id recorded in metrics.json (default: random)")
    p_train.add_argument(
        "--stop-after-step",
        type=positive_int,
        help="checkpoint and stop after this global step (simulates an interruption)",
    )
    p_train.add_argument(
        "--skip-validation",
        action="store_true",
        help="train without running the corpus expectation suite (prints a warning; the pipeline "
        "uses it only with --expect-sha256, after validating those exact bytes)",
    )
    p_train.add_argument(
        "--expect-sha256",
        type=sha256_hex,
        help="refuse to train unless the corpus bytes have this sha256",
    )
    p_train.add_argument(
        "--min-corpus-chars",
        type=non_negative_int,
        help="minimum corpus size for validation (default: the expectation suite's, 10,000)",
    )
    p_train.add_argument(
        "--token-cache-dir",
        help="folder of the token files large corpora are encoded into once per sha256 (default: "
        "$RNN_TOKEN_CACHE_DIR, else ~/.cache/rnn-pipeline/tokens)",
    )
    p_train.add_argument("--no-progress", action="store_true", help="no progress bar, log lines only")
    _config_arguments(p_train)
    p_train.set_defaults(func=cmd_train)

    model_help = (
        f"model.pt written by `train` (local or s3://), or a registered version: "
        f"models:/{REGISTERED_MODEL}/<version> or models:/{REGISTERED_MODEL}@<alias>"
    )
    p_gen = sub.add_parser("generate", help="sample text from a trained model")
    p_gen.add_argument("--model", required=True, help=model_help)
    p_gen.add_argument("--prompt", help=f"text to continue (default: the model's own; {PROMPT_HELP})")
    p_gen.add_argument(
        "--length", type=positive_int, default=200, help="characters to generate (default %(default)s)"
    )
    p_gen.add_argument(
        "--temperature",
        type=positive_float,
        default=0.8,
        help="sampling temperature, > 0 (default %(default)s)",
    )
    p_gen.add_argument(
        "--top-k", type=non_negative_int, default=0, help="sample from the k most likely characters; 0 = all"
    )
    p_gen.add_argument(
        "--num-samples", type=positive_int, default=1, help="completions to print (default %(default)s)"
    )
    p_gen.add_argument("--seed", type=non_negative_int, default=0, help="sampling seed (default %(default)s)")
    p_gen.set_defaults(func=cmd_generate)

    p_bench = sub.add_parser("bench", help="measure inference latency and throughput")
    p_bench.add_argument("--model", required=True, help=model_help)
    p_bench.add_argument("--metrics", help="metrics.json to update with the `inference` section")
    p_bench.add_argument(
        "--runs", type=positive_int, default=20, help="latency runs at batch 1 (default %(default)s)"
    )
    p_bench.add_argument(
        "--chars", type=positive_int, default=200, help="characters per completion (default %(default)s)"
    )
    p_bench.add_argument(
        "--prompt", help=f"prompt of every completion (default: the model's own; {PROMPT_HELP})"
    )
    p_bench.add_argument(
        "--batch-sizes",
        type=positive_int,
        nargs="+",
        default=[1, 16, 64],
        help="batch sizes for throughput (default 1 16 64)",
    )
    p_bench.add_argument(
        "--precision",
        nargs="+",
        choices=[p for p in PRECISIONS if p != "fp32"],
        help="also measure these reduced precisions: speed and validation-loss delta vs fp32",
    )
    p_bench.add_argument(
        "--serve-precision",
        choices=PRECISIONS,
        default="fp32",
        help="the precision the `inference` section is measured at, as `serve --precision` would serve; a "
        "reduced one also gets its validation-loss delta vs fp32 (default %(default)s)",
    )
    p_bench.add_argument("--corpus", help="corpus for --precision's validation loss (default: the model's)")
    p_bench.add_argument(
        "--compare",
        action="store_true",
        help="fast decoder vs the per-token nn.LSTM loop, and the fraction of this host's matmul peak",
    )
    p_bench.add_argument("--json", action="store_true", help="with --compare: one JSON line")
    p_bench.add_argument(
        "--threads", type=non_negative_int, default=0, help="torch threads; 0 = all cores (default)"
    )
    p_bench.set_defaults(func=cmd_bench)

    p_serve = sub.add_parser(
        "serve",
        help="run the inference server (continuous batching)",
        description="POST /v1/generate, GET /healthz, GET /metrics (docs/serving.md). SIGTERM drains, then exits.",
    )
    p_serve.add_argument("--model", required=True, help=model_help)
    p_serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p_serve.add_argument(
        "--port", type=non_negative_int, default=8000, help="port; 0 picks a free one (default %(default)s)"
    )
    p_serve.add_argument("--port-file", help="write the bound port here once the server is ready")
    defaults = ServeSettings()
    p_serve.add_argument(
        "--max-batch-size",
        type=positive_int,
        default=defaults.max_batch_size,
        help="rows per model step (default %(default)s)",
    )
    p_serve.add_argument(
        "--steps-per-call",
        type=positive_int,
        default=defaults.steps_per_call,
        help="steps one model call may advance a batch of 1-8 rows while no request joins or leaves; "
        "1 re-forms the batch after every step (default %(default)s)",
    )
    p_serve.add_argument(
        "--max-queue",
        type=non_negative_int,
        default=defaults.max_queue,
        help="requests waiting for a row; beyond: 503 + Retry-After (default %(default)s)",
    )
    p_serve.add_argument(
        "--max-body-bytes",
        type=positive_int,
        default=defaults.max_body_bytes,
        help="larger request bodies get 413 (default %(default)s)",
    )
    p_serve.add_argument(
        "--drain-seconds",
        type=positive_float,
        default=defaults.drain_seconds,
        help="on SIGTERM, time in-flight requests get to finish (default %(default)s)",
    )
    p_serve.add_argument(
        "--threads",
        type=non_negative_int,
        default=defaults.threads,
        help="torch threads; 0 = all cores (default %(default)s)",
    )
    p_serve.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=defaults.precision,
        help="matmul precision; bf16/int8 trade quality for speed (`bench --precision`) (default %(default)s)",
    )
    _api_key_arguments(p_serve, "require this key: POST /v1/generate needs 'Authorization: Bearer <key>'")
    p_serve.add_argument(
        "--protect-metrics",
        action="store_true",
        help="GET /metrics needs the API key too (GET /healthz stays open for load balancers)",
    )
    p_serve.add_argument("--access-log", action="store_true", help="log every request (off: it costs CPU)")
    p_serve.set_defaults(func=cmd_serve)

    d = LoadTestConfig.__dataclass_fields__
    p_load = sub.add_parser(
        "loadtest",
        help="find the highest request rate the server keeps within a latency SLO",
        description="Open-loop Poisson arrivals, latency from each request's scheduled send time; a rate "
        "sweep plus bisection finds the highest rate with p95 <= SLO and < 1%% errors. Bounded in time and "
        "requests; 127.0.0.1 only.",
    )
    p_load.add_argument("--url", required=True, help="server base URL, e.g. http://127.0.0.1:8000")
    p_load.add_argument(
        "--slo-ms", type=positive_float, default=d["slo_ms"].default, help="p95 SLO (default %(default)s)"
    )
    p_load.add_argument(
        "--chars",
        type=positive_int,
        default=d["chars"].default,
        help="characters per completion (default %(default)s)",
    )
    p_load.add_argument(
        "--prompt",
        help="prompt of every request (default: the served model's own, the default_prompt of its /healthz)",
    )
    p_load.add_argument(
        "--max-seconds",
        type=positive_float,
        default=d["max_seconds"].default,
        help="stop the whole search within this many seconds (default %(default)s)",
    )
    p_load.add_argument(
        "--max-requests",
        type=positive_int,
        default=d["max_requests"].default,
        help="send at most this many requests in all (default %(default)s)",
    )
    p_load.add_argument(
        "--trial-seconds",
        type=positive_float,
        default=d["trial_seconds"].default,
        help="arrivals per rate tried (default %(default)s)",
    )
    p_load.add_argument(
        "--start-rps",
        type=finite_float,
        default=0.0,
        help="first rate; 0 = half of what one sequential client gets",
    )
    p_load.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of the arrival times (default %(default)s)"
    )
    _api_key_arguments(p_load, "the server's API key, sent as 'Authorization: Bearer <key>'")
    p_load.add_argument("--out", help="write the rnn-capacity JSON here")
    p_load.add_argument("--metrics", help="metrics.json to update with the `serving` section")
    p_load.set_defaults(func=cmd_loadtest)

    p_cold = sub.add_parser(
        "coldstart",
        help="time a new server process to ready and its first request, and a serverless-style handler "
        "from spawn to its first answer",
        description="Cold starts on this machine (rnn/serving/coldstart.py): `rnn serve` from process start "
        "to ready and its first request; then fresh processes that import torch and the decoder, load the "
        "model and answer one request (rnn/serving/handler.py, what a Lambda function or a SageMaker "
        "serverless container runs), each followed by warm requests, so what a cold start adds is known.",
    )
    p_cold.add_argument("--model", required=True, help=model_help)
    p_cold.add_argument(
        "--chars",
        type=positive_int,
        default=d["chars"].default,
        help="characters per request (default %(default)s)",
    )
    p_cold.add_argument("--prompt", help="prompt of every request (default: the model's own)")
    p_cold.add_argument(
        "--runs", type=positive_int, default=3, help="fresh handler processes (default %(default)s)"
    )
    p_cold.add_argument(
        "--warm-requests",
        type=positive_int,
        default=5,
        help="warm requests each handler process answers after its first (default %(default)s)",
    )
    p_cold.add_argument(
        "--threads", type=non_negative_int, default=0, help="the server's torch threads; 0 = all cores"
    )
    p_cold.add_argument("--skip-server", action="store_true", help="only the handler")
    p_cold.add_argument("--json", action="store_true", help="print the cold_start section as JSON")
    p_cold.add_argument("--metrics", help="metrics.json to update with the `cold_start` section")
    p_cold.set_defaults(func=cmd_coldstart)

    p_kernel = sub.add_parser(
        "build-kernel",
        help="compile the fast decoder's fused C++ step for this machine (once; make install runs it)",
        description="Compile rnn/serving/fused_step.cpp with g++ and ninja into the kernel cache "
        "(RNN_KERNEL_DIR, default ~/.cache/rnn-pipeline/kernels) and print where it is. Decoders "
        "build it on first use otherwise; without it they use the slower torch-ops step.",
    )
    p_kernel.set_defaults(func=cmd_build_kernel)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # before torch is imported: a bad argument is refused at once
    from rnn.checkpoint import CheckpointError
    from rnn.serving.generate import ModelFileError, PromptError

    try:
        return args.func(args)
    except (CorpusError, storage.StorageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE if exc.transient else EXIT_USAGE
    except (ConfigError, CheckpointError, ModelFileError, PromptError, MetricsError, LoadTestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
