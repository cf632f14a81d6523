"""How far can a row-level verifier go? The homes of ``adapt_homes.py``, replayed offline.

    python benchmarks/adapt_bound.py --json results/adapt/bound.json
    python benchmarks/adapt_bound.py --independent-head ~/.cache/streamser/cry \
        --json results/adapt/bound_indep.json

Per home (built by ``adapt_homes.py`` under ``--work``) the graph's backbone rows of the
20-minute stream and of the two minutes adapt is taught with are scored by CONFIG's head,
then a verifier of ``streamser adapt``'s form (logistic regression on the backbone row and
the head's log-scores, against the cry set's fitting cries and other rows; gate
``p * min(1, g / tau)``) is fitted on one of two sets of the home's rows:

- ``enrol``: the two minutes (what adapt does);
- ``oracle``: the stream's own non-cry rows, the very sounds it is scored on (a bound no
  adapt can beat with this verifier's features).

``tau`` is set two ways: ``fit`` (the 0.5 % quantile of ``g`` over the fitting cries the
head scores above the start threshold, as adapt does) or ``cv`` (the same quantile over
cries the verifier did not fit: the fitting cries in two halves, each scored by a
verifier fitted on the other half: how a cry family never heard fares). Each variant
is scored as adapt's guard scores it (episode recall on the cry set's held-out cry
clips) and on the stream (false alarms per hour, episode recall, median latency), by
replaying the smoother (``streamser.evaluation.detcurve.detections``; the same events as
``streamser run``, checked for the unadapted head).

It also asks which features could tell them apart: over the stream's patches the head
scores above the start threshold, the AUC with which ``max cos(x, home) - max cos(x,
fitting cries)`` ranks the home's sounds above the cries, in the backbone's embedding and
in the timbre the ``timbre`` gate reads (:func:`streamser.adapt.timbre.timbre`). Nothing
is written but the JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import homes
from adapt_homes import independent_config

from streamser.adapt import cryset
from streamser.adapt.detector import find_detector, patch_node
from streamser.adapt.fit import CRY_QUANTILE, L2, OTHER_WEIGHT, STEPS, smoother
from streamser.adapt.rows import (
    HeadScorer,
    audio_files,
    chain_frames,
    clip_rows_and_patches,
    read_clip,
)
from streamser.adapt.verifier import features, fit_logistic, sigmoid
from streamser.dsp.timbre import timbre
from streamser.evaluation.detcurve import detections
from streamser.evaluation.eventscore import episodes_of, read_segments, score
from streamser.graph import load_graph


def fires(p: np.ndarray, hop: float, s: dict, block: int | None = None) -> list:
    return detections(np.asarray(p, np.float64), hop, s["on_threshold"], s["off_threshold"],
                      int(s["window"]), s["min_on"], s["min_off"], block=block)


class Gate:
    """adapt's verifier fit (``streamser.adapt.fit.fit``): standardized on its rows, cries
    1, the set's other rows (half weight) and the home 0."""

    def __init__(self, x_cry: np.ndarray, x_other: np.ndarray, x_home: np.ndarray) -> None:
        x = np.concatenate([x_cry, x_other, x_home])
        self.mean, self.std = x.mean(axis=0), x.std(axis=0) + 1e-3
        y = np.r_[np.ones(len(x_cry)), np.zeros(len(x_other) + len(x_home))]
        wt = np.r_[np.full(len(x_cry), 1 / len(x_cry)),
                   np.full(len(x_other), OTHER_WEIGHT / len(x_other)),
                   np.full(len(x_home), 1 / len(x_home))]
        self.w, self.b = fit_logistic((x - self.mean) / self.std, y, wt, L2, STEPS)

    def g(self, x: np.ndarray) -> np.ndarray:
        return sigmoid((x - self.mean) / self.std @ self.w + self.b)


#: ``features.yamnet`` rows: the 1024-wide embedding, then the 521 logits
EMB = 1024


def auc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """P(a ``pos`` value > a ``neg`` value), ties half."""
    if not len(pos) or not len(neg):
        return None
    both = np.concatenate([pos, neg])
    ranks = np.argsort(np.argsort(both, kind="stable"), kind="stable") + 1.0
    for v in np.unique(both):          # average ranks of ties
        tie = both == v
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2)
                 / (len(pos) * len(neg)))


def homeness(x: np.ndarray, home: np.ndarray, cries: np.ndarray) -> np.ndarray:
    """``max cos(x, home) - max cos(x, cries)``, centred on the cries' mean."""
    centre = cries.mean(axis=0)

    def unit(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, np.float64) - centre
        return a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-9)
    u = unit(x)
    return (u @ unit(home).T).max(axis=1) - (u @ unit(cries).T).max(axis=1)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="configs/cry_robot.yaml")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--work", default=str(Path.home() / ".cache/streamser/adapt_homes"))
    ap.add_argument("--independent-head", metavar="CACHE",
                    help="as adapt_homes.py: a head that never heard the homes")
    ap.add_argument("--homes", default=",".join(h.name for h in homes.HOMES))
    ap.add_argument("--json", default="results/adapt/bound.json")
    a = ap.parse_args(argv)
    t0, work = time.time(), Path(a.work).expanduser()
    config = str(Path(a.config).resolve())
    if a.independent_head:
        config = independent_config(config, a.independent_head, a.data, work)
    graph = load_graph(config)
    det = find_detector(graph)
    s, cs = smoother(graph, det), cryset.load()
    hop = cs.hop
    head = HeadScorer(graph, det)
    set_p = np.concatenate([head(cs.rows[q], hop) for q in cs.sequences()])
    x_set = features(cs.rows, set_p)
    fit_cry = (~cs.guard) & (cs.cry == 1)
    other = (~cs.guard) & (cs.cry == 0)
    guard = cs.sequences(cs.guard & (cs.cry != 0))
    half = cs.seq % 2 == 0

    def tau_of(x_home: np.ndarray, how: str, gate: Gate) -> float:
        if how == "fit":
            keep = fit_cry & (set_p[:, 0] >= s["on_threshold"])
            return float(np.quantile(gate.g(x_set[keep]), CRY_QUANTILE))
        held = []
        for side in (half, ~half):
            other_half = Gate(x_set[fit_cry & side], x_set[other], x_home)
            keep = fit_cry & ~side & (set_p[:, 0] >= s["on_threshold"])
            held.append(other_half.g(x_set[keep]))
        return float(np.quantile(np.concatenate(held), CRY_QUANTILE))

    guard_before = float(np.mean([len(fires(set_p[q, 0], hop, s)) > 0 for q in guard]))
    rows_out = []
    for i, home in enumerate(homes.HOMES):
        if home.name not in a.homes.split(","):
            continue
        folder = homes.build(home, i, a.data, work)
        patch = patch_node(graph, det)
        got = chain_frames(graph, det, read_clip(folder / "stream.flac"), (det.backbone, patch))
        rows = np.concatenate([f.data for f in got[det.backbone]])
        stream_timbre = timbre(np.stack([f.data for f in got[patch]]))
        enrol, enrol_patches = clip_rows_and_patches(
            graph, det, [read_clip(p) for p in audio_files([folder / "enrol"])], patch)
        p = head(rows, hop)
        x_stream = features(rows, p)
        x_enrol = np.concatenate([features(r, head(r, hop)) for r in enrol])
        segs = read_segments(folder / "stream.csv")
        eps, length = episodes_of(segs)
        t = np.arange(len(p)) * hop + 0.48          # a patch's middle
        is_cry = np.zeros(len(p), bool)
        for seg in segs:
            if seg["kind"] == "cry":
                is_cry |= (t >= seg["start"]) & (t < seg["end"])
        before = score(eps, fires(p[:, 0], hop, s, 4096), length, segs)
        res = {"home": home.name, "before": before, "variants": {}, "auc": {}}
        hot = p[:, 0] >= s["on_threshold"]
        for name, x, x_home, x_cry in (
                ("embedding", rows[:, :EMB], np.concatenate(enrol)[:, :EMB],
                 cs.rows[fit_cry][:, :EMB]),
                ("timbre", stream_timbre, np.concatenate([timbre(q) for q in enrol_patches]),
                 cs.timbre[fit_cry])):
            h = homeness(x, x_home, x_cry)
            res["auc"][name] = auc(h[hot & ~is_cry], h[hot & is_cry])
        print(f"{home.name}: home's sounds vs cries the head fires on, AUC: " + ", ".join(
            f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in res["auc"].items()),
            flush=True)
        for fitted_on, x_home in (("enrol", x_enrol), ("oracle", x_stream[~is_cry])):
            gate = Gate(x_set[fit_cry], x_set[other], x_home)
            for how in ("fit", "cv"):
                tau = tau_of(x_home, how, gate)

                def gated(x: np.ndarray, pc: np.ndarray, gate=gate, tau=tau) -> np.ndarray:
                    return pc * np.minimum(1.0, gate.g(x) / tau)
                guard_after = float(np.mean([len(fires(gated(x_set[q], set_p[q, 0]), hop, s))
                                             > 0 for q in guard]))
                after = score(eps, fires(gated(x_stream, p[:, 0]), hop, s, 4096), length, segs)
                res["variants"][f"{fitted_on}-{how}"] = {
                    "guard_recall": [guard_before, guard_after], "after": after}
                print(f"{home.name} {fitted_on:6s} tau {how:3s}: guard {guard_before:.3f} -> "
                      f"{guard_after:.3f} | FA/h {before['false_alarms_per_hour']:.1f} -> "
                      f"{after['false_alarms_per_hour']:.1f} | recall {before['recall']:.3f} "
                      f"-> {after['recall']:.3f}", flush=True)
        rows_out.append(res)
    head.close()
    hours = sum(r["before"]["non_cry_hours"] for r in rows_out)
    summary = {}
    for v in rows_out[0]["variants"]:
        fa = sum(r["variants"][v]["after"]["false_alarms"] for r in rows_out)
        worst = min(r["variants"][v]["guard_recall"][1] for r in rows_out)
        summary[v] = {"false_alarms_per_hour": fa / hours, "worst_guard_recall": worst}
        print(f"{v:11s}: all homes {sum(r['before']['false_alarms'] for r in rows_out) / hours:.1f}"
              f" -> {fa / hours:.1f} FA/h; held-out cries {guard_before:.3f} -> worst {worst:.3f}")
    out = Path(a.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": " ".join(["python", *sys.argv]), "config": config,
                               "seconds": round(time.time() - t0, 1), "summary": summary,
                               "homes": rows_out}, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
