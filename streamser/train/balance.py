"""M4's data balance (vggish-lstm-attention-data-balance, section 1.1), generalized.

The paper zero-pads clips shorter than one 0.96 s patch, takes only the first and last
patch of majority-class clips, and overlaps the patches of minority classes (0.24 s apart
for the rarest class, 0.48 s for the next). Here each class gets its own patch hop, from
``min_hop`` rows (24 = 0.24 s, the paper's densest) up to "first and last patch only"
(the paper's sparsest), chosen so that the class patch counts come out near a common
target: the count the largest class gives with first and last patches only (no class is
thinned further than the paper does), unless even the rarest class at the densest hop
cannot reach it; then classes meet as close as the bounds allow, and the rest of the
imbalance is left to class weights. With these bounds the achievable spread is
``max(first-and-last count) / min(densest count)``: on donateacry, 296 hungry clips give
at least 592 patches while 8 burping clips give at most 208 (ratio 2.8); ``min_hop=12``
(0.12 s) brings burping to 408.

Public API::

    BalancePlan(hop_frames, first_last_only, patches)
    patch_count(frames, hop, first_last_only=False) -> int
    balanced_patches(frames (T, D), hop, first_last_only=False) -> (P, 96, D)
    plan_balance(frame_counts, y, n_classes, min_hop=24) -> dict[int, BalancePlan]
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PATCH = 96
MIN_HOP = 24          # 0.24 s, the paper's densest overlap
DEFAULT_HOP = 48      # 0.48 s, window.patch's (and VGGish's) hop


@dataclass(frozen=True)
class BalancePlan:
    """How one class is cut: a patch every ``hop_frames`` rows, or only the first and
    the last patch of each clip; ``patches`` is the class total this gives."""

    hop_frames: int
    first_last_only: bool
    patches: int


def patch_count(frames: int, hop: int, first_last_only: bool = False) -> int:
    """Patches :func:`balanced_patches` cuts from a clip of ``frames`` rows."""
    if frames <= PATCH:
        return 1
    if first_last_only:
        return 2
    return 1 + (frames - PATCH) // hop


def balanced_patches(frames: np.ndarray, hop: int, first_last_only: bool = False) -> np.ndarray:
    """``(P, 96, D)`` patches of ``(T, D)`` frames, one every ``hop`` rows as
    ``window.patch`` cuts them (trailing rows that do not fill a patch are dropped);
    ``first_last_only`` keeps the first and the last patch (the last one ends on the
    clip's last row). Fewer than 96 rows are zero-padded to one patch."""
    frames = np.asarray(frames)
    if frames.ndim != 2:
        raise ValueError(f"balanced_patches: frames must be (T, D), got {frames.shape}")
    if hop < 1:
        raise ValueError(f"balanced_patches: hop must be >= 1, got {hop}")
    if len(frames) < PATCH:
        pad = np.zeros((PATCH - len(frames), frames.shape[1]), frames.dtype)
        return np.concatenate((frames, pad))[None]
    if first_last_only:
        return np.stack((frames[:PATCH], frames[-PATCH:])) if len(frames) > PATCH \
            else frames[None, :PATCH]
    n = 1 + (len(frames) - PATCH) // hop
    idx = np.arange(n)[:, None] * hop + np.arange(PATCH)
    return frames[idx]


def _totals(counts: np.ndarray, hops: np.ndarray) -> np.ndarray:
    """Class totals for every hop (vectorized :func:`patch_count`)."""
    long = counts[counts > PATCH]
    return (len(counts) - len(long)) + (1 + (long[None, :] - PATCH) // hops[:, None]).sum(1)


def plan_balance(frame_counts: Sequence[int], y: np.ndarray, n_classes: int,
                 min_hop: int = MIN_HOP, default_hop: int = DEFAULT_HOP
                 ) -> dict[int, BalancePlan]:
    """Per class present in ``y``, the hop (``min_hop`` rows or more) or first-and-last
    cut whose total patch count is nearest (in ratio) to the common target (see the
    module docstring). ``frame_counts[i]`` is clip ``i``'s number of feature rows.
    ``default_hop`` is only recorded as the hop of first-and-last plans."""
    counts_all = np.asarray(frame_counts, dtype=np.int64)
    y = np.asarray(y)
    if len(counts_all) != len(y):
        raise ValueError(f"{len(counts_all)} frame counts but {len(y)} labels")
    if min_hop < 1:
        raise ValueError("min_hop must be >= 1")
    present = [c for c in range(n_classes) if np.any(y == c)]
    options: dict[int, list[tuple[int, bool, int]]] = {}
    for c in present:
        counts = counts_all[y == c]
        sparsest = int(sum(patch_count(int(n), default_hop, True) for n in counts))
        top = max(min_hop, int(counts.max()) - PATCH)    # beyond: one patch per clip
        hops = np.arange(min_hop, top + 1)
        totals = _totals(counts, hops)
        opts = [(int(h), False, int(t)) for h, t in zip(hops, totals) if t >= sparsest]
        options[c] = opts + [(default_hop, True, sparsest)]
    densest = {c: max(t for _, _, t in options[c]) for c in present}
    sparsest = {c: min(t for _, _, t in options[c]) for c in present}
    target = min(max(sparsest.values()), max(densest.values()))

    def distance(o: tuple[int, bool, int]) -> tuple[float, bool, int]:
        # nearest in ratio; on a tie prefer first-and-last (it covers the clip's end),
        # then the larger hop
        return abs(np.log(o[2] / target)), not o[1], -o[0]

    return {c: BalancePlan(*min(options[c], key=distance)) for c in present}
