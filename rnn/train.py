"""The training loop, top to bottom: load -> build -> (resume) -> epochs of TBPTT -> save -> metrics.

One log line per interval::

    step    120 | epoch 1 | loss 1.8412 | 38.2 ms/step | 9,870 tok/s
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch.nn import functional as F

from rnn.checkpoint import (
    CheckpointTriggers,
    ProcessClock,
    TrainingState,
    check_compatible,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from rnn.config import TrainConfig
from rnn.corpus import corpus_stats, decode_utf8, read_corpus_bytes
from rnn.data import Vocab, batchify, get_batch, split_tokens, steps_per_epoch
from rnn.metrics import (
    METRICS_FILENAME,
    EpochStats,
    host_info,
    peak_rss_bytes,
    training_document,
    utc_now_iso,
    write_metrics,
)
from rnn.model import CharLSTM, Hidden, count_parameters, repackage_hidden
from toolkit import storage

MODEL_FILENAME = "model.pt"
CHECKPOINT_FILENAME = "checkpoint.pt"
MODEL_FORMAT = "rnn-model/1"


@dataclass(frozen=True)
class TrainResult:
    metrics: dict[str, Any]
    metrics_uri: str
    model_uri: str | None  # None when the run was interrupted before the end
    checkpoint_uri: str
    interrupted: bool


def evaluate(model: CharLSTM, ids: torch.Tensor, seq_len: int, batch_size: int) -> float:
    """Mean cross-entropy (nats/char) over the whole split, hidden state carried across windows."""
    batch_size = max(1, min(batch_size, (len(ids) - 1) // (seq_len + 1)))
    streams = batchify(ids, batch_size)
    model.eval()
    total_loss, total_tokens = 0.0, 0
    hidden = model.init_hidden(batch_size)
    with torch.inference_mode():
        for step in range(steps_per_epoch(streams, seq_len)):
            x, y = get_batch(streams, step, seq_len)
            logits, hidden = model(x, hidden)
            total_loss += F.cross_entropy(
                logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum"
            ).item()
            total_tokens += y.numel()
    model.train()
    return total_loss / max(total_tokens, 1)


def save_model(uri: str, model: CharLSTM, config: TrainConfig, vocab: Vocab) -> int:
    import io

    buffer = io.BytesIO()
    torch.save(
        {
            "format": MODEL_FORMAT,
            "config": config.to_dict(),
            "vocab": vocab.chars,
            "model": model.state_dict(),
        },
        buffer,
    )
    data = buffer.getvalue()
    storage.write_bytes_atomic(uri, data)
    return len(data)


def train(
    config: TrainConfig,
    out_dir: str,
    *,
    checkpoint_uri: str | None = None,
    resume: bool = False,
    run_id: str | None = None,
    progress: bool = True,
    handle_signals: bool = False,
    stop_after_global_step: int | None = None,
    on_epoch_end: Callable[[EpochStats], None] | None = None,
    log: Callable[[str], None] = print,
    corpus: bytes | None = None,
) -> TrainResult:
    """Train (or resume) a run and write model.pt, checkpoint.pt and metrics.json under ``out_dir``.

    ``stop_after_global_step`` stops like SIGTERM would once that step is done (used to simulate
    an interruption); the run can then be continued with ``resume=True``. ``corpus``: the bytes of
    ``config.corpus_uri`` when the caller has already read (and validated) them. Nothing is trained
    unless ``out_dir`` and the checkpoint's folder can be written (:func:`toolkit.storage.check_writable`).
    """
    clock = ProcessClock.start()
    checkpoint_uri = checkpoint_uri or storage.join(out_dir, CHECKPOINT_FILENAME)
    metrics_uri = storage.join(out_dir, METRICS_FILENAME)
    storage.check_writable(out_dir)
    storage.check_writable(storage.parent(checkpoint_uri))
    triggers = CheckpointTriggers(config.checkpoint_every_steps, stop_after_global_step)
    if handle_signals:
        triggers.install_signal_handlers()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)

    data = read_corpus_bytes(config.corpus_uri) if corpus is None else corpus
    text = decode_utf8(data, config.corpus_uri)
    stats = corpus_stats(config.corpus_uri, data, text)
    vocab = Vocab.from_text(text)
    splits = split_tokens(
        vocab.encode(text), config.val_fraction, seq_len=config.seq_len, batch_size=config.batch_size
    )
    train_streams = batchify(splits.train, config.batch_size)
    n_steps = steps_per_epoch(train_streams, config.seq_len)
    if config.max_steps_per_epoch:
        n_steps = min(n_steps, config.max_steps_per_epoch)
    tokens_per_step = config.batch_size * config.seq_len

    torch.manual_seed(config.seed)
    random.seed(config.seed)
    model = CharLSTM.from_config(config, len(vocab))
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    state = TrainingState()
    hidden: Hidden = model.init_hidden(config.batch_size)
    resumed_from_step: int | None = None

    clock.setup_done()
    if resume and storage.exists(checkpoint_uri):
        payload = load_checkpoint(checkpoint_uri)
        check_compatible(payload, checkpoint_uri, config, vocab.chars, stats.sha256)
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        state = TrainingState(**payload["state"])
        state.attempts += 1
        hidden = (payload["hidden"][0], payload["hidden"][1])
        restore_rng(payload)
        resumed_from_step = state.global_step
        log(
            f"resumed from {checkpoint_uri} at step {state.global_step} (epoch {state.epoch + 1}, "
            f"step {state.step_in_epoch}/{n_steps})"
        )
    elif resume:
        log(f"no checkpoint at {checkpoint_uri}; starting from scratch")

    if not state.started_at:
        state.started_at = utc_now_iso()
    clock.restored(state, resumed_from_step)
    params = count_parameters(model)
    log(
        f"{params:,} parameters | vocab {len(vocab)} | {len(splits.train):,} train / {len(splits.val):,} val "
        f"chars | {n_steps} steps/epoch x {config.epochs} epochs"
    )

    def checkpoint() -> None:
        with clock.checkpointing(state):
            save_checkpoint(
                checkpoint_uri,
                model=model,
                optimizer=optimizer,
                config=config,
                vocab_chars=vocab.chars,
                dataset_sha256=stats.sha256,
                state=state,
                hidden=hidden,
            )

    bar = _progress_bar(progress, total=n_steps * config.epochs, initial=state.global_step)
    interrupted = False
    mark = time.perf_counter()
    interval_loss, interval_steps, interval_seconds = 0.0, 0, 0.0
    model.train()
    try:
        while state.epoch < config.epochs and not interrupted:
            if state.step_in_epoch == 0:
                hidden = model.init_hidden(config.batch_size)
            for step in range(state.step_in_epoch, n_steps):
                step_start = time.perf_counter()
                x, y = get_batch(train_streams, step, config.seq_len)
                hidden = repackage_hidden(hidden)
                logits, hidden = model(x, hidden)
                loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                step_seconds = time.perf_counter() - step_start
                loss_value = loss.item()

                state.step_in_epoch = step + 1
                state.global_step += 1
                state.train_seconds += step_seconds
                state.epoch_loss_sum += loss_value
                state.epoch_steps_done += 1
                interval_loss += loss_value
                interval_steps += 1
                interval_seconds += step_seconds
                bar.update(1)
                if state.global_step % config.log_every_steps == 0:
                    ms = 1000 * interval_seconds / interval_steps
                    _write(
                        bar,
                        f"step {state.global_step:>6} | epoch {state.epoch + 1} | "
                        f"loss {interval_loss / interval_steps:.4f} | {ms:.1f} ms/step | "
                        f"{tokens_per_step * interval_steps / interval_seconds:,.0f} tok/s",
                        log,
                    )
                    interval_loss, interval_steps, interval_seconds = 0.0, 0, 0.0

                now = time.perf_counter()
                state.epoch_seconds += now - mark
                mark = now
                stop = triggers.should_stop(state.global_step)
                if stop or triggers.due(state.global_step):
                    checkpoint()
                    if triggers.take_request():
                        _write(bar, f"checkpoint written at step {state.global_step} on request", log)
                if stop:
                    interrupted = True
                    _write(bar, f"stopped at step {state.global_step}; checkpoint at {checkpoint_uri}", log)
                    break
            if interrupted:
                break

            val_loss = evaluate(model, splits.val, config.seq_len, config.batch_size)
            now = time.perf_counter()
            state.epoch_seconds += now - mark
            mark = now
            train_loss = state.epoch_loss_sum / max(state.epoch_steps_done, 1)
            epoch_tokens = state.epoch_steps_done * tokens_per_step
            epoch_stats = EpochStats(
                epoch=state.epoch + 1,
                steps=state.epoch_steps_done,
                tokens=epoch_tokens,
                wall_seconds=round(state.epoch_seconds, 4),
                train_loss=train_loss,
                train_perplexity=math.exp(train_loss),
                val_loss=val_loss,
                val_perplexity=math.exp(val_loss),
                tokens_per_s=epoch_tokens / state.epoch_seconds if state.epoch_seconds else 0.0,
            )
            state.history.append(asdict(epoch_stats))
            _write(
                bar,
                f"epoch {epoch_stats.epoch} | train loss {train_loss:.4f} | val loss {val_loss:.4f} | "
                f"val ppl {epoch_stats.val_perplexity:.2f} | {epoch_stats.wall_seconds:.1f} s",
                log,
            )
            state.epoch += 1
            state.step_in_epoch = 0
            state.epoch_seconds = 0.0
            state.epoch_loss_sum = 0.0
            state.epoch_steps_done = 0
            checkpoint()
            if on_epoch_end is not None:
                on_epoch_end(epoch_stats)
    finally:
        bar.close()

    model_uri = None
    model_size = None
    if not interrupted:
        model_uri = storage.join(out_dir, MODEL_FILENAME)
        model_size = save_model(model_uri, model, config, vocab)

    clock.finish()
    metrics = training_document(
        run_id=run_id or _random_id(),
        interrupted=interrupted,
        started_at=state.started_at,
        finished_at=utc_now_iso(),
        config=config,
        dataset=stats,
        train_tokens=len(splits.train),
        val_tokens=len(splits.val),
        parameters=params,
        model_file=MODEL_FILENAME if model_uri else None,
        model_file_size_bytes=model_size,
        epochs=state.history,
        total_wall_seconds=clock.wall_seconds(),
        train_seconds=state.train_seconds,
        global_steps=state.global_step,
        tokens_per_step=tokens_per_step,
        peak_rss_bytes=peak_rss_bytes(),
        attempts=state.attempts,
        resumed_from_step=resumed_from_step,
        segments=clock.segments(),
        host=host_info(),
    )
    write_metrics(metrics_uri, metrics)
    log(f"wrote {metrics_uri}" + (f" and {model_uri}" if model_uri else ""))
    return TrainResult(
        metrics=metrics,
        metrics_uri=metrics_uri,
        model_uri=model_uri,
        checkpoint_uri=checkpoint_uri,
        interrupted=interrupted,
    )


def _random_id() -> str:
    import uuid

    return uuid.uuid4().hex


def _progress_bar(enabled: bool, *, total: int, initial: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        disable=not enabled,
        unit="step",
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=1.0,
        leave=False,
    )


def _write(bar: Any, line: str, log: Callable[[str], None]) -> None:
    if getattr(bar, "disable", True):
        log(line)
    else:
        bar.write(line)
