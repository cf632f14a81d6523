"""Features of manifest clips through the streaming front-end nodes, a feature cache,
and normalization (no torch here).

Training runs the very nodes a graph runs (``features.*`` and ``window.patch``, resolved
through the plugin registry, :mod:`streamser.frontend`) on each whole clip, so a model
never sees features the robot would not compute: feeding a clip as one audio frame gives
the same rows as streaming it in blocks of any size (the nodes keep their framing state
per stream). Clips and their audio: :mod:`streamser.train.clips`.

Public API::

    FeatureCache(root=None).features(clip, frontend, augment=None, copy=0) -> np.ndarray
    load_dataset(manifests, frontend, cache, labels=None, progress=True, label_map=None)
        -> (items, y, groups, labels, clips)
    Normalizer().fit(items) / .apply(x) / .to_dict() / Normalizer.from_dict(d)
    class_weights(y, n_classes) -> np.ndarray
"""
from __future__ import annotations

import hashlib
import os
import uuid
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..frontend import FrontEnd
from .clips import Clip, load_audio, read_manifest

if TYPE_CHECKING:
    from .augment import AugmentSpec


# --------------------------------------------------------------------------- cache

def default_cache_dir() -> Path:
    return Path(os.environ.get("STREAMSER_CACHE") or Path.home() / ".cache/streamser/features")


def augment_rng(spec: AugmentSpec, clip: Clip, copy: int) -> np.random.Generator:
    """The generator of augmented copy ``copy`` of ``clip``: deterministic, so a cached
    copy stays valid and a rerun draws the same noise, gain and band-limit."""
    return np.random.default_rng([spec.seed, zlib.crc32(str(clip.path).encode()), copy])


class FeatureCache:
    """Features per (front-end, clip file, augmentation, copy) as ``.npy`` files under
    ``root`` (default ``$STREAMSER_CACHE`` or ``~/.cache/streamser/features``).

    The key holds the front-end key, the clip's absolute path, size and mtime (an edited
    file is recomputed), the augmentation key and the copy index. Copy 0, or no
    augmentation, is the clean clip; copy ``c >= 1`` is augmented with
    :func:`augment_rng`. Files are written to a temporary name and renamed, so parallel
    runs and interrupted ones never leave a half-written entry; an unreadable entry is
    recomputed. ``computed`` and ``loaded`` count what happened.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else default_cache_dir()
        self.computed = 0
        self.loaded = 0

    def path(self, clip: Clip, frontend: FrontEnd, augment: AugmentSpec | None = None,
             copy: int = 0) -> Path:
        """Where the entry lives (whether or not it exists yet)."""
        if augment is None or copy == 0:
            augment, copy = None, 0
        st = clip.path.stat()
        aug = augment.key() if augment is not None else "none"
        name = f"{clip.path}|{st.st_size}|{st.st_mtime_ns}|{aug}|{copy}"
        for p in frontend.param_files():
            name += f"|{p}|{p.stat().st_size}|{p.stat().st_mtime_ns}"
        digest = hashlib.sha1(name.encode()).hexdigest()[:20]
        return self.root / frontend.key() / f"{digest}.npy"

    def has(self, clip: Clip, frontend: FrontEnd, augment: AugmentSpec | None = None,
            copy: int = 0) -> bool:
        return self.path(clip, frontend, augment, copy).is_file()

    def features(self, clip: Clip, frontend: FrontEnd, augment: AugmentSpec | None = None,
                 copy: int = 0) -> np.ndarray:
        path = self.path(clip, frontend, augment, copy)
        if path.is_file():
            try:
                x = np.load(path, allow_pickle=False)
                self.loaded += 1
                return x
            except (OSError, ValueError, EOFError):
                pass                                    # damaged entry: compute again
        audio = load_audio(clip.path, frontend.rate)
        if augment is not None and copy:
            from .augment import augment as apply_augment
            audio = apply_augment(audio, frontend.rate, augment, augment_rng(augment, clip, copy))
        x = frontend.extract(audio)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "wb") as fh:
                np.save(fh, x, allow_pickle=False)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        self.computed += 1
        return x


# --------------------------------------------------------------------------- datasets

def load_dataset(manifests: str | Path | Iterable[str | Path], frontend: FrontEnd,
                 cache: FeatureCache, labels: Sequence[str] | None = None,
                 progress: bool = True, label_map: Mapping[str, str] | None = None
                 ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, list[str], list[Clip]]:
    """Features of every clip of one or more manifests: ``(items, y, groups, labels,
    clips)``. ``labels`` fixes the class order (clips with other labels are left out;
    a listed label may have no clip); by default the sorted labels found. A progress bar
    (rich, on stderr) shows while features are computed, not when all come from the
    cache."""
    if isinstance(manifests, (str, Path)):
        manifests = [manifests]
    manifests = list(manifests)
    clips = [c for m in manifests for c in read_manifest(m, labels, label_map)]
    if not clips:
        raise ValueError(f"no clips in {', '.join(map(str, manifests))}"
                         + (f" with labels {list(labels)}" if labels else ""))
    names = list(labels) if labels else sorted({c.label for c in clips})
    index = {lab: i for i, lab in enumerate(names)}
    todo = sum(not cache.has(c, frontend) for c in clips) if progress else 0
    iterator: Iterable[Clip] = clips
    if todo:
        from rich.console import Console
        from rich.progress import track
        iterator = track(clips, description=f"features: {todo} of {len(clips)} clips to compute",
                         transient=True, console=Console(stderr=True))
    items = [cache.features(clip, frontend) for clip in iterator]
    y = np.array([index[c.label] for c in clips], dtype=np.int64)
    groups = np.array([c.group for c in clips])
    return items, y, groups, names, clips


class Normalizer:
    """Per-feature mean and standard deviation of the training items (the last axis:
    per column for ``(T, D)`` frames, per mel band for ``(P, 96, 64)`` patches), std
    floored at 1e-5; stored as plain lists in a checkpoint's JSON metadata."""

    FLOOR = 1e-5

    def __init__(self, mean: np.ndarray | None = None, std: np.ndarray | None = None) -> None:
        self.mean, self.std = mean, std

    def fit(self, items: Iterable[np.ndarray]) -> Normalizer:
        items = list(items)
        if not items:
            raise ValueError("Normalizer.fit: no items")
        n = sum(x.size // x.shape[-1] for x in items)
        if n == 0:
            raise ValueError("Normalizer.fit: items hold no rows")
        total = sum(x.reshape(-1, x.shape[-1]).sum(axis=0, dtype=np.float64) for x in items)
        mean = total / n
        sq = sum(((x.reshape(-1, x.shape[-1]) - mean) ** 2).sum(axis=0) for x in items)
        self.mean = mean.astype(np.float32)
        self.std = np.maximum(np.sqrt(sq / n), self.FLOOR).astype(np.float32)
        return self

    def apply(self, x: np.ndarray) -> np.ndarray:
        if self.mean is None or self.std is None:
            raise ValueError("Normalizer.apply before fit")
        if x.shape[-1] != len(self.mean):
            raise ValueError(f"Normalizer: item has {x.shape[-1]} columns, "
                             f"statistics have {len(self.mean)}")
        return ((x - self.mean) / self.std).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        if self.mean is None or self.std is None:
            raise ValueError("Normalizer.to_dict before fit")
        return {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}

    @classmethod
    def from_dict(cls, d: dict[str, list[float]]) -> Normalizer:
        return cls(np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32))


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse class frequency, mean 1 over the classes present (0 for absent ones)."""
    counts = np.bincount(np.asarray(y, int), minlength=n_classes).astype(np.float64)
    w = np.divide(1.0, counts, out=np.zeros(n_classes), where=counts > 0)
    return (w / w[counts > 0].mean()).astype(np.float32)
