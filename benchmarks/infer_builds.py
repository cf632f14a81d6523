"""Which build of a bundled model is faster on this machine: float ONNX or int8 TFLite?

Usage::

    python benchmarks/infer_builds.py [--models cry-detector,cry-need] [--seconds 60]
                                      [--rounds 5] [--json FILE]

For every bundled model that ships both ``.onnx`` and ``.int8.tflite``, the model's own
front-end (its graph nodes, the ``features.*`` and ``window.patch`` its metadata names)
turns the first ``--seconds`` of real recordings (ESC-50 baby cries from
``../shared/data``) into the frames the ``infer`` node gets in ``configs/cry_robot.yaml``;
then each build runs them through the ``infer`` node (``Infer.process``: normalization,
state per stream, scores frames) and bare (``Backend.run``, state fed back). Thread CPU
time per second of audio, median over ``--rounds`` interleaved rounds, and the machine
are printed.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from streamser.frames import Frame
from streamser.registry import load
from streamser.zoo import ZOO

sys.path.insert(0, str(Path(__file__).resolve().parent))
from process_cpu import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUILDS = (".onnx", ".int8.tflite")


def audio(data: Path, seconds: float) -> np.ndarray:
    """The first ``seconds`` of ESC-50 crying clips, 16 kHz mono, end to end."""
    manifest = data / "babycry_esc" / "manifest.csv"
    out, total = [], 0
    with open(manifest) as fh:
        for row in csv.DictReader(fh):
            x, rate = sf.read(data / "babycry_esc" / row["path"], dtype="float32",
                              always_2d=True)
            if rate != 16000:
                continue
            out.append(x.mean(axis=1))
            total += len(out[-1])
            if total >= seconds * 16000:
                break
    return np.concatenate(out)[:int(seconds * 16000)]


def frontend_frames(meta: dict, x: np.ndarray) -> list[Frame]:
    """``x`` through the model's front-end nodes, 4096-sample blocks, as the graph runs."""
    chain = [(f["plugin"], f.get("params", {})) for f in meta["frontend"]["features"]]
    if len(chain) != 1:
        raise SystemExit(f"{meta['name']}: only single-feature front-ends are timed")
    if meta["frontend"].get("patch"):
        chain.append(("window.patch", {"frames": 96, "hop": 48}))
    nodes = []
    for name, params in chain:
        cls = load(name)
        node = cls(cls.Params(**params), name)
        node.start()
        nodes.append(node)
    frames = [Frame("audio", x[i:i + 4096], t=i / 16000, seq=i // 4096,
                    meta={"sample_rate": 16000}) for i in range(0, len(x), 4096)]
    for node in nodes:
        frames = [o for f in frames for o in node.process(f)] + list(node.flush())
    return frames


def through_node(model: str, build: str, frames: list[Frame]) -> float:
    cls = load("infer")
    node = cls(cls.Params(model=model, build=build), "infer")
    node.start()
    t0 = time.thread_time()
    for f in frames:
        node.process(f)
    return time.thread_time() - t0


def bare(model: str, build: str, frames: list[Frame]) -> float:
    from streamser.plugins.infer.backends import open_backend
    backend = open_backend(ZOO / f"{model}{build}")
    c = backend.contract
    rows = [c.normalize(f.data) for f in frames]
    if c.mode != "window" and len(c.x_shape) == 1:
        rows = [r for block in rows for r in block]
    xs = [r[None] for r in rows]
    states = c.initial_states(1)
    t0 = time.thread_time()
    for x in xs:
        _, states = backend.run(x, states)
    return time.thread_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="cry-detector,cry-need")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json")
    a = ap.parse_args()
    x = audio(Path(a.data), a.seconds)
    seconds = len(x) / 16000
    rows = []
    for model in a.models.split(","):
        if not all((ZOO / f"{model}{b}").is_file() for b in BUILDS):
            raise SystemExit(f"{model}: does not ship both {' and '.join(BUILDS)}")
        meta = json.loads((ZOO / f"{model}.json").read_text())
        frames = frontend_frames(meta, x)
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(a.rounds):
            for build in BUILDS:
                times.setdefault((build, "node"), []).append(through_node(model, build, frames))
                times.setdefault((build, "bare"), []).append(bare(model, build, frames))
        med = {k: 1000 * statistics.median(v) / seconds for k, v in times.items()}
        for how in ("bare", "node"):
            onnx, tfl = med[(".onnx", how)], med[(".int8.tflite", how)]
            rows.append({"model": model, "how": how, "onnx_ms_per_s": round(onnx, 3),
                         "int8_tflite_ms_per_s": round(tfl, 3),
                         "tflite_over_onnx": round(tfl / onnx, 2)})
    print(f"{seconds:.0f} s of audio, median of {a.rounds} interleaved rounds, "
          "thread CPU ms per second of audio")
    print(f"{'model':14s} {'how':5s} {'ONNX fp32':>10s} {'TFLite int8':>12s} {'int8/fp32':>10s}")
    for r in rows:
        print(f"{r['model']:14s} {r['how']:5s} {r['onnx_ms_per_s']:10.3f} "
              f"{r['int8_tflite_ms_per_s']:12.3f} {r['tflite_over_onnx']:9.2f}x")
    print(f"machine: {machine()}")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({"rows": rows, "audio_s": seconds,
                                            "rounds": a.rounds, "machine": machine()},
                                           indent=1) + "\n")


if __name__ == "__main__":
    main()
