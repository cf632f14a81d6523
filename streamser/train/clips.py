"""Clips of a manifest and their audio, read as the runtime reads it (no torch here).

Public API::

    Clip(path, label, group, extras)
    read_manifest(path, labels=None, label_map=None) -> list[Clip]
    load_audio(path, rate=16000) -> np.ndarray               # float32 mono
"""
from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

#: soxr recipe of the ``resample`` node's default quality ("high"), so that a clip
#: resampled here equals the same file streamed through ``resample``.
RESAMPLE_QUALITY = "HQ"


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
