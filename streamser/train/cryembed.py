"""YAMNet rows of the cry detector's material, computed once and cached.

    python -m streamser.train.cryembed --data ../shared/data --out ~/.cache/streamser/cry

Writes ``train.npz`` (every clip's augmented copies, :mod:`.crymix`) and per fold
``stream{f}.flac`` / ``stream{f}.csv`` and ``room{f}.flac`` / ``room{f}.csv`` with
``stream{f}.npz`` / ``room{f}.npz`` (the rows of its patches). A row is what the
``features.yamnet`` node emits at run time: the bundled int8 YAMNet's 1024-wide embedding
and 521 logits of one ``features.logmel`` + ``window.patch`` patch, plus the two cry
classes' sigmoid scores (what YAMNet zero-shot thresholds). Training copies are patched
every 0.48 s; streams every 0.24 s (every other row is the 0.48 s hop).
"""
from __future__ import annotations

import argparse
import csv
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from .crycorpus import FOLDS, KINDS, Item, read_corpus
from .crymix import RATE, copies, fold_stream, room_impulses

CRY_CLASSES = (19, 20)         # YAMNet's "Crying, sobbing", "Baby cry, infant cry"
PATCH_S, LABEL_FLOOR_DB = 0.975, -20.0


def logmel_of(audio: np.ndarray, hop: float) -> np.ndarray:
    """The ``features.logmel`` + ``window.patch`` patches ``(P, 96, 64)`` of ``audio`` every
    ``hop`` seconds: what the backbone reads, and what a student without it reads."""
    from ..frontend import FrontEnd
    fe = FrontEnd.from_dict({"features": ["features.logmel"], "rate": RATE,
                             "patch": {"hop": hop}})
    return fe.extract(audio)


_backbones: dict[tuple[str, ...], object] = {}


def backbone_rows(audio: np.ndarray, hop: float, outputs: tuple[str, ...]) -> np.ndarray:
    """The bundled YAMNet's ``outputs`` for the patches of ``audio`` (16 kHz) every ``hop``
    seconds, as the runtime graph computes them (one backbone per output set, kept)."""
    from streamser.plugins.features.yamnet import YamnetBackbone
    if outputs not in _backbones:
        _backbones[outputs] = YamnetBackbone(outputs=outputs)
    return _backbones[outputs](logmel_of(audio, hop))


def rows_of(audio: np.ndarray, hop: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(embedding ``(P, 1024)``, logits ``(P, 521)``, cry probs ``(P, 2)``) of the patches
    of ``audio`` every ``hop`` seconds."""
    rows = backbone_rows(audio, hop, ("embedding", "logits", "probs"))
    return rows[:, :1024], rows[:, 1024:1545], rows[:, 1545:][:, list(CRY_CLASSES)]


MAP_SCALE = 0.02352941               # int8 scale of YAMNet's feature_map and block12 (zero -128)


def maps_of(audio: np.ndarray, hop: float) -> tuple[np.ndarray, np.ndarray]:
    """(feature_map, block12), each ``(P, 6144)`` uint8 (value = u * MAP_SCALE), of the
    patches of ``audio`` every ``hop`` seconds."""
    rows = backbone_rows(audio, hop, ("feature_map", "block12"))
    rows = np.clip(np.round(rows / MAP_SCALE), 0, 255)
    return rows[:, :6144].astype(np.uint8), rows[:, 6144:].astype(np.uint8)


def patch_labels(cry: np.ndarray | None, kind: int, n: int, hop: float) -> np.ndarray:
    """Per patch: ``kind``; for a cry copy, -1 (left out of training) where the clean cry
    is more than 20 dB below its loudest patch (a pause between cries)."""
    y = np.full(n, kind, np.int8)
    if cry is None:
        return y
    step, width = int(hop * RATE), int(PATCH_S * RATE)
    db = np.array([10 * np.log10(np.mean(np.square(cry[i * step:i * step + width],
                                                   dtype=np.float64)) + 1e-12)
                   for i in range(n)])
    y[db < db.max() + LABEL_FLOOR_DB] = -1
    return y


def _item_maps(job: tuple[int, Item, list[Item], int]) -> dict[str, np.ndarray]:
    """The feature maps of the same copies as :func:`_item_rows` (same seeds)."""
    index, item, backgrounds, n = job
    fmap, b12 = zip(*(maps_of(cp.audio, 0.48) for cp in
                      copies(item, backgrounds, _rirs(), n, seed=index)))
    return {"fmap": np.concatenate(fmap), "b12": np.concatenate(b12)}


def _item_logmel(job: tuple[int, Item, list[Item], int]) -> dict[str, np.ndarray]:
    """The log-mel patches of the same copies as :func:`_item_rows` (same seeds)."""
    index, item, backgrounds, n = job
    return {"mel": np.concatenate([logmel_of(cp.audio, 0.48).astype(np.float16) for cp in
                                   copies(item, backgrounds, _rirs(), n, seed=index)])}


def _item_rows(job: tuple[int, Item, list[Item], int]) -> dict[str, np.ndarray]:
    index, item, backgrounds, n = job
    rirs = _rirs()
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("emb", "logit", "zs", "y", "copy")}
    for c, cp in enumerate(copies(item, backgrounds, rirs, n, seed=index)):
        emb, logit, zs = rows_of(cp.audio, 0.48)
        out["emb"].append(emb.astype(np.float16))
        out["logit"].append(logit.astype(np.float16))
        out["zs"].append(zs.astype(np.float16))
        out["y"].append(patch_labels(cp.cry_audio, KINDS.index(item.kind), len(emb), 0.48))
        out["copy"].append(np.full(len(emb), c, np.int8))
    res = {k: np.concatenate(v) for k, v in out.items()}
    res["item"] = np.full(len(res["y"]), index, np.int32)
    return res


_RIRS: list[np.ndarray] | None = None


def _rirs() -> list[np.ndarray]:
    global _RIRS
    if _RIRS is None:
        _RIRS = room_impulses(60, seed=1)    # training rooms; test streams use seed 2
    return _RIRS


def build_training(items: list[Item], out: Path, cry_copies: int = 6, other_copies: int = 3,
                   workers: int = 2, what: str = "rows") -> Path:
    """``train.npz`` (``what`` rows): rows of every clip's copies, with kind (-1: left out),
    item, copy; ``maps``: ``train_maps.npz``, the same rows' feature maps; ``logmel``:
    ``train_logmel.npz``, the same rows' log-mel patches (a student's input)."""
    from rich.progress import track
    by_fold = {f: [i for i in items if i.fold == f and not i.is_cry] for f in range(FOLDS)}
    jobs = [(k, it, by_fold[it.fold], cry_copies if it.is_cry else other_copies)
            for k, it in enumerate(items)]
    parts = []
    with ProcessPoolExecutor(workers) as pool:
        work = {"rows": _item_rows, "maps": _item_maps, "logmel": _item_logmel}[what]
        for res in track(pool.map(work, jobs, chunksize=8), total=len(jobs),
                         description=f"{what} of the training copies"):
            parts.append(res)
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    if what == "maps":
        path = out / "train_maps.npz"
        np.savez(path, **arrays, scale=MAP_SCALE)
        return path
    if what == "logmel":
        path = out / "train_logmel.npz"
        np.savez(path, **arrays)
        return path
    path = out / "train.npz"
    np.savez(path, **arrays, paths=np.array([str(i.path) for i in items]),
             folds=np.array([i.fold for i in items], np.int8),
             sources=np.array([i.source for i in items]), kinds=np.array(KINDS))
    return path


def _stream_job(job: tuple[int, list[Item], bool, Path]) -> str:
    import soundfile as sf
    fold, items, room, out = job
    name = f"{'room' if room else 'stream'}{fold}"
    audio, truth = fold_stream(items, seed=100 + fold,
                               rirs=room_impulses(30, seed=2) if room else None)
    sf.write(out / f"{name}.flac", audio, RATE, subtype="PCM_16")
    with open(out / f"{name}.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, ["start", "end", "kind", "label", "source"])
        w.writeheader()
        w.writerows(truth)
    # the rows of the file as written (16-bit), exactly what a file run reads
    pcm, _ = sf.read(out / f"{name}.flac", dtype="float32")
    emb, logit, zs = rows_of(pcm, 0.24)
    np.savez(out / f"{name}.npz", emb=emb.astype(np.float16), logit=logit.astype(np.float16),
             zs=zs.astype(np.float16), seconds=len(pcm) / RATE)
    return name


def _stream_maps(name: str, out: Path) -> str:
    import soundfile as sf
    pcm, _ = sf.read(out / f"{name}.flac", dtype="float32")
    fmap, b12 = maps_of(pcm, 0.48)
    np.savez(out / f"{name}_maps.npz", fmap=fmap, b12=b12, scale=MAP_SCALE)
    return name


def build_stream_maps(out: Path, workers: int = 2) -> None:
    """``NAME_maps.npz`` (hop 0.48 s) beside every stream FLAC written before."""
    names = [f"{s}{f}" for f in range(FOLDS) for s in ("stream", "room")]
    with ProcessPoolExecutor(workers) as pool:
        for name in pool.map(_stream_maps, names, [out] * len(names)):
            print(f"wrote {out / name}_maps.npz", flush=True)


def build_streams(items: list[Item], out: Path, workers: int = 2) -> list[str]:
    """Per fold, a clean and a room stream (FLAC + truth CSV + rows)."""
    jobs = [(f, [i for i in items if i.fold == f], room, out)
            for f in range(FOLDS) for room in (False, True)]
    with ProcessPoolExecutor(workers) as pool:
        names = []
        for name in pool.map(_stream_job, jobs):
            print(f"wrote {out / name}.flac", flush=True)
            names.append(name)
    return names


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default=str(Path.home() / ".cache/streamser/cry"))
    ap.add_argument("--what", choices=("all", "train", "streams", "maps", "logmel"),
                    default="all",
                    help="maps: the feature maps of what 'all' wrote (heads on YAMNet's "
                         "last block); logmel: the training rows' log-mel patches (the "
                         "microcontroller student, streamser.train.crystudent)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="first N clips only (a smoke test)")
    a = ap.parse_args(argv)
    out = Path(a.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    items = read_corpus(a.data)
    if a.limit:
        rng = np.random.default_rng(0)
        items = [items[i] for i in sorted(rng.choice(len(items), a.limit, replace=False))]
    if a.what == "maps":
        build_stream_maps(out, a.workers)
        print(f"wrote {build_training(items, out, workers=a.workers, what='maps')}")
        return
    if a.what == "logmel":
        print(f"wrote {build_training(items, out, workers=a.workers, what='logmel')}")
        return
    if a.what in ("all", "streams"):
        build_streams(items, out, a.workers)
    if a.what in ("all", "train"):
        print(f"wrote {build_training(items, out, workers=a.workers)}")


if __name__ == "__main__":
    main()
