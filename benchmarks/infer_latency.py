"""Per-step latency of every backend and build of an exported model, in one run.

Usage::

    python benchmarks/infer_latency.py [--dir exported] [--model cry-need] [--steps 2000]
                                       [--rounds 5] [--batch 64] [--tflite FILE ...]
                                       [--json FILE]

Builds come from ``streamser export MODEL --int8 --out DIR``; ``--tflite`` (repeatable)
replaces ``DIR/MODEL.int8.tflite`` with other integer TFLite builds of the same model
(e.g. one with ``--activations 16``), each labelled by its activation width. Each
backend streams the same real feature rows (a donateacry clip through the model's front-end, state fed back)
through the runtime's own call (``Backend.run``: normalization excluded, int8
quantization of inputs and dequantization of outputs included), ``--steps`` calls per
round; rounds interleave the backends so that load on a shared machine hits all alike;
the table shows each backend's median over rounds of the thread CPU time per call, and
its ratio to ONNX float. A second table runs ``--batch`` streams per call (ONNX only:
its batch axis is dynamic) to show per-stream cost when compute, not call overhead,
dominates. Node counts of the two ONNX graphs explain most of the int8/float ratio.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from streamser.export.data import load_sets
from streamser.export.verify import TflmBackend
from streamser.plugins.infer.backends import OnnxBackend, TfliteBackend, TorchBackend

from streamser.checkpoint import read_meta
from streamser.zoo import resolve


def per_call(backend, xs: np.ndarray, batch: int = 1) -> float:
    """Thread CPU seconds per call over the rows ``xs`` (state fed back)."""
    states = backend.contract.initial_states(batch)
    t0 = time.thread_time()
    for x in xs:
        _, states = backend.run(np.repeat(x[None], batch, 0), states)
    return (time.thread_time() - t0) / len(xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default="exported")
    ap.add_argument("--model", default="cry-need")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--tflite", action="append", help="integer TFLite build(s) to time")
    ap.add_argument("--json")
    args = ap.parse_args()
    d = Path(args.dir)
    name = args.model
    backends = {
        "torch (checkpoint)": TorchBackend(resolve(name)),
        "ONNX fp32": OnnxBackend(d / f"{name}.onnx"),
        "ONNX int8": OnnxBackend(d / f"{name}.int8.onnx"),
    }
    for path in map(Path, args.tflite or [d / f"{name}.int8.tflite"]):
        lite = TfliteBackend(path)
        kind = "int8" if lite.input_dtype == np.int8 else "16x8"
        backends |= {f"LiteRT {kind} (XNNPACK)": lite,
                     f"LiteRT {kind} (reference kernels)": TfliteBackend(path, reference=True),
                     f"TFLM {kind}": TflmBackend(path.read_bytes(), str(path))}
    contract = backends["ONNX fp32"].contract
    meta = read_meta(resolve(name))
    manifest = Path(args.data) / meta["training"]["manifests"][0]
    _, val = load_sets(meta, contract, manifest, calib_clips=1, val_clips=4, progress=False)
    xs = np.concatenate(val.items)[:args.steps]
    if contract.mode != "step":
        raise SystemExit("this benchmark streams step models")
    samples: dict[str, list[float]] = {k: [] for k in backends}
    for _ in range(args.rounds):
        for label, backend in backends.items():
            samples[label].append(per_call(backend, xs))
    med = {k: statistics.median(v) for k, v in samples.items()}
    base = med["ONNX fp32"]
    print(f"{name}: {len(xs)} steps x {args.rounds} rounds, thread CPU time per call "
          f"({platform.processor() or platform.machine()})\n")
    print("| backend / build | us per step | vs ONNX fp32 | ms CPU per s of audio |")
    print("|---|---:|---:|---:|")
    for k, v in med.items():
        print(f"| {k} | {1e6 * v:.1f} | {v / base:.2f}x | "
              f"{1e3 * v * contract.steps_per_second:.2f} |")
    import onnx
    nodes = {k: len(onnx.load(str(d / f"{name}{s}")).graph.node)
             for k, s in (("fp32", ".onnx"), ("int8", ".int8.onnx"))}
    batched = {}
    xs_b = xs[:max(50, args.steps // 10)]
    for _ in range(args.rounds):
        for k in ("ONNX fp32", "ONNX int8"):
            batched.setdefault(k, []).append(per_call(backends[k], xs_b, args.batch)
                                             / args.batch)
    bmed = {k: statistics.median(v) for k, v in batched.items()}
    print(f"\n{args.batch} streams per call (ONNX nodes: fp32 {nodes['fp32']}, "
          f"int8 {nodes['int8']})\n")
    print("| build | us per stream-step | vs fp32 |")
    print("|---|---:|---:|")
    for k, v in bmed.items():
        print(f"| {k} | {1e6 * v:.2f} | {v / bmed['ONNX fp32']:.2f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "model": name, "steps": len(xs), "rounds": args.rounds,
            "us_per_step": {k: 1e6 * v for k, v in med.items()},
            "batch": args.batch, "us_per_stream_step_batched": {k: 1e6 * v
                                                                for k, v in bmed.items()},
            "onnx_nodes": nodes}, indent=1) + "\n")


if __name__ == "__main__":
    main()
