"""``streamser score-events``: score a run's cry events against a stream's truth CSV.

- Episodes: truth rows of kind ``cry`` or ``cry_over_noise`` (``start``, ``end``).
- Detections: ``cry_start`` events, each closed by the next ``cry_end`` of its stream (or
  open to the end of the run); a detection *matches* a true episode when their spans
  overlap. One detection may match several episodes (they are always apart by a non-cry
  segment, so that means the detector bridged them).
- Precision: matched detections / detections. Recall: episodes with a match / episodes.
- False alarms per hour: unmatched detections per hour of non-cry audio (the run's length
  minus the episodes' spans).
- Latency: per matched episode, ``emitted_at`` of its first matching ``cry_start`` minus
  the true onset (median and p95; negative when the detection began before the truth's
  audible onset).
- Need guesses: over matched episodes whose truth label is a need (not ``crying``), how
  many ``cry_end`` named a need and how many abstained (``label: null``), and the share of
  the named that are right (``need_named_accuracy``). ``need_accuracy`` (JSON only) is the
  share of all those episodes named right, abstentions counted wrong.
- False alarms by kind (given the truth's segments): each unmatched detection counted
  under the kind of the segment it overlaps most (``gap`` for room tone between them).
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CRY_KINDS = ("cry", "cry_over_noise")


@dataclass
class Detection:
    start: float
    end: float
    emitted_at: float
    label: str | None = None


def read_segments(path: Path) -> list[dict[str, Any]]:
    """Every row of a ``mkstream`` truth CSV, ``start`` and ``end`` as floats."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"start", "end", "kind"} <= set(rows[0]):
        raise ValueError(f"{path}: not a truth CSV (needs start,end,kind columns)")
    return [{**r, "start": float(r["start"]), "end": float(r["end"])} for r in rows]


def episodes_of(segments: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], float]:
    """(cry episodes, stream length in seconds) of a truth CSV's segments."""
    return [r for r in segments if r["kind"] in CRY_KINDS], max(r["end"] for r in segments)


def read_truth(path: Path) -> tuple[list[dict[str, Any]], float]:
    """(cry episodes, stream length in seconds) from a ``mkstream`` truth CSV."""
    return episodes_of(read_segments(path))


def read_detections(path: Path, event: str = "cry", stream: str | None = None
                    ) -> list[Detection]:
    """Detections from an events JSONL file (``sink.events``)."""
    open_: dict[str, Detection] = {}
    out: list[Detection] = []
    last_t = 0.0
    with open(path) as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                e = json.loads(line)
            except ValueError:
                raise ValueError(f"{path}:{line_no}: not JSON") from None
            if stream is not None and e.get("stream") != stream:
                continue
            last_t = max(last_t, float(e.get("emitted_at", e.get("t", 0))))
            s = e.get("stream", "default")
            if e.get("event") == f"{event}_start":
                open_[s] = Detection(float(e["t"]), float("inf"), float(e["emitted_at"]))
                out.append(open_[s])
            elif e.get("event") == f"{event}_end" and s in open_:
                d = open_.pop(s)
                d.end, d.label = float(e["t"]), e.get("label")
    for d in open_.values():
        d.end = max(last_t, d.start)
    return out


def false_alarms_by(segments: list[dict[str, Any]], detections: list[Detection],
                    matched: list[bool], field: str = "kind") -> dict[str, int]:
    """Unmatched detections counted under ``field`` (``kind``, ``source``) of the segment
    each overlaps most (``gap`` for room tone between segments)."""
    def overlap(seg: dict[str, Any], d: Detection) -> float:
        return min(seg["end"], d.end) - max(seg["start"], d.start)

    order = sorted(segments, key=lambda seg: seg["start"])
    starts = np.array([seg["start"] for seg in order])
    longest = max((seg["end"] - seg["start"] for seg in order), default=0.0)
    out: dict[str, int] = {}
    for d, ok in zip(detections, matched):
        if ok:
            continue
        # only segments starting within (d.start - longest, d.end) can overlap d
        lo, hi = np.searchsorted(starts, [d.start - longest, d.end])
        best = max(order[lo:hi], key=lambda seg: overlap(seg, d), default=None)
        key = best[field] if best is not None and overlap(best, d) > 0 else "gap"
        out[key] = out.get(key, 0) + 1
    return out


def score(episodes: list[dict[str, Any]], detections: list[Detection], length_s: float,
          segments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    def overlaps(ep: dict[str, Any], d: Detection) -> bool:
        return d.start < ep["end"] and d.end > ep["start"]

    matched_det = [any(overlaps(ep, d) for ep in episodes) for d in detections]
    latencies, needs, named = [], [], []
    hit = 0
    for ep in episodes:
        ds = [d for d in detections if overlaps(ep, d)]
        if not ds:
            continue
        hit += 1
        first = min(ds, key=lambda d: d.start)
        latencies.append(first.emitted_at - ep["start"])
        if ep.get("label") not in (None, "", "crying"):
            needs.append(first.label == ep["label"])
            if first.label is not None:
                named.append(first.label == ep["label"])
    precision = float(np.mean(matched_det)) if detections else 0.0
    recall = hit / len(episodes) if episodes else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    cry_s = sum(ep["end"] - ep["start"] for ep in episodes)
    other_h = max(length_s - cry_s, 1e-9) / 3600
    # time a detection holds on through audio that is not crying (a detection that
    # outlasts its cry, or spans several, matches them all but says "crying" meanwhile)
    flagged = sum(max(min(d.end, length_s) - d.start, 0.0) for d in detections) - sum(
        max(min(ep["end"], d.end) - max(ep["start"], d.start), 0.0)
        for d in detections for ep in episodes)
    false_alarms = int(len(detections) - sum(matched_det))
    lat = np.asarray(latencies) if latencies else np.zeros(0)
    by_kind = (false_alarms_by(segments, detections, matched_det, "kind")
               if segments is not None else {})
    return {"episodes": len(episodes), "detections": len(detections), "matched": hit,
            "precision": precision, "recall": recall, "f1": f1,
            "false_alarms": false_alarms, "non_cry_hours": other_h,
            "false_alarms_per_hour": false_alarms / other_h,
            "non_cry_flagged_s": flagged,
            "non_cry_flagged_share": flagged / (other_h * 3600),
            "latency_median_s": float(np.median(lat)) if len(lat) else None,
            "latency_p95_s": float(np.percentile(lat, 95)) if len(lat) else None,
            "need_accuracy": float(np.mean(needs)) if needs else None,
            "need_episodes": len(needs), "need_named": len(named),
            "need_named_accuracy": float(np.mean(named)) if named else None,
            "stream_s": length_s,
            **({"false_alarms_by_kind": dict(sorted(by_kind.items()))}
               if segments is not None else {})}


def render(s: dict[str, Any]) -> str:
    lat = (f"{s['latency_median_s']:.2f} s median, {s['latency_p95_s']:.2f} s p95"
           if s["latency_median_s"] is not None else "n/a")
    need = "n/a (no detected episode with a known need)"
    if s["need_accuracy"] is not None:
        named, right, n = s.get("need_named") or 0, s.get("need_named_accuracy"), \
            s["need_episodes"]
        need = (f"on {n} detected episodes with a known need: named on {named}, null on "
                f"{n - named} (the model abstained)")
        need += (f"; right on {100 * right:.1f} % of the named" if named and right is not None
                 else "; no accuracy to give")
    return (f"episodes {s['episodes']}, detections {s['detections']}, matched {s['matched']}\n"
            f"precision {s['precision']:.3f}  recall {s['recall']:.3f}  F1 {s['f1']:.3f}\n"
            f"false alarms {s['false_alarms']} in {s['non_cry_hours']:.2f} h of non-cry audio "
            f"= {s['false_alarms_per_hour']:.2f} per hour"
            + (f" ({', '.join(f'{k} {n}' for k, n in s['false_alarms_by_kind'].items())})"
               if s.get("false_alarms_by_kind") else "") + "\n"
            + (f"non-cry audio flagged as crying {100 * s['non_cry_flagged_share']:.1f} % "
               f"({s['non_cry_flagged_s']:.0f} s: detections that outlast or join cries)\n"
               if "non_cry_flagged_share" in s else "")
            + f"detection latency {lat}\nneed guesses {need}")
