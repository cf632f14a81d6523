"""M1: the attention-gate LSTM of attention-gate-lstm-baby-cry-robot (eq. 10-11), with
depth ("deep attention gate").

Cell, per step::

    o_t  = sigmoid(W_o [h_{t-1}, x_t] + b_o)
    C~_t = tanh(W_c [h_{t-1}, x_t] + b_c)
    a_t  = sigmoid(V tanh(W C_{t-1}))                  (eq. 10; replaces forget + input gates)
    C_t  = a_t * C_{t-1} + (1 - a_t) * C~_t            (eq. 11)
    h_t  = o_t * tanh(C_t)                             (no peepholes)

Depth L: the state holds ``h`` and the last L cell states ``C_{t-1} .. C_{t-L}``. The paper
gives no formula for combining them; here each past state gets a gate score
``g_l = V tanh(W C_{t-l})`` with the same W and V (so parameters do not grow with depth),
a softmax over depth of those scores (per unit) weighs them, ``a_t = sigmoid(sum_l
alpha_l g_l)`` and the memory is ``sum_l alpha_l C_{t-l}``. At L = 1 the softmax is 1 and
this is eq. 10-11 exactly. Without biases, input 512 and hidden 256 have
768*512 + 2*256*256 = 524,288 parameters (the paper's check).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import State
from .recurrent import RecurrentClassifier, RecurrentLayer


class AttentionGateCell(RecurrentLayer):
    def __init__(self, input_dim: int, hidden: int, depth: int = 1, bias: bool = True) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError("depth must be >= 1")
        self.hidden, self.depth = hidden, depth
        self.oc = nn.Linear(input_dim + hidden, 2 * hidden, bias=bias)   # W_o and W_c
        self.W = nn.Linear(hidden, hidden, bias=False)
        self.V = nn.Linear(hidden, hidden, bias=False)

    def initial(self, batch: int) -> State:
        return tuple(torch.zeros(batch, self.hidden) for _ in range(1 + self.depth))

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h, past = state[0], state[1:]
        # W_o, W_c applied to h and x apart (same sum as on [h, x]): an int8 build then
        # quantizes h and x with their own scales instead of one scale for both
        w = self.oc.weight
        gates = F.linear(x, w[:, self.hidden:], self.oc.bias) + F.linear(h, w[:, :self.hidden])
        o, cand = gates.chunk(2, dim=-1)
        o, cand = torch.sigmoid(o), torch.tanh(cand)
        if self.depth == 1:
            memory, score = past[0], self.V(torch.tanh(self.W(past[0])))
        else:
            # depth on the last axis: one softmax op, which int8 TFLite keeps in int8
            cells = torch.stack(past, dim=-1)                         # (B, H, L)
            scores = torch.stack([self.V(torch.tanh(self.W(c))) for c in past], dim=-1)
            alpha = torch.softmax(scores, dim=-1)
            memory, score = (alpha * cells).sum(-1), (alpha * scores).sum(-1)
        a = torch.sigmoid(score)
        c = a * memory + (1 - a) * cand
        h = o * torch.tanh(c)
        return h, (h, c, *past[:-1])


class AttentionGateLSTM(RecurrentClassifier):
    """M1: stacked attention-gate LSTM layers (depth L), tanh dense head."""

    arch = "agate_lstm"
    defaults = {**RecurrentClassifier.defaults, "depth": 1, "bias": True}

    def make_layer(self, input_dim: int, hidden: int) -> RecurrentLayer:
        return AttentionGateCell(input_dim, hidden, self.hparams["depth"], self.hparams["bias"])


def agate_layer_parameters(input_dim: int, hidden: int) -> int:
    """The paper's count for one cell without biases."""
    return (input_dim + hidden) * 2 * hidden + 2 * hidden * hidden


__all__ = ["AttentionGateCell", "AttentionGateLSTM", "agate_layer_parameters"]
