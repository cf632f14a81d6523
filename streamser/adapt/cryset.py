"""The cries (and generic non-cry sounds) a home's verifier is fitted against, as rows of
the graph's own backbone, shipped in the package (``streamser/zoo/adapt-cryset.npz``).

    python -m streamser.adapt.cryset --config configs/cry_robot.yaml --data ../shared/data \
        --out streamser/zoo/adapt-cryset.npz

Clips come from the leave-source-out folds ``FOLDS`` of :mod:`streamser.train.crycorpus`
only, less the voices and sources in ``RESERVED``: ``benchmarks/adapt_homes.py`` builds
its homes from those and their cries from folds 3 and 4, so no home's sound or cry is in
the set. Each clip is one copy from :func:`streamser.train.crymix.copies` (clean,
or over a background of its fold, through a simulated room, band-limited: what the head
was trained on), run through the graph's chain from its source to the backbone. Rows are
stored as sequences (one per clip copy; cries cut to their first ``CRY_ROWS`` rows) in
per-column 8-bit form, each with its source (a CRC32 id) and the
:func:`~.timbre.timbre` of the patch the backbone read (for the timbre gate), with the
backbone's signature: adapt refuses a graph whose backbone differs, and this command
rebuilds the set for it. Building needs the ``train`` extra.
"""
from __future__ import annotations

import argparse
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .detector import backbone_signature, describe_signature, find_detector

DEFAULT = Path(__file__).resolve().parent.parent / "zoo" / "adapt-cryset.npz"
FORMAT = "streamser-cryset/1"
FOLDS = (0, 1, 2)
CRY_ROWS = 40
OTHER_ROWS = 3
GUARD_SHARE = 0.5
#: Groups and sources kept for the homes of ``benchmarks/adapt_homes.py`` (it checks that
#: its homes use nothing else).
RESERVED = frozenset({
    "hedgewars_voice_Singer", "laugh_1_m4a", "noncry/esc50/cat", "noncry/esc50/door_wood_creaks",
    "ravdess_actor02", "warmux_voice_default", "sfx/wesnoth", "noncry/esc50/washing_machine",
    "csd_singer1_en001", "hedgewars_voice_Default_es", "noncry/esc50/rooster",
    "noncry/esc50/clock_alarm", "ravdess_actor19", "hedgewars_voice_Pirate",
    "noncry/esc50/dog", "noncry/esc50/keyboard_typing", "ravdess_actor08",
    "noncry/tuxvoice_es", "noncry/esc50/sheep", "noncry/esc50/door_wood_knock",
    "ravdess_actor13", "emodb/speaker09", "noncry/esc50/coughing"})
REBUILD = ("python -m streamser.adapt.cryset --config {config} --data ../shared/data "
           "--out FILE (then adapt --cry-set FILE)")


@dataclass
class CrySet:
    """Rows ``(n, D)`` float32; per row: ``seq`` (its clip copy), ``cry`` (1 cry, 0 not,
    -1 a pause inside a cry clip), ``guard`` (held out of fitting, for the recall
    guard); ``meta`` (signature, sources, hop); ``timbre`` rows and ``source`` ids (None
    in a set built before the timbre gate)."""

    rows: np.ndarray
    seq: np.ndarray
    cry: np.ndarray
    guard: np.ndarray
    meta: dict[str, Any]
    timbre: np.ndarray | None = None
    source: np.ndarray | None = None

    @property
    def hop(self) -> float:
        return float(self.meta["hop"])

    def sequences(self, mask: np.ndarray | None = None) -> list[np.ndarray]:
        """Row indices of each clip copy (whose first row passes ``mask``)."""
        bounds = np.flatnonzero(np.diff(self.seq)) + 1
        out = np.split(np.arange(len(self.seq)), bounds)
        return [s for s in out if mask is None or mask[s[0]]]


def quantize(rows: np.ndarray) -> dict[str, np.ndarray]:
    """Per-column affine 8-bit form (``q``, ``lo``, ``step``)."""
    lo, hi = rows.min(axis=0), rows.max(axis=0)
    step = np.where(hi > lo, (hi - lo) / 255.0, 1.0).astype(np.float32)
    q = np.clip(np.round((rows - lo) / step), 0, 255).astype(np.uint8)
    return {"q": q, "lo": lo.astype(np.float32), "step": step}


def dequantize(q: np.ndarray, lo: np.ndarray, step: np.ndarray) -> np.ndarray:
    return (q.astype(np.float32) * step + lo).astype(np.float32)


def load(path: str | Path = DEFAULT) -> CrySet:
    """A stored set (npz without pickles); ``ValueError`` when it is not one."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != FORMAT:
                raise ValueError(f"{path}: not a cry set ({meta.get('format')!r})")
            has = "timbre" in z.files
            return CrySet(dequantize(z["q"], z["lo"], z["step"]), z["seq"], z["cry"],
                          z["guard"], meta, z["timbre"].astype(np.float32) if has else None,
                          z["source"] if has else None)
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read the cry set ({exc})") from None


def is_guard(source: str) -> bool:
    """Sources held out of fitting for the recall guard (a fixed CRC32 share)."""
    return zlib.crc32(f"guard:{source}".encode()) % 100 < GUARD_SHARE * 100


def build(config: str, data: str, out: Path, cries: int = 600, others: int = 500,
          seed: int = 0) -> Path:
    """Rows of ``cries`` cry clips and ``others`` non-cry clips of folds ``FOLDS``."""
    from rich.progress import track

    from ..graph import load_graph
    from ..train.crycorpus import read_corpus
    from ..train.cryembed import patch_labels
    from ..train.crymix import RATE, copies, room_impulses
    from .detector import patch_node
    from .rows import Clip, chain_frames
    from ..dsp.timbre import timbre

    graph = load_graph(config)
    det = find_detector(graph)
    items = [i for i in read_corpus(data) if i.fold in FOLDS
             and not {i.group, i.source} & RESERVED]
    rng = np.random.default_rng(seed)
    chosen = _spread([i for i in items if i.is_cry], cries, rng) + \
        _spread([i for i in items if not i.is_cry], others, rng)
    rirs = room_impulses(20, seed=3)
    backgrounds = {f: [i for i in items if i.fold == f and not i.is_cry] for f in FOLDS}
    patch = patch_node(graph, det)
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("rows", "seq", "cry", "guard", "source", *(("timbre",) if patch else ()))}
    hop = 0.48
    for k, item in enumerate(track(chosen, description="cry set rows")):
        cp = copies(item, backgrounds[item.fold], rirs, 2, seed=seed * 100000 + k)[k % 2]
        got = chain_frames(graph, det, Clip(item.source, cp.audio, RATE),
                           (det.backbone, *((patch,) if patch else ())))
        frames = got[det.backbone]
        if len(frames) > 1:
            hop = frames[1].t - frames[0].t
        keep = CRY_ROWS if item.is_cry else OTHER_ROWS
        rows = np.concatenate([f.data for f in frames])[:keep] if frames else []
        if not len(rows):
            continue
        if patch:
            parts["timbre"].append(timbre(np.stack([f.data for f in got[patch]]))[:len(rows)])
        parts["source"].append(np.full(len(rows), zlib.crc32(item.source.encode()), np.int64))
        label = patch_labels(cp.cry_audio, 1 if item.is_cry else 0, len(rows), hop)
        parts["rows"].append(rows)
        parts["seq"].append(np.full(len(rows), k, np.int32))
        parts["cry"].append(label.astype(np.int8))
        parts["guard"].append(np.full(len(rows), is_guard(item.source), bool))
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    meta = {"format": FORMAT, "signature": backbone_signature(graph, det), "hop": round(hop, 6),
            "built_from": config, "folds": list(FOLDS), "seed": seed,
            "clips": {"cry": sum(i.is_cry for i in chosen),
                      "other": sum(not i.is_cry for i in chosen)},
            "corpora": sorted({i.corpus for i in chosen}),
            "licenses": sorted({i.license for i in chosen if i.license})}
    out.parent.mkdir(parents=True, exist_ok=True)
    if "timbre" in arrays:
        arrays["timbre"] = arrays["timbre"].astype(np.float16)
    np.savez_compressed(out, **quantize(arrays.pop("rows")), **arrays,
                        meta=np.array(json.dumps(meta)))
    return out


def _spread(items: list, n: int, rng: np.random.Generator) -> list:
    """``n`` items drawn round-robin over their sources (every source before a second
    clip of any), in a seeded order."""
    by: dict[str, list] = {}
    for i in items:
        by.setdefault(i.source, []).append(i)
    pools = [list(rng.permutation(len(v))) for v in by.values()]
    out, keys = [], list(by)
    while len(out) < min(n, len(items)):
        for key, pool in zip(keys, pools):
            if pool and len(out) < n:
                out.append(by[key][pool.pop()])
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="configs/cry_robot.yaml")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default=str(DEFAULT))
    ap.add_argument("--cries", type=int, default=600,
                    help="cry clips at most (folds 0-2 have about 310 outside RESERVED)")
    ap.add_argument("--others", type=int, default=500)
    a = ap.parse_args(argv)
    path = build(a.config, a.data, Path(a.out), a.cries, a.others)
    s = load(path)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): {len(s.rows)} rows of "
          f"{len(s.sequences())} clips, backbone {describe_signature(s.meta['signature'])}")


if __name__ == "__main__":
    main()
