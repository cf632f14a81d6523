"""The training loop: padded mini-batches, the model's stages in order, early stopping
on validation UA, the best weights kept.

A model (see :mod:`streamser.models.base`) names its training stages; each stage trains
``model.parameters_for(stage)`` on ``model.loss(..., stage=stage)``. The ``main`` stage
stops early when the validation UA has not improved for ``patience`` epochs and ends with
the weights of its best epoch; other stages (pre-training) run a fixed number of epochs.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .recipe import TrainSpec
from .scores import scores

Report = Callable[[dict[str, Any]], None]


@dataclass
class FitResult:
    best_val_ua: float | None
    best_epoch: int
    epochs: dict[str, int] = field(default_factory=dict)   # epochs run per stage
    seconds_per_epoch: float = 0.0      # training passes of the main stage, without validation
    history: list[dict[str, Any]] = field(default_factory=list)


def pad(items: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad ``(T_i, ...)`` arrays at the end to one ``(B, T_max, ...)`` tensor."""
    lengths = torch.tensor([len(x) for x in items], dtype=torch.long)
    out = np.zeros((len(items), int(lengths.max()), *items[0].shape[1:]), np.float32)
    for i, x in enumerate(items):
        out[i, :len(x)] = x
    return torch.from_numpy(out), lengths


def batches(n: int, size: int, rng: np.random.Generator | None) -> Iterator[np.ndarray]:
    """Index batches (shuffled with ``rng``); a last batch of one item joins the one
    before it, so that batch normalization always sees two or more items."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    starts = list(range(0, n, size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    for i, start in enumerate(starts):
        yield order[start:starts[i + 1] if i + 1 < len(starts) else n]


def window(n: int, steps: int | None, rng: np.random.Generator) -> slice:
    """A random window of ``steps`` of ``n`` steps (all of them when ``n <= steps``)."""
    if not steps or n <= steps:
        return slice(0, n)
    start = int(rng.integers(0, n - steps + 1))
    return slice(start, start + steps)


def crop(item: np.ndarray, steps: int | None, rng: np.random.Generator) -> np.ndarray:
    """A random window of ``steps`` steps of a longer item (the item itself otherwise)."""
    w = window(len(item), steps, rng)
    return item if w == slice(0, len(item)) else item[w]


Soft = list[np.ndarray] | None


def _cropped(items: list[np.ndarray], targets: torch.Tensor, idx: np.ndarray, soft: Soft,
             spec: TrainSpec, rng: np.random.Generator
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The batch's items, each cropped, with their targets (and the same windows of their
    soft targets)."""
    wins = [window(len(items[i]), spec.crop, rng) for i in idx]
    x, lengths = pad([items[i][w] for i, w in zip(idx, wins)])
    s = pad([soft[i][w] for i, w in zip(idx, wins)])[0] if soft is not None else None
    return x, lengths, targets[idx], s


def _spliced(items: list[np.ndarray], targets: torch.Tensor, idx: np.ndarray, soft: Soft,
             spec: TrainSpec, rng: np.random.Generator
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Each item of the batch followed by ``spec.splice - 1`` random others (all cropped),
    with per-step targets ``(B, T)`` (each step its own clip's class), and soft targets
    cut the same way."""
    seqs, labels, softs = [], [], []
    for i in idx:
        parts = [i, *rng.integers(len(items), size=spec.splice - 1)]
        wins = [window(len(items[j]), spec.crop, rng) for j in parts]
        chunks = [items[j][w] for j, w in zip(parts, wins)]
        seqs.append(np.concatenate(chunks))
        labels.append(np.concatenate([np.full(len(c), int(targets[j])) for c, j in
                                      zip(chunks, parts)]))
        if soft is not None:
            softs.append(np.concatenate([soft[j][w] for j, w in zip(parts, wins)]))
    x, lengths = pad(seqs)
    target = torch.zeros(x.shape[:2], dtype=torch.long)
    for b, lab in enumerate(labels):
        target[b, :len(lab)] = torch.from_numpy(lab)
    return x, lengths, target, (pad(softs)[0] if soft is not None else None)


@torch.no_grad()
def predict_probs(model: torch.nn.Module, items: list[np.ndarray], batch: int = 64) -> np.ndarray:
    """``(N, K)`` class posteriors of every item, in eval mode."""
    was_training = model.training
    model.eval()
    out = []
    for idx in batches(len(items), batch, None):
        x, lengths = pad([items[i] for i in idx])
        out.append(model.probs(x, lengths).numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _optimizer(params: list[torch.nn.Parameter], spec: TrainSpec) -> torch.optim.Optimizer:
    if spec.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=spec.lr, weight_decay=spec.weight_decay)
    return torch.optim.Adam(params, lr=spec.lr, betas=spec.betas, weight_decay=spec.weight_decay)


def spec_mask(x: torch.Tensor, spec: TrainSpec, rng: np.random.Generator) -> torch.Tensor:
    """SpecAugment on a padded batch (B, T, ..., F): per item, ``spec.masks`` random bands of
    the last (feature) axis and as many spans of the axis before it (time: frames, or the
    frames within each patch) set to 0, the normalized features' mean."""
    x = x.clone()
    n_feat, n_time = x.shape[-1], x.shape[-2]
    for b in range(x.shape[0]):
        for _ in range(spec.masks):
            w = int(rng.integers(0, max(1, int(spec.mask_width * n_feat)) + 1))
            f0 = int(rng.integers(0, n_feat - w + 1))
            x[b, ..., f0:f0 + w] = 0
            w = int(rng.integers(0, max(1, int(spec.mask_width * n_time)) + 1))
            t0 = int(rng.integers(0, n_time - w + 1))
            x[b, ..., t0:t0 + w, :] = 0
    return x


def fit(model: torch.nn.Module, items: list[np.ndarray], y: np.ndarray,
        val_items: list[np.ndarray], val_y: np.ndarray, spec: TrainSpec, labels: list[str],
        class_weight: np.ndarray | None = None, report: Report | None = None,
        soft: Soft = None) -> FitResult:
    """Train ``model`` in place on ``items``/``y``; validate on ``val_items`` (may be empty:
    then the main stage runs all its epochs and keeps the last weights). ``soft``: a
    teacher's per-step posteriors ``(T_i, K)`` of each item (distillation: the loss mixes
    them in with weight ``spec.distill``; the model's ``loss`` must take them)."""
    if soft is not None and not getattr(model, "distillable", False):
        raise ValueError(f"{getattr(model, 'arch', type(model).__name__)} does not learn from "
                         "a teacher's soft targets")
    torch.manual_seed(spec.seed)
    rng = np.random.default_rng(spec.seed)
    weight = torch.tensor(class_weight, dtype=torch.float32) if class_weight is not None else None
    targets = torch.as_tensor(np.asarray(y), dtype=torch.long)
    result = FitResult(best_val_ua=None, best_epoch=0)
    for stage in model.stages:
        main = stage == "main"
        epochs = spec.stage_epochs.get(stage, spec.epochs if main else max(1, spec.epochs // 4))
        params = [p for p in model.parameters_for(stage) if p.requires_grad]
        opt = _optimizer(params, spec)
        best: dict[str, torch.Tensor] | None = None
        stale, train_seconds = 0, 0.0
        for epoch in range(1, epochs + 1):
            model.train()
            started = time.perf_counter()
            total, count = 0.0, 0
            for idx in batches(len(items), spec.batch, rng):
                if main and spec.splice > 1 and getattr(model, "streaming", False):
                    x, lengths, target, soft_b = _spliced(items, targets, idx, soft, spec, rng)
                else:
                    x, lengths, target, soft_b = _cropped(items, targets, idx, soft, spec, rng)
                if spec.masks:
                    x = spec_mask(x, spec, rng)
                kd = {} if soft_b is None else {"soft": soft_b, "distill": spec.distill}
                loss = model.loss(x, lengths, target, weight, stage=stage, **kd)
                opt.zero_grad()
                loss.backward()
                if spec.grad_clip:
                    torch.nn.utils.clip_grad_norm_(params, spec.grad_clip)
                opt.step()
                total, count = total + float(loss.detach()) * len(idx), count + len(idx)
            train_seconds += time.perf_counter() - started
            row: dict[str, Any] = {"stage": stage, "epoch": epoch, "loss": total / max(count, 1)}
            if main and len(val_items):
                pred = predict_probs(model, val_items).argmax(axis=1)
                row["val_ua"] = scores(val_y, pred, labels)["ua"]
                if result.best_val_ua is None or row["val_ua"] > result.best_val_ua:
                    result.best_val_ua, result.best_epoch, stale = row["val_ua"], epoch, 0
                    best = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    stale += 1
            result.history.append(row)
            if report:
                report({**row, "epochs": epochs})
            if main and stale >= spec.patience:
                break
        result.epochs[stage] = epoch
        if main:
            result.seconds_per_epoch = train_seconds / epoch
            if best is not None:
                model.load_state_dict(best)
            else:
                result.best_epoch = epoch
    model.eval()
    return result
