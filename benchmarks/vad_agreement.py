"""VAD agreement and CPU cost on real audio: vad.energy, vad.webrtc, vad.silero.

Usage::

    python benchmarks/vad_agreement.py [--emodb N] [--esc N] [--data DIR] [--json FILE]

What is measured (every VAD with its default params, ``mode: gate``, 1024-sample blocks,
audio at 16 kHz: emodb is resampled from 22.05 kHz with soxr and its zero padding trimmed):

- **emodb speech** (N clips, every k-th of the manifest so all speakers appear): on a
  10 ms grid, each VAD's decision is compared with librosa's pYIN voicing decision (fmin
  65 Hz, fmax 500 Hz, 64 ms frames), a reference that does not look at the level.
  ``agree pYIN`` = fraction of points where the VAD and pYIN agree; ``agree pYIN+hang``
  the same against pYIN voicing extended by the VADs' 0.2 s hangover (unvoiced
  consonants and short pauses inside speech then count as speech, as for the VADs);
  ``agree majority`` = agreement with the majority vote of the three VADs (defaults);
  ``voiced kept`` = fraction of pYIN-voiced points the VAD passes (recall: what a gate
  must not lose). The emodb excerpts are dense speech with little silence, so these
  mostly measure recall and the edges of utterances.
- **babycry_esc** (N clips per class): fraction of the audio each VAD passes, per class
  (crying, laugh, silence, noise). The "silence" clips are one loud room recording
  (rumble at about -18 dBFS, nearly all below 60 Hz); the ``highpass=0`` rows show what
  the detectors make of it without the base class's high-pass.
- **CPU**: process time spent inside ``process``/``flush`` per second of audio (µs/s),
  over all the audio above; single thread (onnxruntime is set to one thread).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
from streamser.plugins.vad.energy import EnergyVad, EnergyVadParams
from streamser.plugins.vad.silero import SileroVad, SileroVadParams
from streamser.plugins.vad.webrtc import WebrtcVad, WebrtcVadParams

from streamser.frames import Frame
from streamser.node import Node

RATE, BLOCK, HOP = 16000, 1024, 160
ROOT = Path(__file__).resolve().parents[1]
VADS: dict[str, Callable[[], Node]] = {
    "vad.energy": lambda: EnergyVad(EnergyVadParams()),
    "vad.webrtc": lambda: WebrtcVad(WebrtcVadParams()),
    "vad.silero": lambda: SileroVad(SileroVadParams()),
    "vad.energy highpass=0": lambda: EnergyVad(EnergyVadParams(highpass=0)),
    "vad.webrtc highpass=0": lambda: WebrtcVad(WebrtcVadParams(highpass=0)),
}
MAJORITY = ("vad.energy", "vad.webrtc", "vad.silero")   # the consensus is over these
HANGOVER = 0.2   # seconds, the VADs' default, also applied to the pYIN reference
CLASSES = ("crying", "laugh", "silence", "noise")


def load(path: Path) -> np.ndarray:
    import soxr
    x, rate = sf.read(path, dtype="float32")
    nonzero = np.flatnonzero(x)
    x = x[:nonzero[-1] + 1] if len(nonzero) else x
    return x if rate == RATE else soxr.resample(x, rate, RATE).astype(np.float32)


def gate_mask(make: Callable[[], Node], x: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-sample mask of the audio a VAD passes, and the process time it took."""
    node = make()
    node.start()
    frames: list[Frame] = []
    t0 = time.process_time()
    for i in range(0, len(x), BLOCK):
        frames += node.process(Frame("audio", x[i:i + BLOCK], t=i / RATE,
                                     meta={"sample_rate": RATE}))
    frames += node.flush()
    cpu = time.process_time() - t0
    node.stop()
    mask = np.zeros(len(x), bool)
    for f in frames:
        start = round(f.t * RATE)
        mask[start:start + len(f.data)] = True
    return mask, cpu


def manifest(folder: Path) -> list[dict[str, str]]:
    with open(folder / "manifest.csv") as fh:
        return list(csv.DictReader(fh))


def spread(rows: list[dict[str, str]], n: int) -> list[dict[str, str]]:
    step = max(1, len(rows) // n)
    return rows[::step][:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emodb", type=int, default=80, help="emodb clips (default 80)")
    ap.add_argument("--esc", type=int, default=30, help="babycry_esc clips per class")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = ap.parse_args()
    import librosa

    cpu = {name: 0.0 for name in VADS}
    seconds = 0.0
    speech = {name: {"agree": [], "hang": [], "majority": [], "voiced": []}
              for name in VADS}
    folder = args.data / "emodb"
    clips = spread(manifest(folder), args.emodb)
    for i, row in enumerate(clips):
        print(f"\remodb {i + 1}/{len(clips)}", end="", file=sys.stderr)
        x = load(folder / row["path"])
        seconds += len(x) / RATE
        _, voiced, _ = librosa.pyin(x, fmin=65, fmax=500, sr=RATE, frame_length=1024,
                                    hop_length=HOP)
        points = np.minimum(np.arange(len(voiced)) * HOP, len(x) - 1)
        hang = round(HANGOVER * RATE / HOP)
        held = np.convolve(voiced, np.ones(hang + 1), "full")[:len(voiced)] > 0
        active = {}
        for name, make in VADS.items():
            mask, t = gate_mask(make, x)
            cpu[name] += t
            active[name] = mask[points]
        majority = np.mean([active[n] for n in MAJORITY], axis=0) > 0.5
        for name, a in active.items():
            speech[name]["agree"].append(np.mean(a == voiced))
            speech[name]["hang"].append(np.mean(a == held))
            speech[name]["majority"].append(np.mean(a == majority))
            speech[name]["voiced"] += list(a[voiced])
    esc = {name: {c: [] for c in CLASSES} for name in VADS}
    folder = args.data / "babycry_esc"
    rows = manifest(folder)
    for c in CLASSES:
        for i, row in enumerate(spread([r for r in rows if r["label"] == c], args.esc)):
            print(f"\rbabycry_esc {c} {i + 1}", end="", file=sys.stderr)
            x = load(folder / row["path"])
            seconds += len(x) / RATE
            for name, make in VADS.items():
                mask, t = gate_mask(make, x)
                cpu[name] += t
                esc[name][c].append(mask.mean())
    print(file=sys.stderr)
    result = {name: {"agree_pyin": float(np.mean(speech[name]["agree"])),
                     "agree_pyin_hang": float(np.mean(speech[name]["hang"])),
                     "agree_majority": float(np.mean(speech[name]["majority"])),
                     "voiced_kept": float(np.mean(speech[name]["voiced"])),
                     **{c: float(np.mean(esc[name][c])) for c in CLASSES},
                     "us_per_s": cpu[name] / seconds * 1e6} for name in VADS}
    print(f"# {len(clips)} emodb clips, {args.esc} babycry_esc clips per class, "
          f"{seconds:.0f} s of audio at 16 kHz; defaults, gate mode, {BLOCK}-sample blocks\n")
    print("| VAD | agree pYIN | agree pYIN+hang | agree majority | voiced kept "
          "| crying | laugh | silence | noise | CPU µs/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in result.items():
        cells = [r[k] for k in ("agree_pyin", "agree_pyin_hang", "agree_majority",
                                "voiced_kept", *CLASSES)]
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in cells)
              + f" | {r['us_per_s']:,.0f} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
