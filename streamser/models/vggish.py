"""M4 (vggish-lstm-attention-data-balance): a VGGish-shaped CNN embeds each 0.96 s
patch; a recurrent layer with attention pooling classifies the clip's patch sequence.

CNN: 6 convolutions (3x3, ReLU) with 2x2 max-pooling after the 1st, 2nd, 4th and 6th,
fully connected layers ``fc``, then a ReLU embedding (VGGish: channels 64..512, fc
[4096, 4096], 128-D embedding: about 72.1 M parameters). No VGGish weights can be had
offline, so the CNN trains from scratch, at small widths by default.

Training, as the paper: stage ``patch`` trains the CNN per patch on the clip's label
(eq. 1-2, a linear ``patch_head``); stage ``main`` trains the whole model (the CNN is
fine-tuned, not frozen) on clips: ``recurrent: bilstm`` runs a BiLSTM over the patch
embeddings and pools with ``mu_t = softmax(W h_t)``, ``mu = sum_t mu_t h_t`` (eq. 8-9).
``recurrent: agate`` uses M1's attention-gate cell instead, forwards only: the model
then streams patch by patch (``step``), its clip logits are those of the last patch, and
its main stage trains on every patch's logits (the cry detector's setting).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from .agate import AttentionGateCell
from .base import AttentionPool, SequenceModel, State, last_valid, run_bidirectional, valid_mask

PATCH_FRAMES, PATCH_BANDS = 96, 64


class VGGishCNN(nn.Module):
    def __init__(self, channels: list[int], fc: list[int], embedding: int,
                 bands: int = PATCH_BANDS) -> None:
        super().__init__()
        if len(channels) != 6:
            raise ValueError("a VGGish-shaped CNN has 6 convolutions: give 6 channel widths")
        layers: list[nn.Module] = []
        prev = 1
        for i, ch in enumerate(channels):
            layers += [nn.Conv2d(prev, ch, 3, padding=1), nn.ReLU()]
            if i in (0, 1, 3, 5):
                layers.append(nn.MaxPool2d(2))
            prev = ch
        self.conv = nn.Sequential(*layers)
        flat = prev * (PATCH_FRAMES // 16) * (bands // 16)
        dims = [flat, *fc, embedding]
        self.fc = nn.Sequential(*[m for a, b in zip(dims, dims[1:])
                                  for m in (nn.Linear(a, b), nn.ReLU())])

    def forward(self, patches: Tensor) -> Tensor:
        """``(N, 96, bands)`` -> ``(N, embedding)``."""
        return self.fc(self.conv(patches.unsqueeze(1)).flatten(1))


class VGGishLSTM(SequenceModel):
    """M4: VGGish-shaped CNN per 0.96 s patch, BiLSTM (or LSTM) + attention across patches."""
    arch = "vggish_lstm"
    input_kind = "patches"
    stages = ("patch", "main")
    defaults = {"channels": [8, 16, 32, 32, 64, 64], "fc": [], "embedding": 32,
                "recurrent": "bilstm", "hidden": 32, "dropout": 0.3}

    def __init__(self, input_dim: int, n_classes: int, **hparams: Any) -> None:
        super().__init__(input_dim, n_classes, **hparams)
        hp = self.hparams
        if hp["recurrent"] not in ("bilstm", "agate"):
            raise ValueError("vggish_lstm: recurrent must be bilstm or agate")
        self.cnn = VGGishCNN(hp["channels"], hp["fc"], hp["embedding"], input_dim)
        self.patch_head = nn.Linear(hp["embedding"], n_classes)
        self.drop = nn.Dropout(hp["dropout"])
        self.streaming = hp["recurrent"] == "agate"
        if self.streaming:
            self.cell = AttentionGateCell(hp["embedding"], hp["hidden"])
            self.head = nn.Linear(hp["hidden"], n_classes)
        else:
            self.rnn = nn.LSTM(hp["embedding"], hp["hidden"], batch_first=True,
                               bidirectional=True)
            self.pool = AttentionPool(2 * hp["hidden"])
            self.head = nn.Linear(2 * hp["hidden"], n_classes)

    def patch_logits(self, patches: Tensor) -> Tensor:
        return self.patch_head(self.drop(self.cnn(patches)))

    def embed(self, x: Tensor) -> Tensor:
        """``(B, P, 96, bands)`` -> ``(B, P, embedding)``."""
        return self.cnn(x.flatten(0, 1)).unflatten(0, x.shape[:2])

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        e = self.drop(self.embed(x))
        if self.streaming:
            return self.head(self.drop(last_valid(self.cell.sequence(e), lengths)))
        h = run_bidirectional(self.rnn, e, lengths)
        return self.head(self.drop(self.pool(h, lengths)))

    def forward_steps(self, x: Tensor) -> Tensor:
        return self.head(self.drop(self.cell.sequence(self.drop(self.embed(x)))))

    def initial_state(self, batch: int) -> State:
        return self.cell.initial(batch)

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        h, state = self.cell.step(self.cnn(x), state)
        return self.head(h), state

    @property
    def distillable(self) -> bool:
        """Streaming builds learn from a teacher's per-patch soft targets too."""
        return self.streaming

    def loss(self, x: Tensor, lengths: Tensor, target: Tensor,
             class_weight: Tensor | None = None, stage: str = "main",
             soft: Tensor | None = None, distill: float = 0.0) -> Tensor:
        """Cross-entropy on the labels; with ``soft`` (a teacher's per-patch posteriors,
        ``(B, P, K)``), ``(1 - distill)`` of it plus ``distill`` of the cross-entropy on
        the teacher's posteriors (knowledge distillation, per patch)."""
        valid = valid_mask(lengths, x.shape[1])
        if stage == "patch":
            labels = target.unsqueeze(1).expand(-1, x.shape[1])[valid]
            logits = self.patch_logits(x[valid])
            hard = F.cross_entropy(logits, labels, weight=class_weight)
            if soft is None:
                return hard
            kd = -(soft[valid] * F.log_softmax(logits, -1)).sum(-1).mean()
            return (1 - distill) * hard + distill * kd
        if self.streaming:   # every patch carries the clip's label, as M1 trains every step
            logits = self.forward_steps(x)
            every = target if target.dim() == 2 else target.unsqueeze(1).expand(-1, x.shape[1])
            ce = F.cross_entropy(logits.transpose(1, 2), every, weight=class_weight,
                                 reduction="none")
            mask = valid.to(ce.dtype)
            hard = (ce * mask).sum() / mask.sum()
            if soft is None:
                return hard
            kd = -(soft * F.log_softmax(logits, -1)).sum(-1)
            return (1 - distill) * hard + distill * (kd * mask).sum() / mask.sum()
        return F.cross_entropy(self(x, lengths), target, weight=class_weight)

    def parameters_for(self, stage: str) -> Iterator[nn.Parameter]:
        if stage == "patch":
            return iter([*self.cnn.parameters(), *self.patch_head.parameters()])
        return (p for name, p in self.named_parameters() if not name.startswith("patch_head"))


