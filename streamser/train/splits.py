"""Group-independent splits: no recording group (speaker, family, source recording) is
ever on both sides of a split."""
from __future__ import annotations

import numpy as np

Split = tuple[np.ndarray, np.ndarray]


def leave_one_group_out(groups: np.ndarray) -> list[Split]:
    """One fold per group (emodb: leave-one-speaker-out), groups in sorted order."""
    groups = np.asarray(groups)
    return [(np.flatnonzero(groups != g), np.flatnonzero(groups == g))
            for g in sorted(set(groups.tolist()))]


def group_kfold(y: np.ndarray, groups: np.ndarray, k: int, seed: int = 0) -> list[Split]:
    """``k`` folds of whole groups, stratified by class as far as the groups allow
    (scikit-learn's StratifiedGroupKFold, shuffled with ``seed``)."""
    from sklearn.model_selection import StratifiedGroupKFold

    groups = np.asarray(groups)
    if len(set(groups.tolist())) < k:
        raise ValueError(f"{k}-fold split needs at least {k} groups, "
                         f"found {len(set(groups.tolist()))}")
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in cv.split(np.zeros(len(y)), np.asarray(y), groups)]


def holdout(y: np.ndarray, groups: np.ndarray, fraction: float, seed: int = 0) -> Split:
    """A validation part of about ``fraction`` of the clips, made of whole groups (at
    least one group; the training part keeps at least one group)."""
    groups = np.asarray(groups)
    names = sorted(set(groups.tolist()))
    if len(names) < 2:
        raise ValueError("a group holdout needs at least two groups")
    k = max(2, min(len(names), round(1 / fraction))) if fraction > 0 else 2
    train, val = group_kfold(y, groups, k, seed)[0] if len(names) >= k else \
        leave_one_group_out(groups)[0]
    return train, val


def check_no_leak(splits: list[Split], groups: np.ndarray) -> None:
    """Raise ValueError if any group appears on both sides of a split."""
    groups = np.asarray(groups)
    for i, (train, test) in enumerate(splits):
        shared = set(groups[train].tolist()) & set(groups[test].tolist())
        if shared:
            raise ValueError(f"fold {i + 1}: group(s) {sorted(shared)[:3]} on both sides")
