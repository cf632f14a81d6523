"""The front-end description of a model: which ``features.*`` nodes (with params) turn a
clip into frames, at which rate, and whether ``window.patch`` cuts them into patches.

A runtime module (numpy and the plugin registry only): a trained model carries its
front-end in its metadata, and the ``classify.utterance`` node, the export contract and
training all read it from here.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .frames import Frame
from .registry import load as load_plugin

PATCH_FRAMES = 96          # rows per F1 patch (0.96 s at 10 ms)
PATCH_PLUGIN = "window.patch"


@dataclass(frozen=True)
class FrontEnd:
    """Which feature nodes (with params) turn a clip into frames, at which input rate,
    and whether the frames are then cut into patches by ``window.patch``.

    JSON form: ``{"features": [{"plugin": "features.logmel", "params": {}}, ...],
    "rate": 16000, "patch": null | {"hop": 0.48}}``. Several feature plugins are
    concatenated column-wise per frame (they must share the row hop; rows are aligned by
    index, i.e. by window start, and cut to the shortest: a longer window, is09's 45 ms
    against logmel's 25 ms, gives fewer rows and a centre 10 ms later). With ``patch``, the
    output is ``(P, 96, D)``: a patch of 96 rows every ``hop`` seconds (rounded to whole
    rows), clips shorter than one patch zero-padded to one patch (M4), trailing rows that
    do not fill a patch dropped (VGGish). Without it the output is ``(T, D)``.
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
