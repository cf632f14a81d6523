"""Clips, their features through the streaming front-end nodes, a feature cache, and
normalization (no torch here).

Training runs the very nodes a graph runs (``features.*`` and ``window.patch``, resolved
through the plugin registry) on each whole clip, so a model never sees features the robot
would not compute: feeding a clip as one audio frame gives the same rows as streaming it
in blocks of any size (the nodes keep their framing state per stream).

Public API::

    Clip(path, label, group, extras)
    read_manifest(path, labels=None, label_map=None) -> list[Clip]
    load_audio(path, rate=16000) -> np.ndarray               # float32 mono
    FrontEnd.from_dict(d) / .to_dict() / .key() / .dims / .extract(audio) / .nodes()
    FeatureCache(root=None).features(clip, frontend, augment=None, copy=0) -> np.ndarray
    load_dataset(manifests, frontend, cache, labels=None, progress=True, label_map=None)
        -> (items, y, groups, labels, clips)
    Normalizer().fit(items) / .apply(x) / .to_dict() / Normalizer.from_dict(d)
    class_weights(y, n_classes) -> np.ndarray
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import uuid
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf
import soxr

from ..frames import Frame
from ..registry import load as load_plugin

if TYPE_CHECKING:
    from .augment import AugmentSpec

#: soxr recipe of the ``resample`` node's default quality ("high"), so that a clip
#: resampled here equals the same file streamed through ``resample``.
RESAMPLE_QUALITY = "HQ"
PATCH_FRAMES = 96          # rows per F1 patch (0.96 s at 10 ms)
PATCH_PLUGIN = "window.patch"


# --------------------------------------------------------------------------- clips

@dataclass(frozen=True)
class Clip:
    """One manifest row: absolute ``path``, ``label``, recording ``group`` and the other
    columns as ``extras`` (strings, as read)."""

    path: Path
    label: str
    group: str
    extras: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


def read_manifest(path: str | Path, labels: Sequence[str] | None = None,
                  label_map: Mapping[str, str] | None = None) -> list[Clip]:
    """The clips of a manifest CSV (``path,label,group,...``; paths relative to the
    manifest's folder unless absolute), labels renamed by ``label_map`` (e.g. every
    donateacry need -> ``cry``; the row's own label stays in ``extras["manifest_label"]``),
    optionally only those whose label is then in ``labels``.
    Raises ValueError for a missing file, missing columns or empty cells."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"manifest not found: {path}")
    wanted = None if labels is None else set(labels)
    clips = []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"path", "label", "group"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: manifest lacks column(s) {', '.join(sorted(missing))} "
                             "(needs path,label,group)")
        for line, row in enumerate(reader, start=2):
            if not all((row.get(k) or "").strip() for k in ("path", "label", "group")):
                raise ValueError(f"{path}:{line}: empty path, label or group")
            label = (label_map or {}).get(row["label"], row["label"])
            if wanted is not None and label not in wanted:
                continue
            extras = {k: v for k, v in row.items()
                      if k not in ("path", "label", "group") and k is not None}
            extras["manifest_label"] = row["label"]
            clips.append(Clip((path.parent / row["path"]).resolve(), label, row["group"],
                              extras))
    return clips


def load_audio(path: str | Path, rate: int = 16000) -> np.ndarray:
    """Mono float32 at ``rate``: channels averaged (as the ``source.file`` node does),
    trailing exact zeros removed (emodb's padding), then resampled with soxr HQ (as the
    ``resample`` node does). A clip that is all zeros keeps one sample, never empty."""
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    x = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1, dtype=np.float32)
    if not len(x):
        raise ValueError(f"{path}: no audio samples")
    nz = np.flatnonzero(x)
    x = np.ascontiguousarray(x[: nz[-1] + 1] if len(nz) else x[:1])
    if sr != rate:
        y = soxr.resample(x, sr, rate, quality=RESAMPLE_QUALITY)
        x = np.asarray(y, np.float32) if len(y) else np.zeros(1, np.float32)
    return x


# --------------------------------------------------------------------------- front-end

@dataclass(frozen=True)
class FrontEnd:
    """Which feature nodes (with params) turn a clip into frames, at which input rate,
    and whether the frames are then cut into patches by ``window.patch``.

    JSON form: ``{"features": [{"plugin": "features.logmel", "params": {}}, ...],
    "rate": 16000, "patch": null | {"hop": 0.48}}``. Several feature plugins are
    concatenated column-wise per frame (they must share the row hop; rows are aligned by
    index, i.e. by window start, and cut to the shortest: a longer window, is09's 45 ms
    against logmel's 25 ms, gives fewer rows and a centre 10 ms later). With ``patch``, the output is ``(P, 96, D)``: a patch
    of 96 rows every ``hop`` seconds (rounded to whole rows), clips shorter than one patch
    zero-padded to one patch (M4), trailing rows that do not fill a patch dropped
    (VGGish). Without it the output is ``(T, D)``.
    """

    features: tuple[tuple[str, str], ...]       # (plugin, params as sorted JSON)
    rate: int = 16000
    patch: tuple[tuple[str, Any], ...] | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FrontEnd:
        """Parse and validate (every plugin resolves; its params are valid)."""
        unknown = set(d) - {"features", "rate", "patch"}
        if unknown:
            raise ValueError(f"front-end: unknown key(s) {', '.join(sorted(unknown))}")
        feats = []
        for f in d.get("features") or ():
            if isinstance(f, str):
                f = {"plugin": f}
            params = dict(f.get("params") or {})
            plugin_cls = load_plugin(f["plugin"])
            if not hasattr(plugin_cls, "compute"):
                raise ValueError(f"front-end: {f['plugin']} is not a frame-feature plugin")
            plugin_cls.Params(**params)                 # raises on a bad param
            feats.append((f["plugin"], json.dumps(params, sort_keys=True)))
        if not feats:
            raise ValueError("a front-end needs at least one feature plugin")
        rate = int(d.get("rate") or 16000)
        patch = d.get("patch")
        if patch:
            patch = dict(patch)
            bad = set(patch) - {"hop"}
            if bad:
                raise ValueError(f"front-end patch: unknown key(s) {', '.join(sorted(bad))}")
            if float(patch.setdefault("hop", 0.48)) <= 0:
                raise ValueError("front-end patch: hop must be > 0 s")
        return cls(tuple(feats), rate, tuple(sorted(patch.items())) if patch else None)

    def to_dict(self) -> dict[str, Any]:
        return {"features": [{"plugin": p, "params": json.loads(a)} for p, a in self.features],
                "rate": self.rate, "patch": dict(self.patch) if self.patch else None}

    def key(self) -> str:
        """Stable 16-hex-digit hash of the JSON form (the feature cache's folder name).
        Plugin defaults are not part of it: a plugin whose definition changes must get a
        new name or param (the F1-F5 nodes are fixed definitions for this reason)."""
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def param_files(self) -> list[Path]:
        """Files named by the plugins' params (spec256's ``stats``): the cache keys on
        their size and mtime too."""
        return [Path(v) for _, a in self.features for v in json.loads(a).values()
                if isinstance(v, str) and v and Path(v).is_file()]

    @property
    def patch_hop(self) -> float | None:
        """Seconds between patch starts, or None without patching."""
        return float(dict(self.patch)["hop"]) if self.patch else None

    def nodes(self) -> list[Any]:
        """Fresh, started feature nodes (one per plugin), as a graph would build them."""
        out = []
        for plugin, params in self.features:
            node_cls = load_plugin(plugin)
            node = node_cls(node_cls.Params(**json.loads(params)), plugin)
            node.start()
            out.append(node)
        return out

    @cached_property
    def dims(self) -> int | tuple[int, int]:
        """Columns per frame, or ``(96, columns)`` per patch."""
        noise = np.random.default_rng(0).normal(0, 0.05, self.rate // 2).astype(np.float32)
        d = self.frames(noise)[0].shape[1]
        return (PATCH_FRAMES, d) if self.patch else d

    def frames(self, audio: np.ndarray) -> tuple[np.ndarray, float]:
        """``(T, D)`` concatenated feature rows of a whole clip, and the row hop (s)."""
        audio = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        parts, hops = self._run(audio)
        if any(len(p) == 0 for p in parts):
            # Shorter than a feature window: no row at all. Zero-pad to 0.25 s rather
            # than hand a model an empty item (streaming would emit nothing either).
            pad = np.zeros(max(len(audio), self.rate // 4), np.float32)
            pad[: len(audio)] = audio
            parts, hops = self._run(pad)
        if max(hops) - min(hops) > 1e-9:
            raise ValueError("front-end: cannot concatenate features with different row hops "
                             f"{sorted(set(hops))} s")
        n = min(len(p) for p in parts)
        return np.concatenate([p[:n] for p in parts], axis=1).astype(np.float32), hops[0]

    def _run(self, audio: np.ndarray) -> tuple[list[np.ndarray], list[float]]:
        frame = Frame("audio", audio, t=0.0, meta={"sample_rate": self.rate})
        parts, hops = [], []
        for node in self.nodes():
            out = [f for f in (*node.process(frame), *node.flush()) if f.kind == "features"]
            parts.append(np.concatenate([f.data for f in out]) if out
                         else np.zeros((0, 0), np.float32))
            hops.append(float(out[0].meta["hop"]) if out else 0.0)
        return parts, hops

    def extract(self, audio: np.ndarray) -> np.ndarray:
        """Features of one whole clip at ``self.rate``: ``(T, D)`` rows, or ``(P, 96, D)``
        patches (cut by the ``window.patch`` node) when the front-end patches."""
        rows, row_hop = self.frames(audio)
        if not self.patch:
            return rows
        return patch_rows(rows, row_hop, self.patch_hop, self.rate)


def patch_rows(rows: np.ndarray, row_hop: float, hop_s: float, rate: int = 16000
               ) -> np.ndarray:
    """``(P, 96, D)`` patches of ``(T, D)`` rows through the ``window.patch`` node, a
    patch every ``hop_s`` seconds; fewer than 96 rows are zero-padded to one patch."""
    if len(rows) < PATCH_FRAMES:
        rows = np.concatenate((rows, np.zeros((PATCH_FRAMES - len(rows), rows.shape[1]),
                                              np.float32)))
    node_cls = load_plugin(PATCH_PLUGIN)
    node = node_cls(node_cls.Params(frames=PATCH_FRAMES,
                                    hop=max(1, round(hop_s / row_hop))), PATCH_PLUGIN)
    node.start()
    out = node.process(Frame("features", np.ascontiguousarray(rows, np.float32), t=0.0,
                             meta={"hop": row_hop, "sample_rate": rate}))
    return np.stack([f.data for f in out]).astype(np.float32)


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
