"""Command line: ``python -m rnn {train,generate,bench} --help``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from rnn.config import ConfigError, TrainConfig
from rnn.corpus import CorpusError
from rnn.metrics import MetricsError, read_metrics, to_jsonable, write_metrics

EXIT_USAGE = 2  # bad input: the message says what to change
EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: stopped after a checkpoint; run again with --resume


def _positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1 (a batch of 0 completions is not a question)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training config (defaults from rnn.config.TrainConfig)")
    group.add_argument(
        "--config", type=Path, help="JSON file with TrainConfig fields; flags below override it"
    )
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        kind = type(field.default)
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


def cmd_train(args: argparse.Namespace) -> int:
    from rnn.train import train

    config = _build_config(args)
    result = train(
        config,
        args.out_dir,
        checkpoint_uri=args.checkpoint,
        resume=args.resume,
        run_id=args.run_id,
        progress=not args.no_progress and sys.stderr.isatty(),
        handle_signals=True,
        stop_after_global_step=args.stop_after_step,
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
    if args.metrics:
        metrics = read_metrics(args.metrics)
        metrics["inference"] = json.loads(json.dumps(result, default=to_jsonable))
        write_metrics(args.metrics, metrics)
        print(f"updated {args.metrics}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
        type=int,
        help="checkpoint and stop after this global step (simulates an interruption)",
    )
    p_train.add_argument("--no-progress", action="store_true", help="no progress bar, log lines only")
    _config_arguments(p_train)
    p_train.set_defaults(func=cmd_train)

    p_gen = sub.add_parser("generate", help="sample text from a trained model")
    p_gen.add_argument("--model", required=True, help="model.pt written by `train` (local or s3://)")
    p_gen.add_argument("--prompt", default="The ", help="text to continue (default %(default)r)")
    p_gen.add_argument("--length", type=int, default=200, help="characters to generate (default %(default)s)")
    p_gen.add_argument(
        "--temperature", type=float, default=0.8, help="sampling temperature (default %(default)s)"
    )
    p_gen.add_argument(
        "--top-k", type=int, default=0, help="sample from the k most likely characters; 0 = all"
    )
    p_gen.add_argument(
        "--num-samples", type=_positive_int, default=1, help="completions to print (default %(default)s)"
    )
    p_gen.add_argument("--seed", type=int, default=0, help="sampling seed (default %(default)s)")
    p_gen.set_defaults(func=cmd_generate)

    p_bench = sub.add_parser("bench", help="measure inference latency and throughput")
    p_bench.add_argument("--model", required=True, help="model.pt written by `train`")
    p_bench.add_argument("--metrics", help="metrics.json to update with the `inference` section")
    p_bench.add_argument("--runs", type=int, default=20, help="latency runs at batch 1 (default %(default)s)")
    p_bench.add_argument(
        "--chars", type=int, default=200, help="characters per completion (default %(default)s)"
    )
    p_bench.add_argument(
        "--batch-sizes",
        type=_positive_int,
        nargs="+",
        default=[1, 16, 64],
        help="batch sizes for throughput (default 1 16 64)",
    )
    p_bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    from rnn.checkpoint import CheckpointError
    from rnn.generate import ModelFileError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, CorpusError, CheckpointError, ModelFileError, MetricsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
