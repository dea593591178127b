"""The char-LSTM's shape arithmetic, without building it (no torch): one formula for training and costing.

``rnn.model.CharLSTM`` is an embedding (V x E), a stack of ``nn.LSTM`` layers and a linear head (H -> V).
LSTM layer l has 4H x (in_l + H) weights and 8H biases (PyTorch keeps two bias vectors), with
in_0 = E and in_l = H above it. ``tests/rnn/test_train.py`` checks the formula against a built model.
"""

from __future__ import annotations


def layer_inputs(*, embedding_dim: int, hidden_size: int, num_layers: int) -> list[int]:
    """The input width of each LSTM layer: E for the first, H above it."""
    return [embedding_dim] + [hidden_size] * (num_layers - 1)


def lstm_multiply_adds_per_token(*, embedding_dim: int, hidden_size: int, num_layers: int) -> int:
    """Multiply-adds of one LSTM step over the stack: Σ 4H(in_l + H) (the head is not included)."""
    h = hidden_size
    inputs = layer_inputs(embedding_dim=embedding_dim, hidden_size=hidden_size, num_layers=num_layers)
    return sum(4 * h * (width + h) for width in inputs)


def parameter_count(*, vocab_size: int, embedding_dim: int, hidden_size: int, num_layers: int) -> int:
    """2,842,747 at V=103, E=128, H=460, L=2: 13,184 + 1,085,600 + 1,696,480 + 47,483."""
    h, v = hidden_size, vocab_size
    lstm = lstm_multiply_adds_per_token(embedding_dim=embedding_dim, hidden_size=h, num_layers=num_layers)
    return v * embedding_dim + lstm + 8 * h * num_layers + h * v + v
