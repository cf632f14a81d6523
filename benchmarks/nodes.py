"""CPU time per second of audio for each front-end node, measured in one run.

Usage::

    python benchmarks/nodes.py [--data ../shared/data] [--repeat 3] [--json FILE] [--markdown]

One graph holds every node: donateacry clips (8 kHz), joined into one temporary file
so that the run is one continuous stream like a microphone's, are resampled to 16 kHz
and fan out to each VAD and feature node (F1 runs behind vad.energy in annotate mode,
then window.patch, as in the robot's chain). The inline executor runs it; each node's
``cpu_s`` (the thread CPU time of its process/flush calls, the runtime's own metric: not
inflated by preemption on a shared machine) is divided by the seconds of audio. The table shows the median over repeated whole runs, so the rows of
one repeat share one run. The goal chain (resample + vad.energy + logmel + patch) is
also run alone in each repeat, as the robot runs it: with ten nodes sharing the CPU's
caches every node costs more than it does alone.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import tempfile
from pathlib import Path

import numpy as np
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


def chain_only(full: dict) -> dict:
    """The robot's front-end alone (what the goal is about), without the other branches."""
    keep = ("src", *GOAL_NODES)
    nodes = {n: b for n, b in full["nodes"].items() if n in keep}
    nodes["patches"] = {**full["nodes"]["patches"]}
    return {"name": "chain-bench", "nodes": nodes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data"))
    ap.add_argument("--clips", type=int, default=20, help="donateacry clips to join")
    ap.add_argument("--block", type=int, default=1024, help="samples per source frame")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", help="write the results as JSON")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    data = Path(args.data)
    import csv
    with open(data / "donateacry/manifest.csv") as fh:
        clips = [data / "donateacry" / r["path"] for r in csv.DictReader(fh)][: args.clips]
    audio = np.concatenate([sf.read(c, dtype="float32")[0] for c in clips])
    seconds = len(audio) / 8000
    per_node: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        joined = Path(tmp) / "joined.flac"
        sf.write(joined, audio, 8000)
        chain_runs: list[float] = []
        for _ in range(args.repeat):
            for name, m in run(build_graph(graph(joined, args.block)), "inline").items():
                per_node.setdefault(name, []).append(1000 * m["cpu_s"] / seconds)
            alone = run(build_graph(chain_only(graph(joined, args.block))), "inline")
            chain_runs.append(sum(1000 * alone[n]["cpu_s"] / seconds for n in GOAL_NODES))
    rows = {n: statistics.median(v) for n, v in per_node.items() if n != "patches"}
    in_graph = sum(rows[n] for n in GOAL_NODES)
    chain = statistics.median(chain_runs)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    print(f"# streamser {commit}; {platform.processor() or platform.machine()}, Python "
          f"{platform.python_version()}; {len(clips)} donateacry clips ({seconds:.1f} s, 8 kHz"
          f" -> 16 kHz), block {args.block}, inline executor, median of {args.repeat}")
    if args.markdown:
        print("| node | ms CPU per s of audio | RTF |\n|---|---:|---:|")
        for n, v in rows.items():
            print(f"| {n} | {v:.3f} | {v / 1000:.5f} |")
        print(f"| resample + vad.energy + logmel + patch, in this graph | {in_graph:.3f} | "
              f"{in_graph / 1000:.5f} |")
        print(f"| **the same four alone (the robot's front-end)** | **{chain:.3f}** | "
              f"**{chain / 1000:.5f}** |")
    else:
        for n, v in rows.items():
            print(f"{n:<12} {v:8.3f} ms/s  RTF {v / 1000:.5f}")
        print(f"{'chain':<12} {in_graph:8.3f} ms/s in this graph, {chain:.3f} ms/s alone")
    print(f"goal: resample + VAD + F1 + patching < 2 ms per s of audio: "
          f"{'met' if chain < 2 else 'NOT met'} ({chain:.3f})")
    if args.json:
        Path(args.json).write_text(json.dumps({"ms_per_s": rows, "chain_in_graph": in_graph,
                                               "chain_alone": chain}, indent=1))


if __name__ == "__main__":
    main()
