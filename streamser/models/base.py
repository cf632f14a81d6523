"""What every streamser model is: a sequence classifier with a fixed training interface.

``forward(x, lengths)`` gives utterance logits ``(B, K)`` for zero-padded inputs ``x``
(``(B, T, D)`` frames, or ``(B, P, 96, 64)`` patches) with ``lengths`` valid steps each.
Streaming (unidirectional) models also have ``initial_state`` / ``step``, and their
``forward`` equals stepping through the sequence and reading the logits at the last
valid step. Training stages (pre-training before ``main``) pick their parameters with
``parameters_for`` and their objective with ``loss(..., stage=...)``.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .unroll import is_unrolling, unrolled

State = tuple[Tensor, ...]


class SequenceModel(nn.Module):
    arch: ClassVar[str] = ""
    streaming: bool = False
    stages: ClassVar[tuple[str, ...]] = ("main",)
    input_kind: ClassVar[str] = "frames"
    #: Hyper-parameters and their defaults; ``__init__`` accepts no others.
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, input_dim: int, n_classes: int, **hparams: Any) -> None:
        super().__init__()
        unknown = set(hparams) - set(self.defaults)
        if unknown:
            raise ValueError(f"{self.arch}: unknown hyper-parameter(s) {sorted(unknown)}; "
                             f"known: {sorted(self.defaults)}")
        self.input_dim, self.n_classes = input_dim, n_classes
        self.hparams: dict[str, Any] = {**self.defaults, **hparams}

    def loss(self, x: Tensor, lengths: Tensor, target: Tensor,
             class_weight: Tensor | None = None, stage: str = "main") -> Tensor:
        return F.cross_entropy(self(x, lengths), target, weight=class_weight)

    def parameters_for(self, stage: str) -> Iterator[nn.Parameter]:
        return self.parameters()

    def prepare(self, sequences: list[np.ndarray]) -> None:
        """Data-dependent set-up before training (default: none)."""

    def probs(self, x: Tensor, lengths: Tensor) -> Tensor:
        return torch.softmax(self(x, lengths), dim=-1)


def valid_mask(lengths: Tensor, steps: int) -> Tensor:
    """``(B, T)`` True where a step is inside its item."""
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


def last_valid(h: Tensor, lengths: Tensor) -> Tensor:
    """``h[b, lengths[b] - 1]`` for every item: ``(B, T, H) -> (B, H)``; the last step
    under ``torch.export`` (one full window, as in :func:`run_bidirectional`), a slice
    where a gather would be lowered (TFLite Micro has no int16 GATHER_ND)."""
    if torch.compiler.is_exporting():
        return h[:, -1]
    return h[torch.arange(len(h)), (lengths - 1).clamp(min=0)]


def masked_softmax(scores: Tensor, lengths: Tensor) -> Tensor:
    """Softmax over time (dim 1) of ``(B, T)`` or ``(B, T, H)`` scores, padding excluded."""
    mask = valid_mask(lengths, scores.shape[1])
    while mask.dim() < scores.dim():
        mask = mask.unsqueeze(-1)
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)


def mean_pool(h: Tensor, lengths: Tensor) -> Tensor:
    mask = valid_mask(lengths, h.shape[1]).unsqueeze(-1).to(h.dtype)
    return (h * mask).sum(1) / lengths.clamp(min=1).unsqueeze(-1).to(h.dtype)


class AttentionPool(nn.Module):
    """``mu_t = softmax_t(w . h_t)``, ``mu = sum_t mu_t h_t`` over the valid steps."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def forward(self, h: Tensor, lengths: Tensor) -> Tensor:
        weights = masked_softmax(self.score(h).squeeze(-1), lengths)
        return (weights.unsqueeze(-1) * h).sum(1)


def mlp(in_dim: int, hidden: list[int], out_dim: int, dropout: float = 0.0,
        act: type[nn.Module] = nn.Tanh) -> nn.Sequential:
    """Dense layers ``in -> hidden... -> out`` with ``act`` and dropout between them."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), act(), nn.Dropout(dropout)]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


def run_bidirectional(rnn: nn.Module, x: Tensor, lengths: Tensor) -> Tensor:
    """A (bidirectional) ``nn.LSTM``/``nn.GRU`` over padded items, padding ignored;
    output ``(B, T, H)`` with zeros on padded steps. Under ``torch.export`` (ONNX/TFLite
    export of one full window, no padding) the plain call, which exporters can lower, or
    under ``unroll.unrolling()`` (TFLite) the same LSTM step by step."""
    if torch.compiler.is_exporting():
        return unrolled(rnn, x) if is_unrolling() else rnn(x)[0]
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu().clamp(min=1),
                                               batch_first=True, enforce_sorted=False)
    out, _ = rnn(packed)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out
