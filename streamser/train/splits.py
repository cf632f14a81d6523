"""Group-independent splits: no recording group (speaker, family, source recording) is
ever on both sides of a split.

Public API::

    group_kfold(y, groups, k, seed=0) -> list[(train_idx, test_idx)]
    leave_one_group_out(groups) -> list[(train_idx, test_idx)]
    holdout(y, groups, fraction, seed=0) -> (train_idx, val_idx)
    check_no_leak(splits, groups)        # ValueError if a group is on both sides
"""
from __future__ import annotations

import warnings
import zlib

import numpy as np

Split = tuple[np.ndarray, np.ndarray]


def leave_one_group_out(groups: np.ndarray) -> list[Split]:
    """One fold per group (emodb: leave-one-speaker-out), groups in sorted order."""
    groups = np.asarray(groups)
    names = sorted(set(groups.tolist()))
    if len(names) < 2:
        raise ValueError(f"leave-one-group-out needs at least 2 groups, found {len(names)}")
    return [(np.flatnonzero(groups != g), np.flatnonzero(groups == g)) for g in names]


def group_kfold(y: np.ndarray, groups: np.ndarray, k: int, seed: int = 0) -> list[Split]:
    """``k`` folds of whole groups, stratified by class as far as the groups allow.

    scikit-learn's StratifiedGroupKFold (groups shuffled with ``seed``). A class with
    fewer groups than ``k`` (babycry_esc's laugh and silence are one recording each)
    cannot be in every test fold; StratifiedGroupKFold still places it as evenly as its
    groups allow while stratifying the other classes, so it is kept (its warning is
    silenced). Only when it cannot run at all (every class has fewer than ``k`` clips)
    does this fall back to GroupKFold, which balances fold sizes and ignores classes.
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    y, groups = np.asarray(y), np.asarray(groups)
    if len(y) != len(groups):
        raise ValueError(f"{len(y)} labels but {len(groups)} groups")
    n_groups = len(set(groups.tolist()))
    if k < 2 or n_groups < k:
        raise ValueError(f"{k}-fold split needs k >= 2 and at least {k} groups, "
                         f"found {n_groups}")
    x = np.zeros(len(y))
    if np.bincount(np.unique(y, return_inverse=True)[1]).max() >= k:
        cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*least populated class.*")
            folds = [(np.sort(tr), np.sort(te)) for tr, te in cv.split(x, y, groups)]
    else:
        # GroupKFold has no shuffle before scikit-learn 1.6: permute the group names.
        names = sorted(set(groups.tolist()))
        perm = {g: i for i, g in enumerate(np.random.default_rng(seed).permutation(names))}
        coded = np.array([perm[g] for g in groups.tolist()])
        folds = [(np.sort(tr), np.sort(te)) for tr, te in GroupKFold(k).split(x, y, coded)]
    if any(len(te) == 0 or len(tr) == 0 for tr, te in folds):
        raise ValueError(f"{k}-fold split left a fold empty")
    return folds


def holdout(y: np.ndarray, groups: np.ndarray, fraction: float, seed: int = 0) -> Split:
    """A validation part of about ``fraction`` of the clips, made of whole groups and
    stratified like :func:`group_kfold` (one of ``round(1 / fraction)`` folds); at least
    one group on each side."""
    groups = np.asarray(groups)
    names = sorted(set(groups.tolist()))
    if len(names) < 2:
        raise ValueError("a group holdout needs at least two groups")
    if not 0 < fraction < 1:
        raise ValueError(f"holdout fraction must be in (0, 1), got {fraction}")
    k = max(2, min(len(names), round(1 / fraction)))
    return group_kfold(y, groups, k, seed)[0]


def check_no_leak(splits: list[Split], groups: np.ndarray) -> None:
    """Raise ValueError if any group appears on both sides of a split."""
    groups = np.asarray(groups)
    for i, (train, test) in enumerate(splits):
        shared = set(groups[train].tolist()) & set(groups[test].tolist())
        if shared:
            raise ValueError(f"fold {i + 1}: {len(shared)} group(s) on both sides of the "
                             f"split, e.g. {sorted(shared)[:3]}")


def group_residue(group: str, k: int) -> int:
    """A group's fixed split among ``k``: its CRC32 modulo ``k`` (stable across corpora,
    runs and machines)."""
    return zlib.crc32(str(group).encode()) % k


def is_test_group(group: str, k: int) -> bool:
    """The fixed test split: a group is held out when its CRC32 is 0 modulo ``k`` (about
    1/k of the groups). Training recipes with ``data.test_groups_k`` leave these groups
    out, and ``streamser mkstream --test-k`` builds its evaluation streams from them only."""
    return group_residue(group, k) == 0


def is_dev_group(group: str, k: int) -> bool:
    """The fixed dev split: CRC32 residue 1 modulo ``k``, next to the test split (residue 0).
    Recipes with ``data.dev_groups_k`` leave these groups out too, and ``streamser mkstream
    --dev-k`` builds the streams that thresholds are chosen on from them."""
    return group_residue(group, k) == 1
