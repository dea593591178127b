"""Command line: ``python -m rnn {train,generate,bench} --help``."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from rnn import storage
from rnn.arguments import (
    EXIT_USAGE,
    Parser,
    finite_float,
    non_negative_int,
    positive_float,
    positive_int,
    sha256_hex,
)
from rnn.config import ConfigError, TrainConfig
from rnn.corpus import CorpusError, read_corpus_bytes
from rnn.corpus_validation import CorpusValidationError, require_valid, validate_corpus
from rnn.metrics import MetricsError, read_metrics, to_jsonable, write_metrics

EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: a host could not be reached; trying again may work
EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: stopped after a checkpoint; run again with --resume


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


def _validated_corpus(config: TrainConfig, args: argparse.Namespace) -> bytes:
    """The corpus bytes, after the expectation suite passed on them (or a loud --skip-validation)."""
    data = read_corpus_bytes(config.corpus_uri)
    if args.expect_sha256:
        found = hashlib.sha256(data).hexdigest()
        if found != args.expect_sha256:
            raise CorpusError(
                f"corpus {config.corpus_uri!r} has sha256 {found[:12]}…, not the expected "
                f"{args.expect_sha256[:12]}… (--expect-sha256): it changed since it was validated"
            )
    if args.skip_validation:
        checked = f"; its sha256 is the expected {args.expect_sha256[:12]}…" if args.expect_sha256 else ""
        print(
            f"WARNING: --skip-validation: training on {config.corpus_uri!r} without running the corpus "
            f"expectation suite{checked}",
            file=sys.stderr,
        )
        return data
    # In a child process: Great Expectations and pandas stay out of this one, whose peak memory
    # metrics.json reports as the training's.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        validation = pool.submit(validate_corpus, data, min_chars=args.min_corpus_chars).result()
    try:
        require_valid(validation)
    except CorpusValidationError as exc:
        raise CorpusError(f"{config.corpus_uri}: {exc}\nNothing was trained.") from exc
    print(f"{config.corpus_uri}: {validation.summary().splitlines()[0]}", file=sys.stderr)
    return data


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

    from rnn.generate import load_model, sample

    loaded = load_model(args.model)
    unknown = sorted({ch for ch in args.prompt if ch not in loaded.vocab.index})
    if unknown:
        raise ConfigError(
            f"--prompt has characters the model never saw: {unknown!r}; its vocabulary is "
            f"{''.join(loaded.vocab.chars)!r}"
        )
    generator = torch.Generator().manual_seed(args.seed)
    for text in sample(
        loaded.model,
        loaded.vocab,
        prompt=args.prompt,
        length=args.length,
        batch_size=args.num_samples,
        temperature=args.temperature,
        top_k=args.top_k,
        generator=generator,
    ):
        print(args.prompt + text)
        print("-" * 40)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from rnn.generate import load_model
    from rnn.inference_benchmark import benchmark

    metrics = read_metrics(args.metrics) if args.metrics else None  # before the work, not after
    loaded = load_model(args.model)
    result = benchmark(
        loaded.model,
        loaded.vocab,
        completion_chars=args.chars,
        runs=args.runs,
        batch_sizes=args.batch_sizes,
        progress=sys.stderr.isatty(),
    )
    latency = result.latency_ms
    print(
        f"{args.chars}-char completion at batch 1 over {args.runs} runs: p50 {latency.p50:.1f} ms | "
        f"p95 {latency.p95:.1f} ms | p99 {latency.p99:.1f} ms"
    )
    for row in result.throughput:
        print(f"batch {row.batch_size:>3}: {row.tokens_per_s:,.0f} tok/s")
    if metrics is not None:
        metrics["inference"] = json.loads(json.dumps(result, default=to_jsonable))
        write_metrics(args.metrics, metrics)
        print(f"updated {args.metrics}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m rnn",
        description=__doc__ and "Train, sample and benchmark the character-level LSTM text generator.",
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
    p_train.add_argument("--no-progress", action="store_true", help="no progress bar, log lines only")
    _config_arguments(p_train)
    p_train.set_defaults(func=cmd_train)

    p_gen = sub.add_parser("generate", help="sample text from a trained model")
    p_gen.add_argument("--model", required=True, help="model.pt written by `train` (local or s3://)")
    p_gen.add_argument("--prompt", default="The ", help="text to continue (default %(default)r)")
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
    p_bench.add_argument("--model", required=True, help="model.pt written by `train`")
    p_bench.add_argument("--metrics", help="metrics.json to update with the `inference` section")
    p_bench.add_argument(
        "--runs", type=positive_int, default=20, help="latency runs at batch 1 (default %(default)s)"
    )
    p_bench.add_argument(
        "--chars", type=positive_int, default=200, help="characters per completion (default %(default)s)"
    )
    p_bench.add_argument(
        "--batch-sizes",
        type=positive_int,
        nargs="+",
        default=[1, 16, 64],
        help="batch sizes for throughput (default 1 16 64)",
    )
    p_bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # before torch is imported: a bad argument is refused at once
    from rnn.checkpoint import CheckpointError
    from rnn.generate import ModelFileError

    try:
        return args.func(args)
    except (CorpusError, storage.StorageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE if exc.transient else EXIT_USAGE
    except (ConfigError, CheckpointError, ModelFileError, MetricsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
