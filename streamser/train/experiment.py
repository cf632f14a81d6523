"""From a recipe to numbers: load the features, cross-validate group-independently, train
the final model, evaluate a checkpoint on a manifest.

Every fold does the same thing: hold out a few training groups for validation (early
stopping), fit the normalization on the remaining training clips, add augmented copies
of those clips when the recipe asks, train, and score the untouched test groups.
Patch models (M4) get their 0.96 s patches cut here from the F1 frames: every 0.48 s as
``window.patch`` cuts them, or, with ``train.balance``, at a per-class hop for the
training clips (the paper's data balance).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..dsp.functionals import utterance_stats
from .augment import AugmentSpec
from .balance import balanced_patches, plan_balance
from .data import (
    Clip,
    FeatureCache,
    FrontEnd,
    Normalizer,
    class_weights,
    load_dataset,
    read_manifest,
)
from .recipe import Recipe
from .scores import scores, summarize
from .splits import (check_no_leak, group_kfold, holdout, is_dev_group, is_test_group,
                     leave_one_group_out)

Report = Callable[[dict[str, Any]], None]
PATCH, PATCH_HOP = 96, 48
SKLEARN_ARCHS = ("svm", "majority")


@dataclass
class Data:
    """One corpus' features: per-clip frames (``(T, D)``; F1 frames for patch models)."""

    clips: list[Clip]
    items: list[np.ndarray]
    y: np.ndarray
    groups: np.ndarray
    labels: list[str]
    frontend: FrontEnd
    group_norms: dict[str, Normalizer] | None = None   # recipe.data.group_norm


def frames_frontend(recipe: Recipe) -> FrontEnd:
    """The recipe's front-end without patching: patches are cut per fold."""
    spec = dict(recipe.data.frontend)
    spec["patch"] = None
    return FrontEnd.from_dict(spec)


def is_patch_model(recipe: Recipe) -> bool:
    return bool(recipe.data.frontend.get("patch"))


def load_data(recipe: Recipe, cache: FeatureCache | None = None, progress: bool = True,
              labels: list[str] | None = None) -> Data:
    frontend = frames_frontend(recipe)
    items, y, groups, found, clips = load_dataset(
        recipe.data.manifest_paths(), frontend, cache or FeatureCache(),
        labels=labels or recipe.data.labels, progress=progress,
        label_map=recipe.data.label_map)
    test_k, dev_k = recipe.data.test_groups_k, recipe.data.dev_groups_k
    if test_k or dev_k:
        keep = [i for i, g in enumerate(groups)
                if not (test_k and is_test_group(g, test_k))
                and not (dev_k and is_dev_group(g, dev_k))]
        clips, items, y, groups = ([c[i] for i in keep] for c in (clips, items, y, groups))
    norms = None
    if recipe.data.group_norm:
        norms = {g: Normalizer().fit([x for x, h in zip(items, groups) if h == g])
                 for g in set(groups)}
        items = [norms[g].apply(x) for x, g in zip(items, groups)]
    return Data(clips, items, np.asarray(y), np.asarray(groups), found, frontend, norms)


def patches(frames: np.ndarray, hop: int = PATCH_HOP, first_last_only: bool = False) -> np.ndarray:
    return balanced_patches(frames, hop, first_last_only)


def splits_for(recipe: Recipe, data: Data) -> list[tuple[np.ndarray, np.ndarray]]:
    if recipe.cv.scheme == "loso":
        folds = leave_one_group_out(data.groups)
    else:
        folds = group_kfold(data.y, data.groups, recipe.cv.k, recipe.cv.seed)
    check_no_leak(folds, data.groups)
    return folds


@dataclass
class Trained:
    model: Any                       # torch module, or a fitted sklearn estimator
    normalizer: Normalizer
    fit: dict[str, Any]              # best_val_ua, epochs, seconds_per_epoch, ...

    def predict(self, recipe: Recipe, frames: list[np.ndarray]) -> np.ndarray:
        """Class posteriors ``(N, K)`` for clips given as raw (unnormalized) frames."""
        items = [self.normalizer.apply(x) for x in frames]
        if recipe.model.arch in SKLEARN_ARCHS:   # hard decisions, as one-hot rows
            pred = self.model.predict(np.stack([utterance_stats(x) for x in items]))
            return np.eye(int(np.max(self.model.classes_)) + 1)[pred]
        if is_patch_model(recipe):
            items = [patches(x) for x in items]
        from .trainer import predict_probs
        return predict_probs(self.model, items)


def augment_spec(recipe: Recipe) -> AugmentSpec:
    """The recipe's augmentation; its ``noise_manifest`` is relative to ``data_root``.
    With ``data.test_groups_k``, the noise clips of the fixed test split are never mixed
    in (they are test material: ``mkstream --test-k`` plays them)."""
    raw = dict(recipe.data.augment or {})
    if raw.get("noise_manifest"):
        raw["noise_manifest"] = str(Path(recipe.data.data_root) / raw["noise_manifest"])
    for key in ("noise_labels", "exclude_groups", "snr_db", "gain_db"):
        if key in raw:
            raw[key] = tuple(raw[key])
    k, dev_k = recipe.data.test_groups_k, recipe.data.dev_groups_k
    if raw.get("noise_manifest") and (k or dev_k):
        test = {c.group for c in read_manifest(raw["noise_manifest"])
                if (k and is_test_group(c.group, k))
                or (dev_k and is_dev_group(c.group, dev_k))}
        raw["exclude_groups"] = tuple(sorted(set(raw.get("exclude_groups", ())) | test))
    return AugmentSpec(**raw)


def train_one(recipe: Recipe, data: Data, idx: np.ndarray, cache: FeatureCache | None = None,
              report: Report | None = None) -> Trained:
    """Train on the clips ``idx`` (a group holdout inside them validates)."""
    t = recipe.train
    tr, va = holdout(data.y[idx], data.groups[idx], t.val_fraction, t.seed) \
        if t.val_fraction > 0 else (np.arange(len(idx)), np.zeros(0, int))
    tr, va = idx[tr], idx[va]
    normalizer = Normalizer().fit([data.items[i] for i in tr])
    raw = raw_input(recipe.model.arch)
    if raw:                                       # a pretrained backbone reads raw features
        normalizer = Normalizer(np.zeros_like(normalizer.mean), np.ones_like(normalizer.std))
    n_classes = len(data.labels)
    train_frames = [data.items[i] for i in tr]
    train_y = list(data.y[tr])
    train_groups = list(data.groups[tr])          # for an inner split (sklearn baselines)
    if recipe.data.augment:
        spec = augment_spec(recipe)
        cache = cache or FeatureCache()
        for i in tr:
            for copy in range(1, spec.copies_for(data.clips[i].extras.get(
                    "manifest_label", data.clips[i].label)) + 1):
                frames = cache.features(data.clips[i], data.frontend, spec, copy)
                if data.group_norms:
                    frames = data.group_norms[data.groups[i]].apply(frames)
                train_frames.append(frames)
                train_y.append(data.y[i])
                train_groups.append(data.groups[i])
    if t.quiet:
        from .augment import room_tone
        rng = np.random.default_rng(t.seed)
        label = data.labels.index(t.quiet_label)
        for _ in range(t.quiet):
            train_frames.append(data.frontend.frames(room_tone(rng, data.frontend.rate))[0])
            train_y.append(label)
            train_groups.append("quiet")
    y = np.asarray(train_y)
    if raw and is_patch_model(recipe):   # clips shorter than a patch: padded with silence
        train_frames = [_silence_padded(x) for x in train_frames]
    items = [normalizer.apply(x) for x in train_frames]
    val_items = [normalizer.apply(data.items[i]) for i in va]
    if recipe.model.arch in SKLEARN_ARCHS:
        model, chosen = _fit_sklearn(recipe, items, y, np.asarray(train_groups))
        return Trained(model, normalizer, {"epochs": {}, **chosen})
    soft = None
    if t.teacher:
        if not is_patch_model(recipe) or t.balance:
            raise ValueError("train.teacher: only patch models without train.balance")
        from .distill import teacher_targets
        raw = [patches(_silence_padded(x)) for x in train_frames]
        soft = teacher_targets(t.teacher, raw, data.labels, _progress(report, "teacher"))
    if is_patch_model(recipe):
        items = _training_patches(recipe, items, y, n_classes)
        val_items = [patches(x) for x in val_items]
    import torch

    from ..models import build
    from .trainer import fit
    if t.threads:
        torch.set_num_threads(t.threads)
    torch.manual_seed(t.seed)
    input_dim = items[0].shape[-1]
    model = build(recipe.model.arch, input_dim, n_classes, **recipe.model.hparams)
    model.prepare(items)
    if hasattr(model, "encode_items"):            # a frozen backbone: embed each patch once
        items = model.encode_items(items, progress=_progress(report, "embed"))
        val_items = model.encode_items(val_items)
    weight = class_weights(y, n_classes) if t.class_weighting else None
    result = fit(model, items, y, val_items, data.y[va], t, data.labels, weight, report,
                 soft=soft)
    return Trained(model, normalizer, {
        "best_val_ua": result.best_val_ua, "best_epoch": result.best_epoch,
        "epochs": result.epochs, "seconds_per_epoch": result.seconds_per_epoch,
        "train_clips": len(tr), "val_clips": len(va), "train_items": len(items)})


def raw_input(arch: str) -> bool:
    """Whether ``arch`` reads raw (unstandardized) features: a pretrained backbone."""
    if arch in SKLEARN_ARCHS:
        return False
    from ..models import ARCHITECTURES
    return bool(getattr(ARCHITECTURES.get(arch), "raw_input", False))


def _silence_padded(frames: np.ndarray, rows: int = 96) -> np.ndarray:
    """Log-mel frames of a clip shorter than a patch, followed by silent rows (the
    log-mel floor, ``log(0.01)``) up to one patch, as a pretrained backbone would hear a
    short sound in a quiet room."""
    if len(frames) >= rows:
        return frames
    floor = np.full((rows - len(frames), frames.shape[1]), np.log(0.01), frames.dtype)
    return np.concatenate([frames, floor])


def _progress(report: Report | None, stage: str) -> Report | None:
    """A ``(done, total)`` callback that reports every 500 items as a ``stage`` row."""
    if report is None:
        return None

    def tick(done: int, total: int) -> None:
        if done % 500 == 0 or done == total:
            report({"stage": stage, "done": done, "total": total})
    return tick


def _training_patches(recipe: Recipe, items: list[np.ndarray], y: np.ndarray,
                      n_classes: int) -> list[np.ndarray]:
    if not recipe.train.balance:
        return [patches(x) for x in items]
    plan = plan_balance([len(x) for x in items], y, n_classes)
    return [patches(x, plan[int(c)].hop_frames, plan[int(c)].first_last_only)
            for x, c in zip(items, y)]


def _fit_sklearn(recipe: Recipe, items: list[np.ndarray], y: np.ndarray,
                 groups: np.ndarray) -> tuple[Any, dict[str, Any]]:
    """The fitted baseline and what it chose. An SVM hyper-parameter given as a list (e.g.
    ``C: [0.1, 1, 10]``) is picked by an inner group k-fold over the training groups only
    (UA as the score), so the held-out fold never sees the choice."""
    from sklearn.dummy import DummyClassifier
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    stats = np.stack([utterance_stats(x) for x in items])
    if recipe.model.arch == "majority":
        return DummyClassifier(strategy="most_frequent").fit(stats, y), {}
    hp = {"C": 1.0, "kernel": "rbf", "gamma": "scale", **recipe.model.hparams}
    grid = {f"svm__{k}": v for k, v in hp.items() if isinstance(v, list)}
    fixed = {k: v for k, v in hp.items() if not isinstance(v, list)}
    pipe = Pipeline([("scale", StandardScaler()),
                     ("svm", SVC(class_weight="balanced", random_state=recipe.train.seed,
                                 **fixed))])
    if not grid:
        return pipe.fit(stats, y), {}
    inner = GroupKFold(n_splits=min(5, len(set(groups.tolist()))))
    search = GridSearchCV(pipe, grid, scoring="balanced_accuracy", cv=inner)
    search.fit(stats, y, groups=groups)
    return search.best_estimator_, {"chosen": {k.removeprefix("svm__"): v for k, v in
                                               search.best_params_.items()}}


def full_proba(trained: Trained, recipe: Recipe, frames: list[np.ndarray],
               n_classes: int) -> np.ndarray:
    """Posteriors over all ``n_classes`` (sklearn's rows cover only the classes seen)."""
    p = trained.predict(recipe, frames)
    out = np.zeros((len(p), n_classes))
    out[:, :p.shape[1]] = p[:, :n_classes]
    return out


def cross_validate(recipe: Recipe, data: Data, cache: FeatureCache | None = None,
                   report: Report | None = None) -> dict[str, Any]:
    """Scores of every fold and their mean ± std (UA, WA, per-class recall)."""
    folds = splits_for(recipe, data)
    results, fits = [], []
    oof = np.zeros((len(data.y), len(data.labels)))
    started = time.perf_counter()
    for k, (train_idx, test_idx) in enumerate(folds):
        fold_report = (lambda row, k=k: report({**row, "fold": k + 1, "folds": len(folds)})) \
            if report else None
        trained = train_one(recipe, data, train_idx, cache, fold_report)
        probs = full_proba(trained, recipe, [data.items[i] for i in test_idx], len(data.labels))
        oof[test_idx] = probs
        s = scores(data.y[test_idx], probs.argmax(axis=1), data.labels)
        s["test_groups"] = sorted(set(data.groups[test_idx].tolist()))
        results.append(s)
        fits.append(trained.fit)
        if report:
            report({"fold_done": k + 1, "folds": len(folds), "ua": s["ua"], "wa": s["wa"]})
    summary = summarize(results)
    per_epoch = [f["seconds_per_epoch"] for f in fits if f.get("seconds_per_epoch")]
    summary.update(seconds_per_epoch=float(np.mean(per_epoch)) if per_epoch else None,
                   seconds=time.perf_counter() - started, scheme=recipe.cv.scheme,
                   fold_scores=results, fold_fits=fits,
                   oof_probs=np.round(oof, 5).tolist())   # out-of-fold, per clip in order
    return summary


def meta_for(recipe: Recipe, data: Data, trained: Trained) -> dict[str, Any]:
    """The checkpoint metadata of a model trained from this recipe."""
    frontend = dict(recipe.data.frontend)
    return {"arch": recipe.model.arch, "name": recipe.name, "task": recipe.task,
            "input_dim": int(data.items[0].shape[-1]), "labels": data.labels,
            "label_map": recipe.data.label_map,
            "frontend": FrontEnd.from_dict(frontend).to_dict(),
            "normalizer": trained.normalizer.to_dict(),
            "training": {"recipe": recipe.model_dump(mode="json"), **trained.fit,
                         "manifests": recipe.data.manifests, "clips": len(data.clips)}}


def frames_for_eval(meta: dict[str, Any], manifest: Path, cache: FeatureCache | None = None,
                    progress: bool = True) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """A manifest's clips through a checkpoint's front-end (frames; patches are cut by the
    caller), with labels mapped onto the checkpoint's label order."""
    spec = dict(meta["frontend"])
    spec["patch"] = None
    items, y, _groups, labels, _clips = load_dataset(
        [manifest], FrontEnd.from_dict(spec), cache or FeatureCache(), labels=meta["labels"],
        progress=progress, label_map=meta.get("label_map"))
    return items, np.asarray(y), labels
