"""Choose a detector's smoothing on a dev stream: replay its scores through
``smooth.hysteresis`` for every setting of a grid and score the events.

    streamser bench configs/cry_robot_scores.yaml --input streams/dev40.flac \
        --truth streams/dev40.truth.csv --set scores.path=out/dev40-scores.jsonl
    python benchmarks/smoothing_sweep.py out/dev40-scores.jsonl streams/dev40.truth.csv \
        --config configs/cry_robot.yaml --window 1,2,3 --on 0.5,0.6,0.7,0.8,0.9

The scores JSONL is what the graph's ``sink.jsonl`` wrote (one detector frame per patch);
the other params of the config's ``smooth`` node are kept unless swept. The rule, fixed
before looking: the best episode F1 among settings whose median detection latency is at
most ``--latency`` (p95 at most ``--p95``) that flag at most ``--flagged`` of the non-cry
audio as crying (a detection that outlasts its cry or joins several matches them all, so
episode F1 alone rewards detections that never end), ties broken by fewer false alarms, then by
lower latency. Replaying is exact: the node gets the same frames as in the graph.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from streamser.evaluation.eventscore import Detection, episodes_of, read_segments, score
from streamser.frames import Frame
from streamser.plugins.smooth import Hysteresis


def read_scores(path: Path) -> list[Frame]:
    frames = []
    with open(path) as fh:
        for line in fh:
            row = json.loads(line)
            if row["kind"] == "scores":
                frames.append(Frame("scores", np.asarray(row["data"], np.float32),
                                    t=row["t"], seq=row["seq"], stream=row["stream"],
                                    meta=row["meta"]))
    return frames


def replay(frames: list[Frame], params: dict[str, Any]) -> list[Detection]:
    node = Hysteresis(Hysteresis.Params(**params), "smooth")
    node.start()
    events = [e for f in frames for e in node.process(f)] + list(node.flush())
    out: list[Detection] = []
    label = params.get("label", "cry")
    for e in events:
        m = e.meta
        if m["event"] == f"{label}_start":
            out.append(Detection(m["t"], float("inf"), m["emitted_at"]))
        elif m["event"] == f"{label}_end" and out and out[-1].end == float("inf"):
            out[-1].end = m["t"]
    if out and out[-1].end == float("inf"):           # open at the end of the stream
        out[-1].end = max(frames[-1].meta.get("upto", frames[-1].t), out[-1].start)
    return out


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")] if text else []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scores", type=Path)
    ap.add_argument("truth", type=Path)
    ap.add_argument("--config", type=Path, help="Graph whose smooth node gives the base params.")
    ap.add_argument("--node", default="smooth")
    ap.add_argument("--window", default="1,2,3")
    ap.add_argument("--on", default="0.5,0.6,0.7,0.8,0.9")
    ap.add_argument("--off", default="", help="off_threshold values (default: the config's)")
    ap.add_argument("--min-on", default="", help="min_on values (default: the config's)")
    ap.add_argument("--latency", type=float, default=1.0)
    ap.add_argument("--p95", type=float, default=2.0)
    ap.add_argument("--flagged", type=float, default=1.0,
                    help="largest share of non-cry audio a setting may flag as crying")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    base: dict[str, Any] = {}
    if args.config:
        base = dict(yaml.safe_load(args.config.read_text())["nodes"][args.node].get("params", {}))
    frames = read_scores(args.scores)
    segments = read_segments(args.truth)
    episodes, length = episodes_of(segments)
    grid = {"window": [int(w) for w in floats(args.window)], "on_threshold": floats(args.on),
            "off_threshold": floats(args.off), "min_on": floats(args.min_on)}
    grid = {k: v for k, v in grid.items() if v}
    rows = []
    for values in itertools.product(*grid.values()):
        params = {**base, **dict(zip(grid, values))}
        if params.get("off_threshold", 0.4) > params.get("on_threshold", 0.6):
            continue
        s = score(episodes, replay(frames, params), length, segments)
        rows.append({"params": dict(zip(grid, values)), "f1": s["f1"],
                     "false_alarms": s["false_alarms"], "fa_per_hour": round(s["false_alarms_per_hour"], 2),
                     "recall": s["recall"], "flagged": round(s["non_cry_flagged_share"], 4),
                     "latency_median": s["latency_median_s"],
                     "latency_p95": s["latency_p95_s"]})
    ok = [r for r in rows if r["latency_median"] is not None
          and r["latency_median"] <= args.latency and r["latency_p95"] <= args.p95
          and r["flagged"] <= args.flagged]
    best = min(ok, key=lambda r: (-r["f1"], r["false_alarms"], r["latency_median"]),
               default=None)
    for r in rows:
        mark = "*" if r is best else " "
        print(f"{mark} {json.dumps(r['params']):52s} F1 {r['f1']:.3f}  FA {r['false_alarms']:3d} "
              f"({r['fa_per_hour']:.1f}/h)  recall {r['recall']:.3f}  flagged "
              f"{100 * r['flagged']:4.1f} %  latency "
              f"{_s(r['latency_median'])} / {_s(r['latency_p95'])} s")
    print("rule: best F1 with median latency <= "
          f"{args.latency} s, p95 <= {args.p95} s and at most {100 * args.flagged:g} % of "
          "non-cry audio flagged -> "
          + (json.dumps(best["params"]) if best else "no setting meets it"))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "best": best}, indent=1) + "\n")
    return 0 if best else 1


if __name__ == "__main__":
    sys.exit(main())
