"""M5 (cnn-sae-blstm-attention): convolution kernels learned by a sparse autoencoder,
then mean sub-sampling, a BLSTM and attention-weighted pooling.

Input: F5 spectrogram frames (normalized), projected by a fixed PCA to ``pca`` channels
(60 in the paper), fitted in :meth:`prepare` on the training frames and stored as
buffers. Kernels span 3, 6 and 10 frames over all PCA channels (``kernels_per_width``
each; the paper has 180 in all). Stage ``sae`` learns each width's kernels as the
encoder of a sparse autoencoder on random windows of the input (sigmoid units,
``loss = MSE + beta * KL(rho || rho_hat) + weight_decay * |W|^2``, eq. 1-3). Stage
``main`` keeps those kernels fixed (as the paper uses them as a pre-learned conv layer)
and trains the rest: sigmoid conv maps, mean sub-sampling by ``pool``, a BLSTM,
attention pooling ``a_t = softmax(w . h_t)``, ``sum_t a_t h_t`` (eq. 12-13), dropout 0.5,
linear. Gaussian input noise (sigma 0.1) while training; weights start U(-0.1, 0.1).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import AttentionPool, SequenceModel, run_bidirectional, valid_mask


class SAEBLSTM(SequenceModel):
    """M5: sparse-autoencoder conv kernels on PCA spectrogram, BLSTM + attention pooling."""
    arch = "sae_blstm"
    stages = ("sae", "main")
    defaults = {"pca": 60, "widths": [3, 6, 10], "kernels_per_width": 20, "pool": 2,
                "hidden": 32, "dropout": 0.5, "noise": 0.1, "rho": 0.05, "beta": 3.0,
                "sae_decay": 1e-4, "sae_windows": 8}

    def __init__(self, input_dim: int, n_classes: int, **hparams: Any) -> None:
        super().__init__(input_dim, n_classes, **hparams)
        hp = self.hparams
        p, k = min(hp["pca"], input_dim), hp["kernels_per_width"]
        self.register_buffer("pca_mean", torch.zeros(input_dim))
        self.register_buffer("pca_components", torch.eye(input_dim)[:p])
        self.convs = nn.ModuleList(nn.Conv1d(p, k, w) for w in hp["widths"])
        self.decoders = nn.ModuleList(nn.Linear(k, p * w) for w in hp["widths"])
        width = k * len(hp["widths"])
        self.rnn = nn.LSTM(width, hp["hidden"], batch_first=True, bidirectional=True)
        self.pool = AttentionPool(2 * hp["hidden"])
        self.drop = nn.Dropout(hp["dropout"])
        self.head = nn.Linear(2 * hp["hidden"], n_classes)
        for param in self.parameters():
            nn.init.uniform_(param, -0.1, 0.1)

    def prepare(self, sequences: list[np.ndarray]) -> None:
        rows = np.concatenate(sequences).astype(np.float64)
        mean = rows.mean(0)
        _, _, vt = np.linalg.svd(rows - mean, full_matrices=False)
        p = self.pca_components.shape[0]
        self.pca_mean.copy_(torch.from_numpy(mean).float())
        self.pca_components.copy_(torch.from_numpy(vt[:p]).float())

    def project(self, x: Tensor) -> Tensor:
        """``(B, T, D)`` -> ``(B, T, pca)``."""
        return (x - self.pca_mean) @ self.pca_components.T

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        if self.training and self.hparams["noise"]:
            x = x + self.hparams["noise"] * torch.randn_like(x)
        mask = valid_mask(lengths, x.shape[1]).unsqueeze(1).to(x.dtype)   # (B, 1, T)
        z = self.project(x).transpose(1, 2) * mask                   # (B, pca, T), 0 past the end
        maps = torch.cat([torch.sigmoid(conv(F.pad(z, ((w - 1) // 2, w // 2))))   # "same"
                          for conv, w in zip(self.convs, self.hparams["widths"])], dim=1) * mask
        pool = self.hparams["pool"]                                   # mean over valid frames
        counts = F.avg_pool1d(mask, pool, ceil_mode=True)
        maps = (F.avg_pool1d(maps, pool, ceil_mode=True) / counts.clamp(min=1e-6)).transpose(1, 2)
        pooled_len = torch.div(lengths + pool - 1, pool, rounding_mode="floor").clamp(min=1)
        h = run_bidirectional(self.rnn, maps, pooled_len)
        return self.head(self.drop(self.pool(h, pooled_len)))

    def sae_loss(self, x: Tensor, lengths: Tensor) -> Tensor:
        """Sparse-autoencoder loss of every width's kernels on random input windows."""
        hp = self.hparams
        z = self.project(x)
        total = torch.zeros(())
        for conv, dec, w in zip(self.convs, self.decoders, hp["widths"]):
            starts = (torch.rand(len(x), hp["sae_windows"]) *
                      (lengths - w + 1).clamp(min=1).unsqueeze(1)).long()
            idx = starts.unsqueeze(-1) + torch.arange(w)                # (B, n, w)
            idx = idx.clamp(max=x.shape[1] - 1)
            win = z[torch.arange(len(x))[:, None, None], idx]           # (B, n, w, pca)
            win = win.permute(0, 1, 3, 2).reshape(-1, z.shape[-1] * w)  # conv weight layout
            code = torch.sigmoid(win @ conv.weight.flatten(1).T + conv.bias)
            recon = dec(code)
            rho, rho_hat = hp["rho"], code.mean(0).clamp(1e-6, 1 - 1e-6)
            kl = (rho * torch.log(rho / rho_hat)
                  + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()
            total = total + F.mse_loss(recon, win) + hp["beta"] * kl \
                + hp["sae_decay"] * (conv.weight ** 2).sum()
        return total

    def loss(self, x: Tensor, lengths: Tensor, target: Tensor,
             class_weight: Tensor | None = None, stage: str = "main") -> Tensor:
        if stage == "sae":
            return self.sae_loss(x, lengths)
        return F.cross_entropy(self(x, lengths), target, weight=class_weight)

    def parameters_for(self, stage: str) -> Iterator[nn.Parameter]:
        if stage == "sae":
            return iter([*self.convs.parameters(), *self.decoders.parameters()])
        return (p for name, p in self.named_parameters()
                if not name.startswith(("convs", "decoders")))
