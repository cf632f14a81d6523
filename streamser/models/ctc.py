"""M3, attention BLSTM-CTC (attention-blstm-ctc): emotion as a label sequence.

Two BLSTM layers give ``C`` (``(B, T, 2H)``); an attention layer gives ``U``; a per-frame
linear layer scores K emotions + blank (index K); the CTC loss aligns the target, the
utterance label repeated ``U_n`` times, to the frames. Attention (``attention``):

- ``none``: U = C.
- ``local``: one weight per frame inside a window of ``scope`` frames around t:
  ``alpha = softmax_j(w . C_{t+j})``, ``U_t = sum_j alpha_j C_{t+j}``.
- ``component``: one weight per feature (eq. 3-5): ``e = tanh(W C + b)``, softmax over
  the window per feature, ``U_{t,f} = sum_j alpha_{t+j,f} C_{t+j,f}``.
- ``quantum`` (eq. 6-8): the weak value ``e_t = (C_fin . C_t)(C_t . C_in) / (C_fin . C_in)``
  between the first and last outputs, ``alpha_t = tanh(e_t)``, ``U_t = alpha_t C_t``.

The paper sets the number of labels from words or voiced phonemes, which we do not have;
here ``U_n = max(1, round(valid frames / frames_per_label))`` (default 50 frames, about
one word of 0.5 s). The utterance decision sums each class's frame posteriors over the
valid frames, blank left out (``forward`` returns the log of those sums, normalized).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import SequenceModel, run_bidirectional, valid_mask


def windows(x: Tensor, scope: int, fill: float) -> Tensor:
    """``(B, T, ...)`` -> ``(B, T, ..., scope)``: the ``scope`` steps centred on each t."""
    half = scope // 2
    pad = [0, 0] * (x.dim() - 2) + [half, scope - 1 - half]
    return F.pad(x, pad, value=fill).unfold(1, scope, 1)


class BLSTMCTC(SequenceModel):
    """M3: BLSTM with local/component/quantum attention and a CTC loss over frame labels."""
    arch = "blstm_ctc"
    defaults = {"hidden": 32, "layers": 2, "attention": "component", "scope": 5,
                "frames_per_label": 50, "dropout": 0.2}

    def __init__(self, input_dim: int, n_classes: int, **hparams: Any) -> None:
        super().__init__(input_dim, n_classes, **hparams)
        hp = self.hparams
        if hp["attention"] not in ("none", "local", "component", "quantum"):
            raise ValueError(f"blstm_ctc: attention {hp['attention']!r} is not one of "
                             "none, local, component, quantum")
        width = 2 * hp["hidden"]
        self.rnn = nn.LSTM(input_dim, hp["hidden"], hp["layers"], batch_first=True,
                           bidirectional=True, dropout=hp["dropout"] if hp["layers"] > 1 else 0)
        self.att = nn.Linear(width, width if hp["attention"] == "component" else 1)
        self.drop = nn.Dropout(hp["dropout"])
        self.out = nn.Linear(width, n_classes + 1)

    def attend(self, c: Tensor, lengths: Tensor) -> Tensor:
        kind, scope = self.hparams["attention"], self.hparams["scope"]
        mask = valid_mask(lengths, c.shape[1])
        if kind == "none":
            return c
        if kind == "quantum":
            first, last = c[:, 0], c[torch.arange(len(c)), lengths - 1]
            denom = (first * last).sum(-1, keepdim=True)
            denom = torch.where(denom.abs() < 1e-6, torch.full_like(denom, 1e-6), denom)
            e = (c @ last.unsqueeze(-1)).squeeze(-1) * (c @ first.unsqueeze(-1)).squeeze(-1)
            return torch.tanh(e / denom).unsqueeze(-1) * c
        scores = self.att(c)                                 # (B, T, F) or (B, T, 1)
        scores = torch.tanh(scores) if kind == "component" else scores
        scores = scores.masked_fill(~mask.unsqueeze(-1), float("-inf"))
        alpha = torch.softmax(windows(scores, scope, float("-inf")), dim=-1)
        alpha = torch.nan_to_num(alpha)                      # windows with no valid frame
        return (alpha * windows(c, scope, 0.0)).sum(-1)

    def frame_log_probs(self, x: Tensor, lengths: Tensor) -> Tensor:
        """``(B, T, K + 1)`` per-frame log posteriors, blank last."""
        c = run_bidirectional(self.rnn, x, lengths)
        return F.log_softmax(self.out(self.drop(self.attend(c, lengths))), dim=-1)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        post = self.frame_log_probs(x, lengths).exp()[..., :-1]
        post = post * valid_mask(lengths, x.shape[1]).unsqueeze(-1)
        summed = post.sum(1) + 1e-8
        return torch.log(summed / summed.sum(-1, keepdim=True))

    def loss(self, x: Tensor, lengths: Tensor, target: Tensor,
             class_weight: Tensor | None = None, stage: str = "main") -> Tensor:
        logp = self.frame_log_probs(x, lengths)
        repeats = (lengths.float() / self.hparams["frames_per_label"]).round().long()
        repeats = torch.minimum(repeats.clamp(min=1), (lengths + 1) // 2)
        targets = torch.repeat_interleave(target, repeats)
        per_item = F.ctc_loss(logp.transpose(0, 1), targets, lengths, repeats,
                              blank=self.n_classes, reduction="none", zero_infinity=True)
        per_item = per_item / repeats.float()
        w = class_weight[target] if class_weight is not None else torch.ones_like(per_item)
        return (per_item * w).sum() / w.sum()


def ctc_greedy_decode(log_probs: Tensor, lengths: Tensor, blank: int | None = None
                      ) -> list[list[int]]:
    """Best path per item: argmax per frame, repeats collapsed, blanks dropped."""
    blank = log_probs.shape[-1] - 1 if blank is None else blank
    best = log_probs.argmax(-1)
    out = []
    for path, n in zip(best.tolist(), lengths.tolist()):
        seq, prev = [], None
        for s in path[:n]:
            if s != prev and s != blank:
                seq.append(s)
            prev = s
        out.append(seq)
    return out
