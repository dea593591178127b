"""Fast incremental generation: a trained :class:`~rnn.model.CharLSTM` as one fused step per character.

``nn.LSTM`` is built for training whole sequences; called once per character it pays for two
matmuls per layer (input and hidden), fresh output tensors and its own bookkeeping at every step.
:class:`FastDecoder` is built once from a trained model and then only steps:

* **Embedding folded into layer 0.** ``embedding @ W_ih0^T + b_ih0 + b_hh0`` is precomputed for every
  character: a vocab x 4H table, so the embedding and layer 0's input matmul become one row lookup.
* **One matmul per layer per step.** Layer l > 0 multiplies ``[h_{l-1}, h_l]`` by ``[W_ih | W_hh]^T``;
  the two halves are adjacent columns of one state buffer, so nothing is concatenated.
* **Fused gate maths, no tanh.** Gates are reordered to (i, f, o, g) and the g rows of the weights
  are doubled, so one in-place sigmoid over all four gates gives ``tanh(g) = 2 sigmoid(2g) - 1``; the
  cell's tanh is ``1 - 2 sigmoid(-2c)``. (On CPU, torch's tanh costs ten times its sigmoid.) The cell
  and hidden updates write into preallocated buffers.
* **oneDNN matmuls.** The weights are packed once for oneDNN's linear kernel (as ``torch.compile``
  does on CPU), with layer 0's table row added in the same call; ``addmm`` where oneDNN is missing.
* **No autograd.** Everything runs under ``torch.inference_mode``.
* **One C++ call for small batches.** For batches of 1-8 rows (fp32), the step and, in
  :func:`generate_ids`, the whole completion run in ``rnn/serving/fused_step.cpp`` (:mod:`rnn.serving.fused_step`):
  at batch 1 the step is memory-bound and launching the ops above from Python costs as much again.
  Its logits match these ops within 1e-6 and a row's are bit-identical at any batch size 1-8; where
  it cannot be built, :attr:`FastDecoder.step_kind` says why and these ops serve every batch.

Sampling (:func:`sample_ids`) is by inverse CDF from one uniform per row per step: the same
distribution as ``torch.multinomial(softmax(logits / temperature))`` after the same top-k filter,
with each row's randomness taken from its own uniforms, so a seeded request gives the same text
whatever else shares the batch.

Reduced precision is opt-in (``precision="bf16"`` or ``"int8"``: dynamic int8 quantisation of the
matmul weights); the default ``"fp32"`` matches ``nn.LSTM`` within 1e-5. Its quality cost is measured
by :func:`validation_loss` (``python -m rnn bench --precision ...``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from rnn.model import CharLSTM
from rnn.serving import fused_step
from rnn.serving.settings import DEFAULT_PRECISION, PRECISIONS

ONEDNN_BATCH_HINT = 64  # the batch size oneDNN packs the weights for (any batch size works)

# What generated a benchmark, recorded in metrics.json (inference.generator, inference.generator_version)
# and so in include/reference_metrics.json. Bump the version with any change to the step, the sampling or
# the fused kernel that changes what a completion costs: tests/test_reference_metrics.py then fails until
# `make reference-metrics` re-measures the shipped reference with it.
DECODER_NAME = "fast-decoder"
DECODER_VERSION = 1


def _reorder_gates(tensor: torch.Tensor) -> torch.Tensor:
    """PyTorch's gate order (i, f, g, o) along dim 0 -> (i, f, o, 2g): one sigmoid then serves all four."""
    i, f, g, o = tensor.detach().float().chunk(4, dim=0)
    return torch.cat([i, f, o, 2.0 * g], dim=0)


class _Projection:
    """``x @ W^T + b`` into a preallocated output, at one precision."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, precision: str) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r} is not one of {PRECISIONS}")
        self.precision = precision
        self.bias = None if bias is None else bias.detach().float().contiguous()
        weight = weight.detach().float()
        self.onednn = None  # the weight packed for oneDNN's linear (fp32), when available
        if precision == "fp32":
            self.weight_t = weight.t().contiguous()  # (in, out): x @ W^T is a plain row-major matmul
            self.onednn = _onednn_packed(weight, self.bias)
        elif precision == "bf16":
            self.weight_t = weight.t().contiguous().to(torch.bfloat16)
        else:
            scales = weight.abs().amax(dim=1).clamp(min=1e-8) / 127.0
            zero_points = torch.zeros(weight.size(0), dtype=torch.long)
            with warnings.catch_warnings():  # torch 2.13 deprecates quantized tensors; they still work
                warnings.simplefilter("ignore", UserWarning)
                qweight = torch.quantize_per_channel(weight, scales, zero_points, axis=0, dtype=torch.qint8)
            self.packed = torch.ops.quantized.linear_prepack(qweight, self.bias)

    def __call__(self, x: torch.Tensor, out: torch.Tensor, add: torch.Tensor | None = None) -> None:
        """``out = add + x @ W^T + b`` (``add`` optional; ``out`` may be ``add``)."""
        if self.onednn is not None:
            if add is not None:
                out.copy_(torch.ops.mkldnn._linear_pointwise.binary(x, add, self.onednn, self.bias, "add"))
            else:
                out.copy_(torch.ops.mkldnn._linear_pointwise(x, self.onednn, self.bias, "none", [], ""))
            return
        if self.precision == "fp32":
            if add is not None:
                if add is not out:
                    out.copy_(add)
                out.addmm_(x, self.weight_t)
                if self.bias is not None:
                    out.add_(self.bias)
            elif self.bias is not None:
                torch.addmm(self.bias, x, self.weight_t, out=out)
            else:
                torch.mm(x, self.weight_t, out=out)
            return
        if self.precision == "bf16":
            result = torch.mm(x.to(torch.bfloat16), self.weight_t).float()
            if self.bias is not None:
                result.add_(self.bias)
        else:
            result = torch.ops.quantized.linear_dynamic(x.contiguous(), self.packed)
        if add is not None:
            torch.add(add, result, out=out)
        else:
            out.copy_(result)

    @property
    def weight_bytes(self) -> int:
        if self.precision == "int8":
            weight, _ = torch.ops.quantized.linear_unpack(self.packed)
            return weight.numel()
        return self.weight_t.numel() * self.weight_t.element_size()


def _onednn_packed(weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor | None:
    """``weight`` reordered for oneDNN's linear (what torch.compile uses on CPU), or None where unavailable.

    At batch 8-64 it runs these shapes 2-3x faster than ``addmm`` (the same kernels ``nn.LSTM`` uses);
    at batch 1 the two are equal. Falls back to ``addmm`` when oneDNN is not built in.
    """
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        packed = torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), ONEDNN_BATCH_HINT)
        probe = torch.zeros(2, weight.size(1))
        torch.ops.mkldnn._linear_pointwise(probe, packed, bias, "none", [], "")
    except (RuntimeError, AttributeError, NotImplementedError):
        return None
    return packed


@dataclass
class DecoderState:
    """Preallocated buffers for up to ``capacity`` rows; rows ``[0, n)`` are the active batch."""

    capacity: int
    hidden: torch.Tensor  # (capacity, layers x H): [h_0 | h_1 | ...], adjacent so layer l reads h_{l-1}, h_l
    cell: torch.Tensor  # (capacity, layers x H)
    gates: torch.Tensor  # (capacity, 4H) scratch
    scratch: torch.Tensor  # (capacity, H) scratch
    logits: torch.Tensor  # (capacity, vocab)
    views: dict[int, tuple] = field(default_factory=dict, repr=False)  # per batch size, made once

    def reset_rows(self, start: int, stop: int) -> None:
        """Zero state for rows ``[start, stop)``: a new sequence starts there (as ``init_hidden``)."""
        self.hidden[start:stop].zero_()
        self.cell[start:stop].zero_()

    def move_row(self, source: int, target: int) -> None:
        """Copy row ``source``'s state to ``target`` (compacting the batch after a row leaves)."""
        self.hidden[target].copy_(self.hidden[source])
        self.cell[target].copy_(self.cell[source])


class FastDecoder:
    """A trained model, rebuilt for stepping a batch one character at a time (see the module doc)."""

    def __init__(self, model: CharLSTM, *, precision: str = DEFAULT_PRECISION) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r} is not one of {PRECISIONS}")
        self.precision = precision
        self.vocab_size = model.vocab_size
        self.hidden_size = model.hidden_size
        self.num_layers = model.num_layers
        lstm = model.lstm
        with torch.inference_mode():
            embedding = model.embed.weight.detach().float()
            w_ih0 = _reorder_gates(lstm.weight_ih_l0)
            bias0 = _reorder_gates(lstm.bias_ih_l0 + lstm.bias_hh_l0)
            self.table = (embedding @ w_ih0.t() + bias0).contiguous()  # (vocab, 4H), always fp32
            weights = [_reorder_gates(lstm.weight_hh_l0)]
            biases: list[torch.Tensor | None] = [None]
            for layer in range(1, self.num_layers):
                weights.append(
                    torch.cat(
                        [
                            _reorder_gates(getattr(lstm, f"weight_ih_l{layer}")),
                            _reorder_gates(getattr(lstm, f"weight_hh_l{layer}")),
                        ],
                        dim=1,
                    )
                )
                biases.append(
                    _reorder_gates(getattr(lstm, f"bias_ih_l{layer}") + getattr(lstm, f"bias_hh_l{layer}"))
                )
            self.layers = [_Projection(w, b, precision) for w, b in zip(weights, biases, strict=True)]
            self.head = _Projection(model.decoder.weight, model.decoder.bias, precision)
            self._fused, self.step_kind = self._fused_step(weights, biases, model)

    def _fused_step(
        self, weights: list[torch.Tensor], biases: list[torch.Tensor | None], model: CharLSTM
    ) -> tuple[object | None, str]:
        """The fused C++ step for batches of 1-8 (fp32 only), and a label saying which step runs."""
        if self.precision != "fp32":
            return None, f"torch ops ({self.precision})"
        build = fused_step.load()
        if build.module is None:
            return None, f"torch ops: the fused step {build.reason}"
        fused = build.module.LstmStep(
            self.table,
            weights,
            [torch.zeros(0) if b is None else b for b in biases],
            model.decoder.weight.detach().float(),
            model.decoder.bias.detach().float(),
            self.hidden_size,
        )
        return fused, build.reason

    @property
    def fused(self) -> bool:
        """Whether batches of 1-:data:`rnn.serving.fused_step.MAX_BATCH` rows take the fused C++ step."""
        return self._fused is not None

    # -- state ------------------------------------------------------------------------------------------

    def new_state(self, capacity: int) -> DecoderState:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        h, layers = self.hidden_size, self.num_layers
        return DecoderState(
            capacity=capacity,
            hidden=torch.zeros(capacity, layers * h),
            cell=torch.zeros(capacity, layers * h),
            gates=torch.empty(capacity, 4 * h),
            scratch=torch.empty(capacity, h),
            logits=torch.empty(capacity, self.vocab_size),
        )

    def _views_for(self, state: DecoderState, n: int) -> tuple:
        """Slices of the state buffers for a batch of ``n`` rows, made once per (state, n) and reused."""
        views = state.views.get(n)
        if views is None:
            h = self.hidden_size
            gates = state.gates[:n]
            per_layer = []
            for layer in range(self.num_layers):
                per_layer.append(
                    (
                        state.hidden[:n, max(layer - 1, 0) * h : (layer + 1) * h],  # matmul input
                        state.hidden[:n, layer * h : (layer + 1) * h],  # h_l
                        state.cell[:n, layer * h : (layer + 1) * h],  # c_l
                    )
                )
            views = (
                gates,
                gates[:, :h],  # i
                gates[:, h : 2 * h],  # f
                gates[:, 2 * h : 3 * h],  # o
                gates[:, 3 * h :],  # sigmoid(2g)
                state.scratch[:n],
                per_layer,
                state.logits[:n],
                state.hidden[:n, (self.num_layers - 1) * h :],
            )
            state.views[n] = views
        return views

    # -- one step ---------------------------------------------------------------------------------------

    def step(
        self, state: DecoderState, ids: torch.Tensor, n: int, *, logits: bool = True
    ) -> torch.Tensor | None:
        """Feed ``ids`` (``n`` character ids) to rows ``[0, n)``; their next-character logits ``(n, vocab)``.

        The returned tensor is a view of the state's buffer, overwritten by the next step.
        """
        (gates, in_gate, forget_gate, out_gate, cell_gate, scratch, per_layer, out, last) = self._views_for(
            state, n
        )
        if self._fused is not None and n <= fused_step.MAX_BATCH:
            self._fused.step(state.hidden, state.cell, ids, n, state.logits, logits)  # type: ignore[attr-defined]
            return out if logits else None
        with torch.inference_mode():
            for layer, projection in enumerate(self.layers):
                x, hidden, cell = per_layer[layer]
                if layer == 0:
                    torch.index_select(self.table, 0, ids, out=gates)
                    projection(hidden, gates, add=gates)
                else:
                    projection(x, gates)
                gates.sigmoid_()
                # c = f * c + i * tanh(g), with tanh(g) = 2 sigmoid(2g) - 1
                cell.mul_(forget_gate).addcmul_(in_gate, cell_gate, value=2.0).sub_(in_gate)
                # h = o * tanh(c) = o - 2 o sigmoid(-2c)
                torch.mul(cell, -2.0, out=scratch).sigmoid_()
                torch.addcmul(out_gate, out_gate, scratch, value=-2.0, out=hidden)
            if not logits:
                return None
            self.head(last, out)
        return out

    def can_advance(self, n: int) -> bool:
        """Whether :meth:`advance` takes a batch of ``n`` rows (the fused C++ step, 1-8 rows)."""
        return self._fused is not None and 1 <= n <= fused_step.MAX_BATCH

    def advance(
        self,
        state: DecoderState,
        n: int,
        *,
        ids: torch.Tensor,
        pos: torch.Tensor,
        limit: torch.Tensor,
        emit: torch.Tensor,
        temperature: torch.Tensor,
        top_k: torch.Tensor,
        filter_top_k: bool,
        uniforms: torch.Tensor,
        out: torch.Tensor,
        prompts: Sequence[torch.Tensor],
        feed_at: torch.Tensor,
        max_steps: int,
        interrupt: torch.Tensor,
    ) -> int:
        """Up to ``max_steps`` steps of continuous batching for rows ``[0, n)``, sampling included, in one C++ call.

        Each step is exactly what :class:`~rnn.serving.batching.BatchingEngine` does from Python: feed
        ``ids``, sample with :func:`sample_ids` (each row's uniform at ``pos``, its ``temperature`` (n, 1)
        and ``top_k`` (n,), the filter only if ``filter_top_k``), write the sample to ``out`` at ``pos``,
        move ``pos`` on where ``emit`` is 1. A row whose ``feed_at`` is short of its prompt's length is
        fed its next prompt character instead, and emits from the step after its last one (non-feeding
        rows pass an empty prompt). Every tensor is updated in place. It stops after the step in which a
        row reaches its ``limit``, or once ``interrupt[0]`` (one int32) is non-zero, which another thread
        may set meanwhile (the GIL is released). Returns the steps taken (>= 1). Only where
        :meth:`can_advance`.
        """
        if not self.can_advance(n):
            raise ValueError(
                f"advance takes 1-{fused_step.MAX_BATCH} rows with the fused step ({self.step_kind})"
            )
        return self._fused.advance(  # type: ignore[union-attr]
            state.hidden,
            state.cell,
            state.logits,
            n,
            ids,
            pos,
            limit,
            emit,
            temperature,
            top_k,
            filter_top_k,
            uniforms,
            out,
            list(prompts),
            feed_at,
            max_steps,
            interrupt,
        )

    @property
    def weight_bytes(self) -> int:
        """Bytes of weights one step reads (the matmuls; the table lookup reads one row)."""
        return sum(p.weight_bytes for p in self.layers) + self.head.weight_bytes

    def flops_per_row_step(self) -> int:
        """Multiply-adds x 2 of one step for one row (matmuls only)."""
        h, v = self.hidden_size, self.vocab_size
        return 2 * (h * 4 * h + (self.num_layers - 1) * 2 * h * 4 * h + h * v)


# -- sampling -------------------------------------------------------------------------------------------


def sample_ids(
    logits: torch.Tensor,
    uniforms: torch.Tensor,
    temperature: float | torch.Tensor,
    top_k: int | torch.Tensor = 0,
) -> torch.Tensor:
    """One character id per row of ``logits`` (n, vocab), drawn with ``uniforms`` (n, 1) in [0, 1).

    ``temperature`` is a float or an (n, 1) tensor; ``top_k`` an int or an (n,) tensor (0 = no
    filter). Same distribution as the reference: softmax(logits / T) over the k largest logits
    (ties with the k-th kept), sampled by inverse CDF.
    """
    with torch.inference_mode():
        scaled = logits / temperature
        vocab = scaled.size(-1)
        if isinstance(top_k, torch.Tensor):
            if bool((top_k > 0).any()):
                k = torch.where((top_k > 0) & (top_k < vocab), top_k, torch.full_like(top_k, vocab))
                ordered = scaled.sort(dim=-1, descending=True).values
                kth = ordered.gather(1, (k - 1).unsqueeze(1))
                scaled = scaled.masked_fill(scaled < kth, float("-inf"))
        elif top_k and top_k < vocab:
            kth = torch.topk(scaled, top_k).values[:, -1:]
            scaled = scaled.masked_fill(scaled < kth, float("-inf"))
        cdf = torch.softmax(scaled, dim=-1).cumsum_(dim=-1)
        picked = torch.searchsorted(cdf, uniforms * cdf[:, -1:], right=True)
        return picked.clamp_(max=vocab - 1).squeeze_(1)


def generate_ids(
    decoder: FastDecoder,
    prompt_ids: Sequence[int],
    *,
    length: int,
    batch_size: int = 1,
    temperature: float = 0.8,
    top_k: int = 0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``batch_size`` continuations of ``length`` characters after ``prompt_ids``: (batch, length) ids.

    Row ``r`` uses uniforms ``torch.rand(batch, length, generator=generator)[r]``, so row 0 of a
    seeded call is what the server returns for a request with that seed.
    """
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    if not prompt_ids:
        raise ValueError("prompt_ids is empty: give at least one character id")
    uniforms = torch.rand(batch_size, length, generator=generator)
    state = decoder.new_state(batch_size)
    out = torch.empty(batch_size, length, dtype=torch.long)
    if decoder.fused and batch_size <= fused_step.MAX_BATCH:  # the whole loop in C++, same ops and draws
        decoder._fused.generate(  # type: ignore[union-attr]
            state.hidden,
            state.cell,
            state.logits,
            torch.tensor(list(prompt_ids), dtype=torch.long),
            uniforms,
            float(temperature),
            int(top_k),
            out,
        )
        return out
    with torch.inference_mode():
        for char_id in prompt_ids[:-1]:
            decoder.step(
                state, torch.full((batch_size,), char_id, dtype=torch.long), batch_size, logits=False
            )
        ids = torch.full((batch_size,), prompt_ids[-1], dtype=torch.long)
        for i in range(length):
            logits = decoder.step(state, ids, batch_size)
            ids = sample_ids(logits, uniforms[:, i : i + 1], temperature, top_k)
            out[:, i] = ids
    return out


def teacher_forced_logits(decoder: FastDecoder, ids: torch.Tensor) -> torch.Tensor:
    """Logits after each character of ``ids`` (batch, seq): (batch, seq, vocab), state carried along."""
    batch, seq = ids.shape
    state = decoder.new_state(batch)
    out = torch.empty(batch, seq, decoder.vocab_size)
    with torch.inference_mode():
        for t in range(seq):
            out[:, t] = decoder.step(state, ids[:, t].contiguous(), batch)
    return out


def validation_loss(
    decoder: FastDecoder, ids: torch.Tensor, *, streams: int = 16, max_chars: int = 20_000
) -> float:
    """Mean cross-entropy (nats/char) of next-character prediction over (a prefix of) ``ids``.

    The text is cut into ``streams`` contiguous pieces read in parallel; used to measure what a
    reduced precision costs in quality (the same text, fp32 vs bf16/int8).
    """
    ids = ids[: max_chars + 1]
    per_stream = (len(ids) - 1) // streams
    if per_stream < 2:
        raise ValueError(f"{len(ids)} characters are too few for {streams} streams")
    inputs = torch.stack([ids[s * per_stream : (s + 1) * per_stream] for s in range(streams)])
    targets = torch.stack([ids[s * per_stream + 1 : (s + 1) * per_stream + 1] for s in range(streams)])
    logits = teacher_forced_logits(decoder, inputs)
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1)).item()
    if not math.isfinite(loss):
        raise ValueError(f"validation loss is {loss} at precision {decoder.precision}")
    return loss
