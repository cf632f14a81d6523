"""Baselines beside every table: a standard LSTM and GRU of M1's widths (streaming), and
a BiLSTM with attention pooling (per window)."""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from .base import AttentionPool, SequenceModel, mlp, run_bidirectional
from .recurrent import RecurrentClassifier, RecurrentLayer, TorchRNNLayer


class LSTMClassifier(RecurrentClassifier):
    """Standard stacked LSTM (nn.LSTM, with forget/input gates), M1's widths."""

    arch = "lstm"

    def make_layer(self, input_dim: int, hidden: int) -> RecurrentLayer:
        return TorchRNNLayer("lstm", input_dim, hidden)


class GRUClassifier(RecurrentClassifier):
    """Standard stacked GRU, M1's widths."""

    arch = "gru"

    def make_layer(self, input_dim: int, hidden: int) -> RecurrentLayer:
        return TorchRNNLayer("gru", input_dim, hidden)


class BiLSTMAttention(SequenceModel):
    """BiLSTM (``hidden`` per direction, ``layers``) + attention pooling + linear."""

    arch = "bilstm_att"
    defaults = {"hidden": 32, "layers": 1, "dropout": 0.3}

    def __init__(self, input_dim: int, n_classes: int, **hparams: Any) -> None:
        super().__init__(input_dim, n_classes, **hparams)
        hp = self.hparams
        self.rnn = nn.LSTM(input_dim, hp["hidden"], hp["layers"], batch_first=True,
                           bidirectional=True)
        self.pool = AttentionPool(2 * hp["hidden"])
        self.head = nn.Sequential(nn.Dropout(hp["dropout"]), mlp(2 * hp["hidden"], [], n_classes))

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        return self.head(self.pool(run_bidirectional(self.rnn, x, lengths), lengths))
