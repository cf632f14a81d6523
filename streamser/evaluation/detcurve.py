"""Detection-error curves of a cry score on labelled streams, without running a graph.

:func:`detections` replays ``smooth.hysteresis`` (EMA smoothing, thresholds, ``min_on``,
``min_off``, the end of stream) on a score per patch, exactly as the node does on the
``scores`` frames of a file run (``tests/test_detcurve.py`` checks it against the node);
:func:`curve` sweeps the start threshold and scores each point with
:func:`streamser.evaluation.eventscore.score` (recall, false alarms per hour of non-cry
audio, latency, the share of non-cry time inside a detection).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .eventscore import Detection, episodes_of, score

PATCH_S = 0.975                    # audio a patch reads: 96 rows of 10 ms + a 25 ms window
RATE = 16000
BLOCK = 4096                       # the robot's microphone block (samples): a patch is seen
                                   # when the block holding its last sample has arrived


@dataclass(frozen=True)
class Smoothing:
    """``smooth.hysteresis`` params (``off`` as a fraction of ``on`` in a sweep)."""

    window: int = 1
    off_ratio: float = 0.5
    min_on: float = 0.0
    min_off: float = 1.0

    def params(self, on: float) -> dict[str, Any]:
        return {"smoothing": "ema", "window": self.window, "on_threshold": round(on, 4),
                "off_threshold": round(on * self.off_ratio, 4), "min_on": self.min_on,
                "min_off": self.min_off}


def detections(scores: np.ndarray, hop: float, on: float, off: float, window: int = 1,
               min_on: float = 0.0, min_off: float = 1.0, block: int | None = BLOCK
               ) -> list[Detection]:
    """Episodes ``smooth.hysteresis`` would report for ``scores`` (one per patch, patch
    ``i`` starting at ``i * hop`` s, seen at the end of the audio block (``block``
    samples; None: at its last sample) that completes it): start, end and ``emitted_at``
    of each start."""
    alpha = 2 / (window + 1)
    out: list[Detection] = []
    ema: float | None = None
    active, since, start, upto = False, None, 0.0, 0.0
    for i, x in enumerate(scores.tolist()):
        t = i * hop
        end = round((t + PATCH_S) * RATE)
        upto = (-(-end // block) * block if block else end) / RATE
        now = (t + upto) / 2
        ema = x if ema is None else ema + alpha * (x - ema)
        s = ema
        if not active:
            if s < off:
                since = None
            elif s >= on:
                since = now if since is None else since
                if now - since >= min_on:
                    active, start, since = True, since, None
                    out.append(Detection(round(start, 3), float("inf"), round(upto, 3)))
        else:
            if s >= on:
                since = None
            elif s < off:
                since = now if since is None else since
                if now - since >= min_off:
                    out[-1].end = round(since, 3)
                    active, since = False, None
    if active:
        out[-1].end = round(since if since is not None else upto, 3)
    return out


def point(scores: np.ndarray, hop: float, segments: list[dict[str, Any]], length_s: float,
          on: float, smoothing: Smoothing) -> dict[str, Any]:
    """One operating point: the event score of the detections at start threshold ``on``."""
    p = smoothing.params(on)
    dets = detections(scores, hop, p["on_threshold"], p["off_threshold"], p["window"],
                      p["min_on"], p["min_off"])
    episodes, _ = episodes_of(segments)
    return {"on_threshold": p["on_threshold"], **score(episodes, dets, length_s, segments)}


def pooled(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Several streams' scores at one threshold as one: episodes, false alarms and hours
    summed; the median latency is the median of the streams' medians weighted by their
    matches, the p95 the largest of the streams' p95s (a bound)."""
    eps = sum(p["episodes"] for p in points)
    hit = sum(p["matched"] for p in points)
    fa = sum(p["false_alarms"] for p in points)
    hours = sum(p["non_cry_hours"] for p in points)
    flagged = sum(p["non_cry_flagged_s"] for p in points)
    lat = [p["latency_median_s"] for p in points if p["latency_median_s"] is not None]
    w = [p["matched"] for p in points if p["latency_median_s"] is not None]
    p95 = [p["latency_p95_s"] for p in points if p["latency_p95_s"] is not None]
    by_kind: dict[str, int] = {}
    for p in points:
        for k, v in p.get("false_alarms_by_kind", {}).items():
            by_kind[k] = by_kind.get(k, 0) + v
    return {"on_threshold": points[0]["on_threshold"], "episodes": eps, "matched": hit,
            "recall": hit / eps if eps else 0.0, "false_alarms": fa, "non_cry_hours": hours,
            "false_alarms_per_hour": fa / hours if hours else 0.0,
            "non_cry_flagged_s": flagged,
            "non_cry_flagged_share": flagged / (hours * 3600) if hours else 0.0,
            "latency_median_s": _weighted_median(lat, w) if lat else None,
            "latency_p95_s": max(p95) if p95 else None,
            "false_alarms_by_kind": dict(sorted(by_kind.items()))}


def _weighted_median(values: list[float], weights: list[int]) -> float:
    order = np.argsort(values)
    v, w = np.asarray(values)[order], np.asarray(weights, float)[order]
    return float(v[np.searchsorted(np.cumsum(w), w.sum() / 2)])


def curve(streams: list[tuple[np.ndarray, list[dict[str, Any]], float]], hop: float,
          thresholds: np.ndarray, smoothing: Smoothing) -> list[dict[str, Any]]:
    """The pooled operating point of ``streams`` (``(scores, segments, length_s)``) at
    each start threshold."""
    return [pooled([point(s, hop, seg, length, float(on), smoothing)
                    for s, seg, length in streams]) for on in thresholds]


def choose(points: list[dict[str, Any]], max_fa_per_hour: float,
           max_latency_s: float | None = None) -> dict[str, Any]:
    """The operating point with the best recall whose false alarms per hour stay within
    ``max_fa_per_hour`` (and median latency within ``max_latency_s``); ties go to fewer
    false alarms, then to the lower threshold. Falls back to the quietest point."""
    ok = [p for p in points if p["false_alarms_per_hour"] <= max_fa_per_hour and (
        max_latency_s is None or (p["latency_median_s"] or 0) <= max_latency_s)]
    if not ok:
        return min(points, key=lambda p: (p["false_alarms_per_hour"], -p["recall"]))
    return max(ok, key=lambda p: (p["recall"], -p["false_alarms_per_hour"],
                                  -p["on_threshold"]))
