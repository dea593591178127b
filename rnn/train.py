"""The training loop, top to bottom: set up -> (resume) -> epochs of TBPTT -> save -> metrics.

One log line per interval::

    step    120 | epoch 1 | loss 1.8412 | 38.2 ms/step | 9,870 tok/s

Where the process's time goes (spot accounting) and when to checkpoint (cadence, signals) are
:class:`rnn.checkpoint.ProcessClock` and :class:`rnn.checkpoint.CheckpointTriggers`; the
``metrics.json`` document is :func:`rnn.metrics.training_document`.
"""

from __future__ import annotations

import io
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
from rnn.corpus import CorpusSource, CorpusStats, open_corpus
from rnn.data import (
    Ids,
    Splits,
    Vocab,
    batchify,
    evaluation_chars,
    evaluation_streams,
    get_batch,
    split_tokens,
    steps_per_epoch,
)
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
from rnn.tokens import load_corpus_ids
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


@dataclass(frozen=True)
class Setup:
    """What a run trains on and with, built from its config the same way by every process."""

    vocab: Vocab
    dataset: CorpusStats
    splits: Splits  # character ids: the training split and the held-out tail
    train_streams: Ids  # the training split as (batch_size, n) streams (views of the ids)
    val_streams: Ids  # what each epoch's validation loss is measured on (config.eval_chars)
    val_chars: int  # characters that loss scores
    steps_per_epoch: int
    tokens_per_step: int  # batch_size x seq_len
    model: CharLSTM
    optimizer: torch.optim.Optimizer
    parameters: int

    def summary(self, epochs: int) -> str:
        return (
            f"{self.parameters:,} parameters | vocab {len(self.vocab)} | {len(self.splits.train):,} train / "
            f"{len(self.splits.val):,} val chars ({self.val_chars:,} scored per epoch) | "
            f"{self.steps_per_epoch} steps/epoch x {epochs} epochs"
        )


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
    corpus: bytes | CorpusSource | None = None,
    token_cache_dir: str | None = None,
) -> TrainResult:
    """Train (or resume) a run and write model.pt, checkpoint.pt and metrics.json under ``out_dir``.

    ``stop_after_global_step`` stops like SIGTERM would once that step is done (used to simulate
    an interruption); the run can then be continued with ``resume=True``. ``corpus``: the bytes of
    ``config.corpus_uri``, or a :class:`rnn.corpus.CorpusSource` of them, when the caller has already
    opened (and validated) them. A large corpus is encoded once into a token file under
    ``token_cache_dir`` (:mod:`rnn.tokens`) and memory-mapped. Nothing is trained unless ``out_dir``
    and the checkpoint's folder can be written (:func:`toolkit.storage.check_writable`).
    """
    clock = ProcessClock.start()
    checkpoint_uri = checkpoint_uri or storage.join(out_dir, CHECKPOINT_FILENAME)
    storage.check_writable(out_dir)
    storage.check_writable(storage.parent(checkpoint_uri))
    triggers = CheckpointTriggers(config.checkpoint_every_steps, stop_after_global_step)
    if handle_signals:
        triggers.install_signal_handlers()
    setup = set_up(config, corpus, token_cache_dir=token_cache_dir)
    clock.setup_done()
    state, hidden, resumed_from_step = starting_position(
        setup, config, checkpoint_uri, resume=resume, log=log
    )
    clock.restored(state, resumed_from_step)
    log(setup.summary(config.epochs))

    model, optimizer = setup.model, setup.optimizer
    bar = _progress_bar(progress, total=setup.steps_per_epoch * config.epochs, initial=state.global_step)
    interval, epoch_watch = LogInterval(setup.tokens_per_step), Stopwatch()
    interrupted = False
    model.train()
    try:
        while state.epoch < config.epochs:
            if state.step_in_epoch == 0:
                hidden = model.init_hidden(config.batch_size)
            for step in range(state.step_in_epoch, setup.steps_per_epoch):
                step_start = time.perf_counter()
                x, y = get_batch(setup.train_streams, step, config.seq_len)
                hidden = repackage_hidden(hidden)
                logits, hidden = model(x, hidden)
                loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                step_seconds = time.perf_counter() - step_start
                loss_value = loss.item()

                state.count_step(loss=loss_value, seconds=step_seconds)
                interval.add(loss=loss_value, seconds=step_seconds)
                bar.update(1)
                if state.global_step % config.log_every_steps == 0:
                    _write(bar, interval.close(global_step=state.global_step, epoch=state.epoch + 1), log)
                state.epoch_seconds += epoch_watch.lap_seconds()
                stop = triggers.should_stop(state.global_step)
                if stop or triggers.due(state.global_step):
                    _checkpoint(checkpoint_uri, config, setup, state, hidden, clock)
                    if triggers.take_request():
                        _write(bar, f"checkpoint written at step {state.global_step} on request", log)
                if stop:
                    _write(bar, f"stopped at step {state.global_step}; checkpoint at {checkpoint_uri}", log)
                    interrupted = True
                    break
            if interrupted:
                break

            val_loss = loss_over(model, setup.val_streams, config.seq_len)
            state.epoch_seconds += epoch_watch.lap_seconds()
            epoch_stats = state.finish_epoch(val_loss=val_loss, tokens_per_step=setup.tokens_per_step)
            _write(bar, epoch_line(epoch_stats), log)
            _checkpoint(checkpoint_uri, config, setup, state, hidden, clock)
            if on_epoch_end is not None:
                on_epoch_end(epoch_stats)
    finally:
        bar.close()

    model_uri = None if interrupted else storage.join(out_dir, MODEL_FILENAME)
    model_size_bytes = save_model(model_uri, model, config, setup.vocab) if model_uri else None
    clock.finish()
    metrics = _metrics_document(
        config, setup, state, clock, run_id=run_id, interrupted=interrupted, model_size_bytes=model_size_bytes
    )
    metrics_uri = storage.join(out_dir, METRICS_FILENAME)
    write_metrics(metrics_uri, metrics)
    log(f"wrote {metrics_uri}" + (f" and {model_uri}" if model_uri else ""))
    return TrainResult(metrics, metrics_uri, model_uri, checkpoint_uri, interrupted)


def set_up(
    config: TrainConfig, corpus: bytes | CorpusSource | None = None, *, token_cache_dir: str | None = None
) -> Setup:
    """Open the corpus (unless given), get its ids (:func:`rnn.tokens.load_corpus_ids`: encoded once,
    memory-mapped when large), cut the splits, streams and the evaluation sample, and build a seeded
    model with its optimizer."""
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    if corpus is None:
        source = open_corpus(config.corpus_uri)
    elif isinstance(corpus, CorpusSource):
        source = corpus
    else:
        source = CorpusSource.of_bytes(config.corpus_uri, corpus)
    corpus_ids = load_corpus_ids(source, cache_dir=token_cache_dir)
    splits = split_tokens(
        corpus_ids.ids, config.val_fraction, seq_len=config.seq_len, batch_size=config.batch_size
    )
    train_streams = batchify(splits.train, config.batch_size)
    val_streams = evaluation_streams(
        splits.val, batch_size=config.batch_size, seq_len=config.seq_len, max_chars=config.eval_chars
    )
    n_steps = steps_per_epoch(train_streams, config.seq_len)
    if config.max_steps_per_epoch:
        n_steps = min(n_steps, config.max_steps_per_epoch)
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    vocab = corpus_ids.vocab
    model = CharLSTM.from_config(config, len(vocab))
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    return Setup(
        vocab=vocab,
        dataset=corpus_ids.stats,
        splits=splits,
        train_streams=train_streams,
        val_streams=val_streams,
        val_chars=evaluation_chars(val_streams, config.seq_len),
        steps_per_epoch=n_steps,
        tokens_per_step=config.batch_size * config.seq_len,
        model=model,
        optimizer=optimizer,
        parameters=count_parameters(model),
    )


def starting_position(
    setup: Setup, config: TrainConfig, checkpoint_uri: str, *, resume: bool, log: Callable[[str], None]
) -> tuple[TrainingState, Hidden, int | None]:
    """Where the run starts: its position, hidden state and the global step resumed from (None if fresh).

    When resuming from a checkpoint, the model, the optimizer and the RNGs are loaded from it too;
    without one (or without ``resume``) the run starts at step 0.
    """
    state = TrainingState()
    hidden = setup.model.init_hidden(config.batch_size)
    resumed_from_step: int | None = None
    if resume and storage.exists(checkpoint_uri):
        payload = load_checkpoint(checkpoint_uri)
        check_compatible(payload, checkpoint_uri, config, setup.vocab.chars, setup.dataset.sha256)
        setup.model.load_state_dict(payload["model"])
        setup.optimizer.load_state_dict(payload["optimizer"])
        state = TrainingState(**payload["state"])
        state.attempts += 1
        hidden = (payload["hidden"][0], payload["hidden"][1])
        restore_rng(payload)
        resumed_from_step = state.global_step
        log(
            f"resumed from {checkpoint_uri} at step {state.global_step} (epoch {state.epoch + 1}, "
            f"step {state.step_in_epoch}/{setup.steps_per_epoch})"
        )
    elif resume:
        log(f"no checkpoint at {checkpoint_uri}; starting from scratch")
    if not state.started_at:
        state.started_at = utc_now_iso()
    return state, hidden, resumed_from_step


@dataclass
class LogInterval:
    """The steps since the last log line, which reads
    ``step    120 | epoch 1 | loss 1.8412 | 38.2 ms/step | 9,870 tok/s`` (time inside optimizer steps)."""

    tokens_per_step: int
    loss_sum: float = 0.0
    steps: int = 0
    seconds: float = 0.0

    def add(self, *, loss: float, seconds: float) -> None:
        self.loss_sum += loss
        self.steps += 1
        self.seconds += seconds

    def close(self, *, global_step: int, epoch: int) -> str:
        """This interval's log line; the next interval starts empty."""
        line = (
            f"step {global_step:>6} | epoch {epoch} | loss {self.loss_sum / self.steps:.4f} | "
            f"{1000 * self.seconds / self.steps:.1f} ms/step | "
            f"{self.tokens_per_step * self.steps / self.seconds:,.0f} tok/s"
        )
        self.loss_sum, self.steps, self.seconds = 0.0, 0, 0.0
        return line


def epoch_line(stats: EpochStats) -> str:
    return (
        f"epoch {stats.epoch} | train loss {stats.train_loss:.4f} | val loss {stats.val_loss:.4f} | "
        f"val ppl {stats.val_perplexity:.2f} | {stats.wall_seconds:.1f} s"
    )


@dataclass
class Stopwatch:
    """Seconds between successive :meth:`lap_seconds` calls, the first lap counted from its creation."""

    now: Callable[[], float] = time.perf_counter
    last_s: float = field(init=False)

    def __post_init__(self) -> None:
        self.last_s = self.now()

    def lap_seconds(self) -> float:
        now_s = self.now()
        seconds, self.last_s = now_s - self.last_s, now_s
        return seconds


def evaluate(model: CharLSTM, ids: Ids, seq_len: int, batch_size: int) -> float:
    """Mean cross-entropy (nats/char) over the whole split, hidden state carried across windows."""
    return loss_over(
        model, evaluation_streams(ids, batch_size=batch_size, seq_len=seq_len, max_chars=0), seq_len
    )


def loss_over(model: CharLSTM, streams: Ids, seq_len: int) -> float:
    """Mean cross-entropy (nats/char) over (batch, n) streams in ``seq_len`` windows, hidden state carried
    along each stream (:func:`rnn.data.evaluation_chars` of them are scored)."""
    model.eval()
    total_loss, total_tokens = 0.0, 0
    hidden = model.init_hidden(streams.shape[0])
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


def _metrics_document(
    config: TrainConfig,
    setup: Setup,
    state: TrainingState,
    clock: ProcessClock,
    *,
    run_id: str | None,
    interrupted: bool,
    model_size_bytes: int | None,
) -> dict[str, Any]:
    """What this run measured, as of now, put into :func:`rnn.metrics.training_document`."""
    return training_document(
        run_id=run_id or _random_id(),
        interrupted=interrupted,
        started_at=state.started_at,
        finished_at=utc_now_iso(),
        config=config,
        dataset=setup.dataset,
        train_tokens=len(setup.splits.train),
        val_tokens=len(setup.splits.val),
        val_chars=setup.val_chars,
        parameters=setup.parameters,
        model_file=None if interrupted else MODEL_FILENAME,
        model_file_size_bytes=model_size_bytes,
        epochs=state.history,
        total_wall_seconds=clock.wall_seconds(),
        train_seconds=state.train_seconds,
        global_steps=state.global_step,
        tokens_per_step=setup.tokens_per_step,
        peak_rss_bytes=peak_rss_bytes(),
        attempts=state.attempts,
        resumed_from_step=clock.segment.resumed_from_step,
        segments=clock.segments(),
        host=host_info(),
    )


def _checkpoint(
    uri: str, config: TrainConfig, setup: Setup, state: TrainingState, hidden: Hidden, clock: ProcessClock
) -> None:
    with clock.checkpointing(state):
        save_checkpoint(
            uri,
            model=setup.model,
            optimizer=setup.optimizer,
            config=config,
            vocab_chars=setup.vocab.chars,
            dataset_sha256=setup.dataset.sha256,
            state=state,
            hidden=hidden,
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
