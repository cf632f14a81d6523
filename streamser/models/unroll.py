"""Recurrent layers spelled out step by step, for exporters that cannot take ``nn.LSTM``.

TFLite Micro has no fused bidirectional LSTM, and a lowered ``nn.LSTM`` over a window
ends in one CONCATENATION of every time step (200 inputs for a 2 s window), which TFLite
Micro refuses (at most 10). :func:`unrolled` runs the same weights as plain matrix
products and gate activations, one step at a time, and joins the steps with nested
concatenations of at most :data:`MAX_CONCAT` inputs, each level along its own axis (the
converter fuses nested ones along one axis back into one). Same numbers as the module
(tested); only used while exporting to TFLite (``models.base.run_bidirectional`` under
:func:`unrolling`).
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: TFLite Micro's CONCATENATION takes at most 10 inputs.
MAX_CONCAT = 8
_UNROLL: ContextVar[bool] = ContextVar("streamser_unroll", default=False)


@contextlib.contextmanager
def unrolling() -> Iterator[None]:
    """While active, exported windows run their LSTMs through :func:`unrolled`."""
    token = _UNROLL.set(True)
    try:
        yield
    finally:
        _UNROLL.reset(token)


def is_unrolling() -> bool:
    return _UNROLL.get()


def stack_steps(steps: list[Tensor], fan: int = MAX_CONCAT, levels: int = 3) -> Tensor:
    """``torch.stack(steps, 1)`` of ``(B, H)`` steps as nested concatenations of at most
    ``fan`` inputs, each level along its own axis: steps fill a ``(B, n2, n1, n0*H)``
    block (zeros past the end), reshaped to ``(B, T, H)``. Concatenations along different
    axes cannot be fused back into one by the TFLite converter."""
    if len(steps) > fan ** levels:
        raise ValueError(f"unrolled: {len(steps)} steps; TFLite Micro export joins at most "
                         f"{fan ** levels}")
    batch, width = steps[0].shape
    sizes = []                                   # pieces per level, innermost first
    left = len(steps)
    for _ in range(levels):
        sizes.append(min(fan, left))
        left = -(-left // fan)
    padded = list(steps) + [steps[0].new_zeros(batch, width)] * (
        math.prod(sizes) - len(steps))
    parts = [p.reshape(batch, *([1] * (levels - 1)), width) for p in padded]
    for level, n in enumerate(sizes):            # innermost level joins along the last axis
        axis = levels - level
        parts = [torch.cat(parts[i:i + n], axis) if n > 1 else parts[i]
                 for i in range(0, len(parts), n)]
    return parts[0].reshape(batch, -1, width)[:, :len(steps)]


def _direction(rnn: nn.LSTM, x: Tensor, layer: int, reverse: bool) -> Tensor:
    sfx = f"_l{layer}" + ("_reverse" if reverse else "")
    w_ih, w_hh = getattr(rnn, "weight_ih" + sfx), getattr(rnn, "weight_hh" + sfx)
    bias = getattr(rnn, "bias_ih" + sfx) + getattr(rnn, "bias_hh" + sfx) if rnn.bias else None
    xp = F.linear(x, w_ih, bias)                        # (B, T, 4H), one product for all steps
    hidden = rnn.hidden_size
    h = x.new_zeros(x.shape[0], hidden)
    c = x.new_zeros(x.shape[0], hidden)
    steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
    out: list[Tensor] = [h] * x.shape[1]
    for t in steps:
        gates = xp[:, t] + F.linear(h, w_hh)        # one weight tensor shared by every step
        i, f, g, o = gates.split(hidden, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        out[t] = h
    return stack_steps(out)


def unrolled(rnn: nn.Module, x: Tensor) -> Tensor:
    """The output sequence ``(B, T, H * directions)`` of a batch-first ``nn.LSTM`` over
    full-length items ``x (B, T, D)``, step by step (no state in, zeros to start)."""
    if not isinstance(rnn, nn.LSTM) or not rnn.batch_first or rnn.proj_size:
        raise TypeError("unrolled: only batch-first nn.LSTM without projection")
    for layer in range(rnn.num_layers):
        dirs = [_direction(rnn, x, layer, False)]
        if rnn.bidirectional:
            dirs.append(_direction(rnn, x, layer, True))
        x = torch.cat(dirs, -1) if len(dirs) > 1 else dirs[0]
    return x
