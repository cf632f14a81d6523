"""M4's data balance (vggish-lstm-attention-data-balance, section 1.1), generalized.

The paper zero-pads clips shorter than one 0.96 s patch, takes only the first and last
patch of majority-class clips, and overlaps the patches of minority classes (0.24 s apart
for the rarest class, 0.48 s for the next). Here each class gets the patch hop that brings
its patch count closest to a common target: the count the rarest class reaches at the
smallest hop, capped by what the largest class gives with first and last patches only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PATCH = 96
MIN_HOP = 24          # 0.24 s, the paper's densest overlap


@dataclass(frozen=True)
class BalancePlan:
    hop_frames: int
    first_last_only: bool
    patches: int          # patches this plan gives the class


def patch_count(frames: int, hop: int, first_last_only: bool = False) -> int:
    if frames <= PATCH:
        return 1
    if first_last_only:
        return 2
    return 1 + (frames - PATCH) // hop


def balanced_patches(frames: np.ndarray, hop: int, first_last_only: bool = False) -> np.ndarray:
    """``(P, 96, D)`` patches of ``(T, D)`` frames every ``hop`` rows (zero-padded to one
    patch when T < 96); ``first_last_only`` keeps the first and the last patch."""
    if len(frames) < PATCH:
        pad = np.zeros((PATCH - len(frames), frames.shape[1]), frames.dtype)
        return np.concatenate((frames, pad))[None]
    if first_last_only:
        return np.stack((frames[:PATCH], frames[-PATCH:])) if len(frames) > PATCH \
            else frames[None, :PATCH]
    n = 1 + (len(frames) - PATCH) // hop
    idx = np.arange(n)[:, None] * hop + np.arange(PATCH)
    return frames[idx]


def plan_balance(frame_counts: list[int], y: np.ndarray, n_classes: int,
                 default_hop: int = 48) -> dict[int, BalancePlan]:
    """Per class, the hop (or first-and-last) whose total patch count is nearest to the
    common target."""
    y = np.asarray(y)
    options = [(h, False) for h in range(MIN_HOP, 10 * PATCH + 1, 12)] + [(default_hop, True)]

    def total(c: int, hop: int, fl: bool) -> int:
        return sum(patch_count(n, hop, fl) for n, k in zip(frame_counts, y) if k == c)

    present = [c for c in range(n_classes) if np.any(y == c)]
    densest = {c: total(c, MIN_HOP, False) for c in present}
    sparsest = {c: total(c, default_hop, True) for c in present}
    target = min(max(densest.values()), max(min(densest.values()), max(sparsest.values())))
    plans = {}
    for c in present:
        hop, fl = min(options, key=lambda o: (abs(total(c, *o) - target), o[1], -o[0]))
        plans[c] = BalancePlan(hop, fl, total(c, hop, fl))
    return plans
