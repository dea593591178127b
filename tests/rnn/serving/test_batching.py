"""Continuous batching: requests join and leave a running batch, each gets its own complete, seeded text."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from rnn.data import Vocab
from rnn.model import CharLSTM
from rnn.serving.batching import (
    STREAM_STEPS_PER_CALL,
    BatchingEngine,
    EngineObserver,
    EngineStopped,
    GenerationRequest,
    QueueFull,
    Ticket,
)
from rnn.serving.decoder import FastDecoder, generate_ids

VOCAB = Vocab(list("abcdefghijklmnopqrstuvwxyz ."))


@pytest.fixture(scope="module")
def decoder() -> FastDecoder:
    torch.manual_seed(0)
    return FastDecoder(CharLSTM(len(VOCAB), 8, 32, 2, dropout=0.0).eval())


@pytest.fixture
def engine(decoder: FastDecoder):
    engine = BatchingEngine(decoder, VOCAB, max_batch_size=8, max_queue=4, max_chars_limit=2000)
    engine.start()
    yield engine
    engine.stop(timeout=30)


def alone(decoder: FastDecoder, prompt: str, chars: int, seed: int, **kwargs: object) -> str:
    """What the request gives on its own: generate_ids at batch 1 with the same seed."""
    ids = generate_ids(
        decoder,
        VOCAB.encode(prompt).tolist(),
        length=chars,
        generator=torch.Generator().manual_seed(seed),
        **kwargs,  # type: ignore[arg-type]
    )
    return VOCAB.decode(ids[0])


def request(prompt: str, chars: int, seed: int | None, **kwargs: object) -> Ticket:
    return Ticket(
        GenerationRequest(prompt_ids=VOCAB.encode(prompt).tolist(), max_chars=chars, seed=seed, **kwargs)  # type: ignore[arg-type]
    )


def test_concurrent_requests_each_get_their_own_complete_seeded_text(engine, decoder) -> None:
    specs = [("the ", 40, 1), ("a", 120, 2), ("quick brown ", 7, 3), ("the ", 40, 4), ("zz", 1, 5)]
    tickets = [engine.submit(request(p, n, s)) for p, n, s in specs]
    results = [t.wait(60) for t in tickets]
    for (prompt, chars, seed), result in zip(specs, results, strict=True):
        assert result.chars == chars and len(result.text) == chars
        assert result.text == alone(decoder, prompt, chars, seed)
        assert result.seed == seed
    # the same prompt with another seed is another text
    assert results[0].text != results[3].text
    assert max(r.batch_size_mean for r in results) > 1  # they really shared the batch


def test_requests_join_and_leave_a_running_batch(engine, decoder) -> None:
    long = engine.submit(request("the ", 2000, 11))  # ~2,000 steps: the waves below come and go meanwhile
    while engine.active == 0:  # the long one is running before the others arrive
        time.sleep(0.001)
    waves = []
    for wave in range(3):
        waves.append([engine.submit(request("ab", 20 + 5 * i, 100 * wave + i)) for i in range(4)])
        for ticket in waves[-1]:
            ticket.wait(60)
        assert not long.done, "the short requests leave while the long one is still running"
    result = long.wait(60)
    assert result.text == alone(decoder, "the ", 2000, 11)
    for wave, tickets in enumerate(waves):
        for i, ticket in enumerate(tickets):
            assert ticket.result is not None and ticket.result.text == alone(
                decoder, "ab", 20 + 5 * i, 100 * wave + i
            )
    # the long request shared some of its steps with others
    assert 1 < result.batch_size_mean < 5


def test_sampling_settings_are_per_request(engine, decoder) -> None:
    greedy = engine.submit(request("the ", 60, 7, temperature=0.05))
    top1 = engine.submit(request("the ", 60, 8, top_k=1))
    hot = engine.submit(request("the ", 60, 9, temperature=2.0, top_k=5))
    assert top1.wait(60).text == alone(decoder, "the ", 60, 8, top_k=1)
    assert hot.wait(60).text == alone(decoder, "the ", 60, 9, temperature=2.0, top_k=5)
    assert greedy.wait(60).text == alone(decoder, "the ", 60, 7, temperature=0.05)
    # top_k=1 is argmax: the same text whatever the seed
    assert engine.submit(request("the ", 60, 99, top_k=1)).wait(60).text == top1.result.text


def test_an_unseeded_request_reports_the_seed_that_reproduces_it(engine, decoder) -> None:
    result = engine.submit(request("ab", 30, None)).wait(60)
    assert result.text == alone(decoder, "ab", 30, result.seed)


def test_streaming_tickets_get_every_character_in_order(engine) -> None:
    ticket = engine.submit(Ticket(GenerationRequest(prompt_ids=[1, 2, 3], max_chars=50, seed=3), stream=True))
    result = ticket.wait(60)
    assert "".join(ticket.streamed) == result.text and all(ticket.streamed)
    assert len(ticket.streamed) >= 50 // STREAM_STEPS_PER_CALL  # in chunks of a few characters each


def test_a_lone_request_advances_many_steps_per_call(engine, decoder) -> None:
    calls, steps = engine.calls, engine.steps
    result = engine.submit(request("the ", 600, 21)).wait(60)
    assert result.text == alone(decoder, "the ", 600, 21)
    taken = engine.steps - steps
    assert taken == 3 + 600  # three prompt characters, then one step per character
    assert engine.calls - calls <= 4  # 256 steps per call at most, and no one else came


def test_a_request_that_joins_mid_call_gets_its_exact_seeded_text(decoder) -> None:
    """One call could take all 20,000 steps of the long request; an arrival ends it at the next step."""
    engine = BatchingEngine(decoder, VOCAB, max_batch_size=8, max_chars_limit=20_000, steps_per_call=20_000)
    engine.start()
    try:
        long = engine.submit(request("the ", 20_000, 31))
        while engine.active == 0:  # the long one is inside its call before the others arrive
            time.sleep(0.001)
        joiners = [engine.submit(request("quick ", 50 + 10 * i, 40 + i, top_k=i)) for i in range(3)]
        for i, ticket in enumerate(joiners):
            assert ticket.wait(60).text == alone(decoder, "quick ", 50 + 10 * i, 40 + i, top_k=i)
        assert not long.done, "the joiners did not wait for the long request's call to end"
        assert long.wait(60).text == alone(decoder, "the ", 20_000, 31)
        assert 1 < long.result.batch_size_mean < 2  # it shared a few of its steps
    finally:
        engine.stop(timeout=60)


def test_streaming_text_arrives_in_small_chunks_while_others_advance_many_steps(engine, decoder) -> None:
    streamed = engine.submit(
        Ticket(GenerationRequest(prompt_ids=VOCAB.encode("ab").tolist(), max_chars=300, seed=6), stream=True)
    )
    plain = engine.submit(request("ab", 300, 7))
    result = streamed.wait(60)
    assert "".join(streamed.streamed) == result.text == alone(decoder, "ab", 300, 6)
    assert max(len(chunk) for chunk in streamed.streamed) <= STREAM_STEPS_PER_CALL
    assert len(streamed.streamed) >= 300 // STREAM_STEPS_PER_CALL
    assert plain.wait(60).text == alone(decoder, "ab", 300, 7)


def test_one_step_per_call_gives_the_same_texts(decoder) -> None:
    engine = BatchingEngine(decoder, VOCAB, max_batch_size=8, steps_per_call=1)
    engine.start()
    try:
        tickets = [engine.submit(request("the ", 40 + i, 50 + i)) for i in range(3)]
        for i, ticket in enumerate(tickets):
            assert ticket.wait(60).text == alone(decoder, "the ", 40 + i, 50 + i)
        assert engine.calls == engine.steps
    finally:
        engine.stop(timeout=30)


def test_batches_above_the_fused_size_step_once_per_call_and_agree(decoder) -> None:
    engine = BatchingEngine(decoder, VOCAB, max_batch_size=12, max_queue=0)
    specs = [("the ", 30 + 20 * i, 60 + i) for i in range(12)]
    tickets = [engine.submit(request(*spec)) for spec in specs]  # all admitted at the first step
    engine.start()
    try:
        for spec, ticket in zip(specs, tickets, strict=True):
            assert ticket.wait(60).text == alone(decoder, *spec)
    finally:
        engine.stop(timeout=30)
    assert engine.calls < engine.steps  # once 8 rows or fewer were left, calls took several steps


def test_the_loop_runs_torch_with_the_threads_it_was_given(decoder) -> None:
    seen: list[int] = []

    class Threads(EngineObserver):
        def step(self, batch_size: int, chars: int, seconds: float, steps: int = 1) -> None:
            seen.append(torch.get_num_threads())  # on the engine's thread

    before = torch.get_num_threads()
    engine = BatchingEngine(decoder, VOCAB, threads=1, observer=Threads())
    engine.start()
    try:
        engine.submit(request("ab", 20, 1)).wait(30)
    finally:
        engine.stop(timeout=30)
        torch.set_num_threads(before)
    assert seen and set(seen) == {1}


def test_cancelling_frees_the_row_at_the_next_step(engine) -> None:
    doomed = engine.submit(request("the ", 2000, 1))
    while engine.active == 0:
        time.sleep(0.001)
    engine.cancel(doomed)
    deadline = time.monotonic() + 5
    while engine.active and time.monotonic() < deadline:
        time.sleep(0.001)
    assert engine.active == 0 and not doomed.done
    assert engine.submit(request("a", 5, 2)).wait(30).chars == 5  # the engine carries on


def test_a_full_queue_is_refused_with_a_retry_time(decoder) -> None:
    engine = BatchingEngine(decoder, VOCAB, max_batch_size=1, max_queue=2, max_chars_limit=300)
    # not started: nothing leaves the queue, so the third waiting request is one too many
    for seed in range(3):  # one for the free row, two for the queue
        engine.submit(request("a", 10, seed))
    with pytest.raises(QueueFull, match="queue is full") as refused:
        engine.submit(request("a", 10, 9))
    assert refused.value.retry_after_seconds >= 1
    engine.start()
    engine.stop(timeout=30)
    with pytest.raises(EngineStopped):
        engine.submit(request("a", 10, 10))


def test_stop_finishes_what_was_admitted_and_queued(decoder) -> None:
    engine = BatchingEngine(decoder, VOCAB, max_batch_size=2, max_queue=10, max_chars_limit=300)
    engine.start()
    tickets = [engine.submit(request("a", 100, seed)) for seed in range(6)]
    engine.stop(timeout=60)
    assert all(t.done and t.result is not None and t.result.chars == 100 for t in tickets)


def test_many_threads_submitting_at_once(engine) -> None:
    results: list[int] = []

    def client(seed: int) -> None:
        for i in range(5):
            while True:
                try:
                    ticket = engine.submit(request("ab", 10 + i, seed * 10 + i))
                    break
                except QueueFull:
                    time.sleep(0.005)
            results.append(ticket.wait(60).chars)

    threads = [threading.Thread(target=client, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == sorted([10 + i for i in range(5)] * 6)


def test_bad_requests_are_refused() -> None:
    with pytest.raises(ValueError, match="prompt_ids is empty"):
        GenerationRequest(prompt_ids=[], max_chars=5)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        GenerationRequest(prompt_ids=[1], max_chars=5, temperature=0)
    with pytest.raises(ValueError, match="seed must be in"):
        GenerationRequest(prompt_ids=[1], max_chars=5, seed=-1)
