"""Clips, their features through the streaming front-end nodes, a feature cache, and
normalization (no torch here).

Training runs the very nodes a graph runs (``features.*`` through the plugin registry),
on each whole clip, so a model never sees features the robot would not compute.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from ..frames import Frame
from ..registry import load as load_plugin


@dataclass(frozen=True)
class Clip:
    path: Path
    label: str
    group: str
    extras: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


def read_manifest(path: str | Path, labels: list[str] | None = None) -> list[Clip]:
    """The clips of a manifest CSV (``path,label,group,...``; paths relative to its
    folder), optionally only those whose label is in ``labels``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"manifest not found: {path}")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"path", "label", "group"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: manifest lacks column(s) {', '.join(sorted(missing))}")
        clips = [Clip((path.parent / r["path"]).resolve(), r["label"], r["group"],
                      {k: v for k, v in r.items() if k not in ("path", "label", "group")})
                 for r in reader]
    return [c for c in clips if labels is None or c.label in labels]


def load_audio(path: str | Path, rate: int = 16000) -> np.ndarray:
    """Mono float32 at ``rate`` (soxr HQ), trailing exact zeros removed (emodb's padding)."""
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    nz = np.flatnonzero(x)
    x = x[: nz[-1] + 1] if len(nz) else x[:1]
    if sr != rate:
        x = soxr.resample(x, sr, rate, quality="HQ").astype(np.float32)
    return x


@dataclass(frozen=True)
class FrontEnd:
    """Which feature nodes (with params) turn a clip into frames, at which rate, and
    whether frames are cut into 0.96 s patches (``{"hop": 0.48}``) afterwards."""

    features: tuple[tuple[str, str], ...]       # (plugin, params as sorted JSON)
    rate: int = 16000
    patch: tuple[tuple[str, Any], ...] | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FrontEnd:
        feats = tuple((f["plugin"], json.dumps(f.get("params") or {}, sort_keys=True))
                      for f in d["features"])
        if not feats:
            raise ValueError("a front-end needs at least one feature plugin")
        patch = d.get("patch")
        return cls(feats, int(d.get("rate", 16000)),
                   tuple(sorted(patch.items())) if patch else None)

    def to_dict(self) -> dict[str, Any]:
        return {"features": [{"plugin": p, "params": json.loads(a)} for p, a in self.features],
                "rate": self.rate, "patch": dict(self.patch) if self.patch else None}

    def key(self) -> str:
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def nodes(self) -> list[Any]:
        out = []
        for plugin, params in self.features:
            cls = load_plugin(plugin)
            node = cls(cls.Params(**json.loads(params)), plugin)
            node.start()
            out.append(node)
        return out

    def extract(self, audio: np.ndarray) -> np.ndarray:
        """``(T, D)`` frames of the concatenated features (or ``(P, 96, D)`` patches)."""
        frame = Frame("audio", np.asarray(audio, np.float32), t=0.0,
                      meta={"sample_rate": self.rate})
        parts = []
        for node in self.nodes():
            out = [*node.process(frame), *node.flush()]
            rows = [f.data for f in out if f.kind == "features"]
            parts.append(np.concatenate(rows) if rows else np.zeros((0, 0), np.float32))
        n = min(len(p) for p in parts)
        frames = np.concatenate([p[:n] for p in parts], axis=1).astype(np.float32)
        if self.patch:
            from .balance import balanced_patches
            hop = round(float(dict(self.patch).get("hop", 0.48)) * 100)
            return balanced_patches(frames, hop, first_last_only=False)
        return frames


def default_cache_dir() -> Path:
    return Path(os.environ.get("STREAMSER_CACHE") or Path.home() / ".cache/streamser/features")


class FeatureCache:
    """Features per (front-end, clip file, augmentation, copy) as ``.npy`` files."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else default_cache_dir()
        self.computed = 0

    def _path(self, clip: Clip, frontend: FrontEnd, augment: Any, copy: int) -> Path:
        st = clip.path.stat()
        aug = augment.key() if augment is not None and copy else "none"
        name = f"{clip.path}|{st.st_size}|{st.st_mtime_ns}|{aug}|{copy}"
        digest = hashlib.sha1(name.encode()).hexdigest()[:20]
        return self.root / frontend.key() / f"{digest}.npy"

    def features(self, clip: Clip, frontend: FrontEnd, augment: Any = None,
                 copy: int = 0) -> np.ndarray:
        path = self._path(clip, frontend, augment, copy)
        if path.is_file():
            return np.load(path, allow_pickle=False)
        audio = load_audio(clip.path, frontend.rate)
        if augment is not None and copy:
            from .augment import augment as apply_augment
            rng = np.random.default_rng([augment.seed, zlib.crc32(str(clip.path).encode()), copy])
            audio = apply_augment(audio, frontend.rate, augment, rng)
        x = frontend.extract(audio)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, x, allow_pickle=False)
        os.replace(tmp, path)
        self.computed += 1
        return x


def load_dataset(manifests: list[Path], frontend: FrontEnd, cache: FeatureCache,
                 labels: list[str] | None = None, progress: bool = True
                 ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, list[str], list[Clip]]:
    """Features of every clip: ``(items, y, groups, labels, clips)``. ``labels`` fixes the
    class order (clips with other labels are left out); by default the sorted labels."""
    clips = [c for m in manifests for c in read_manifest(m, labels)]
    if not clips:
        raise ValueError(f"no clips in {', '.join(map(str, manifests))}"
                         + (f" with labels {labels}" if labels else ""))
    names = list(labels) if labels else sorted({c.label for c in clips})
    index = {lab: i for i, lab in enumerate(names)}
    items = []
    if progress:
        from rich.progress import track
        iterator = track(clips, description=f"features ({len(clips)} clips)", transient=True,
                         console=_stderr())
    else:
        iterator = clips
    for clip in iterator:
        items.append(cache.features(clip, frontend))
    y = np.array([index[c.label] for c in clips])
    groups = np.array([c.group for c in clips])
    return items, y, groups, names, clips


def _stderr() -> Any:
    from rich.console import Console
    return Console(stderr=True)


class Normalizer:
    """Per-feature mean and standard deviation of the training items (per mel band for
    patches), floored at 1e-5; stored as plain lists in checkpoints."""

    def __init__(self, mean: np.ndarray | None = None, std: np.ndarray | None = None) -> None:
        self.mean, self.std = mean, std

    def fit(self, items: list[np.ndarray]) -> Normalizer:
        rows = np.concatenate([x.reshape(-1, x.shape[-1]) for x in items]).astype(np.float64)
        self.mean = rows.mean(axis=0).astype(np.float32)
        self.std = np.maximum(rows.std(axis=0), 1e-5).astype(np.float32)
        return self

    def apply(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, list[float]]) -> Normalizer:
        return cls(np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32))


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse class frequency, mean 1 over the classes present (0 for absent ones)."""
    counts = np.bincount(np.asarray(y, int), minlength=n_classes).astype(np.float64)
    w = np.divide(1.0, counts, out=np.zeros(n_classes), where=counts > 0)
    return (w / w[counts > 0].mean()).astype(np.float32)
