"""Continuous batching: one model loop advances every active request, re-forming the batch when one joins or leaves.

:class:`BatchingEngine` owns a :class:`~rnn.serving.decoder.FastDecoder` and a thread. Requests wait in a
bounded queue (:class:`QueueFull` when it is full); at every step the loop admits waiting requests
into free rows of the batch, feeds each row one character (a prompt character while the row is
still reading its prompt, else the character it sampled last), samples the next one, and lets rows
that reached their ``max_chars`` (or were cancelled) leave. Requests of any length share the batch.

**Several steps per call.** A batch of 1-8 rows (the fused C++ step) advances up to
``steps_per_call`` steps in one call (:meth:`~rnn.serving.decoder.FastDecoder.advance`: the same steps,
sampling included, without Python between them). The call ends after the step in which a row
finishes, and as soon as a request arrives or is cancelled (:meth:`BatchingEngine.submit` and
:meth:`BatchingEngine.cancel` raise an interrupt the call checks after every step), so the batch is
still re-formed at the first step boundary after anything changes; a lone request runs at the speed
of the decoder instead of paying Python's per-step overhead. A batch with a streaming request
advances at most :data:`STREAM_STEPS_PER_CALL` steps per call, so its text keeps arriving in small
chunks. Batches of more than 8 rows are compute-bound and step once per call through oneDNN.

Each request samples with its own pre-drawn uniforms (``torch.rand(max_chars)`` from its seed), so a
seeded request gives the same text whatever else is in the batch and however many steps each call
advanced, and the same text as ``python -m rnn generate --seed`` for that prompt. (Float rounding
differs slightly between the fused step and oneDNN's; a character could flip only if a uniform fell
within ~1e-7 of a boundary.)

Results and streamed text leave the loop through :attr:`BatchingEngine.publish`, called once per
model call with that call's events (the HTTP server hands them to its event loop in one call).
"""

from __future__ import annotations

import array
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from rnn.data import Vocab
from rnn.serving.decoder import FastDecoder, sample_ids
from rnn.serving.settings import DEFAULT_STEPS_PER_CALL

log = logging.getLogger(__name__)

MAX_SEED = 2**63 - 1
STREAM_STEPS_PER_CALL = 16  # at most this many while a streaming request is in the batch: small chunks
_NO_PROMPT = torch.zeros(0, dtype=torch.long)


class QueueFull(Exception):
    """Every row is busy and the wait queue is full; try again after ``retry_after_seconds``."""

    def __init__(self, queued: int, retry_after_seconds: int) -> None:
        super().__init__(
            f"the queue is full ({queued} requests waiting); retry after {retry_after_seconds} s"
        )
        self.queued = queued
        self.retry_after_seconds = retry_after_seconds


class EngineStopped(Exception):
    """The engine is shutting down and takes no new requests."""


@dataclass(frozen=True)
class GenerationRequest:
    prompt_ids: Sequence[int]  # at least one character id
    max_chars: int
    temperature: float = 0.8
    top_k: int = 0
    seed: int | None = None

    def __post_init__(self) -> None:
        if not self.prompt_ids:
            raise ValueError("prompt_ids is empty: give at least one character id")
        if self.max_chars < 1:
            raise ValueError(f"max_chars must be >= 1, got {self.max_chars}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be in [0, 2**63 - 1], got {self.seed}")


@dataclass(frozen=True)
class GenerationResult:
    text: str
    chars: int
    queue_seconds: float  # submitted -> admitted into the batch
    generate_seconds: float  # admitted -> last character
    batch_size_mean: float  # mean batch size over the steps this request was in
    seed: int


@dataclass(frozen=True)
class Event:
    """What one step produced for one ticket: new text (streaming tickets), and the result when done."""

    ticket: Ticket
    text: str = ""
    result: GenerationResult | None = None
    error: BaseException | None = None


class Ticket:
    """One submitted request: its timings, and the way its text comes back.

    Without a :attr:`BatchingEngine.publish` hook, :meth:`wait` blocks until the result is there.
    """

    def __init__(self, request: GenerationRequest, *, stream: bool = False) -> None:
        self.request = request
        self.stream = stream
        self.seed = request.seed if request.seed is not None else secrets.randbits(63)
        self.submitted_at = time.perf_counter()
        self.admitted_at: float | None = None
        self.result: GenerationResult | None = None
        self.error: BaseException | None = None
        self.cancelled = False
        self.streamed: list[str] = []
        self._done = threading.Event()
        # set by the engine while the ticket holds a row
        self.row: int | None = None
        self.mark: tuple[int, int] = (0, 0)  # (steps, sum of batch sizes) when admitted

    def apply(self, event: Event) -> None:
        """Record an event (called by the default publish hook)."""
        if event.text:
            self.streamed.append(event.text)
        if event.result is not None or event.error is not None:
            self.result, self.error = event.result, event.error
            self._done.set()

    def wait(self, timeout: float | None = None) -> GenerationResult:
        if not self._done.wait(timeout):
            raise TimeoutError(f"no result within {timeout} s")
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result

    @property
    def done(self) -> bool:
        return self._done.is_set()


class EngineObserver:
    """Hooks for instrumentation (the server's Prometheus metrics); the default does nothing."""

    def step(self, batch_size: int, chars: int, seconds: float, steps: int = 1) -> None:
        """One model call: ``steps`` steps of ``batch_size`` rows in ``seconds``, ``chars`` characters kept."""

    def admitted(self, ticket: Ticket) -> None: ...


def _publish_directly(events: list[Event]) -> None:
    for event in events:
        event.ticket.apply(event)


class BatchingEngine:
    """The model loop (module doc). ``start()`` it, ``submit()`` tickets, ``stop()`` it."""

    def __init__(
        self,
        decoder: FastDecoder,
        vocab: Vocab,
        *,
        max_batch_size: int = 64,
        max_queue: int = 256,
        max_chars_limit: int = 2000,
        steps_per_call: int = DEFAULT_STEPS_PER_CALL,
        threads: int = 0,
        observer: EngineObserver | None = None,
    ) -> None:
        if max_batch_size < 1 or max_queue < 0 or max_chars_limit < 1 or steps_per_call < 1 or threads < 0:
            raise ValueError(
                f"max_batch_size >= 1, max_queue >= 0, max_chars_limit >= 1, steps_per_call >= 1 and threads >= 0 "
                f"required, got {max_batch_size}, {max_queue}, {max_chars_limit}, {steps_per_call}, {threads}"
            )
        self.decoder = decoder
        self.vocab = vocab
        self.max_batch_size = max_batch_size
        self.max_queue = max_queue
        self.max_chars_limit = max_chars_limit
        self.steps_per_call = steps_per_call
        self.threads = threads  # torch threads of the loop, set on its own thread; 0: torch's setting
        self.observer = observer or EngineObserver()
        self.publish: Callable[[list[Event]], None] = _publish_directly

        cap = max_batch_size
        self._state = decoder.new_state(cap)
        self._ids = torch.zeros(cap, dtype=torch.long)  # next input of each row
        self._pos = torch.zeros(cap, dtype=torch.long)  # characters generated so far
        self._limit = torch.zeros(cap, dtype=torch.long)  # max_chars of each row
        self._emit = torch.zeros(cap, dtype=torch.long)  # 1 when this step's sample is kept
        self._temperature = torch.ones(cap, 1)
        self._top_k = torch.zeros(cap, dtype=torch.long)
        self._uniforms = torch.zeros(cap, max_chars_limit)
        self._out = torch.zeros(cap, max_chars_limit, dtype=torch.long)
        self._tickets: list[Ticket | None] = [None] * cap
        # row -> [prompt ids (array), next index, the ids as a tensor]: the row is still reading its prompt
        self._feed: dict[int, list] = {}
        self._feed_at = torch.zeros(cap, dtype=torch.long)  # next prompt index, during a fused call
        self._interrupt = torch.zeros(1, dtype=torch.int32)  # non-zero: end the fused call after this step
        self._n = 0
        self._top_k_rows = 0  # active rows with top_k > 0 (else the filter is skipped)
        self._streaming_rows = 0

        self._lock = threading.Condition()
        self._pending: deque[Ticket] = deque()
        self._cancelled: list[Ticket] = []
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.steps = 0
        self.calls = 0
        self.batch_sum = 0
        self.chars_generated = 0
        self._recent_request_seconds = 1.0

    # -- public ------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="rnn-batching-engine", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Finish every admitted and queued request, then end the loop."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def submit(self, ticket: Ticket) -> Ticket:
        request = ticket.request
        if request.max_chars > self.max_chars_limit:
            raise ValueError(f"max_chars must be <= {self.max_chars_limit}, got {request.max_chars}")
        with self._lock:
            if self._stopping:
                raise EngineStopped("the server is shutting down")
            free_rows = self.max_batch_size - self._n
            if len(self._pending) >= self.max_queue + free_rows:
                raise QueueFull(len(self._pending), self.retry_after_seconds())
            self._pending.append(ticket)
            self._interrupt.fill_(1)  # a running call stops at the next step boundary: it can join there
            self._lock.notify()
        return ticket

    def cancel(self, ticket: Ticket) -> None:
        """The client went away: drop the ticket from the queue, or free its row at the next step."""
        with self._lock:
            ticket.cancelled = True
            try:
                self._pending.remove(ticket)
            except ValueError:
                self._cancelled.append(ticket)
                self._interrupt.fill_(1)
            self._lock.notify()

    @property
    def active(self) -> int:
        return self._n

    @property
    def queued(self) -> int:
        return len(self._pending)

    def retry_after_seconds(self) -> int:
        """Seconds until the queue has room again, roughly: queued batches x a request's recent duration."""
        batches = (len(self._pending) + 1) / self.max_batch_size
        return max(1, round(batches * self._recent_request_seconds + 0.5))

    # -- the loop ----------------------------------------------------------------------------------------

    def _run(self) -> None:
        if self.threads:  # this thread's OpenMP team (rnn.serving.server.one_openmp_team)
            torch.set_num_threads(self.threads)
        while True:
            with self._lock:
                while not self._pending and not self._cancelled and self._n == 0 and not self._stopping:
                    self._lock.wait()
                if self._stopping and not self._pending and self._n == 0:
                    return
                cancelled, self._cancelled = self._cancelled, []
                self._interrupt.zero_()  # under the lock: a submit or cancel after this raises it again
                admitted = []
                while self._pending and self._n + len(admitted) < self.max_batch_size:
                    admitted.append(self._pending.popleft())
            for ticket in cancelled:
                if ticket.row is not None and self._tickets[ticket.row] is ticket:
                    self._remove(ticket.row)
            for ticket in admitted:
                self._admit(ticket)
            if self._n:
                try:
                    self._step()
                except Exception as exc:  # a bug must not leave clients waiting forever
                    log.exception("generation step failed; failing the %d requests in the batch", self._n)
                    events = [Event(t, error=exc) for t in self._tickets[: self._n] if t is not None]
                    while self._n:
                        self._remove(self._n - 1)
                    self.publish(events)

    def _admit(self, ticket: Ticket) -> None:
        request = ticket.request
        row = self._n
        self._n += 1
        prompt = array.array("l", request.prompt_ids)
        self._state.reset_rows(row, row + 1)
        self._ids[row] = prompt[0]
        self._pos[row] = 0
        self._limit[row] = request.max_chars
        self._emit[row] = 1 if len(prompt) == 1 else 0
        if len(prompt) > 1:
            self._feed[row] = [prompt, 1, torch.frombuffer(prompt, dtype=torch.long)]
        self._temperature[row, 0] = request.temperature
        self._top_k[row] = request.top_k
        self._top_k_rows += request.top_k > 0
        self._streaming_rows += ticket.stream
        generator = torch.Generator().manual_seed(ticket.seed)
        self._uniforms[row, : request.max_chars] = torch.rand(request.max_chars, generator=generator)
        self._tickets[row] = ticket
        ticket.row = row
        ticket.admitted_at = time.perf_counter()
        ticket.mark = (self.steps, self.batch_sum)
        self.observer.admitted(ticket)

    def _remove(self, row: int) -> None:
        """Free ``row``: the last active row moves into it, so rows [0, n) stay the batch."""
        ticket = self._tickets[row]
        if ticket is not None:
            ticket.row = None
            self._top_k_rows -= ticket.request.top_k > 0
            self._streaming_rows -= ticket.stream
        self._feed.pop(row, None)
        last = self._n - 1
        if row != last:
            self._state.move_row(last, row)
            for buffer in (self._ids, self._pos, self._limit, self._emit, self._top_k):
                buffer[row] = buffer[last]
            for buffer in (self._temperature, self._uniforms, self._out):
                buffer[row].copy_(buffer[last])
            moved = self._tickets[last]
            self._tickets[row] = moved
            if moved is not None:
                moved.row = row
            if last in self._feed:
                self._feed[row] = self._feed.pop(last)
        self._tickets[last] = None
        self._n -= 1

    def _step(self) -> None:
        """One model call: the batch advances one step, or up to ``steps_per_call`` (module doc)."""
        started = time.perf_counter()
        n = self._n
        before = self._pos[:n].tolist()
        if self.decoder.can_advance(n):
            steps = self._advance_fused(n)
        else:
            self._step_once(n)
            steps = 1
        after = self._pos[:n].tolist()
        chars = sum(after) - sum(before)
        self.calls += 1
        self.steps += steps
        self.batch_sum += n * steps
        self.chars_generated += chars

        events: list[Event] = []
        if self._streaming_rows:
            for row in range(n):
                ticket = self._tickets[row]
                if ticket is not None and ticket.stream and after[row] > before[row]:
                    text = self.vocab.decode(self._out[row, before[row] : after[row]].tolist())
                    events.append(Event(ticket, text=text))
        tickets = self._tickets
        finished = [row for row in range(n) if after[row] >= tickets[row].request.max_chars]  # type: ignore[union-attr]
        if finished:
            now = time.perf_counter()
            for row in sorted(finished, reverse=True):
                ticket = self._tickets[row]
                assert ticket is not None and ticket.admitted_at is not None
                length = ticket.request.max_chars
                taken = self.steps - ticket.mark[0]
                result = GenerationResult(
                    text=self.vocab.decode(self._out[row, :length].tolist()),
                    chars=length,
                    queue_seconds=ticket.admitted_at - ticket.submitted_at,
                    generate_seconds=now - ticket.admitted_at,
                    batch_size_mean=(self.batch_sum - ticket.mark[1]) / max(taken, 1),
                    seed=ticket.seed,
                )
                self._recent_request_seconds = 0.9 * self._recent_request_seconds + 0.1 * (
                    now - ticket.submitted_at
                )
                events.append(Event(ticket, result=result))
                self._remove(row)
        try:
            self.observer.step(n, chars, time.perf_counter() - started, steps)
        finally:  # results already left the batch: they reach their clients whatever the observer does
            if events:
                self.publish(events)

    def _advance_fused(self, n: int) -> int:
        """Up to ``steps_per_call`` steps in one C++ call; returns the steps taken."""
        prompts = [_NO_PROMPT] * n
        for row, (_, index, tensor) in self._feed.items():
            prompts[row] = tensor
            self._feed_at[row] = index
        max_steps = self.steps_per_call
        if self._streaming_rows:
            max_steps = min(max_steps, STREAM_STEPS_PER_CALL)
        steps = self.decoder.advance(
            self._state,
            n,
            ids=self._ids,
            pos=self._pos,
            limit=self._limit,
            emit=self._emit,
            temperature=self._temperature,
            top_k=self._top_k,
            filter_top_k=self._top_k_rows > 0,
            uniforms=self._uniforms,
            out=self._out,
            prompts=prompts,
            feed_at=self._feed_at,
            max_steps=max_steps,
            interrupt=self._interrupt,
        )
        if self._feed:
            fed = self._feed_at[:n].tolist()
            for row, feed in list(self._feed.items()):
                feed[1] = fed[row]
                if feed[1] == len(feed[0]):  # the call already set its emit
                    del self._feed[row]
        return steps

    def _step_once(self, n: int) -> None:
        """One step from Python (batches of more than 8 rows, or no fused step)."""
        logits = self.decoder.step(self._state, self._ids[:n], n)
        assert logits is not None
        uniforms = self._uniforms[:n].gather(1, self._pos[:n].unsqueeze(1))
        top_k = self._top_k[:n] if self._top_k_rows else 0
        ids = sample_ids(logits, uniforms, self._temperature[:n], top_k)
        self._out[:n].scatter_(1, self._pos[:n].unsqueeze(1), ids.unsqueeze(1))
        self._pos[:n] += self._emit[:n]
        self._ids[:n] = ids
        for row, feed in list(self._feed.items()):
            prompt, index, _ = feed
            self._ids[row] = prompt[index]
            feed[1] = index + 1
            if feed[1] == len(prompt):
                self._emit[row] = 1
                del self._feed[row]
