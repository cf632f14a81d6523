"""Knowledge distillation: a teacher's per-step posteriors on every training item, as
soft targets for a smaller student (``train.teacher``, ``train.distill``).

The teacher is a streaming checkpoint or bundled model (e.g. ``cry-yamnet``) with the
student's labels, in order. It reads the student's training audio through its own
normalizer: the items given here are the raw front-end output (patches), before the
student's normalization. It steps through each item from a fresh state, as the student
will be trained on it, so a step's soft target is what the teacher says after hearing the
item up to that patch.
"""
from __future__ import annotations

from collections.abc import Callable
import numpy as np

from .data import Normalizer


def teacher_targets(teacher: str, raw_items: list[np.ndarray], labels: list[str],
                    progress: Callable[[int, int], None] | None = None) -> list[np.ndarray]:
    """``(T_i, K)`` posteriors of the teacher for each ``(T_i, ...)`` raw item."""
    import torch

    from ..checkpoint import load
    from ..zoo import resolve

    model, meta = load(resolve(teacher))
    if not getattr(model, "streaming", False):
        raise ValueError(f"teacher {teacher}: not a streaming model (no per-step posteriors)")
    if list(meta["labels"]) != list(labels):
        raise ValueError(f"teacher {teacher}: labels {meta['labels']} differ from the "
                         f"student's {labels}")
    norm = meta["normalizer"]
    normalizer = Normalizer(np.asarray(norm["mean"], np.float32),
                            np.asarray(norm["std"], np.float32))
    items = [normalizer.apply(x) for x in raw_items]
    if hasattr(model, "encode_items"):          # a frozen backbone: embeddings, cached
        items = model.encode_items(items, progress=progress)
    model.eval()
    out = []
    with torch.inference_mode():
        for x in items:
            logits = model.forward_steps(torch.from_numpy(np.ascontiguousarray(x[None])))
            out.append(torch.softmax(logits[0], -1).numpy().astype(np.float32))
    return out

