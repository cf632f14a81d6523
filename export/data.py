"""Calibration and validation audio for an export: real clips from a manifest through the
checkpoint's own front-end, split by group so that no speaker or baby is in both."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from streamser.plugins.infer.contract import ModelContract


@dataclass
class ClipSet:
    """Model-ready inputs per clip: ``(T, *x)`` step sequences, or one ``(1, *x)``
    window; with the clips' class indices."""

    items: list[np.ndarray]
    y: np.ndarray

    def steps(self) -> int:
        return int(sum(len(i) for i in self.items))


def load_sets(meta: dict[str, Any], contract: ModelContract, manifests: Path | list[Path],
              calib_clips: int = 48, val_clips: int = 100, seed: int = 0,
              progress: bool = True) -> tuple[ClipSet, ClipSet]:
    """(calibration, validation) clip sets from disjoint halves of the groups."""
    from streamser.train.data import FeatureCache, FrontEnd, load_dataset

    manifests = [manifests] if isinstance(manifests, Path) else list(manifests)
    items, y, groups, _labels, _clips = load_dataset(
        manifests, FrontEnd.from_dict(meta["frontend"]), FeatureCache(),
        labels=meta["labels"], progress=progress, label_map=meta.get("label_map"))
    if not items:
        raise ValueError(f"{manifests[0]}: no clip with one of the model's labels")
    rng = np.random.default_rng(seed)
    names = sorted(set(groups))
    rng.shuffle(names)
    calib_groups = set(names[: max(1, len(names) // 2)])
    in_calib = np.array([g in calib_groups for g in groups])
    if in_calib.all():                                  # a single group: split the clips
        in_calib = np.arange(len(items)) % 2 == 0
    sets = []
    for mask, limit in ((in_calib, calib_clips), (~in_calib, val_clips)):
        idx = np.flatnonzero(mask)
        idx = np.sort(rng.choice(idx, size=min(limit, len(idx)), replace=False))
        sets.append(ClipSet([model_input(items[i], contract) for i in idx], np.asarray(y)[idx]))
    return sets[0], sets[1]


def model_input(item: np.ndarray, contract: ModelContract) -> np.ndarray:
    """Normalize a clip's features; a window model gets its first window (zero-padded)."""
    x = contract.normalize(item)
    if contract.mode == "step":
        return x
    steps = contract.x_shape[0]
    window = np.zeros((steps, *x.shape[1:]), np.float32)
    window[:min(steps, len(x))] = x[:steps]
    return window[None]


def calibration_samples(contract: ModelContract, clips: ClipSet, reference: Any,
                        limit: int = 2000) -> list[dict[str, np.ndarray]]:
    """Named model inputs seen while streaming the calibration clips through the float
    ``reference`` backend (states included, as they occur), at most ``limit``, evenly
    spread over all steps."""
    total = clips.steps()
    keep = set(np.linspace(0, total - 1, min(limit, total)).round().astype(int).tolist())
    samples, n = [], 0
    names = [s.name for s in contract.states]
    for item in clips.items:
        states = contract.initial_states(1)
        for x in item:
            x = x[None]
            if n in keep:
                samples.append({"x": x, **dict(zip(names, states))})
            if contract.stateful:
                _, states = reference.run(x, states)
            n += 1
    return samples
