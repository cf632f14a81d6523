"""Fit a home's verifier against the cry set, check it on held-out cries, report.

Cries the verifier must keep: the cry set's fitting cries and, with ``--positives``,
every other one of the home's own cry clips (the rest guard). It refuses (``AdaptError``)
when episode recall on the held-out cries (the set's guard families and the held-out
positives, each clip replayed through the graph's smoother settings) would fall by more
than ``MAX_RECALL_DROP``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..evaluation.detcurve import detections
from ..graph import Graph
from .cryset import REBUILD, CrySet
from .detector import AdaptError, Detector, backbone_signature, describe_signature
from .rows import Clip, HeadScorer, clip_rows
from .verifier import Verifier, features, fit_logistic

MAX_RECALL_DROP = 0.01
L2, STEPS, APPEND_STEPS, CRY_QUANTILE = 1e-2, 300, 100, 0.005
HOME_WEIGHT, OTHER_WEIGHT = 1.0, 0.5


@dataclass
class Report:
    """What a fit used and did: clips and seconds, detections on the home's clips before
    and after, recall on the held-out cries before and after."""

    clips: int
    seconds: float
    rows: int
    home_alarms: tuple[int, int]
    guard_clips: int
    guard_recall: tuple[float, float]
    appended_to: int

    def lines(self) -> list[str]:
        a, b = self.home_alarms
        r0, r1 = self.guard_recall
        return [f"used {self.clips} clips, {self.seconds:.1f} s, {self.rows} rows"
                + (f" (appended to {self.appended_to} earlier rows)" if self.appended_to
                   else ""),
                f"false alarms on the home's clips: {a} before, {b} after",
                f"held-out cries found: {100 * r0:.1f} % before, {100 * r1:.1f} % after "
                f"({self.guard_clips} clips)"]


def smoother(graph: Graph, det: Detector) -> dict[str, float]:
    p = graph.nodes[det.smoother].params
    return {k: getattr(p, k) for k in ("on_threshold", "off_threshold", "window", "min_on",
                                       "min_off")}


def fires(scores: np.ndarray, hop: float, s: dict[str, float]) -> int:
    """Episodes the smoother would start on one clip's cry scores."""
    return len(detections(np.asarray(scores, np.float64), hop, s["on_threshold"],
                          s["off_threshold"], int(s["window"]), s["min_on"], s["min_off"],
                          block=None))


def check_backbone(graph: Graph, det: Detector, cs: CrySet, config: str) -> None:
    mine = backbone_signature(graph, det)
    if mine != cs.meta["signature"]:
        raise AdaptError(f"the cry set was made by {describe_signature(cs.meta['signature'])}"
                         f", this graph's backbone is {describe_signature(mine)}; rebuild "
                         f"it: {REBUILD.format(config=config)}")


def fit(graph: Graph, det: Detector, cs: CrySet, negatives: Sequence[Clip],
        positives: Sequence[Clip] = (), base: Verifier | None = None,
        progress: Callable[[float], None] | None = None,
        meta: dict[str, Any] | None = None) -> tuple[Verifier, Report]:
    """A verifier for this home (continuing ``base`` when given) and its report."""
    hop, s = cs.hop, smoother(graph, det)
    head = HeadScorer(graph, det)
    try:
        labels = head.labels
        cry = labels.index("cry") if "cry" in labels else 0
        neg = clip_rows(graph, det, negatives, progress)
        pos = clip_rows(graph, det, positives, progress)
        neg_p, pos_p = [head(r, hop) for r in neg], [head(r, hop) for r in pos]
        seqs = cs.sequences()
        set_p = np.concatenate([head(cs.rows[q], hop) for q in seqs])
    finally:
        head.close()
    fit_pos = [k for k in range(len(pos)) if k % 2 == 0 or len(pos) == 1]
    guard_pos = [k for k in range(len(pos)) if k not in fit_pos]
    use = (~cs.guard) & (cs.cry >= 0)
    home_rows = np.concatenate([r for r in neg] + [pos[k] for k in fit_pos]
                               or [np.zeros((0, cs.rows.shape[1]), np.float32)])
    home_p = np.concatenate([p for p in neg_p] + [pos_p[k] for k in fit_pos]
                            or [np.zeros((0, set_p.shape[1]), np.float32)])
    home_y = np.concatenate([np.zeros(sum(map(len, neg)), np.int8)]
                            + [np.ones(len(pos[k]), np.int8) for k in fit_pos])
    appended = 0
    if base is not None:
        appended = len(base.home_y)
        home_rows = np.concatenate([base.home_rows, home_rows])
        home_p = np.concatenate([base.home_probs, home_p])
        home_y = np.concatenate([base.home_y, home_y])
    if not (home_y == 0).any():
        raise AdaptError("no rows of the home's sounds to learn from (clips shorter "
                         "than a patch?)")
    x = np.concatenate([features(cs.rows[use], set_p[use]), features(home_rows, home_p)])
    y = np.concatenate([(cs.cry[use] == 1), home_y == 1]).astype(np.float64)
    set_cry = cs.cry[use] == 1
    w_set = np.where(set_cry, 1.0 / max(set_cry.sum(), 1),
                     OTHER_WEIGHT / max((~set_cry).sum(), 1))
    n_home = max(len(home_y), 1)
    weight = np.concatenate([w_set, np.full(len(home_y), HOME_WEIGHT / n_home)])
    if base is None:
        mean, std = x.mean(axis=0), x.std(axis=0) + 1e-3
        w, b = fit_logistic((x - mean) / std, y, weight, L2, STEPS)
    else:
        mean, std = base.mean, base.std
        w, b = fit_logistic((x - mean) / std, y, weight, L2, APPEND_STEPS, base.w, base.b)
    v = Verifier(w, b, mean, std, 1.0, cry, home_rows, home_p, home_y,
                 {**(base.meta if base else {}), **(meta or {})})
    keep = set_cry & (set_p[use][:, cry] >= s["on_threshold"])
    g = v.g(cs.rows[use][keep], set_p[use][keep])
    v.tau = float(np.quantile(g, CRY_QUANTILE)) if len(g) else 0.5
    guard = [(cs.rows[q], set_p[q]) for q in cs.sequences(cs.guard & (cs.cry != 0))]
    guard += [(pos[k], pos_p[k]) for k in guard_pos]
    before = np.mean([fires(p[:, cry], hop, s) > 0 for _, p in guard])
    after = np.mean([fires(v.cry_score(r, p), hop, s) > 0 for r, p in guard])
    alarms = (sum(fires(p[:, cry], hop, s) for p in neg_p),
              sum(fires(v.cry_score(r, p), hop, s) for r, p in zip(neg, neg_p)))
    report = Report(len(negatives) + len(positives),
                    sum(c.seconds for c in [*negatives, *positives]),
                    sum(map(len, neg)) + sum(map(len, pos)), alarms, len(guard),
                    (float(before), float(after)), appended)
    if before - after > MAX_RECALL_DROP:
        lost = round((before - after) * len(guard))
        raise AdaptError(f"refused: the verifier would miss {lost} of {len(guard)} held-out "
                         f"cries (recall {100 * before:.1f} % -> {100 * after:.1f} %, "
                         f"-{100 * (before - after):.1f} points); do the home's clips hold "
                         "crying?")
    v.meta.setdefault("fits", []).append({"clips": report.clips,
                                          "seconds": round(report.seconds, 1),
                                          "rows": report.rows, "appended_to": appended,
                                          "home_alarms": list(alarms),
                                          "guard_recall": [round(before, 4), round(after, 4)]})
    return v, report
