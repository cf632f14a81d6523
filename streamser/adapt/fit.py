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
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.detcurve import detections
from ..graph import Graph
from . import store
from .cryset import REBUILD, CrySet
from .detector import AdaptError, Detector, backbone_signature, signature_difference
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


def guarded_report(what: str, clips: Sequence[Clip], rows: Sequence[np.ndarray],
                   alarms: tuple[int, int], guard_clips: int, before: float, after: float,
                   appended: int) -> Report:
    """What a fit used and did; AdaptError (one line) when it would cost the held-out
    cries more than ``MAX_RECALL_DROP`` of recall."""
    if before - after > MAX_RECALL_DROP:
        lost = round((before - after) * guard_clips)
        raise AdaptError(f"refused: {what} would miss {lost} of {guard_clips} held-out "
                         f"cries (recall {100 * before:.1f} % -> {100 * after:.1f} %, "
                         f"-{100 * (before - after):.1f} points); do the home's clips hold "
                         "crying?")
    return Report(len(clips), sum(c.seconds for c in clips), sum(map(len, rows)), alarms,
                  guard_clips, (float(before), float(after)), appended)


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
        raise AdaptError(f"the cry set was made by another backbone "
                         f"({signature_difference(cs.meta['signature'], mine)}); rebuild "
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
    report = guarded_report("the verifier", [*negatives, *positives], [*neg, *pos], alarms,
                            len(guard), before, after, appended)
    v.meta.setdefault("fits", []).append({"clips": report.clips,
                                          "seconds": round(report.seconds, 1),
                                          "rows": report.rows, "appended_to": appended,
                                          "home_alarms": list(alarms),
                                          "guard_recall": [round(before, 4), round(after, 4)]})
    return v, report


HEAD_L2, HEAD_STEPS, HEAD_APPEND_STEPS = 1e-3, 300, 100
STATE_FORMAT = "streamser-headfit/1"


@dataclass
class HeadFit:
    """A re-fitted last layer ``(w, b)`` and what a later append needs: the original
    layer (the L2 reference), the home's backbone rows and labels (1 a home cry)."""

    w: np.ndarray
    b: np.ndarray
    w_ref: np.ndarray
    b_ref: np.ndarray
    home_rows: np.ndarray
    home_y: np.ndarray
    meta: dict[str, Any]

    def save(self, path: Path) -> Path:
        return store.save(path, STATE_FORMAT, self.meta, w_ref=self.w_ref, b_ref=self.b_ref,
                          home_rows=self.home_rows.astype(np.float16),
                          home_y=self.home_y.astype(np.int8))

    @classmethod
    def load(cls, path: Path, w: np.ndarray, b: np.ndarray) -> HeadFit:
        z, meta = store.load(path, STATE_FORMAT, "a head fit")
        try:
            return cls(w, b, z["w_ref"], z["b_ref"], z["home_rows"].astype(np.float32),
                       z["home_y"], meta)
        except KeyError as exc:
            raise ValueError(f"{path}: not a head fit adapt wrote (no {exc})") from None


def fit_head(graph: Graph, det: Detector, cs: CrySet, head: Any, negatives: Sequence[Clip],
             positives: Sequence[Clip] = (), base: HeadFit | None = None,
             progress: Callable[[float], None] | None = None) -> tuple[HeadFit, Report]:
    """Re-fit ``head``'s (an :class:`~.headfit.OnnxHead`) last layer: the cry set's
    fitting cries as cries, its other rows and the home's rows as their nearest non-cry
    kinds (:func:`~.headfit.not_cry`), L2 toward the original layer; continuing ``base``
    (its rows appended, from its layer) when given. Guarded as :func:`fit`."""
    from .headfit import fit_layer, not_cry, one_hot, softmax, stack
    hop, s = cs.hop, smoother(graph, det)
    labels = head.labels
    cry, k = (labels.index("cry") if "cry" in labels else 0), len(labels)
    neg = clip_rows(graph, det, negatives, progress)
    pos = clip_rows(graph, det, positives, progress)
    fit_pos = [i for i in range(len(pos)) if i % 2 == 0 or len(pos) == 1]
    guard_pos = [i for i in range(len(pos)) if i not in fit_pos]
    width = cs.rows.shape[1]
    home_rows = stack(neg + [pos[i] for i in fit_pos], width)
    home_y = np.concatenate([np.zeros(sum(map(len, neg)), np.int8)]
                            + [np.ones(len(pos[i]), np.int8) for i in fit_pos])
    appended = 0
    w_ref, b_ref = head.w0, head.b0
    if base is not None:
        appended = len(base.home_y)
        home_rows = np.concatenate([base.home_rows, home_rows])
        home_y = np.concatenate([base.home_y, home_y])
        w_ref, b_ref = base.w_ref, base.b_ref
    if not (home_y == 0).any():
        raise AdaptError("no rows of the home's sounds to learn from (clips shorter "
                         "than a patch?)")
    seqs = cs.sequences()
    hid = [head.hidden(cs.rows[q]) for q in seqs]
    set_h = np.concatenate([a for a, _ in hid])
    set_o = np.concatenate([o for _, o in hid])
    home_h, home_o = head.hidden(home_rows)
    use = (~cs.guard) & (cs.cry >= 0)
    set_cry = cs.cry[use] == 1
    p_ref = softmax(set_h[use] @ w_ref + b_ref + set_o[use])
    home_p = softmax(home_h @ w_ref + b_ref + home_o)
    target = np.concatenate([
        np.where(set_cry[:, None], one_hot(int(use.sum()), k, cry), not_cry(p_ref, cry)),
        np.where((home_y == 1)[:, None], one_hot(len(home_y), k, cry), not_cry(home_p, cry))])
    weight = np.concatenate([
        np.where(set_cry, 1.0 / max(set_cry.sum(), 1), OTHER_WEIGHT / max((~set_cry).sum(), 1)),
        np.full(len(home_y), HOME_WEIGHT / len(home_y))])
    h = np.concatenate([set_h[use], home_h])
    o = np.concatenate([set_o[use], home_o])
    if base is None:
        w, b = fit_layer(h, o, target, weight, w_ref, b_ref, HEAD_L2, HEAD_STEPS)
    else:
        w, b = fit_layer(h, o, target, weight, w_ref, b_ref, HEAD_L2, HEAD_APPEND_STEPS,
                         base.w, base.b)

    def cry_of(hh: np.ndarray, oo: np.ndarray, ww: np.ndarray, bb: np.ndarray) -> np.ndarray:
        return softmax(hh @ ww + bb + oo)[:, cry]

    guard = [(set_h[q], set_o[q]) for q in cs.sequences(cs.guard & (cs.cry != 0))]
    guard += [head.hidden(pos[i]) for i in guard_pos]
    before = np.mean([fires(cry_of(a, c, head.w0, head.b0), hop, s) > 0 for a, c in guard])
    after = np.mean([fires(cry_of(a, c, w, b), hop, s) > 0 for a, c in guard])
    neg_h = [head.hidden(r) for r in neg]
    alarms = (sum(fires(cry_of(a, c, head.w0, head.b0), hop, s) for a, c in neg_h),
              sum(fires(cry_of(a, c, w, b), hop, s) for a, c in neg_h))
    report = guarded_report("the re-fitted head", [*negatives, *positives], [*neg, *pos],
                            alarms, len(guard), before, after, appended)
    fits = (base.meta.get("fits", []) if base else []) + [
        {"clips": report.clips, "seconds": round(report.seconds, 1), "rows": report.rows,
         "appended_to": appended, "home_alarms": list(alarms),
         "guard_recall": [round(float(before), 4), round(float(after), 4)]}]
    return HeadFit(w, b, w_ref, b_ref, home_rows, home_y, {"fits": fits}), report


def fit_timbre(graph: Graph, det: Detector, cs: CrySet, negatives: Sequence[Clip],
               positives: Sequence[Clip] = (), base: Any = None,
               progress: Callable[[float], None] | None = None,
               meta: dict[str, Any] | None = None) -> tuple[Any, Report]:
    """A :class:`~.timbre.TimbreGate` for this home (``base``'s rows kept and these
    appended when given) and its report; guarded as :func:`fit`."""
    from ..dsp.timbre import timbre
    from .detector import patch_node
    from .rows import clip_rows_and_patches
    from .timbre import MAX_CRYLIKE, TimbreGate
    patch = patch_node(graph, det)
    if patch is None:
        raise AdaptError(f"the backbone '{det.backbone}' reads no log-mel patches: use "
                         "--method verifier or head")
    if cs.timbre is None or cs.source is None:
        raise AdaptError("the cry set has no timbre rows (built before the timbre gate); "
                         f"rebuild it: {REBUILD.format(config=graph.file)}")
    hop, s = cs.hop, smoother(graph, det)
    head = HeadScorer(graph, det)
    try:
        cry = head.labels.index("cry") if "cry" in head.labels else 0
        neg, neg_patches = clip_rows_and_patches(graph, det, negatives, patch, progress)
        pos, pos_patches = clip_rows_and_patches(graph, det, positives, patch, progress)
        neg_p = [head(r, hop)[:, cry] for r in neg]
        pos_p = [head(r, hop)[:, cry] for r in pos]
        set_p = np.zeros(len(cs.rows), np.float32)
        for q in cs.sequences():
            set_p[q] = head(cs.rows[q], hop)[:, cry]
    finally:
        head.close()
    neg_t = [timbre(p) for p in neg_patches]
    pos_t = [timbre(p) for p in pos_patches]
    fit_pos = [k for k in range(len(pos)) if k % 2 == 0 or len(pos) == 1]
    guard_pos = [k for k in range(len(pos)) if k not in fit_pos]
    home = np.concatenate(neg_t) if neg_t else np.zeros((0, cs.timbre.shape[1]), np.float32)
    if not len(home):
        raise AdaptError("no rows of the home's sounds to learn from (clips shorter "
                         "than a patch?)")
    # the home's own baby: one source of cries, an id no corpus source has
    own = [np.zeros((0, home.shape[1]), np.float32)] + [pos_t[k] for k in fit_pos]
    own_p = [np.zeros(0, np.float32)] + [pos_p[k] for k in fit_pos]
    own_t, own_s = np.concatenate(own), np.concatenate(own_p)
    own_id = np.full(len(own_t), -1, np.int64)
    own_seq = np.concatenate([np.zeros(0, np.int64)]
                             + [np.full(len(pos_t[k]), -1 - k) for k in fit_pos])
    if base is not None:
        appended = len(base.home)
        base.append(home, own_t, own_id, own_seq, own_s)
        gate = base
    else:
        appended = 0
        use = (~cs.guard) & (cs.cry == 1)
        gate = TimbreGate.fit(home, np.concatenate([cs.timbre[use], own_t]),
                              np.concatenate([cs.source[use], own_id]),
                              np.concatenate([cs.seq[use], own_seq]),
                              np.concatenate([set_p[use], own_s]), meta=meta)

    crylike = gate.crylike_share()
    if crylike > MAX_CRYLIKE:
        raise AdaptError(f"refused: the home's clips sound like crying ({100 * crylike:.0f} "
                         "% of the cry set's cries sound more like them than like other "
                         f"families' cries, at most {100 * MAX_CRYLIKE:.0f} %); do the "
                         "home's clips hold crying?")

    def gated(x: np.ndarray, p: np.ndarray) -> np.ndarray:
        return gate.apply(x, p[:, None])[:, 0]       # one clip: one stream

    guard = [(cs.timbre[q], set_p[q]) for q in cs.sequences(cs.guard & (cs.cry != 0))]
    guard += [(pos_t[k], pos_p[k]) for k in guard_pos]
    before = np.mean([fires(p, hop, s) > 0 for _, p in guard])
    after = np.mean([fires(gated(x, p), hop, s) > 0 for x, p in guard])
    alarms = (sum(fires(p, hop, s) for p in neg_p),
              sum(fires(gated(x, p), hop, s) for x, p in zip(neg_t, neg_p)))
    report = guarded_report("the timbre gate", [*negatives, *positives], [*neg, *pos],
                            alarms, len(guard), before, after, appended)
    gate.meta.setdefault("fits", []).append({"clips": report.clips,
                                             "seconds": round(report.seconds, 1),
                                             "rows": report.rows, "appended_to": appended,
                                             "home_alarms": list(alarms),
                                             "guard_recall": [round(float(before), 4),
                                                              round(float(after), 4)],
                                             "margin": round(gate.margin, 5)})
    return gate, report
