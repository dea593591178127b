"""The fused C++ step: built here, the same numbers as the torch-ops step, rows independent, a clear fallback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from rnn.model import CharLSTM
from rnn.serving import fused_step
from rnn.serving.decoder import FastDecoder, generate_ids, sample_ids, teacher_forced_logits
from rnn.serving.settings import FUSED_STEP_ENV

REPO = Path(__file__).resolve().parents[3]


def model(vocab: int = 50, embedding: int = 8, hidden: int = 20, layers: int = 2, seed: int = 0) -> CharLSTM:
    torch.manual_seed(seed)
    return CharLSTM(vocab, embedding, hidden, layers, dropout=0.1).eval()


@pytest.fixture
def reload_kernel() -> Iterator[None]:
    """Forget the loaded build before and after: the test changes what load() sees."""
    fused_step.load.cache_clear()
    yield
    fused_step.load.cache_clear()


def torch_ops_decoder(m: CharLSTM, monkeypatch: pytest.MonkeyPatch) -> FastDecoder:
    """The same model through the torch-ops step (RNN_FUSED_STEP=0)."""
    with monkeypatch.context() as patch:
        patch.setenv(FUSED_STEP_ENV, "0")
        fused_step.load.cache_clear()
        decoder = FastDecoder(m)
    fused_step.load.cache_clear()
    assert not decoder.fused and "turned off" in decoder.step_kind
    return decoder


def test_the_fused_step_is_built_and_used_here() -> None:
    """make install builds it; a machine with g++ must not silently run the slow path (CI has g++)."""
    decoder = FastDecoder(model())
    assert decoder.fused, decoder.step_kind
    assert decoder.step_kind.startswith("fused C++ step, batches of 1-8")
    assert (
        fused_step.load().module.LstmStep.max_batch() == fused_step.MAX_BATCH == 8
    )  # compiled in from Python
    assert FastDecoder(model(), precision="int8").fused is False  # reduced precision: torch ops only


@pytest.mark.parametrize(
    ("hidden", "layers"),
    [(20, 2), (16, 1), (460, 2), (33, 3)],
    ids=["padded", "one-layer", "default", "three"],
)
def test_fused_and_torch_ops_steps_give_the_same_logits(
    hidden: int, layers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = model(hidden=hidden, layers=layers)
    fused, unfused = FastDecoder(m), torch_ops_decoder(m, monkeypatch)
    ids = torch.randint(0, 50, (8, 300), generator=torch.Generator().manual_seed(1))
    for batch in (1, 3, 8):
        difference = teacher_forced_logits(fused, ids[:batch]) - teacher_forced_logits(unfused, ids[:batch])
        assert difference.abs().max().item() < 1e-6, batch


def test_a_row_is_bit_identical_alone_and_in_a_full_batch() -> None:
    """What makes a seeded request give the same text whatever shares its batch."""
    decoder = FastDecoder(model(hidden=460))
    ids = torch.randint(0, 50, (8, 100), generator=torch.Generator().manual_seed(2))
    alone = teacher_forced_logits(decoder, ids[:1])
    for batch in (2, 5, 8):
        assert torch.equal(teacher_forced_logits(decoder, ids[:batch])[:1], alone), batch


def test_batches_above_eight_take_the_torch_ops_step_and_agree() -> None:
    decoder = FastDecoder(model())
    ids = torch.randint(0, 50, (9, 80), generator=torch.Generator().manual_seed(3))
    small = teacher_forced_logits(decoder, ids[:8])
    large = teacher_forced_logits(decoder, ids)
    assert not torch.equal(small, large[:8])  # a different kernel did the 9-row batch ...
    assert (small - large[:8]).abs().max().item() < 1e-6  # ... to float rounding the same numbers


@pytest.mark.parametrize(("temperature", "top_k"), [(0.8, 0), (0.5, 5), (1.3, 1)])
def test_generate_in_cpp_draws_what_the_python_loop_draws(temperature: float, top_k: int) -> None:
    """generate_ids (the whole loop in C++) = step + sample_ids from Python (what the server runs)."""
    decoder = FastDecoder(model(hidden=64))
    prompt, length, batch = [4, 5, 6], 150, 3
    got = generate_ids(
        decoder,
        prompt,
        length=length,
        batch_size=batch,
        temperature=temperature,
        top_k=top_k,
        generator=torch.Generator().manual_seed(4),
    )
    uniforms = torch.rand(batch, length, generator=torch.Generator().manual_seed(4))
    state = decoder.new_state(batch)
    for char_id in prompt[:-1]:
        decoder.step(state, torch.full((batch,), char_id), batch, logits=False)
    ids, expected = torch.full((batch,), prompt[-1]), []
    for i in range(length):
        ids = sample_ids(decoder.step(state, ids, batch), uniforms[:, i : i + 1], temperature, top_k)
        expected.append(ids)
    assert torch.equal(got, torch.stack(expected, dim=1))
    if top_k == 1:  # argmax whatever the uniforms
        assert torch.equal(got[0], got[1])


class Rows:
    """The engine's per-row buffers for ``n`` rows (rnn.serving.batching.BatchingEngine), as advance takes them."""

    def __init__(self, decoder: FastDecoder, prompts: list[list[int]], limits: list[int], seed: int) -> None:
        n, length = len(prompts), max(limits)
        generator = torch.Generator().manual_seed(seed)
        self.n = n
        self.state = decoder.new_state(n)
        self.ids = torch.tensor([p[0] for p in prompts])
        self.pos = torch.zeros(n, dtype=torch.long)
        self.limit = torch.tensor(limits)
        self.emit = torch.tensor([int(len(p) == 1) for p in prompts])
        self.temperature = torch.tensor([[0.5 + 0.25 * r] for r in range(n)])
        self.top_k = torch.tensor([(0, 3, 1, 0)[r % 4] for r in range(n)])
        self.uniforms = torch.rand(n, length, generator=generator)
        self.out = torch.zeros(n, length, dtype=torch.long)
        self.prompts = [torch.tensor(p) for p in prompts]
        self.feed_at = torch.ones(n, dtype=torch.long)

    def python_step(self, decoder: FastDecoder) -> None:
        """One step as the engine takes it from Python (its _step_once)."""
        n = self.n
        logits = decoder.step(self.state, self.ids, n)
        uniforms = self.uniforms.gather(1, self.pos.unsqueeze(1))
        ids = sample_ids(logits, uniforms, self.temperature, self.top_k)
        self.out.scatter_(1, self.pos.unsqueeze(1), ids.unsqueeze(1))
        self.pos += self.emit
        self.ids.copy_(ids)
        for row in range(n):
            at = int(self.feed_at[row])
            if at < len(self.prompts[row]):
                self.ids[row] = self.prompts[row][at]
                self.feed_at[row] = at + 1
                if at + 1 == len(self.prompts[row]):
                    self.emit[row] = 1

    def advance(self, decoder: FastDecoder, max_steps: int, interrupt: torch.Tensor | None = None) -> int:
        return decoder.advance(
            self.state,
            self.n,
            ids=self.ids,
            pos=self.pos,
            limit=self.limit,
            emit=self.emit,
            temperature=self.temperature,
            top_k=self.top_k,
            filter_top_k=True,
            uniforms=self.uniforms,
            out=self.out,
            prompts=self.prompts,
            feed_at=self.feed_at,
            max_steps=max_steps,
            interrupt=torch.zeros(1, dtype=torch.int32) if interrupt is None else interrupt,
        )

    def snapshot(self) -> list[torch.Tensor]:
        return [self.state.hidden, self.state.cell, self.ids, self.pos, self.emit, self.out, self.feed_at]


@pytest.mark.parametrize("n", [1, 3, 8])
def test_advance_takes_exactly_the_steps_the_engine_takes_from_python(n: int) -> None:
    """Several steps in one C++ call, sampling included, = the same steps one by one from Python, bit for bit."""
    decoder = FastDecoder(model(hidden=64))
    prompts = [[4, 5, 6, 7, 8, 9][: 1 + (r * 2) % 6] for r in range(n)]  # some rows still read their prompt
    limits = [60 + 7 * r for r in range(n)]
    multi, single = Rows(decoder, prompts, limits, seed=5), Rows(decoder, prompts, limits, seed=5)
    while True:
        taken = multi.advance(decoder, max_steps=1000)
        for _ in range(taken):
            single.python_step(decoder)
        for got, expected in zip(multi.snapshot(), single.snapshot(), strict=True):
            assert torch.equal(got, expected)
        if bool((multi.pos >= multi.limit).any()):
            break
    # it stopped after the step in which the first row reached its limit
    assert int((multi.pos >= multi.limit).sum()) >= 1 and int(multi.pos[0]) == limits[0]
    assert bool((multi.pos <= multi.limit).all())


def test_advance_stops_at_max_steps_and_at_an_interrupt() -> None:
    decoder = FastDecoder(model(hidden=32))
    rows = Rows(decoder, [[1, 2], [3]], [500, 500], seed=1)
    assert rows.advance(decoder, max_steps=7) == 7
    raised = torch.ones(1, dtype=torch.int32)
    assert rows.advance(decoder, max_steps=100, interrupt=raised) == 1  # always one step: progress
    assert rows.pos.tolist() == [7, 8]  # row 0 read its second prompt character first
    with pytest.raises(RuntimeError, match="one prompt per row"):
        decoder.advance(
            rows.state,
            2,
            **{
                k: getattr(rows, k)
                for k in ("ids", "pos", "limit", "emit", "temperature", "top_k", "uniforms", "out", "feed_at")
            },
            filter_top_k=False,
            prompts=rows.prompts[:1],
            max_steps=1,
            interrupt=raised,
        )
    with pytest.raises(ValueError, match="advance takes 1-8 rows"):
        decoder.advance(
            rows.state,
            9,
            **{
                k: getattr(rows, k)
                for k in ("ids", "pos", "limit", "emit", "temperature", "top_k", "uniforms", "out", "feed_at")
            },
            filter_top_k=False,
            prompts=rows.prompts,
            max_steps=1,
            interrupt=raised,
        )


def test_an_id_outside_the_vocabulary_is_refused() -> None:
    decoder = FastDecoder(model())
    state = decoder.new_state(2)
    with pytest.raises(RuntimeError, match="character id 50 is outside the vocabulary"):
        decoder.step(state, torch.tensor([1, 50]), 2)


def test_without_a_compiler_the_decoder_falls_back_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reload_kernel: None
) -> None:
    monkeypatch.setenv(fused_step.DIR_ENV, str(tmp_path / "kernels"))
    monkeypatch.setenv("CXX", "/bin/false")  # a compiler that fails every call
    build = fused_step.load()
    assert not build.available
    assert build.reason.startswith("could not be built (") and "install g++ and ninja" in build.reason.lower()
    decoder = FastDecoder(model())
    assert not decoder.fused and decoder.step_kind.startswith("torch ops: the fused step could not be built")
    assert generate_ids(decoder, [1, 2], length=20).shape == (1, 20)  # and still generates


def test_build_kernel_cli_reports_success_or_one_error_line(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "rnn", "build-kernel"]
    ok = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("fused C++ step, batches of 1-8 (")
    env = {**os.environ, "CXX": "/bin/false", fused_step.DIR_ENV: str(tmp_path)}
    broken = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert broken.returncode == 69
    assert broken.stderr.startswith("error: the fused decoder step is not available: could not be built")
    assert "Traceback" not in broken.stderr and len(broken.stderr.strip().splitlines()) == 1
    off = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env={**env, FUSED_STEP_ENV: "0"})
    assert off.returncode == 69 and "turned off (RNN_FUSED_STEP=0)" in off.stderr


def test_a_build_is_keyed_by_source_and_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cached build is never loaded on a CPU it was not compiled for (-march=native)."""
    name = fused_step.build_name()
    assert name.startswith("rnn_fused_step_") and name == fused_step.build_name()
    monkeypatch.setattr(fused_step, "_cpu_flags", lambda: "sse2 only")
    assert fused_step.build_name() != name


def test_a_lock_left_by_a_killed_build_is_removed_a_fresh_one_kept(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    lock.touch()
    fused_step._remove_stale_lock(tmp_path)
    assert lock.exists()  # another build may be running
    old = time.time() - fused_step.STALE_LOCK_SECONDS - 60
    os.utime(lock, (old, old))
    fused_step._remove_stale_lock(tmp_path)
    assert not lock.exists()
