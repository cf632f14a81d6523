"""M2, DBL-MM (dbl-mm-bilstm-multiple-fusion): two BiLSTM branches over the same frames
(64-band log-mel and the 45 LLDs), each pooled twice, fused.

Per branch b with outputs ``o_t``: mean pooling ``m_b = mean_t o_t`` (eq. 7) and
attention pooling whose query is the concatenation ``q`` of every used branch's
last-valid-step output: ``e_t = o_t . (A_b q)``, ``alpha = softmax_t(e)``,
``s_b = sum_t alpha_t o_t`` (eq. 9-11; the paper's bilinear score, ``A_b`` learned).
``[m_b, s_b]`` of the used branches are concatenated, batch-normalized, dropped out and
classified. ``branches: [0]`` or ``[1]`` is the paper's single-branch ablation (Table III).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .base import SequenceModel, last_valid, masked_softmax, mean_pool, run_bidirectional


class DBLMM(SequenceModel):
    """M2 DBL-MM: two BiLSTM branches (log-mel, 45 LLDs), mean + attention pooling, fused."""
    arch = "dblmm"
    defaults = {"branch_dims": [64, 45], "branches": [0, 1], "hidden": 32, "dropout": 0.3}

    def __init__(self, input_dim: int, n_classes: int, **hparams: Any) -> None:
        super().__init__(input_dim, n_classes, **hparams)
        hp = self.hparams
        if sum(hp["branch_dims"]) != input_dim:
            raise ValueError(f"dblmm: branch_dims {hp['branch_dims']} do not add up to "
                             f"the input's {input_dim} features")
        h2 = 2 * hp["hidden"]
        self.rnns = nn.ModuleList(nn.LSTM(hp["branch_dims"][b], hp["hidden"], batch_first=True,
                                          bidirectional=True) for b in hp["branches"])
        q = h2 * len(hp["branches"])
        self.queries = nn.ModuleList(nn.Linear(q, h2, bias=False) for _ in hp["branches"])
        fused = 2 * h2 * len(hp["branches"])
        self.head = nn.Sequential(nn.BatchNorm1d(fused), nn.Dropout(hp["dropout"]),
                                  nn.Linear(fused, n_classes))

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        parts = torch.split(x, self.hparams["branch_dims"], dim=-1)
        outs = [run_bidirectional(rnn, parts[b], lengths)
                for rnn, b in zip(self.rnns, self.hparams["branches"])]
        q = torch.cat([last_valid(o, lengths) for o in outs], dim=-1)
        pooled = []
        for o, query in zip(outs, self.queries):
            alpha = masked_softmax((o * query(q).unsqueeze(1)).sum(-1), lengths)
            pooled += [mean_pool(o, lengths), (alpha.unsqueeze(-1) * o).sum(1)]
        return self.head(torch.cat(pooled, dim=-1))
