"""The character-level LSTM."""

from __future__ import annotations

import torch
from torch import nn

from rnn.config import TrainConfig

Hidden = tuple[torch.Tensor, torch.Tensor]


class CharLSTM(nn.Module):
    """Embedding -> stacked LSTM -> dropout -> linear decoder over the vocabulary."""

    def __init__(
        self, vocab_size: int, embedding_dim: int, hidden_size: int, num_layers: int, dropout: float
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.embed = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(
            embedding_dim,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden_size, vocab_size)

    @classmethod
    def from_config(cls, config: TrainConfig, vocab_size: int) -> CharLSTM:
        return cls(vocab_size, config.embedding_dim, config.hidden_size, config.num_layers, config.dropout)

    def forward(self, x: torch.Tensor, hidden: Hidden | None = None) -> tuple[torch.Tensor, Hidden]:
        out, hidden = self.lstm(self.embed(x), hidden)
        return self.decoder(self.drop(out)), hidden

    def init_hidden(self, batch_size: int) -> Hidden:
        zeros = torch.zeros(self.num_layers, batch_size, self.hidden_size)
        return zeros, zeros.clone()


def repackage_hidden(hidden: Hidden) -> Hidden:
    """Detach the state from its history so backprop stops at the window boundary (truncated BPTT)."""
    return hidden[0].detach(), hidden[1].detach()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
