"""``streamser plot-events``: a timeline of a run: waveform, the detector's cry score,
the events, and (optionally) the true episodes (matplotlib, the ``plot`` extra)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np


def read_scores(path: Path, label: str = "cry") -> tuple[np.ndarray, np.ndarray]:
    """(times, scores) of ``label`` from a ``sink.jsonl`` file of scores frames; a frame's
    time is the centre of the audio it scored."""
    times, values = [], []
    with open(path) as fh:
        for line in fh:
            f = json.loads(line)
            if f.get("kind") != "scores":
                continue
            labels = f["meta"].get("labels") or [label]
            col = labels.index(label) if label in labels else 0
            times.append((f["t"] + f["meta"].get("upto", f["t"])) / 2)
            values.append(f["data"][col])
    return np.asarray(times), np.asarray(values)


def plot(audio_path: Path, events_path: Path, out: Path, scores_path: Path | None = None,
         truth_path: Path | None = None, start: float = 0.0, end: float | None = None) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import soundfile as sf

    audio, rate = sf.read(audio_path, dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    end = end or len(audio) / rate
    a, b = int(start * rate), int(end * rate)
    step = max(1, (b - a) // 20000)
    t = np.arange(a, b, step) / rate
    rows = 2 if scores_path else 1
    fig, axes = plt.subplots(rows, 1, figsize=(14, 2.2 * rows + 0.6), sharex=True,
                             squeeze=False)
    ax = axes[0, 0]
    ax.plot(t, audio[a:b:step], lw=0.4, color="0.35")
    ax.set_ylabel("audio")
    if truth_path:
        with open(truth_path, newline="") as fh:
            for row in csv.DictReader(fh):
                s, e = float(row["start"]), float(row["end"])
                if row["kind"].startswith("cry") and e > start and s < end:
                    for axis in axes[:, 0]:
                        axis.axvspan(s, e, color="tab:orange", alpha=0.15, lw=0)
                    ax.text(s, ax.get_ylim()[1] * 0.85, row["label"], fontsize=7)
    events = [json.loads(x) for x in Path(events_path).read_text().splitlines() if x.strip()]
    for e in events:
        if not start <= e["t"] <= end:
            continue
        color = "tab:red" if e["event"].endswith("_start") else "tab:blue"
        for axis in axes[:, 0]:
            axis.axvline(e["t"], color=color, lw=1)
        if e["event"].endswith("_end") and e.get("label"):
            ax.text(e["t"], ax.get_ylim()[0] * 0.9, f"→ {e['label']}", fontsize=7,
                    color="tab:blue", ha="right")
    if scores_path:
        ts, vs = read_scores(scores_path)
        keep = (ts >= start) & (ts <= end)
        axes[1, 0].step(ts[keep], vs[keep], where="mid", color="tab:green")
        axes[1, 0].set_ylim(-0.05, 1.05)
        axes[1, 0].set_ylabel("cry score")
    axes[-1, 0].set_xlabel("stream time (s)")
    axes[0, 0].set_title(f"{audio_path.name}: events (red start, blue end)"
                         + (", true episodes shaded" if truth_path else ""))
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
