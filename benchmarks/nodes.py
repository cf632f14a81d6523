"""CPU time per second of audio for each front-end node, measured in one run.

Usage::

    python benchmarks/nodes.py [--data ../shared/data] [--repeat 3] [--json FILE] [--markdown]

One graph holds every node: an 8 kHz donateacry clip is resampled to 16 kHz and fans
out to each VAD and feature node (F1 runs behind vad.energy in annotate mode, then
window.patch, as in the robot's chain). The inline executor runs it over several clips;
each node's ``cpu_s`` (time inside process/flush, the runtime's own metric) is divided
by the seconds of audio. The table shows the median over repeats of whole runs, so the
rows of one repeat share one run.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
from pathlib import Path

import soundfile as sf

from streamser.executors import run
from streamser.graph import build_graph

GOAL_NODES = ("resample", "vad_energy", "logmel", "patch")  # the RTF < 0.002 chain


def graph(clip: Path, block: int) -> dict:
    def node(plugin: str, inp: str, **params: object) -> dict:
        return {"plugin": plugin, "input": inp, "params": params}
    return {"name": "node-bench", "nodes": {
        "src": {"plugin": "source.file", "params": {"path": str(clip), "block": block}},
        "resample": node("resample", "src", rate=16000),
        "vad_energy": node("vad.energy", "resample", mode="annotate"),
        "vad_webrtc": node("vad.webrtc", "resample", mode="annotate"),
        "vad_silero": node("vad.silero", "resample", mode="annotate"),
        "logmel": node("features.logmel", "vad_energy"),
        "patch": node("window.patch", "logmel"),
        "logmel40": node("features.logmel40", "resample"),
        "lld45": node("features.lld45", "resample"),
        "is09": node("features.is09", "resample"),
        "spec256": node("features.spec256", "resample"),
        "patches": {"plugin": "sink.npy", "input": "patch",
                    "params": {"path": "/tmp/streamser-node-bench.npy"}},
    }}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data"))
    ap.add_argument("--clips", type=int, default=6, help="donateacry clips to run")
    ap.add_argument("--block", type=int, default=1024, help="samples per source frame")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="write the results as JSON")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    data = Path(args.data)
    import csv
    with open(data / "donateacry/manifest.csv") as fh:
        clips = [data / "donateacry" / r["path"] for r in csv.DictReader(fh)][: args.clips]
    per_node: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        cpu: dict[str, float] = {}
        seconds = 0.0
        for clip in clips:
            seconds += sf.info(clip).duration
            for name, m in run(build_graph(graph(clip, args.block)), "inline").items():
                cpu[name] = cpu.get(name, 0.0) + m["cpu_s"]
        for name, c in cpu.items():
            per_node.setdefault(name, []).append(1000 * c / seconds)
    rows = {n: statistics.median(v) for n, v in per_node.items() if n != "patches"}
    chain = sum(rows[n] for n in GOAL_NODES)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    print(f"# streamser {commit}; {platform.processor() or platform.machine()}, Python "
          f"{platform.python_version()}; {len(clips)} donateacry clips ({seconds:.1f} s, 8 kHz"
          f" -> 16 kHz), block {args.block}, inline executor, median of {args.repeat}")
    if args.markdown:
        print("| node | ms CPU per s of audio | RTF |\n|---|---:|---:|")
        for n, v in rows.items():
            print(f"| {n} | {v:.3f} | {v / 1000:.5f} |")
        print(f"| **resample + vad.energy + logmel + patch** | **{chain:.3f}** | "
              f"**{chain / 1000:.5f}** |")
    else:
        for n, v in rows.items():
            print(f"{n:<12} {v:8.3f} ms/s  RTF {v / 1000:.5f}")
        print(f"{'chain':<12} {chain:8.3f} ms/s  RTF {chain / 1000:.5f}")
    print(f"goal: resample + VAD + F1 + patching < 2 ms per s of audio: "
          f"{'met' if chain < 2 else 'NOT met'} ({chain:.3f})")
    if args.json:
        Path(args.json).write_text(json.dumps({"ms_per_s": rows, "chain": chain}, indent=1))


if __name__ == "__main__":
    main()
