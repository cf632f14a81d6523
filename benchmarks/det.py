"""Leave-source-out detection-error curves of cry-head candidates against YAMNet zero-shot.

    python -m streamser.train.cryembed --data ../shared/data --out ~/.cache/streamser/cry
    python benchmarks/det.py --cache ~/.cache/streamser/cry --json results/det/det.json \
        --png docs/det.png

Folds keep whole sources (``streamser.train.crycorpus``). For test fold ``f`` the head is
trained on the three folds that are neither ``f`` nor its dev fold ``(f + 1) % 5``; the
start threshold is chosen on the dev fold's streams (clean and across a room) by the rule
"best recall at <= --max-fa false alarms per hour and median latency <= --max-latency s";
the test fold's streams are then scored at that threshold, and at every threshold for the
curve. Zero-shot YAMNet (the larger of its two cry scores) goes through the same smoothing
and the same rule. Per candidate the JSON holds the curve (pooled over the five test
folds), the operating point chosen on dev and its test figures per fold, and the false
alarms by kind of sound.
"""
from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from streamser.evaluation.detcurve import Smoothing, choose, curve, pooled
from streamser.train.crycorpus import FOLDS
from streamser.train.cryembed import MAP_SCALE
from streamser.train.cryhead import HeadSpec, train

SETS = ("stream", "room")
THRESHOLDS = {"head": np.round(np.concatenate([np.arange(0.3, 0.9, 0.05),
                                               np.arange(0.9, 0.995, 0.01),
                                               [0.995, 0.998, 0.999]]), 4),
              "zeroshot": np.round(np.concatenate([np.arange(0.02, 0.1, 0.01),
                                                   np.arange(0.1, 0.6, 0.05)]), 4)}

#: name: (head spec or None for zero-shot, hop, smoothing, training copies per clip used)
CANDIDATES: dict[str, tuple[HeadSpec | None, float, Smoothing] | tuple] = {
    "yamnet-zeroshot": (None, 0.48, Smoothing()),
    "linear-logits-binary": (HeadSpec(inputs="logits", classes="binary", hidden=0),
                             0.48, Smoothing()),
    "mlp-embedding-binary": (HeadSpec(inputs="embedding", classes="binary"), 0.48,
                             Smoothing()),
    "mlp-embedding-kinds": (HeadSpec(inputs="embedding", classes="kinds"), 0.48, Smoothing()),
    "mlp-both-kinds": (HeadSpec(inputs="both", classes="kinds"), 0.48, Smoothing()),
    "mlp-embedding-kinds-anchor": (HeadSpec(inputs="embedding", classes="kinds", anchor=1.0),
                                   0.48, Smoothing()),
    "mlp-embedding-kinds-hard": (HeadSpec(inputs="embedding", classes="kinds", hard=3.0),
                                 0.48, Smoothing()),
    "mlp-embedding-kinds-hop24": (HeadSpec(inputs="embedding", classes="kinds"), 0.24,
                                  Smoothing(window=2)),
    "mlp-embedding-kinds-context3": (HeadSpec(inputs="embedding", classes="kinds",
                                              context=3), 0.48, Smoothing()),
    "mlp-embedding-kinds-small": (HeadSpec(inputs="embedding", classes="kinds", hidden=32,
                                           dropout=0.5, weight_decay=1e-2), 0.48,
                                  Smoothing()),
    "mlp-embedding-kinds-clean-only": (HeadSpec(inputs="embedding", classes="kinds"), 0.48,
                                       Smoothing(), 1),
    "mlp-map-kinds": (HeadSpec(inputs="map", classes="kinds"), 0.48, Smoothing()),
    "mlp-map-kinds-context3": (HeadSpec(inputs="map", classes="kinds", context=3), 0.48,
                               Smoothing()),
}


def load_streams(cache: Path, maps: bool) -> dict[tuple[str, int], dict]:
    out = {}
    for name in SETS:
        for f in range(FOLDS):
            rows = np.load(cache / f"{name}{f}.npz")
            fmap = (np.load(cache / f"{name}{f}_maps.npz")["fmap"] if maps else None)
            with open(cache / f"{name}{f}.csv", newline="") as fh:
                segs = [{**r, "start": float(r["start"]), "end": float(r["end"])}
                        for r in csv.DictReader(fh)]
            out[name, f] = {"emb": rows["emb"], "logit": rows["logit"], "zs": rows["zs"],
                            "fmap": fmap,
                            "seconds": float(rows["seconds"]), "segments": segs}
    return out


def stream_scores(spec: HeadSpec | None, head, s: dict, hop: float) -> np.ndarray:
    step = int(round(hop / 0.24))
    if spec is None:
        return s["zs"][::step].astype(np.float32).max(axis=1)
    if spec.inputs == "map":                     # maps are cached at the 0.48 s hop only
        return head.cry_score(s["fmap"].astype(np.float32) * MAP_SCALE, s["logit"][::2])
    return head.cry_score(s["emb"][::step], s["logit"][::step])


_TRAINED: dict[tuple, object] = {}


def evaluate(name: str, spec: HeadSpec | None, hop: float, smoothing: Smoothing,
             train_rows: dict, streams: dict, max_fa: float, max_latency: float,
             copies: int = 99) -> dict:
    grid = THRESHOLDS["zeroshot" if spec is None else "head"]
    per_fold, test_streams = [], {k: [] for k in SETS}
    for f in range(FOLDS):
        dev = (f + 1) % FOLDS
        head = None
        if spec is not None:
            use = ~np.isin(train_rows["fold"], [f, dev])
            use &= train_rows["copy"] < copies
            first = train_rows["fmap" if spec.inputs == "map" else "emb"]
            key = (spec, copies, f)
            if key not in _TRAINED:            # the same head at another hop: trained once
                _TRAINED[key] = train(first[use], train_rows["logit"][use],
                                      train_rows["y"][use], train_rows["source"][use], spec,
                                      train_rows["segment"][use])
            head = _TRAINED[key]

        def scored(fold: int, which: str) -> tuple[np.ndarray, list, float]:
            s = streams[which, fold]
            return stream_scores(spec, head, s, hop), s["segments"], s["seconds"]

        dev_curve = curve([scored(dev, k) for k in SETS], hop, grid, smoothing)
        chosen = choose(dev_curve, max_fa, max_latency)
        fold = {"fold": f, "dev_fold": dev, "on_threshold": chosen["on_threshold"],
                "dev": chosen}
        for k in SETS:
            sc = scored(f, k)
            test_streams[k].append(sc)
            fold[k] = curve([sc], hop, [chosen["on_threshold"]], smoothing)[0]
        per_fold.append(fold)
        print(f"  {name} fold {f}: on {chosen['on_threshold']} | " + " | ".join(
            f"{k} recall {fold[k]['recall']:.3f} FA/h {fold[k]['false_alarms_per_hour']:.1f}"
            for k in SETS), flush=True)
    result = {"name": name, "spec": asdict(spec) if spec else None, "hop": hop,
              "training_copies": "all" if copies == 99 else copies,
              "smoothing": asdict(smoothing), "folds": per_fold}
    for k in SETS:
        result[f"curve_{k}"] = curve(test_streams[k], hop, grid, smoothing)
        # the test figures at each fold's own dev-chosen threshold, pooled
        result[f"chosen_{k}"] = pooled([fold[k] for fold in per_fold])
        result[f"worst_fold_{k}"] = min(
            ({"fold": fold["fold"], **fold[k]} for fold in per_fold),
            key=lambda p: (p["recall"] - 0.01 * p["false_alarms_per_hour"]))
    return result


def plot(results: list[dict], png: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(SETS), figsize=(12, 5), sharey=True)
    for ax, k in zip(axes, SETS):
        for r in results:
            pts = r[f"curve_{k}"]
            fa = [max(p["false_alarms_per_hour"], 0.05) for p in pts]
            miss = [1 - p["recall"] for p in pts]
            style = "k--" if r["spec"] is None else "-"
            ax.plot(fa, miss, style, marker=".", label=r["name"])
            c = r[f"chosen_{k}"]
            ax.plot(max(c["false_alarms_per_hour"], 0.05), 1 - c["recall"], "o",
                    color=ax.lines[-1].get_color(), mfc="none", ms=9)
        ax.set_xscale("log")
        ax.set_xlabel("false alarms per hour of non-cry audio")
        ax.set_title({"stream": "held-out sources, close",
                      "room": "held-out sources, across a room"}[k])
        ax.grid(True, which="both", alpha=0.3)
        ax.axvline(1.0, color="grey", lw=0.8)
        ax.axhline(0.03, color="grey", lw=0.8)
    axes[0].set_ylabel("share of cry episodes missed")
    axes[0].legend(fontsize=7)
    fig.suptitle("Leave-source-out detection-error curves (o: the dev-chosen threshold)")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", default=str(Path.home() / ".cache/streamser/cry"))
    ap.add_argument("--candidates", default=",".join(CANDIDATES),
                    help="comma-separated names (default: all); each result is kept in "
                         "OUT_DIR/NAME.json and the plot and summary cover every result there")
    ap.add_argument("--max-fa", type=float, default=1.0)
    ap.add_argument("--max-latency", type=float, default=1.0)
    ap.add_argument("--json", default="results/det/det.json")
    ap.add_argument("--png", default="docs/det.png")
    a = ap.parse_args(argv)
    cache = Path(a.cache).expanduser()
    out_dir = Path(a.json).parent
    out_dir.mkdir(parents=True, exist_ok=True)
    data = np.load(cache / "train.npz")
    folds, sources = data["folds"], data["sources"]
    train_rows = {"emb": data["emb"], "logit": data["logit"], "y": data["y"],
                  "fold": folds[data["item"]], "source": sources[data["item"]],
                  "copy": data["copy"],
                  "segment": data["item"].astype(np.int64) * 64 + data["copy"]}
    names = a.candidates.split(",")
    maps = any(CANDIDATES[n][0] is not None and CANDIDATES[n][0].inputs == "map"
               for n in names)
    if maps:
        train_rows["fmap"] = np.load(cache / "train_maps.npz")["fmap"].astype(
            np.float32) * MAP_SCALE
    streams = load_streams(cache, maps)
    for name in names:
        t0 = time.time()
        spec, hop, smoothing, *copies = CANDIDATES[name]
        print(f"{name}", flush=True)
        result = evaluate(name, spec, hop, smoothing, train_rows, streams, a.max_fa,
                          a.max_latency, *copies)
        result["seconds"] = round(time.time() - t0, 1)
        (out_dir / f"{name}.json").write_text(json.dumps(result, indent=1, default=float))
    results = [json.loads((out_dir / f"{n}.json").read_text()) for n in CANDIDATES
               if (out_dir / f"{n}.json").is_file()]
    summary = {"machine": f"{platform.processor() or platform.machine()}, "
                          f"{platform.python_version()}",
               "command": "python benchmarks/det.py " + " ".join(sys.argv[1:]),
               "rule": f"best dev recall at <= {a.max_fa} FA/h, median latency <= "
                       f"{a.max_latency} s (else the dev point with the fewest false alarms)",
               "results": [{k: r[k] for k in ("name", "spec", "hop", "smoothing", "seconds",
                                              *(f"chosen_{s}" for s in SETS),
                                              *(f"worst_fold_{s}" for s in SETS))}
                           for r in results]}
    Path(a.json).write_text(json.dumps(summary, indent=1, default=float) + "\n")
    plot(results, Path(a.png))
    for r in results:
        line = " | ".join(f"{k}: recall {r[f'chosen_{k}']['recall']:.3f} FA/h "
                          f"{r[f'chosen_{k}']['false_alarms_per_hour']:.2f} lat "
                          f"{r[f'chosen_{k}']['latency_median_s'] or 0:.2f} flagged "
                          f"{100 * r[f'chosen_{k}']['non_cry_flagged_share']:.2f}%"
                          for k in SETS)
        print(f"{r['name']:32s} {line}")


if __name__ == "__main__":
    main()
